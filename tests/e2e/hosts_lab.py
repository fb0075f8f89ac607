"""Simulated hosts on one machine: one agent process per "host", each with its own state dir, name prefix and
underlay address, all under one ``cloudlet up``.

``cloudlet up``'s own agent is host A (its flags come from ``CLOUDLET_AGENT_*`` in the cloud's environment,
:meth:`SimulatedHost.agent_env`); every other host is an ``agent.main`` process started here, as
``cloudlet host add`` would start it on another machine. The underlay is a namespace holding one bridge (the
"switch", 198.18.0.0/24: a benchmark range, never the machine's own network) with a veth into each host's
underlay namespace, so any number of hosts see each other's VTEPs. They share the machine's libvirtd; their
domains, taps and namespaces are kept apart by the agents' state dirs and prefixes. Used by the multi-host
tests and by ``bench/bench_hosts_launch.py``.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.network import netns
from tests.support import REPO, CloudletProcess

UNDERLAY_PREFIX = 24


@dataclass
class SimulatedHost:
    """One host: ``process`` is None for ``cloudlet up``'s own agent (``cloudlet up`` runs it)."""

    name: str
    prefix: str
    state_dir: Path
    underlay_ip: str
    underlay_netns: str
    zone: str = "home-1a"
    process: subprocess.Popen[bytes] | None = None

    def host_id(self) -> str:
        path = self.state_dir / "host-id"
        return path.read_text().strip() if path.exists() else ""

    def agent_env(self) -> dict[str, str]:
        """The environment that gives ``cloudlet up``'s agent this host's prefix and underlay."""
        return {"CLOUDLET_AGENT_NAME_PREFIX": self.prefix, "CLOUDLET_AGENT_UNDERLAY_IP": self.underlay_ip,
                "CLOUDLET_AGENT_UNDERLAY_NETNS": self.underlay_netns}

    def start(self, cloudlet: CloudletProcess, *flags: str, log: Path | None = None) -> None:
        """Start this host's agent against ``cloudlet``, heartbeating at ``cloudlet up``'s own pace."""
        settings = json.loads((cloudlet.data_dir / "cloudlet.json").read_text())
        interval = float(settings.get("host_heartbeat_timeout_seconds", 30.0)) / 3
        argv = [sys.executable, "-m", "agent.main", "--controller", cloudlet.endpoint, "--token-file",
                str(cloudlet.data_dir / "agent.token"), "--zone", self.zone, "--state-dir", str(self.state_dir),
                "--name-prefix", self.prefix, "--underlay-ip", self.underlay_ip, "--underlay-netns",
                self.underlay_netns, "--heartbeat-interval", str(interval), *flags]
        # The test's own CLOUDLET_AGENT_* (host A's) must not leak into another host's agent.
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDLET_AGENT_")
               and k != "CLOUDLET_COMPUTE_DIR"}
        output = log.open("ab") if log is not None else subprocess.DEVNULL
        self.process = subprocess.Popen(argv, cwd=REPO, env=env, stdout=output, stderr=subprocess.STDOUT,
                                        start_new_session=True)

    def kill(self) -> int:
        """SIGKILL the agent process alone (its dnsmasq and guests stay, as after a crash); its pid."""
        assert self.process is not None
        os.kill(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        return self.process.pid

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def teardown(self) -> None:
        """Once its agent is stopped, remove what it built: namespaces of its prefix, dnsmasq, NFS servers, any
        guest a failed run left, and its compute dir (outside the state dir when that is not traversable:
        121 MB of image cache each)."""
        from agent.compute.service import compute_dir

        subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", self.prefix,
                        "--state-dir", str(self.state_dir)], cwd=REPO, capture_output=True, timeout=60)
        directory = compute_dir(self.state_dir)
        if directory.exists():
            _destroy_guests(directory)
            shutil.rmtree(directory, ignore_errors=True)


def build_underlay(switch_netns: str, hosts: list[SimulatedHost]) -> None:
    """The switch namespace and each host's underlay namespace, wired through the switch's bridge."""
    netns.create(switch_netns)
    _ip("-n", switch_netns, "link", "add", "br0", "type", "bridge")
    _ip("-n", switch_netns, "link", "set", "br0", "up")
    for index, host in enumerate(hosts):
        netns.create(host.underlay_netns)
        port = f"u{index}"
        _ip("link", "add", "eth0", "netns", host.underlay_netns, "type", "veth", "peer", "name", port,
            "netns", switch_netns)
        _ip("-n", switch_netns, "link", "set", port, "master", "br0", "up")
        _ip("-n", host.underlay_netns, "addr", "add", f"{host.underlay_ip}/{UNDERLAY_PREFIX}", "dev", "eth0")
        _ip("-n", host.underlay_netns, "link", "set", "eth0", "up")


def remove_underlay(switch_netns: str, hosts: list[SimulatedHost]) -> None:
    for name in [switch_netns, *(h.underlay_netns for h in hosts)]:
        if netns.exists(name):
            netns.remove(name)


def registered_hosts(cloudlet: CloudletProcess) -> dict[str, dict[str, Any]]:
    """host id -> the controller's record (GET /_cloudlet/agent/v1/hosts), state ``up`` or ``down``."""
    token = (cloudlet.data_dir / "agent.token").read_text().strip()
    request = urllib.request.Request(cloudlet.endpoint + "/_cloudlet/agent/v1/hosts",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return {h["host_id"]: h for h in json.load(response)["hosts"]}


def host_command(cloudlet: CloudletProcess, *args: str) -> str:
    """``cloudlet host ARGS`` against the cloud's data dir; its output (asserting success)."""
    out = subprocess.run([sys.executable, "-m", "controller.cli", "host", "--data-dir", str(cloudlet.data_dir),
                          *args], cwd=REPO, capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def _destroy_guests(compute_dir: Path) -> None:
    """Every domain of the driver that owns ``compute_dir`` (never another agent's: domains carry their
    owner's tag)."""
    from agent.compute.libvirt_driver import LibvirtDriver
    from agent.compute.spec import Accelerator

    driver = LibvirtDriver(compute_dir, Accelerator.TCG)
    try:
        for instance_id in driver.list_instances():
            driver.destroy(instance_id)
    finally:
        driver.connection.close()


def _ip(*argv: str) -> None:
    subprocess.run(["ip", *argv], check=True, capture_output=True, text=True)
