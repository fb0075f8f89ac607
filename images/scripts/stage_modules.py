#!/usr/bin/env python3
"""Stage kernel modules for the tiny AMI's root disk, loaded on demand by the kernel.

Why on the root disk and not in the initramfs: the NFS client (sunrpc, nfs, nfsv4 and their
dependencies, ~5 MB) took ~6 s to load at every boot under TCG; here it costs nothing until a guest
mounts NFS. The kernel then asks ``/sbin/modprobe`` (busybox) for ``fs-nfs4``, which finds the module by
the ``modules.alias`` and ``modules.dep`` that busybox's own depmod writes here.

    stage_modules.py --busybox BUSYBOX --modules-dir LIB/MODULES/KVER --module nfsv4 --output DIR

DIR receives ``lib/modules/KVER/<the modules' own paths>`` plus the depmod files; DIR is an overlay
for build_rootfs.sh.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from build_initramfs import load_order, module_name  # noqa: E402  (a sibling script, not a package)


def stage(busybox: Path, modules_dir: Path, wanted: list[str], output: Path) -> list[str]:
    release = modules_dir.name
    target = output / "lib" / "modules" / release
    if output.exists():
        shutil.rmtree(output)
    modules = load_order(modules_dir, wanted)
    for path in modules:
        destination = target / path.relative_to(modules_dir)
        destination.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(path, destination)
    for name in ("modules.builtin", "modules.order"):
        if (modules_dir / name).exists():
            shutil.copy2(modules_dir / name, target / name)
    subprocess.run([str(busybox), "depmod", "-b", str(output), release], check=True)
    return [module_name(path) for path in modules]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busybox", type=Path, required=True)
    parser.add_argument("--modules-dir", type=Path, required=True)
    parser.add_argument("--module", action="append", default=[], help="a module to stage (repeatable)")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv[1:])
    names = stage(args.busybox, args.modules_dir, args.module, args.output)
    print(f"  root disk modules (on demand): {' '.join(names)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
