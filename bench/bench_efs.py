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
import statistics
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report  # noqa: E402
from guest_lab import NoGuests, lab_guest, missing_prerequisites  # noqa: E402

EXTRA_TOOLS = ("ganesha.nfsd", "nsenter")
SERVER_IP = "10.251.0.250"
FILE_SYSTEM_ID = "fs-0be4c4000000000e1"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="runs per measure and side (default 3)")
    parser.add_argument("--mib", type=int, default=64, help="file size in MiB (default 64)")
    args = parser.parse_args()
    missing = missing_prerequisites(*EXTRA_TOOLS)
    if missing:
        print(f"bench_efs: skipped, needs {', '.join(missing)}")
        return 0

    from agent.contract.efs import MountTarget
    from agent.network import netns
    from agent.nfs import ganesha, storage
    from agent.nfs.server import Servers, ServerSpec

    results: dict[str, list[float]] = {"nfs write": [], "local write": [], "nfs read": [], "local read": []}
    try:
        with lab_guest("efs", "ami-0be4c4000000000b1") as vm:
            accelerator, lab = vm.accelerator, vm.lab
            server_netns = f"{lab.netns}-nfs"
            servers = Servers(vm.state_dir / "efs-servers")
            try:
                netns.create(server_netns)
                subprocess.run(["ip", "link", "add", "nfs0", "netns", lab.netns, "type", "veth", "peer", "name",
                                "eth0", "netns", server_netns], check=True)
                subprocess.run(["ip", "-n", lab.netns, "link", "set", "nfs0", "master", lab.BRIDGE, "up"], check=True)
                for command in (["link", "set", "lo", "up"], ["addr", "add", f"{SERVER_IP}/24", "dev", "eth0"],
                                ["link", "set", "eth0", "up"]):
                    subprocess.run(["ip", "-n", server_netns, *command], check=True)
                target = MountTarget("fsmt-0be4c4000000000e1", FILE_SYSTEM_ID, "vpc-0bench", "subnet-0bench",
                                     "eni-0be4c4000000000e1", SERVER_IP, "02:00:00:00:00:fa", 24)
                data = storage.ensure_file_system(vm.state_dir / "efs", FILE_SYSTEM_ID)
                paths = ganesha.ServerPaths(str(data), str(servers.directory(target.mount_target_id) / "recovery"),
                                            {})
                servers.ensure(ServerSpec(target.mount_target_id, server_netns, ganesha.config(target, paths)))
                vm.run(f"mkdir -p /mnt/efs && mount -t nfs4 -o nfsvers=4.1 {SERVER_IP}:/ /mnt/efs")

                def rate(command: str) -> float:
                    """MiB/s of one dd, timed inside the guest (uptime has 10 ms resolution; files take seconds)."""
                    started, ended = vm.run(f"sync; echo 3 > /proc/sys/vm/drop_caches; "
                                            f"a=$(cut -d' ' -f1 /proc/uptime); {command} 2>/dev/null; "
                                            f"b=$(cut -d' ' -f1 /proc/uptime); echo $a $b").split()
                    return args.mib / (float(ended) - float(started))

                for run in range(1, args.runs + 1):
                    for side, directory in (("nfs", "/mnt/efs"), ("local", "/root")):
                        results[f"{side} write"].append(rate(f"dd if=/dev/zero of={directory}/bench bs=1M "
                                                             f"count={args.mib} conv=fsync"))
                        results[f"{side} read"].append(rate(f"dd if={directory}/bench of=/dev/null bs=1M"))
                        vm.run(f"rm -f {directory}/bench")
                    print(f"  run {run}: " + ", ".join(f"{name} {values[-1]:.1f} MiB/s"
                                                        for name, values in results.items()), flush=True)
                vm.run("umount /mnt/efs")
            finally:
                servers.close()
                for name in servers.names():
                    servers.stop(name)
                netns.remove(server_netns)
    except NoGuests as exc:
        print(f"bench_efs: this host cannot run guests: {exc}")
        return 1

    medians = {name: statistics.median(values) for name, values in results.items()}
    print(f"\nEFS (nfs-ganesha, NFSv4.1) vs local disk in one guest, {accelerator}, "
          f"{args.mib} MiB file, median of {args.runs}:")
    print(f"  {'operation':<8} {'NFS':>12} {'local disk':>14} {'NFS/local':>10}")
    for operation in ("write", "read"):
        nfs, local = medians[f"nfs {operation}"], medians[f"local {operation}"]
        print(f"  {operation:<8} {nfs:7.1f} MiB/s {local:8.1f} MiB/s {nfs / local:9.2f}x")
        report(f"EFS {operation} MiB/s from a guest over its local disk", nfs / local, "x", nfs_mib_s=nfs,
               local_mib_s=local)
    return 0


if __name__ == "__main__":
    sys.exit(main())
