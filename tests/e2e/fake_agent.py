"""A stand-in for compute agents in API tests that need instances to reach ``running`` without booting them.

Auto Scaling (like ELB) acts on instances only once EC2 reports them running, and a registered host that never
reports leaves them pending. :class:`FakeAgent` heartbeats one host per zone and reports every instance the
controller places there as running; ``stop`` re-registers its hosts without a hypervisor, so later tests'
launches never land where nobody reports.
"""

from __future__ import annotations

import contextlib
import threading
import uuid

from tests.e2e.helpers import agent_rpc
from tests.support import CloudletProcess


class FakeAgent:
    """Plays the agent of fake compute hosts (one per zone): heartbeats, and reports every instance the
    controller wants there as running, so launched instances reach ``running`` as on a real host."""

    def __init__(self, cloudlet: CloudletProcess, prefix: str, zones: tuple[str, ...], *,
                 memory_mib: int = 262144) -> None:
        self.cloudlet = cloudlet
        self.memory_mib = memory_mib
        self.hosts = [f"h-{prefix}{zone[-1]}{uuid.uuid4().hex[:6]}" for zone in zones]
        self.zones = zones
        self.register("qemu")
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopping.wait(1.0):
            for host_id in self.hosts:
                with contextlib.suppress(OSError, ValueError):
                    agent_rpc(self.cloudlet, "POST", f"/hosts/{host_id}/heartbeat",
                              {"load": 0.0, "free_memory_mib": 200000})
                    wanted = agent_rpc(self.cloudlet, "GET", f"/hosts/{host_id}/desired?generation=-1&wait=0")
                    instances = wanted["sections"].get("instances", {}).get("instances", [])
                    agent_rpc(self.cloudlet, "POST", f"/hosts/{host_id}/instances", {"complete": True, "instances": [
                        {"instance_id": i["instance_id"], "power": "running"} for i in instances]})

    def register(self, hypervisor: str) -> None:
        for host_id, zone in zip(self.hosts, self.zones, strict=True):
            agent_rpc(self.cloudlet, "POST", "/hosts", {
                "host_id": host_id, "hostname": host_id, "zone": zone, "vcpus": 64, "memory_mib": self.memory_mib,
                "disk_gib": 2000, "hypervisor": hypervisor, "agent_version": "test", "capabilities": ["compute"]})

    def stop(self) -> None:
        """Stop playing the agent; the hosts take no more instances (no hypervisor), so later tests' launches
        never land where nobody reports them."""
        self.stopping.set()
        self.thread.join(timeout=10)
        self.register("none")
