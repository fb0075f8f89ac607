"""The agent process: register this host with the controller, then heartbeat.

Run by ``cloudlet up`` for the local host, or on its own on other hosts::

    cloudlet-agent --controller http://10.0.0.1:8773 --token-file agent.token --zone home-1b
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import socket
import sys
import threading
import uuid
from pathlib import Path

from agent.client import ControllerClient
from agent.wire import Heartbeat, HostRegistration

log = logging.getLogger("cloudlet.agent")

AGENT_VERSION = "0.1.0"
HEARTBEAT_INTERVAL = 10.0


def host_id(state_dir: Path) -> str:
    """A stable id for this host, kept in the agent's state dir."""
    path = state_dir / "host-id"
    if not path.exists():
        path.write_text(f"h-{uuid.uuid4().hex[:17]}\n")
    return path.read_text().strip()


def describe_host(state_dir: Path, zone: str) -> HostRegistration:
    """What this machine offers, read from the kernel."""
    pages = os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    disk = shutil.disk_usage(state_dir)
    return HostRegistration(
        host_id=host_id(state_dir), hostname=socket.gethostname(), zone=zone, vcpus=os.cpu_count() or 1,
        memory_mib=pages // 2**20, disk_gib=disk.total // 2**30, hypervisor="none", agent_version=AGENT_VERSION)


def free_memory_mib() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="cloudlet-agent")
    parser.add_argument("--controller", required=True, help="controller endpoint URL")
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument("--zone", required=True, help="the availability zone this host belongs to")
    parser.add_argument("--state-dir", type=Path, default=Path("/var/lib/cloudlet/agent"))
    args = parser.parse_args(argv)
    logging.basicConfig(level=os.environ.get("CLOUDLET_LOG", "INFO"),
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args.state_dir.mkdir(parents=True, exist_ok=True)
    client = ControllerClient(args.controller, args.token_file.read_text().strip())
    registration = describe_host(args.state_dir, args.zone)
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    registered = False
    while not stop.is_set():
        try:
            if not registered:
                client.register(registration)
                registered = True
                log.info("host %s registered in %s (%d vCPUs, %d MiB)", registration.host_id, registration.zone,
                         registration.vcpus, registration.memory_mib)
            else:
                registered = client.heartbeat(Heartbeat(registration.host_id, os.getloadavg()[0],
                                                        free_memory_mib()))
        except OSError as exc:
            log.warning("controller unreachable (%s); retrying", exc)
        stop.wait(HEARTBEAT_INTERVAL if registered else 2.0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
