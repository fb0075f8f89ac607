"""ALB data plane: requests/s and p50/p99 latency through Cloudlet's load balancer node, against HAProxy
configured by hand with the same backends, in the same run (root, Linux; needs haproxy, wrk and nginx).

One bridge stands for the subnet (as in tests/e2e/test_lb_dataplane.py); every namespace gets a veth port
on it. Two backend namespaces run nginx (one worker, no access log) serving a small static file; a client
namespace runs ``wrk`` (2 threads, 32 connections). Two load balancers sit on the same bridge:

* ``cloudlet``: the node namespace ``naming.service_netns(prefix, eni)`` converged by the agent's own
  :class:`LoadBalancerReconciler` from a ``loadbalancers`` section (listener HTTP:80, default action forward
  to a target group of the two backends, HTTP health checks on): the generated configuration, the address
  and route set up by the reconciler, the master-worker HAProxy and its reload machinery, as the agent runs
  them;
* ``by hand``: the same HAProxy binary with a minimal configuration (one frontend, one roundrobin backend,
  no checks, no headers, no extras). It gets the same ``nbthread`` and ``maxconn`` as the generated one,
  so that the ratio measures what the generated configuration costs, not a different CPU budget.

Every process runs in a session of its own, as the agent starts its HAProxies: with the kernel's
autogroup scheduling, processes sharing the bench's session would share one CPU share between them.

Each round runs wrk for ``--seconds`` against one, then the other (3 rounds, alternating), first with
keep-alive, then with ``Connection: close`` (a new TCP connection per request). Medians over rounds; the
ratio is cloudlet / by hand (req/s: higher is better; latency: lower is better); the median of each
round's own cloudlet / by hand ratio is printed beside it (runs next to each other in time share the
machine's background load, so it is the steadier one on a busy machine). Target (issue 17): req/s
within 10% of the hand-configured HAProxy. Everything named ``clbench-elb*`` is removed at the end.

    sudo .venv/bin/python bench/bench_elb.py [--seconds 10] [--rounds 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report  # noqa: E402

from agent.loadbalancing import haproxy_config, stats  # noqa: E402
from agent.loadbalancing.reconciler import LoadBalancerReconciler  # noqa: E402
from agent.loadbalancing.server import runtime_command  # noqa: E402
from agent.network import naming, netns  # noqa: E402

PREFIX = "clbench-elb-"
SWITCH = "clbench-elb-sw"
CLIENT = "clbench-elb-cli"
HAND = "clbench-elb-hand"
BACKENDS = {"clbench-elb-t1": "10.0.1.5", "clbench-elb-t2": "10.0.1.6"}
CLIENT_IP, NODE_IP, HAND_IP = "10.0.1.100", "10.0.1.20", "10.0.1.30"
BACKEND_PORT = 8000
#: Where the health checks go (busybox httpd): see start_backend.
HEALTH_PORT = 8001
ENI = "eni-0c0ffee0c0ffee000"
ACCOUNT = "arn:aws:elasticloadbalancing:us-east-1:123456789012"
LB_ARN = f"{ACCOUNT}:loadbalancer/app/bench/50dc6c495c0c9188"
TG_ARN = f"{ACCOUNT}:targetgroup/bench-tg/73e2d6bc24d8a067"
#: The file wrk asks for: small, so that the balancer (not the bytes) is what is measured.
BODY = "x" * 100
TARGET = 0.90
TOOLS = ("haproxy", "wrk", "nginx", "busybox", "nsenter", "ip")


def sh(*argv: str) -> str:
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout


def plug(namespace: str, port: str, address: str | None) -> None:
    """A veth ``eth0`` in ``namespace`` whose peer is a port of the bridge (as the network plan plugs an ENI)."""
    netns.create(namespace)
    sh("ip", "link", "add", "name", "eth0", "netns", namespace, "type", "veth", "peer", "name", port, "netns", SWITCH)
    sh("ip", "-n", SWITCH, "link", "set", port, "master", "br0", "up")
    sh("ip", "-n", namespace, "link", "set", "lo", "up")
    if address:
        sh("ip", "-n", namespace, "addr", "add", f"{address}/24", "dev", "eth0")
        sh("ip", "-n", namespace, "link", "set", "eth0", "up")


def section() -> dict[str, Any]:
    """One ALB node: HTTP:80 forwarding to a target group of the two backends, health checks on (1 s, as
    the e2e test, so the targets are healthy before the first round)."""
    targets = [{"id": f"i-0aaaaaaaaaaaaaaa{n}", "ip": ip, "port": BACKEND_PORT, "draining": False}
               for n, ip in enumerate(BACKENDS.values(), 1)]
    group = {"target_group_arn": TG_ARN, "name": "bench-tg", "protocol": "HTTP", "port": BACKEND_PORT,
             "target_type": "instance",
             "health_check": {"enabled": True, "protocol": "HTTP", "port": str(HEALTH_PORT), "path": "/health",
                              "interval_seconds": 1, "timeout_seconds": 1, "healthy_threshold": 2,
                              "unhealthy_threshold": 2, "matcher": "200"},
             "deregistration_delay_seconds": 30,
             "stickiness": {"enabled": False, "type": "lb_cookie", "duration_seconds": 86400},
             "targets": targets}
    listener = {"listener_arn": LB_ARN.replace(":loadbalancer/", ":listener/") + "/f2f7dc8efc522ab2",
                "port": 80, "protocol": "HTTP", "certificate_pem": None, "private_key_pem": None,
                "default_actions": [{"type": "forward", "target_groups": [{"target_group_arn": TG_ARN,
                                                                           "weight": 1}]}],
                "rules": []}
    node = {"load_balancer_arn": LB_ARN, "name": "bench", "type": "application", "scheme": "internal",
            "vpc_id": "vpc-0123456789abcdef0", "subnet_id": "subnet-0123456789abcdef0", "interface_id": ENI,
            "ip": NODE_IP, "mac": "02:00:00:00:01:14", "prefix_len": 24, "idle_timeout_seconds": 60,
            "listeners": [listener], "target_groups": [group]}
    return {"nodes": [node]}


def hand_config() -> str:
    """What someone would write by hand for the same job (same thread count and connection limit)."""
    servers = "".join(f"    server t{n} {ip}:{BACKEND_PORT}\n" for n, ip in enumerate(BACKENDS.values(), 1))
    return (f"global\n    maxconn {haproxy_config.MAXCONN}\n    nbthread 1\n\n"
            "defaults\n    mode http\n    timeout connect 10s\n    timeout client 60s\n    timeout server 60s\n\n"
            f"frontend web\n    bind {HAND_IP}:80\n    default_backend targets\n\n"
            f"backend targets\n    balance roundrobin\n{servers}")


def nginx_config(root: Path, address: str) -> str:
    return ("worker_processes 1;\nuser root;\npid " + str(root / "nginx.pid") + ";\n"
            f"error_log {root}/error.log warn;\nevents {{ worker_connections 4096; }}\n"
            "http {\n    access_log off;\n    keepalive_requests 1000000;\n    keepalive_timeout 120s;\n"
            f"    client_body_temp_path {root}/tmp;\n    proxy_temp_path {root}/tmp;\n"
            f"    fastcgi_temp_path {root}/tmp;\n    uwsgi_temp_path {root}/tmp;\n    scgi_temp_path {root}/tmp;\n"
            f"    server {{\n        listen {address}:{BACKEND_PORT};\n        root {root}/www;\n"
            "        default_type text/plain;\n    }\n}\n")


def start_backend(namespace: str, address: str, root: Path, number: int) -> list[subprocess.Popen[bytes]]:
    """nginx (one worker, in the foreground so its pid is ours to stop) serving ``/index.html`` on the traffic
    port, and busybox httpd serving ``/health`` on HEALTH_PORT (the target group's health check port).

    Why a separate health port: the generated ``http-check send`` is HTTP/1.1 without a Host header, which
    nginx answers with 400 (RFC 9112 requires Host in HTTP/1.1), so an nginx target never turns healthy on
    its traffic port. Health checks stay on (same HAProxy check machinery), only their port differs."""
    (root / "www").mkdir(parents=True)
    (root / "tmp").mkdir()
    (root / "health").mkdir()
    (root / "www" / "index.html").write_text(BODY[:-1] + str(number))
    (root / "health" / "health").write_text("ok")
    conf = root / "nginx.conf"
    conf.write_text(nginx_config(root, address))
    quiet: dict[str, Any] = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "start_new_session": True}
    return [subprocess.Popen(["ip", "netns", "exec", namespace, "nginx", "-p", str(root), "-c", str(conf),
                              "-g", "daemon off;"], **quiet),
            subprocess.Popen(["ip", "netns", "exec", namespace, "busybox", "httpd", "-f", "-p",
                              f"{address}:{HEALTH_PORT}", "-h", str(root / "health")], **quiet)]


def curl_bodies(address: str, count: int) -> set[str]:
    """The bodies ``count`` sequential requests get through the balancer at ``address`` (both backends)."""
    def fetch() -> set[str]:
        import http.client

        seen = set()
        for _ in range(count):
            connection = http.client.HTTPConnection(address, 80, timeout=5)
            connection.request("GET", "/index.html")
            response = connection.getresponse()
            if response.status != 200:
                raise RuntimeError(f"{address}: HTTP {response.status}")
            seen.add(response.read().decode()[-1])
            connection.close()
        return seen

    return netns.run_inside(CLIENT, fetch)


def wait_for(predicate: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError, ValueError, KeyError, RuntimeError):
            if predicate():
                return
        time.sleep(0.2)
    raise RuntimeError(f"timed out waiting for {what}")


@dataclass
class Wrk:
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int
    non_2xx: int


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parse_wrk(text: str) -> Wrk:
    """Requests/sec, the 50% and 99% lines of ``--latency``, socket errors and non-2xx/3xx answers."""
    def latency(percent: str) -> float:
        found = re.search(rf"^\s+{percent}%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M)
        if not found:
            raise RuntimeError(f"no {percent}% line in wrk's output:\n{text}")
        return float(found.group(1)) * UNITS[found.group(2)]

    rps = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if not rps:
        raise RuntimeError(f"no Requests/sec in wrk's output:\n{text}")
    errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    return Wrk(float(rps.group(1)), latency("50"), latency("99"),
               sum(int(n) for n in errors.groups()) if errors else 0, int(non_2xx.group(1)) if non_2xx else 0)


def wrk(address: str, seconds: float, close: bool, threads: int, connections: int) -> Wrk:
    argv = ["ip", "netns", "exec", CLIENT, "wrk", "--latency", "-t", str(threads), "-c", str(connections),
            "-d", f"{seconds:g}s", "--timeout", "5s"]
    if close:
        argv += ["-H", "Connection: close"]
    out = subprocess.run(argv + [f"http://{address}/index.html"], check=True, capture_output=True, text=True,
                         timeout=seconds + 60, start_new_session=True).stdout
    return parse_wrk(out)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="duration of each wrk run")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, each running cloudlet then by hand")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--modes", default="keep-alive,close", help="keep-alive and/or close (new connection "
                        "per request), comma-separated")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("bench_elb: needs root (network namespaces); skipped")
        return 0
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        print(f"bench_elb: missing {', '.join(missing)} (apt-get install haproxy wrk nginx-light); skipped")
        return 0
    state = Path(tempfile.mkdtemp(prefix="clbelb", dir="/tmp"))  # short: HAProxy's unix socket paths
    os.chmod(state, 0o755)
    processes: list[subprocess.Popen[bytes]] = []
    reconciler = None
    try:
        netns.create(SWITCH)
        sh("ip", "-n", SWITCH, "link", "add", "br0", "type", "bridge")
        sh("ip", "-n", SWITCH, "link", "set", "br0", "up")
        plug(naming.service_netns(PREFIX, ENI), "pn", None)   # the reconciler addresses it
        plug(HAND, "ph", HAND_IP)
        plug(CLIENT, "pc", CLIENT_IP)
        # The load generator's own limits, not the balancers': with a new connection per request, whichever
        # side closes first keeps TIME_WAIT sockets, and when it is wrk, its connect() soon searches a
        # nearly exhausted ephemeral port range. The balancers' namespaces keep the kernel's defaults.
        netns.write_sysctls(CLIENT, {"net/ipv4/tcp_tw_reuse": "1", "net/ipv4/ip_local_port_range": "1024 65535"})
        for number, (namespace, address) in enumerate(BACKENDS.items(), 1):
            plug(namespace, f"pt{number}", address)
            processes.extend(start_backend(namespace, address, state / f"t{number}", number))
        (state / "hand.cfg").write_text(hand_config())
        sh("haproxy", "-c", "-q", "-f", str(state / "hand.cfg"))
        processes.append(subprocess.Popen(["ip", "netns", "exec", HAND, "haproxy", "-f", str(state / "hand.cfg")],
                                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                          start_new_session=True))
        reconciler = LoadBalancerReconciler(state, PREFIX)
        reconciler.reconcile(section())
        if reconciler.wants_retry:
            raise RuntimeError(f"the node is not serving: {reconciler.waiting}")
        wait_for(lambda: all(t["state"] == "healthy" for t in stats.target_health(reconciler.nodes[ENI], (
            stats.parse_csv(runtime_command(reconciler.servers.admin_socket(ENI), "show stat"))))), 30,
            "both targets healthy")
        balancers = {"cloudlet": NODE_IP, "by hand": HAND_IP}
        for name, address in balancers.items():   # both answer, from both backends
            wait_for(lambda a=address: curl_bodies(a, 4) == {"1", "2"}, 15, f"{name} reaching both backends")
            wrk(address, 2, False, args.threads, args.connections)   # warm-up
        rows = []
        for close in [mode == "close" for mode in args.modes.split(",")]:
            label = "Connection: close" if close else "keep-alive"
            runs: dict[str, list[Wrk]] = {name: [] for name in balancers}
            for number in range(args.rounds):   # ABBA: neither always runs first
                for name, address in list(balancers.items())[::1 if number % 2 == 0 else -1]:
                    result = wrk(address, args.seconds, close, args.threads, args.connections)
                    runs[name].append(result)
                    print(f"  {label:<18} round {number + 1} {name:<9} {result.rps:8.0f} req/s  p50 "
                          f"{result.p50_ms:6.2f} ms  p99 {result.p99_ms:7.2f} ms", flush=True)
            rows.append((label, runs))
        config_lines = len(reconciler.servers.config_path(ENI).read_text().splitlines())
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.wait(timeout=10)
        if reconciler is not None:
            with contextlib.suppress(Exception):
                reconciler.reconcile({"nodes": []})
            reconciler.close()
        for name in netns.list_names():
            if name.startswith("clbench-elb"):
                netns.remove(name)
        shutil.rmtree(state, ignore_errors=True)
    summarize(rows, args, config_lines)
    return 0


def summarize(rows: list[tuple[str, dict[str, list[Wrk]]]], args: Any, config_lines: int) -> None:
    print(f"\n== ALB data plane: Cloudlet's node (generated config, {config_lines} lines) vs HAProxy by hand, same "
          f"backends, wrk {args.threads} threads x {args.connections} connections, {args.rounds} rounds x "
          f"{args.seconds:g} s, medians (2 cores shared by wrk, HAProxy and 2 nginx)")
    print(f"{'workload':<19} {'balancer':<9} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'non-2xx':>8}")
    verdicts = []
    for label, runs in rows:
        medians = {}
        for name, results in runs.items():
            medians[name] = (statistics.median(r.rps for r in results), statistics.median(r.p50_ms for r in results),
                             statistics.median(r.p99_ms for r in results))
            print(f"{label:<19} {name:<9} {medians[name][0]:9.0f} {medians[name][1]:8.3f} {medians[name][2]:8.3f} "
                  f"{sum(r.errors for r in results):7d} {sum(r.non_2xx for r in results):8d}")
        a, b = medians["cloudlet"], medians["by hand"]
        ratio = a[0] / b[0] if b[0] else float("inf")
        paired = statistics.median(x.rps / y.rps for x, y in zip(runs["cloudlet"], runs["by hand"], strict=True))
        print(f"{label:<19} {'ratio':<9} {ratio:9.2f} {a[1] / b[1]:8.2f} {a[2] / b[2]:8.2f}   (req/s, median of "
              f"each round's pair: {paired:.2f})")
        verdicts.append(f"{label} {ratio:.2f}")
        report(f"ALB {label}: req/s through Cloudlet's node over HAProxy by hand", ratio, "x",
               at_least=TARGET, cloudlet_rps=a[0], by_hand_rps=b[0], paired_ratio=paired)
        report(f"ALB {label}: p99 latency through Cloudlet's node over HAProxy by hand", a[2] / b[2], "x",
               cloudlet_p99_ms=a[2], by_hand_p99_ms=b[2])
    ratios = [float(v.rsplit(" ", 1)[1]) for v in verdicts]
    met = min(ratios) >= TARGET
    print(f"target (issue 17): req/s within 10% of hand-configured HAProxy (ratio >= {TARGET:.2f}): "
          + ("met" if met else "NOT met") + f" ({', '.join(verdicts)})")


if __name__ == "__main__":
    sys.exit(main())
