"""Scheduling and launch throughput: 50 instances across 3 simulated hosts, against libvirt alone.

Three agents on this machine stand for three hosts (``tests/e2e/hosts_lab.py``): ``cloudlet up``'s own and
two more processes, each with its own state dir, name prefix and underlay address on a lab switch. One
``RunInstances`` (MinCount = MaxCount = 50, the tiny AMI, t2.nano) goes to the controller, which places the
instances; the clock stops when DescribeInstances shows the last one ``running`` (the agent has started its
libvirt domain). The bench pauses each guest through libvirt as soon as its domain runs (a paused domain
still reads ``running``: the agent's work is done) and terminates each instance once it is seen running:
50 TCG guests booting together on this 2-core machine pushed the load average past 70 and starved the
agents being measured. An agent reports its instances once per pass, so they turn running in batches. A warm-up launch of 3 first puts the AMI in every host's image cache,
so the figure is steady-state launching, not copying 120 MB three times.

The peer, in the same run: the physical limit of the same work on this libvirtd, one loop doing for each of
50 instances what the driver does (qcow2 overlay on the cached AMI, root tap, define the same domain XML
through libvirt-python, start), each destroyed right after it started. Reported: both times, their ratio,
the instances per second, and how the scheduler spread the 50 over the hosts (per-host counts; each
simulated host reports the whole machine's CPUs and memory, so the spread should be even).

Needs root, libvirtd (started if absent), QEMU and dnsmasq; skips with a message otherwise.

    .venv/bin/python bench/bench_hosts_launch.py [--count 50]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import secrets
import shutil
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report  # noqa: E402
from guest_lab import missing_prerequisites  # noqa: E402

from agent.network import netns  # noqa: E402
from tests.e2e.helpers import terminate_all_instances  # noqa: E402
from tests.e2e.hosts_lab import SimulatedHost, build_underlay, registered_hosts, remove_underlay  # noqa: E402
from tests.support import CloudletProcess, wait_for  # noqa: E402

HOSTS = 3
#: Each simulated host has the machine's 2 vCPUs: enough over-commit for 50 one-vCPU guests on three.
CPU_OVERCOMMIT = 16.0
INSTANCE_TYPE = "t2.nano"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=50, help="instances in the launch (default 50)")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        print(f"bench_hosts_launch: skipped, needs {', '.join(missing)}")
        return 0
    from tests.agent.compute_lab import build_tiny_image, ensure_libvirtd

    ensure_libvirtd()
    manifest_path = build_tiny_image()
    run = secrets.token_hex(2)
    # Not under a 0700 temp dir: QEMU (libvirt-qemu) must traverse the agents' compute dirs.
    work = Path("/var/tmp") / f"cl-bench-hosts-{run}"
    work.mkdir(mode=0o755)
    data = work / "data"
    data.mkdir(mode=0o700)
    (data / "cloudlet.json").write_text(json.dumps({"cpu_overcommit_ratio": CPU_OVERCOMMIT}))
    prefix = f"cl-h{run}"
    hosts = [SimulatedHost(name, f"{prefix}{name}-", data / "agent" if name == "a" else work / f"agent-{name}",
                           f"198.18.0.{index + 1}", f"{prefix}-u{name}") for index, name in enumerate("abc")]
    cloud = CloudletProcess(data, agent=True, extra_env=hosts[0].agent_env())
    try:
        build_underlay(f"{prefix}-sw", hosts)
        cloud.start()
        for host in hosts[1:]:
            host.start(cloud, log=work / f"agent-{host.name}.log")
        wait_for(lambda: all(registered_hosts(cloud).get(h.host_id(), {}).get("hypervisor") in ("kvm", "qemu")
                             for h in hosts), 120, "three hosts with a hypervisor", interval=0.5)
        hypervisor = registered_hosts(cloud)[hosts[0].host_id()]["hypervisor"]
        ec2 = cloud.client("ec2")
        subnet = launch_subnet(ec2)
        image_id = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["cloudlet-tiny-*"]}])[
            "Images"][0]["ImageId"]
        warm = launch_until_running(ec2, image_id, subnet, HOSTS)
        terminate_all_instances(ec2)  # gone, so they hold no capacity the scheduler would count
        print(f"warm-up: {HOSTS} instances (the AMI into each host's cache) running in {warm['seconds']:.1f} s",
              flush=True)
        launch = launch_until_running(ec2, image_id, subnet, args.count)
        spread = per_host(cloud, launch["instance_ids"], {h.host_id(): h.name for h in hosts})
        peer = libvirt_loop(work / "peer", manifest_path, hypervisor, args.count)
    finally:
        clean_up(cloud, hosts, prefix, work)

    cloud_s, peer_s = launch["seconds"], peer
    ratio = cloud_s / peer_s
    print(f"\n{args.count} x {INSTANCE_TYPE}, tiny AMI, {hypervisor} ({HOSTS} simulated hosts on one machine):")
    print(f"  RunInstances -> all running (Cloudlet)     {cloud_s:6.1f} s  {args.count / cloud_s:5.2f} instances/s")
    print(f"  overlay+tap+define+start loop (libvirt)    {peer_s:6.1f} s  {args.count / peer_s:5.2f} instances/s"
          "  (physical limit)")
    print(f"  ratio                                      {ratio:6.2f}x")
    print(f"  first running after {launch['first']:.1f} s; per host: "
          + ", ".join(f"{name} {count}" for name, count in sorted(spread.items())))
    details = {"cloudlet_s": cloud_s, "libvirt_loop_s": peer_s, "per_host": spread, "first_running_s": launch["first"],
               "warm_up_s": warm["seconds"], "hypervisor": hypervisor, "count": args.count}
    report(f"{args.count} instances on {HOSTS} simulated hosts: RunInstances to all running", cloud_s, "s", **details)
    report(f"{args.count} instances: time to all running over a libvirt define+start loop", ratio, "x", **details)
    report(f"{args.count} instances: largest per-host share over an even spread",
           max(spread.values()) / (args.count / HOSTS), "x", at_most=1.2, **details)
    return 0


def launch_subnet(ec2: Any) -> str:
    vpc_id = ec2.create_vpc(CidrBlock="10.89.0.0/16")["Vpc"]["VpcId"]
    return ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.89.0.0/24", AvailabilityZone="home-1a")["Subnet"]["SubnetId"]


def launch_until_running(ec2: Any, image_id: str, subnet_id: str, count: int) -> dict[str, Any]:
    """One RunInstances of ``count``; each instance terminated as soon as it is seen running. The seconds
    until the last was running, until the first was, and the ids."""
    started = time.monotonic()
    ids = [i["InstanceId"] for i in ec2.run_instances(ImageId=image_id, InstanceType=INSTANCE_TYPE, MinCount=count,
                                                      MaxCount=count, SubnetId=subnet_id)["Instances"]]
    with paused_as_they_start(set(ids)):
        return _wait_running(ec2, ids, started)


def _wait_running(ec2: Any, ids: list[str], started: float) -> dict[str, Any]:
    """Poll DescribeInstances until every one of ``ids`` has been seen running, terminating each on sight."""
    count = len(ids)
    running: dict[str, float] = {}
    deadline = started + 60 + 10 * count
    while len(running) < count:
        if time.monotonic() > deadline:
            raise TimeoutError(f"only {len(running)} of {count} instances running after {deadline - started:.0f} s")
        now = time.monotonic() - started
        states = {i["InstanceId"]: i["State"]["Name"] for r in ec2.describe_instances(InstanceIds=ids)["Reservations"]
                  for i in r["Instances"]}
        failed = [i for i, state in states.items() if state in ("terminated", "shutting-down") and i not in running]
        if failed:
            raise RuntimeError(f"instances ended before running: {failed}")
        new = [i for i, state in states.items() if state == "running" and i not in running]
        running.update({i: now for i in new})
        if new:
            ec2.terminate_instances(InstanceIds=new)
        time.sleep(0.25)
    return {"seconds": max(running.values()), "first": min(running.values()), "instance_ids": ids}


@contextlib.contextmanager
def paused_as_they_start(instance_ids: set[str]) -> Iterator[None]:
    """While inside, pause every guest of ``instance_ids`` that libvirt shows running (checked every 50 ms)."""
    import libvirt

    libvirt.registerErrorHandler(lambda *_: None, None)  # a domain gone between listing and pausing is fine
    done = threading.Event()

    def pause() -> None:
        connection = libvirt.open("qemu:///system")
        try:
            while not done.wait(0.05):
                for domain in connection.listAllDomains(libvirt.VIR_CONNECT_LIST_DOMAINS_RUNNING):
                    if domain.name() in instance_ids:
                        with contextlib.suppress(libvirt.libvirtError):
                            domain.suspend()
        finally:
            connection.close()

    pauser = threading.Thread(target=pause, name="pauser", daemon=True)
    pauser.start()
    try:
        yield
    finally:
        done.set()
        pauser.join(timeout=10)


def per_host(cloud: CloudletProcess, instance_ids: list[str], names: dict[str, str]) -> dict[str, int]:
    marks = ",".join("?" * len(instance_ids))
    rows = cloud.query_state(f"SELECT host_id, COUNT(*) FROM ec2_instances WHERE instance_id IN ({marks}) "
                             "GROUP BY host_id", tuple(instance_ids))
    return {names.get(host_id, host_id): count for host_id, count in rows}


def libvirt_loop(state_dir: Path, manifest_path: Path, hypervisor: str, count: int) -> float:
    """Seconds for ``count`` rounds of the driver's work done by hand: overlay, tap, define, start (then
    destroy, undefine and remove, outside the clock)."""
    import libvirt

    from agent.compute import vif
    from agent.compute.domain_xml import InstancePaths, domain_xml
    from agent.compute.images import AmiManifest, ImageCache, create_overlay
    from agent.compute.spec import Accelerator, InstanceSpec, NicSpec, RootDiskSpec
    from agent.contract.naming import mac_for_interface, tap_alias, tap_name
    from tests.agent.compute_lab import new_id

    accelerator = Accelerator.KVM if hypervisor == "kvm" else Accelerator.TCG
    state_dir.mkdir(mode=0o755)
    manifest = AmiManifest.load(manifest_path)
    image = ImageCache(state_dir / "images").ensure("ami-0be0c4000000000b0", manifest)
    connection = libvirt.open("qemu:///system")
    owner = f"bench-{state_dir.parent.name}"
    elapsed = 0.0
    try:
        for _ in range(count):
            eni = new_id("eni")
            spec = InstanceSpec(new_id("i"), 1, 512, image.boot, RootDiskSpec(image.base_disk, image.virtual_size,
                                                                               new_id("vol")),
                                nics=(NicSpec(0, mac_for_interface(eni), eni),), image_id="ami-0be0c4000000000b0",
                                instance_type=INSTANCE_TYPE)
            paths = InstancePaths.under(state_dir / "instances", spec.instance_id)
            tap = tap_name(spec.instance_id, 0)
            started = time.monotonic()
            paths.directory.mkdir(parents=True, mode=0o755)
            create_overlay(image.base_disk, paths.root_disk, image.virtual_size)
            vif.create_root_tap(tap, tap_alias(owner, spec.instance_id))
            domain = connection.defineXML(domain_xml(spec, accelerator, paths, owner))
            domain.create()
            elapsed += time.monotonic() - started
            domain.destroy()
            domain.undefine()
            vif.delete_root_tap(tap)
            shutil.rmtree(paths.directory)
    finally:
        connection.close()
    return elapsed


def clean_up(cloud: CloudletProcess, hosts: list[SimulatedHost], prefix: str, work: Path) -> None:
    """Terminate what is left, stop the agents and the cloud, remove every namespace and file of the run."""
    try:
        if cloud.proc is not None:
            terminate_all_instances(cloud.client("ec2"), timeout=180)
    except Exception as exc:  # noqa: BLE001 - the rest of the cleanup runs whatever happened
        print(f"cleanup: termination through the API failed: {exc}")
    for host in hosts[1:]:
        host.stop()
    cloud.stop()
    for host in hosts:
        host.teardown()
    remove_underlay(f"{prefix}-sw", hosts)
    left = [name for name in netns.list_names() if name.startswith(prefix)]
    if left:
        print(f"cleanup: namespaces left behind: {left}")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
