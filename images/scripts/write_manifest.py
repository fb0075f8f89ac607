#!/usr/bin/env python3
"""Write an AMI manifest: what the agent needs to boot the image, with sha256s to verify its cache.

Paths in the manifest are relative to the manifest's own directory, so the output folder can be moved
or uploaded as a whole (RegisterImage from a local path or an S3 prefix).

    write_manifest.py --output DIR/manifest.json --name NAME --boot-mode direct-kernel|disk
        --root-disk FILE [--kernel FILE --initrd FILE --cmdline CMDLINE] [--lock LOCKFILE ...] [--set KEY=VALUE ...]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import subprocess
import sys
from pathlib import Path


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def describe(path: Path, base: Path, **extra: object) -> dict[str, object]:
    return {"file": str(path.resolve().relative_to(base.resolve())), "sha256": sha256(path),
            "size": path.stat().st_size, **extra}


def qcow2_virtual_size(path: Path) -> int:
    info = json.loads(subprocess.run(["qemu-img", "info", "-U", "--output=json", str(path)],
                                     check=True, capture_output=True, text=True).stdout)
    return int(info["virtual-size"])


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", type=Path, required=True)
    parser.add_argument("--name", required=True)
    parser.add_argument("--description", default="")
    parser.add_argument("--boot-mode", choices=("direct-kernel", "disk"), required=True)
    parser.add_argument("--root-disk", type=Path, required=True)
    parser.add_argument("--kernel", type=Path)
    parser.add_argument("--kernel-format", default="elf-pvh")
    parser.add_argument("--initrd", type=Path)
    parser.add_argument("--cmdline", default="")
    parser.add_argument("--lock", type=Path, action="append", default=[], help="package lock files")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="extra string fields")
    args = parser.parse_args(argv[1:])
    base = args.output.parent
    manifest: dict[str, object] = {
        "schema": "cloudlet-ami/1",
        "name": args.name,
        "description": args.description,
        "architecture": "x86_64",
        "boot_mode": args.boot_mode,
        "root_disk": describe(args.root_disk, base, format="qcow2",
                              virtual_size=qcow2_virtual_size(args.root_disk)),
        "root_device": "/dev/vda",
    }
    if args.boot_mode == "direct-kernel":
        if not (args.kernel and args.initrd):
            parser.error("direct-kernel boot needs --kernel and --initrd")
        manifest["kernel"] = describe(args.kernel, base, format=args.kernel_format)
        manifest["initrd"] = describe(args.initrd, base, format="cpio-newc")
        manifest["cmdline"] = args.cmdline
    for item in args.set:
        key, _, value = item.partition("=")
        manifest[key] = value
    versions = dict(line.split()[:2] for lock in args.lock for line in lock.read_text().splitlines())
    manifest["packages"] = dict(sorted(versions.items()))
    partial = args.output.with_suffix(".partial")
    partial.write_text(json.dumps(manifest, indent=2) + "\n")
    partial.replace(args.output)
    print(f"  manifest {args.output}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
