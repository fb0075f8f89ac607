"""EFS throughput: NFS write/read from inside a guest vs. a local disk write/read in the same guest.

One tiny-AMI guest (1 vCPU, 256 MiB) boots through the libvirt driver in an isolated lab namespace. Next
to it on the lab's bridge, a namespace standing for a mount target runs the agent's own NFS server
(``agent.nfs``: nfs-ganesha with the production configuration, supervised by ``agent.nfs.server``). The
guest mounts it with busybox ``mount -t nfs4`` as the EFS walk-through does, then writes and reads a
file with ``dd`` (1 MiB blocks, ``conv=fsync`` on writes, page cache dropped before reads), on the NFS
mount and on its own root disk (a qcow2 overlay), alternating the two so drift on the machine hits both
alike. Prints medians in MiB/s and NFS/local ratios. Under TCG the guest's CPU dominates both paths.

Needs root, libvirtd (started if absent), QEMU, dnsmasq and nfs-ganesha; skips with a message otherwise.

    .venv/bin/python bench/bench_efs.py [--runs 3] [--mib 64]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

REQUIRED = ("qemu-system-x86_64", "qemu-img", "virsh", "dnsmasq", "mke2fs", "ganesha.nfsd", "nsenter")
SERVER_IP = "10.251.0.250"
FILE_SYSTEM_ID = "fs-0be4c4000000000e1"


def missing_prerequisites() -> list[str]:
    missing = [tool for tool in REQUIRED if shutil.which(tool) is None]
    if os.geteuid() != 0:
        missing.append("root")
    try:
        import libvirt  # noqa: F401
    except ImportError:
        missing.append("libvirt-python")
    return missing


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measure and side (default 3)")
    parser.add_argument("--mib", type=int, default=64, help="file size in MiB (default 64)")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        print(f"bench_efs: skipped, needs {', '.join(missing)}")
        return 0

    from agent.compute import vif
    from agent.compute.host import ensure_kvm_device_access
    from agent.compute.images import AmiManifest, ImageCache
    from agent.compute.libvirt_driver import LibvirtDriver
    from agent.compute.naming import mac_for_interface
    from agent.compute.probe import detect_accelerator
    from agent.compute.spec import InstanceSpec, NicSpec, RootDiskSpec
    from agent.network import netns
    from agent.nfs import ganesha, storage
    from agent.nfs.section import MountTarget
    from agent.nfs.server import Servers, ServerSpec
    from tests.agent.compute_lab import BootLab, KeyPair, build_tiny_image, ensure_libvirtd, new_id

    ensure_libvirtd()
    ensure_kvm_device_access()
    manifest = AmiManifest.load(build_tiny_image())
    assert manifest.kernel is not None and manifest.initrd is not None
    state_dir = Path("/var/tmp") / f"cl-bench-efs-{new_id('t')[2:12]}"
    state_dir.mkdir(mode=0o755)
    lab = BootLab(state_dir / "lab").start()
    server_netns = f"{lab.netns}-nfs"
    servers = Servers(state_dir / "efs-servers")
    results: dict[str, list[float]] = {"nfs write": [], "local write": [], "nfs read": [], "local read": []}
    driver = None
    try:
        decision = detect_accelerator(state_dir, manifest.kernel.path, manifest.initrd.path,
                                      cmdline=manifest.probe_cmdline, marker=manifest.probe_marker)
        if decision.accelerator is None:
            print(f"bench_efs: this host cannot run guests: {decision.reason}")
            return 1
        print(f"accelerator: {decision.accelerator.value} ({decision.reason})", flush=True)

        netns.create(server_netns)
        subprocess.run(["ip", "link", "add", "nfs0", "netns", lab.netns, "type", "veth", "peer", "name", "eth0",
                        "netns", server_netns], check=True)
        subprocess.run(["ip", "-n", lab.netns, "link", "set", "nfs0", "master", lab.BRIDGE, "up"], check=True)
        for command in (["link", "set", "lo", "up"], ["addr", "add", f"{SERVER_IP}/24", "dev", "eth0"],
                        ["link", "set", "eth0", "up"]):
            subprocess.run(["ip", "-n", server_netns, *command], check=True)
        target = MountTarget("fsmt-0be4c4000000000e1", FILE_SYSTEM_ID, "vpc-0bench", "subnet-0bench",
                             "eni-0be4c4000000000e1", SERVER_IP, "02:00:00:00:00:fa", 24)
        data = storage.ensure_file_system(state_dir / "efs", FILE_SYSTEM_ID)
        paths = ganesha.ServerPaths(str(data), str(servers.directory(target.mount_target_id) / "recovery"), {})
        servers.ensure(ServerSpec(target.mount_target_id, server_netns, ganesha.config(target, paths)))

        image = ImageCache(state_dir / "images").ensure("ami-0be4c4000000000b1", manifest)
        driver = LibvirtDriver(state_dir, decision.accelerator,
                               plugger=vif.NamespaceBridgePlugger(lab.netns, lab.BRIDGE))
        key, interface_id = KeyPair.generate(), new_id("eni")
        spec = InstanceSpec(new_id("i"), 1, 256, image.boot,
                            RootDiskSpec(image.base_disk, image.virtual_size, new_id("vol")),
                            nics=(NicSpec(0, mac_for_interface(interface_id), interface_id),),
                            image_id="ami-0be4c4000000000b1", instance_type="t3.micro")
        ip = lab.add_guest(spec.instance_id, spec.nics[0].mac, key.public_line, None).ip
        driver.spawn(spec)
        client = lab.connect_ssh(ip, key, timeout=180)

        def guest(command: str) -> str:
            _, stdout, _ = client.exec_command(command, timeout=900)
            output = stdout.read().decode()
            if stdout.channel.recv_exit_status() != 0:
                raise RuntimeError(f"{command!r} failed in the guest: {output}")
            return output

        guest(f"mkdir -p /mnt/efs && mount -t nfs4 -o nfsvers=4.1 {SERVER_IP}:/ /mnt/efs")

        def rate(command: str) -> float:
            """MiB/s of one dd, timed inside the guest (uptime has 10 ms resolution; files take seconds)."""
            started, ended = guest(f"sync; echo 3 > /proc/sys/vm/drop_caches; a=$(cut -d' ' -f1 /proc/uptime); "
                                   f"{command} 2>/dev/null; b=$(cut -d' ' -f1 /proc/uptime); echo $a $b").split()
            return args.mib / (float(ended) - float(started))

        for run in range(1, args.runs + 1):
            for side, directory in (("nfs", "/mnt/efs"), ("local", "/root")):
                results[f"{side} write"].append(rate(f"dd if=/dev/zero of={directory}/bench bs=1M count={args.mib} "
                                                     "conv=fsync"))
                results[f"{side} read"].append(rate(f"dd if={directory}/bench of=/dev/null bs=1M"))
                guest(f"rm -f {directory}/bench")
            print(f"  run {run}: " + ", ".join(f"{name} {values[-1]:.1f} MiB/s" for name, values in results.items()),
                  flush=True)
        guest("umount /mnt/efs")
        client.close()
    finally:
        if driver is not None:
            for instance_id in driver.list_instances():
                driver.destroy(instance_id)
            driver.connection.close()
        servers.close()
        for name in servers.names():
            servers.stop(name)
        netns.remove(server_netns)
        lab.close()
        shutil.rmtree(state_dir, ignore_errors=True)

    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"\nEFS (nfs-ganesha, NFSv4.1) vs local disk in one guest, {decision.accelerator.value}, "
          f"{args.mib} MiB file, median of {args.runs}:")
    print(f"  {'operation':<8} {'NFS':>12} {'local disk':>14} {'NFS/local':>10}")
    for operation in ("write", "read"):
        nfs, local = medians[f"nfs {operation}"], medians[f"local {operation}"]
        print(f"  {operation:<8} {nfs:7.1f} MiB/s {local:8.1f} MiB/s {nfs / local:9.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
