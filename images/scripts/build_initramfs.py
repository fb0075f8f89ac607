#!/usr/bin/env python3
"""Build the tiny AMI's initramfs: static busybox, the kernel modules Debian builds as =m that a
virtio guest needs before it can mount its root disk, and an /init script.

Why an initramfs of our own: Debian's kernel has virtio_pci/virtio_blk/virtio_net/ext4 as modules and
its own 35 MB initrd panics in a 256 MiB guest; this one is ~2 MB. The module load order is derived from
each module's ``depends=`` and ``softdep=pre:`` fields (read from the .ko files, no host tools), so a
kernel update cannot silently break the order. The archive (cpio newc) is written here, not by cpio(1),
so it needs no root for the /dev/console node and is byte-for-byte reproducible (fixed mtimes, sorted).

    build_initramfs.py --busybox BUSYBOX --modules-dir LIB/MODULES/KVER --init INIT --output INITRD \
        --module virtio_pci --module ext4 ...
"""

from __future__ import annotations

import argparse
import gzip
import io
import os
import stat
import struct
import subprocess
import sys
from pathlib import Path

#: Soft dependencies name crypto aliases; the generic implementation is always the safe choice
#: (TCG's default CPU has no SSE4.2, so crc32c-intel would not load anyway).
ALIASES = {"crypto-crc32c": "crc32c_generic", "crc32c": "crc32c_generic"}


def module_name(path: Path) -> str:
    return path.name.removesuffix(".ko").replace("-", "_")


def modinfo(path: Path) -> dict[str, list[str]]:
    """The key=value pairs of a module's .modinfo ELF section."""
    elf = path.read_bytes()
    shoff, = struct.unpack_from("<Q", elf, 0x28)
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", elf, 0x3A)

    def section(index: int) -> tuple[int, int, int]:
        name, _type, _flags, _addr, offset, size = struct.unpack_from("<IIQQQQ", elf, shoff + index * shentsize)
        return name, offset, size

    _, strtab_offset, _ = section(shstrndx)
    info: dict[str, list[str]] = {}
    for index in range(shnum):
        name_offset, offset, size = section(index)
        name = elf[strtab_offset + name_offset:elf.index(b"\0", strtab_offset + name_offset)]
        if name == b".modinfo":
            for item in elf[offset:offset + size].split(b"\0"):
                if b"=" in item:
                    key, value = item.decode().split("=", 1)
                    info.setdefault(key, []).append(value)
    return info


def load_order(modules_dir: Path, wanted: list[str]) -> list[Path]:
    """Module files in an order insmod accepts: every dependency before its users (DFS post-order)."""
    index = {module_name(p): p for p in modules_dir.rglob("*.ko")}
    order: list[Path] = []
    seen: set[str] = set()

    def visit(name: str, chain: tuple[str, ...]) -> None:
        name = ALIASES.get(name, name).replace("-", "_")
        if name in seen:
            return
        if name not in index:
            raise SystemExit(f"build_initramfs: module {name} (needed by {' -> '.join(chain) or 'request'}) "
                             f"not found in {modules_dir}")
        seen.add(name)
        info = modinfo(index[name])
        deps = [d for value in info.get("depends", []) for d in value.split(",") if d]
        for soft in info.get("softdep", []):
            words = soft.split()
            if "pre:" in words:
                deps += [w for w in words[words.index("pre:") + 1:] if not w.endswith(":")]
        for dep in deps:
            visit(dep, (*chain, name))
        order.append(index[name])

    for name in wanted:
        visit(name, ())
    return order


class CpioWriter:
    """A minimal cpio 'newc' writer (the format the kernel unpacks), with fixed owner and mtime."""

    def __init__(self, mtime: int) -> None:
        self.buffer = io.BytesIO()
        self.mtime = mtime
        self.inode = 1

    def _entry(self, name: str, mode: int, data: bytes = b"", rdev: tuple[int, int] = (0, 0)) -> None:
        encoded = name.encode() + b"\0"
        fields = (self.inode, mode, 0, 0, 1, self.mtime, len(data), 0, 0, rdev[0], rdev[1], len(encoded), 0)
        self.inode += 1
        header = b"070701" + b"".join(b"%08X" % value for value in fields)
        self.buffer.write(header + encoded)
        self.buffer.write(b"\0" * (-(len(header) + len(encoded)) % 4))
        self.buffer.write(data)
        self.buffer.write(b"\0" * (-len(data) % 4))

    def directory(self, name: str) -> None:
        self._entry(name, stat.S_IFDIR | 0o755)

    def file(self, name: str, data: bytes, mode: int = 0o644) -> None:
        self._entry(name, stat.S_IFREG | mode, data)

    def symlink(self, name: str, target: str) -> None:
        self._entry(name, stat.S_IFLNK | 0o777, target.encode())

    def char_device(self, name: str, major: int, minor: int) -> None:
        self._entry(name, stat.S_IFCHR | 0o600, rdev=(major, minor))

    def finish(self) -> bytes:
        self._entry("TRAILER!!!", 0)
        return self.buffer.getvalue()


def busybox_applets(busybox: Path) -> list[str]:
    """Applet names of this busybox binary (it is static, so running the target's binary here is fine)."""
    output = subprocess.run([str(busybox), "--list"], check=True, capture_output=True, text=True).stdout
    return sorted(name for name in output.split() if name != "busybox")


def build(args: argparse.Namespace) -> bytes:
    modules = load_order(args.modules_dir, args.module)
    cpio = CpioWriter(mtime=int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
    for directory in ("bin", "dev", "etc", "lib", "lib/modules", "newroot", "proc", "sys"):
        cpio.directory(directory)
    cpio.char_device("dev/console", 5, 1)
    cpio.file("bin/busybox", args.busybox.read_bytes(), 0o755)
    for applet in busybox_applets(args.busybox):
        cpio.symlink(f"bin/{applet}", "busybox")
    for path in modules:
        cpio.file(f"lib/modules/{path.name}", path.read_bytes())
    cpio.file("etc/modules.order", "".join(f"{p.name}\n" for p in modules).encode())
    cpio.file("init", args.init.read_bytes(), 0o755)
    print(f"  initramfs modules: {' '.join(module_name(p) for p in modules)}")
    archive = cpio.finish()
    if args.compress == "gzip":
        archive = gzip.compress(archive, compresslevel=6, mtime=0)
    return archive


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busybox", type=Path, required=True)
    parser.add_argument("--modules-dir", type=Path, required=True)
    parser.add_argument("--init", type=Path, required=True)
    parser.add_argument("--module", action="append", default=[], help="a module to load (repeatable)")
    parser.add_argument("--compress", choices=("none", "gzip"), default="none")
    parser.add_argument("--output", type=Path, required=True)
    args = parser.parse_args(argv[1:])
    archive = build(args)
    partial = args.output.with_suffix(".partial")
    partial.write_bytes(archive)
    partial.replace(args.output)
    print(f"  initramfs {args.output.name}: {len(archive) / 2**20:.1f} MiB ({args.compress})")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
