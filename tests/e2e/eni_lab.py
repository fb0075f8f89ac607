"""Shared by the ENI hot-plug VM test and its bench: a real controller and agent, a tiny instance, and a probe
that asks a guest address for a TCP answer from inside the VPC's router namespace.

The probe connects to port 22 (dropbear listens on every address of the guest): a SYN-ACK is the first
packet the guest answers on that address. From the router namespace the only way to a subnet's address is
that subnet's bridge, so an answer at the address of an interface in another subnet went over that NIC.
"""

from __future__ import annotations

import json
import secrets
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tests.agent.compute_lab import build_tiny_image, ensure_libvirtd, in_netns
from tests.support import CloudletProcess, wait_for


@contextmanager
def cloud_with_agent(name: str, config: dict[str, Any] | None = None) -> Iterator[Any]:
    """A controller and one agent as in ``test_ec2_instances_vm`` (its ``Env``), removed on the way out;
    ``config`` goes to the controller's ``cloudlet.json`` (a bench's 20 guests need more CPU over-commit)."""
    from tests.e2e.test_ec2_instances_vm import Env, _clean_up

    ensure_libvirtd()
    build_tiny_image()
    run = secrets.token_hex(3)
    # Not under pytest's 0700 temp dirs: QEMU (libvirt-qemu) and dnsmasq (nobody) must traverse these paths.
    work = Path("/var/tmp") / f"cl-e2e-{name}-{run}"
    work.mkdir(mode=0o755)
    if config:
        (work / "data").mkdir()
        (work / "data" / "cloudlet.json").write_text(json.dumps(config))
    cloud = CloudletProcess(work / "data")
    prefix = f"cl-n{run[:4]}-"
    env = Env(cloud, work, prefix, [])
    try:
        cloud.start()
        env.agent_args = [sys.executable, "-m", "agent.main", "--controller", cloud.endpoint, "--token-file",
                          str(work / "data" / "agent.token"), "--zone", "home-1a", "--state-dir",
                          str(env.agent_dir), "--name-prefix", prefix]
        env.start_agent()
        wait_for(lambda: (env.host() or {}).get("hypervisor") in ("kvm", "qemu"), 90, "the agent to register "
                 "a hypervisor (first start probes KVM)", interval=0.5)
        yield env
    finally:
        _clean_up(env)


def tiny_image(ec2: Any) -> str:
    images = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["cloudlet-tiny-*"]}])
    return str(images["Images"][0]["ImageId"])


def answers(namespace: str, address: str, port: int = 22, timeout: float = 0.25) -> bool:
    """True when ``address`` accepts a TCP connection on ``port``, asked from inside ``namespace`` (False while
    the agent has not made that namespace yet)."""
    if not Path(f"/run/netns/{namespace}").exists():
        return False
    with in_netns(namespace):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        sock.settimeout(timeout)
        return sock.connect_ex((address, port)) == 0  # refused, unreachable or timed out: an errno, not 0
    finally:
        sock.close()


def first_answer(namespace: str, address: str, since: float, limit: float, what: str) -> float:
    """Seconds from ``since`` (a ``time.monotonic()``) to the first answer of ``address``; fails after ``limit``."""
    while not answers(namespace, address):
        if time.monotonic() - since > limit:
            raise AssertionError(f"{what}: {address} did not answer within {limit:.0f} s")
        time.sleep(0.02)
    return time.monotonic() - since


def console(env: Any, instance_id: str) -> str:
    return str(env.ec2().get_console_output(InstanceId=instance_id).get("Output") or "")
