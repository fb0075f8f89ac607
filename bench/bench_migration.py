"""Live-migration downtime: ``cloudlet host drain`` against ``virsh migrate --live`` of the same guest between
the same two libvirtds (the peer: the hypervisor's own migration, with nothing of Cloudlet around it).

Two simulated hosts (``tests/e2e/migration_lab.py``: A on the machine's libvirtd, B on a second one). Each run
launches a tiny-AMI guest on A running a busybox echo server; a namespace client on A holds one TCP
connection to it, a numbered line every 0.1 s (``tests/e2e/echo_stream.py``), and pings it every 50 ms:
the downtime is the longest gap between two ping replies (the TCP stream's longest gap is reported too: it
adds TCP's retransmission backoff, so it is what an application sees).  Per run, on the same guest:

1. the peer: both agents paused (SIGSTOP), ``virsh migrate --live --p2p --copy-storage-inc`` A -> B with a
   destination XML for a scratch directory, then the new QEMU's tap moved onto the subnet bridge where the
   old one was, as soon as virsh returns (what a hand-run migration needs at the least); then back to A the
   same way (not measured), and the agents resumed, none the wiser;
2. Cloudlet: ``cloudlet host drain A``: the agents prepare, migrate, report, move the instance and its ENI
   to B and reprogram the VXLAN forwarding on both hosts.

Prints each run, the medians and the ratio Cloudlet / peer (lower is better; 1 would mean Cloudlet's
orchestration adds nothing to the hypervisor's switch-over). Needs root, libvirtd, QEMU, dnsmasq, ping,
unshare.

    .venv/bin/python bench/bench_migration.py [--runs 3]
"""

from __future__ import annotations

import argparse
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import median, report  # noqa: E402
from guest_lab import missing_prerequisites  # noqa: E402

ECHO_PORT = 7000
USER_DATA = f"#!/bin/sh\nbusybox nc -ll -p {ECHO_PORT} -e /bin/cat &\n"
SETTLE_SECONDS = 2.0


class PingStream:
    """ICMP echo every 50 ms from ``namespace`` (no TCP retransmission backoff in the figure): the longest gap
    between two replies is the network outage itself."""

    def __init__(self, namespace: str, address: str) -> None:
        self.process = subprocess.Popen(["ip", "netns", "exec", namespace, "ping", "-n", "-D", "-i", "0.05",
                                         address], stdout=subprocess.PIPE, text=True)

    def finish(self) -> float:
        self.process.send_signal(signal.SIGINT)
        out, _ = self.process.communicate(timeout=30)
        replies = [float(m.group(1)) for m in re.finditer(r"^\[(\d+\.\d+)\] \d+ bytes from", out, re.MULTILINE)]
        if len(replies) < 2:
            raise RuntimeError(f"ping got {len(replies)} replies")
        return max(b - a for a, b in zip(replies, replies[1:], strict=False))


@contextmanager
def agents_paused(lab: Any) -> Iterator[None]:
    """Both agents stopped (SIGSTOP) meanwhile: neither sees, nor undoes, a migration it did not ask for."""
    for agent in lab.agents.values():
        os.kill(agent.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        for agent in lab.agents.values():
            os.kill(agent.pid, signal.SIGCONT)


def tap_place(prefix: str, tap: str) -> tuple[str, str]:
    """(namespace, bridge) where ``tap`` is plugged, among the namespaces named with ``prefix``."""
    for namespace in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split():
        if namespace.startswith(prefix):
            shown = subprocess.run(["ip", "-n", namespace, "-o", "link", "show", tap], capture_output=True,
                                   text=True).stdout
            master = re.search(r"\bmaster (\S+)", shown)
            if master:
                return namespace, master.group(1)
    raise RuntimeError(f"tap {tap} is plugged in no namespace starting with {prefix}")


def hand_migrate(instance_id: str, source: str, target: str, dest_xml: Path, tap: str, alias: str,
                 place: tuple[str, str], *, p2p: bool) -> float:
    """``virsh migrate --live`` of ``instance_id`` from ``source`` to ``target`` (libvirt URIs), its tap made
    beforehand and plugged where the old one was right after; the seconds virsh took."""
    subprocess.run(["ip", "tuntap", "add", "dev", tap, "mode", "tap"], check=True)
    subprocess.run(["ip", "link", "set", tap, "alias", alias], check=True)
    argv = ["virsh", "-c", source, "migrate", "--live", "--copy-storage-inc", "--persistent", "--undefinesource",
            "--xml", str(dest_xml), "--persistent-xml", str(dest_xml), "--migrateuri", "tcp://127.0.0.1",
            *(["--p2p"] if p2p else []), instance_id, target]
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, text=True)
    took = time.monotonic() - started
    namespace, bridge = place
    subprocess.run(["ip", "-n", namespace, "link", "del", tap], check=True)
    subprocess.run(["ip", "link", "set", tap, "netns", namespace], check=True)
    subprocess.run(["ip", "-n", namespace, "link", "set", tap, "master", bridge, "up"], check=True)
    return took


def fresh_overlay(path: Path, like: Path) -> None:
    """An empty overlay at ``path`` on the base image ``like`` uses, of its virtual size."""
    import json

    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(like)], check=True,
                                     capture_output=True, text=True).stdout)
    path.unlink(missing_ok=True)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", info["backing-filename"],
                    str(path), str(info["virtual-size"])], check=True)


def peer_run(lab: Any, instance: dict[str, Any], client: str) -> tuple[float, float, float]:
    """(TCP echo gap, ping gap, virsh seconds) of the peer's migration A -> B; the guest is back on A afterwards."""
    from agent.compute.migration import destination_xml
    from agent.compute.spec import MigrationTarget
    from agent.contract.naming import owner_tag, tap_alias, tap_name
    from tests.e2e.migration_lab import EchoStream

    instance_id = instance["InstanceId"]
    compute_a = lab.state_dir("a") / "compute"
    scratch = lab.work / "peer"
    (scratch / "images").unlink(missing_ok=True)
    scratch.mkdir(exist_ok=True, mode=0o755)
    (scratch / "images").symlink_to(compute_a / "images")  # the same AMI files, as on a second host
    owner = owner_tag(compute_a)
    original = subprocess.run(["virsh", "-c", lab.libvirt_uri("a"), "dumpxml", "--migratable", instance_id],
                              check=True, capture_output=True, text=True).stdout
    there = scratch / "there.xml"
    there.write_text(destination_xml(original, compute_a, MigrationTarget("peer", "", "", str(scratch), owner)))
    back = scratch / "back.xml"
    back.write_text(original)
    overlay_a = compute_a / "instances" / instance_id / "root.qcow2"
    fresh_overlay(scratch / "instances" / instance_id / "root.qcow2", overlay_a)
    tap = tap_name(instance_id, 0)
    place = tap_place(lab.prefix("a"), tap)
    # connected first: the guest's boot fetches its user data (the echo server) from the agent's metadata service
    stream = EchoStream(client, instance["PrivateIpAddress"], ECHO_PORT)
    with agents_paused(lab):
        pings = PingStream(client, instance["PrivateIpAddress"])
        time.sleep(SETTLE_SECONDS)
        took = hand_migrate(instance_id, lab.libvirt_uri("a"), lab.libvirt_uri("b"), there, tap,
                            tap_alias(owner, instance_id), place, p2p=True)
        time.sleep(SETTLE_SECONDS)
        summary, ping_gap = stream.finish(), pings.finish()
        fresh_overlay(overlay_a, overlay_a)
        # B's libvirtd cannot reach A's (its /run/libvirt is private): virsh drives this one from here.
        hand_migrate(instance_id, lab.libvirt_uri("b"), lab.libvirt_uri("a"), back, tap,
                     tap_alias(owner, instance_id), place, p2p=False)
    if summary["error"]:
        raise RuntimeError(f"the peer's migration broke the connection: {summary}")
    return summary["longest_gap"], ping_gap, took


def cloudlet_run(lab: Any, instance: dict[str, Any], client: str) -> tuple[float, float, float]:
    """(TCP echo gap, ping gap, drain seconds) of ``cloudlet host drain A``."""
    from tests.e2e.migration_lab import EchoStream

    stream = EchoStream(client, instance["PrivateIpAddress"], ECHO_PORT)
    pings = PingStream(client, instance["PrivateIpAddress"])
    time.sleep(SETTLE_SECONDS)
    started = time.monotonic()
    drained = lab.drain("a")
    took = time.monotonic() - started
    time.sleep(SETTLE_SECONDS)
    summary, ping_gap = stream.finish(), pings.finish()
    if drained.returncode != 0 or summary["error"] or instance["InstanceId"] not in lab.domains("b"):
        raise RuntimeError(f"cloudlet host drain did not move the guest: {drained.stdout}{drained.stderr} {summary}")
    return summary["longest_gap"], ping_gap, took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="guests launched, one migration of each way (default 3)")
    args = parser.parse_args()
    missing = missing_prerequisites("unshare", "busybox", "ping")
    if missing:
        print(f"bench_migration: skipped, needs {', '.join(missing)}")
        return 0
    from tests.e2e.migration_lab import MigrationLab
    from tests.support import wait_for

    lab = MigrationLab.start()
    runs = []
    try:
        subnet, client = lab.subnet_with_client("10.90.0.0/16", "10.90.1.0/24", "10.90.1.10")
        for run in range(1, args.runs + 1):
            instance = lab.launch_on_a(subnet, USER_DATA)
            peer = peer_run(lab, instance, client)
            ours = cloudlet_run(lab, instance, client)
            print(f"  run {run}: cloudlet drain: TCP gap {ours[0]:5.2f} s, ping gap {ours[1]:5.2f} s, drain "
                  f"{ours[2]:5.2f} s   virsh migrate: TCP gap {peer[0]:5.2f} s, ping gap {peer[1]:5.2f} s, virsh "
                  f"{peer[2]:5.2f} s", flush=True)
            runs.append((*ours, *peer))
            lab.ec2().terminate_instances(InstanceIds=[instance["InstanceId"]])
            wait_for(lambda i=instance["InstanceId"]: lab.ec2().describe_instances(InstanceIds=[i])[
                "Reservations"][0]["Instances"][0]["State"]["Name"] == "terminated", 120, "terminated")
            lab.drain("a", undo=True)
    finally:
        lab.clean_up()
    gap, ping, took, peer_gap, peer_ping, peer_took = (median([r[i] for r in runs]) for i in range(6))
    print(f"\nLive migration of a running tiny-AMI guest (t3.micro, TCG), medians of {len(runs)} runs:")
    print(f"  cloudlet host drain:         ping gap {ping:6.2f} s, TCP echo gap {gap:6.2f} s, whole drain {took:6.2f} s")
    print(f"  virsh migrate --live (peer): ping gap {peer_ping:6.2f} s, TCP echo gap {peer_gap:6.2f} s, "
          f"virsh {peer_took:6.2f} s")
    print(f"  ratios cloudlet / peer: ping gap {ping / peer_ping:6.2f}x, TCP echo gap {gap / peer_gap:6.2f}x")
    report("cloudlet host drain: downtime of the migrated guest (longest ping gap)", ping, "s", tcp_gap_s=gap,
           drain_s=took)
    report("live-migration downtime (ping gap), cloudlet host drain over virsh migrate --live", ping / peer_ping,
           "x", cloudlet_s=ping, peer_s=peer_ping)
    report("longest TCP echo gap across a live migration, cloudlet host drain over virsh migrate --live",
           gap / peer_gap, "x", cloudlet_s=gap, peer_s=peer_gap, cloudlet_drain_s=took, peer_virsh_s=peer_took)
    return 0


if __name__ == "__main__":
    sys.exit(main())
