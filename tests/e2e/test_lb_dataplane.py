"""The load balancer data plane without a controller: a hand-made ``loadbalancers`` section, a hand-made subnet.

A namespace with a bridge stands for the subnet; the node namespaces (``naming.service_netns``) get their
``eth0`` veth on it as the network reconciler would plug them; two target namespaces run
``python3 -m http.server`` (each serving its own body); a client namespace runs curl. The real
:class:`LoadBalancerReconciler` then converges the section: HAProxy in each node's namespace. The tests run
in file order on one topology: round robin, a path rule, a fixed response, a redirect, a reload under load
that drops nothing, a dead target found unhealthy and avoided, NLB TCP forwarding, adoption after an agent
restart, and removal. Everything named ``cltest-lb*`` is removed at the end, whatever failed.
"""

from __future__ import annotations

import contextlib
import copy
import shutil
import subprocess
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.loadbalancing import stats
from agent.loadbalancing.reconciler import LoadBalancerReconciler
from agent.loadbalancing.server import runtime_command
from agent.network import naming, netns
from tests.prerequisites import missing_root, missing_tools, require
from tests.unit.loadbalancing.sample import ENI, LB_ARN, TG_B, forward, group, node

require(missing_root() + missing_tools("haproxy", "curl", "nsenter", "ip"), "load balancer dataplane tests")
pytestmark = pytest.mark.root

PREFIX = "cltest-lb-"
SWITCH = "cltest-lb-sw"
CLIENT = "cltest-lb-cli"
TARGETS = {"cltest-lb-t1": "10.0.1.5", "cltest-lb-t2": "10.0.1.6"}
CLIENT_IP = "10.0.1.100"
NLB_ENI = "eni-0fedcba9876543210"
NLB_ARN = LB_ARN.replace("/app/web/", "/net/tcp/")


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=30).stdout


def plug(namespace: str, port: str, address: str | None) -> None:
    """A veth ``eth0`` in ``namespace`` whose peer is a port of the subnet bridge (as the network plan does)."""
    netns.create(namespace)
    sh("ip", "link", "add", "name", "eth0", "netns", namespace, "type", "veth", "peer", "name", port, "netns", SWITCH)
    sh("ip", "-n", SWITCH, "link", "set", port, "master", "br0", "up")
    if address:
        sh("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        sh("ip", "-n", namespace, "link", "set", "eth0", "up")
        sh("ip", "-n", namespace, "link", "set", "lo", "up")


def section(**changes: Any) -> dict[str, Any]:
    alb = node(**changes)
    for tg in alb["target_groups"]:
        tg["health_check"].update(interval_seconds=1, timeout_seconds=1, healthy_threshold=2, unhealthy_threshold=2)
    alb["target_groups"][0]["targets"] = [{"id": "i-0aaaaaaaaaaaaaaa1", "ip": "10.0.1.5", "port": 8000},
                                          {"id": "i-0aaaaaaaaaaaaaaa2", "ip": "10.0.1.6", "port": 8000}]
    alb["target_groups"][1]["targets"] = [{"id": "10.0.1.6", "ip": "10.0.1.6", "port": 8001}]
    tcp = group(TG_B.replace("api-tg", "tcp-tg"), [{"id": "10.0.1.6", "ip": "10.0.1.6", "port": 8001}],
                protocol="TCP")
    tcp["health_check"].update(protocol="TCP", interval_seconds=1, timeout_seconds=1)
    nlb = node(load_balancer_arn=NLB_ARN, type="network", interface_id=NLB_ENI, ip="10.0.1.21",
               listeners=[{"port": 9000, "protocol": "TCP", "default_actions": [forward((tcp["target_group_arn"], 1))]}],
               target_groups=[tcp])
    return {"nodes": [alb, nlb]}


@pytest.fixture(scope="module")
def lab() -> Iterator[LoadBalancerReconciler]:
    state = Path(tempfile.mkdtemp(prefix="lb", dir="/tmp"))  # short: unix socket paths stay under 108 bytes
    servers: list[subprocess.Popen[bytes]] = []
    reconciler = None
    try:
        netns.create(SWITCH)
        sh("ip", "-n", SWITCH, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", SWITCH, "link", "set", "br0", "up")
        plug(naming.service_netns(PREFIX, ENI), "pa", None)
        plug(naming.service_netns(PREFIX, NLB_ENI), "pb", None)
        plug(CLIENT, "pc", CLIENT_IP)
        for number, (namespace, address) in enumerate(TARGETS.items(), 1):
            plug(namespace, f"pt{number}", address)
            for port, body in ((8000, f"target-{number}"), (8001, f"api-{number}")):
                root = state / f"www-{number}-{port}"
                (root / "api").mkdir(parents=True)
                (root / "index.html").write_text(body)
                (root / "health").write_text("ok")
                (root / "api" / "x").write_text(body)
                servers.append(subprocess.Popen(
                    ["ip", "netns", "exec", namespace, "python3", "-m", "http.server", "-b", address, str(port)],
                    cwd=root, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        reconciler = LoadBalancerReconciler(state, PREFIX)
        reconciler.reconcile(section())
        assert not reconciler.wants_retry, reconciler.waiting
        wait_for(lambda: all(state == "healthy" for state in target_states(reconciler, ENI).values()), 20,
                 "every target healthy")
        yield reconciler
    finally:
        for server in servers:
            server.kill()
        if reconciler is not None:
            with contextlib.suppress(Exception):
                reconciler.reconcile({"nodes": []})
            reconciler.close()
        for name in netns.list_names():
            if name.startswith("cltest-lb"):
                netns.remove(name)
        shutil.rmtree(state, ignore_errors=True)


def wait_for(predicate: Callable[[], Any], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError):
            if predicate():
                return
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


def target_states(reconciler: LoadBalancerReconciler, eni: str) -> dict[tuple[str, int], str]:
    rows = stats.parse_csv(runtime_command(reconciler.servers.admin_socket(eni), "show stat"))
    return {(t["id"], t["port"]): t["state"] for t in stats.target_health(reconciler.nodes[eni], rows)}


def curl(path: str, *options: str, host: str = "10.0.1.20:80") -> str:
    return sh("ip", "netns", "exec", CLIENT, "curl", "-s", "--max-time", "5", *options, f"http://{host}{path}")


def test_round_robin_alternates_between_the_targets(lab: LoadBalancerReconciler) -> None:
    bodies = [curl("/") for _ in range(4)]
    assert sorted(bodies) == ["target-1", "target-1", "target-2", "target-2"]
    assert bodies[0] != bodies[1] and bodies[1] != bodies[2]


def test_a_path_rule_picks_the_second_target_group(lab: LoadBalancerReconciler) -> None:
    assert curl("/api/x") == "api-2"


def test_fixed_response(lab: LoadBalancerReconciler) -> None:
    assert curl("/fixed", "-w", " %{http_code}") == "I'm a teapot 418"


def test_redirect(lab: LoadBalancerReconciler) -> None:
    out = curl("/old/page?a=1", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}")
    assert out == "301 http://10.0.1.20/new/old/page?a=1"


def test_a_reload_under_load_drops_no_request(lab: LoadBalancerReconciler) -> None:
    load = subprocess.Popen(
        ["ip", "netns", "exec", CLIENT, "python3", "-c",
         "import urllib.request\nfails = 0\nfor _ in range(400):\n"
         "    try:\n        urllib.request.urlopen('http://10.0.1.20/', timeout=5).read()\n"
         "    except Exception as e:\n        fails += 1; print(repr(e))\nprint('fails', fails)"],
        stdout=subprocess.PIPE, text=True)
    pid = lab.servers.pid(ENI)
    for timeout in (61, 62, 63, 64, 65):
        time.sleep(0.3)
        lab.reconcile(section(idle_timeout_seconds=timeout))
    out, _ = load.communicate(timeout=120)
    assert out.strip().endswith("fails 0"), out
    assert lab.servers.pid(ENI) == pid  # reloaded, never restarted
    assert "timeout client 65s" in lab.servers.config_path(ENI).read_text()


def test_a_dead_target_becomes_unhealthy_and_is_avoided(lab: LoadBalancerReconciler) -> None:
    sh("ip", "netns", "exec", "cltest-lb-t1", "pkill", "-f", "http.server -b 10.0.1.5 8000")
    wait_for(lambda: target_states(lab, ENI)[("i-0aaaaaaaaaaaaaaa1", 8000)] == "unhealthy", 15, "target-1 unhealthy")
    rows = stats.parse_csv(runtime_command(lab.servers.admin_socket(ENI), "show stat"))
    (dead,) = [t for t in stats.target_health(lab.nodes[ENI], rows) if t["id"] == "i-0aaaaaaaaaaaaaaa1"]
    assert dead["reason"] == "Target.FailedHealthChecks"
    assert {curl("/") for _ in range(6)} == {"target-2"}


def test_a_reload_keeps_what_the_health_checks_found(lab: LoadBalancerReconciler) -> None:
    lab.reconcile(section(idle_timeout_seconds=66))  # target-1 is still dead (the test before)
    states = target_states(lab, ENI)
    assert states[("i-0aaaaaaaaaaaaaaa1", 8000)] == "unhealthy" and states[("i-0aaaaaaaaaaaaaaa2", 8000)] == "healthy"
    assert {curl("/") for _ in range(6)} == {"target-2"}
    lab.reconcile(section(idle_timeout_seconds=65))


def test_a_group_whose_every_target_fails_its_checks_fails_open(lab: LoadBalancerReconciler) -> None:
    broken = section(idle_timeout_seconds=65)
    broken["nodes"][0]["target_groups"][1]["health_check"]["path"] = "/nope"  # 404 from the live target
    lab.reconcile(broken)
    try:
        wait_for(lambda: target_states(lab, ENI)[("10.0.1.6", 8001)] == "unhealthy", 15, "the api target unhealthy")
        assert [curl("/api/x") for _ in range(3)] == ["api-2"] * 3  # ELB sends to all: the one it has
    finally:
        lab.reconcile(section(idle_timeout_seconds=65))
    wait_for(lambda: target_states(lab, ENI)[("10.0.1.6", 8001)] == "healthy", 15, "the api target healthy again")


def test_nlb_forwards_tcp(lab: LoadBalancerReconciler) -> None:
    assert curl("/", host="10.0.1.21:9000") == "api-2"


def test_a_restarted_agent_adopts_the_running_haproxies(lab: LoadBalancerReconciler) -> None:
    pid = lab.servers.pid(ENI)
    lab.close()
    again = LoadBalancerReconciler(lab.servers.root.parent, PREFIX)
    try:
        again.reconcile(copy.deepcopy(section(idle_timeout_seconds=65)))
        assert again.servers.pid(ENI) == pid
        assert curl("/api/x") == "api-2"
    finally:
        again.close()


def test_a_node_that_leaves_the_section_is_removed(lab: LoadBalancerReconciler) -> None:
    pid = lab.servers.pid(NLB_ENI)
    keep = section(idle_timeout_seconds=65)
    keep["nodes"] = keep["nodes"][:1]
    lab.reconcile(keep)
    assert not netns.exists(naming.service_netns(PREFIX, NLB_ENI))
    assert not lab.servers.directory(NLB_ENI).exists()
    assert pid is not None and not Path(f"/proc/{pid}").exists()
    assert curl("/api/x") == "api-2"
