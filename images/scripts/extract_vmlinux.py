#!/usr/bin/env python3
"""Extract the uncompressed ELF kernel (vmlinux) from a Debian bzImage, for PVH direct boot.

Why: under TCG the kernel's own decompressor costs ~2.8 s per boot; QEMU can boot the ELF vmlinux
directly through its PVH entry point instead. Debian builds with CONFIG_KERNEL_XZ, so the payload
is one xz stream somewhere inside the bzImage. The result is checked to be an x86-64 ELF carrying a
PVH entry note (XEN_ELFNOTE_PHYS32_ENTRY), otherwise QEMU would fall back to a slow or failing path.

    extract_vmlinux.py BZIMAGE OUTPUT
"""

from __future__ import annotations

import lzma
import struct
import sys
from pathlib import Path

XZ_MAGIC = b"\xfd7zXZ\x00"
XEN_ELFNOTE_PHYS32_ENTRY = 18


def decompress_payload(bzimage: bytes) -> bytes:
    """The first xz stream in the image that decompresses to an ELF file."""
    start = bzimage.find(XZ_MAGIC)
    while start != -1:
        try:
            data = lzma.LZMADecompressor(format=lzma.FORMAT_XZ).decompress(bzimage[start:])
        except lzma.LZMAError:
            data = b""
        if data.startswith(b"\x7fELF"):
            return data
        start = bzimage.find(XZ_MAGIC, start + 1)
    raise SystemExit("extract_vmlinux: no xz-compressed ELF payload found (not an xz bzImage?)")


def has_pvh_note(elf: bytes) -> bool:
    """True when an ELF64 note segment holds a Xen PHYS32_ENTRY note (the PVH entry point)."""
    if elf[4] != 2 or elf[5] != 1:  # ELFCLASS64, little endian
        return False
    phoff, = struct.unpack_from("<Q", elf, 0x20)
    phentsize, phnum = struct.unpack_from("<HH", elf, 0x36)
    for index in range(phnum):
        p_type, _flags, p_offset, _vaddr, _paddr, p_filesz = struct.unpack_from(
            "<IIQQQQ", elf, phoff + index * phentsize)
        if p_type != 4:  # PT_NOTE
            continue
        pos, end = p_offset, p_offset + p_filesz
        while pos + 12 <= end:
            namesz, descsz, note_type = struct.unpack_from("<III", elf, pos)
            name = elf[pos + 12:pos + 12 + namesz].rstrip(b"\0")
            if name == b"Xen" and note_type == XEN_ELFNOTE_PHYS32_ENTRY:
                return True
            pos += 12 + (namesz + 3) // 4 * 4 + (descsz + 3) // 4 * 4
    return False


def main(argv: list[str]) -> int:
    source, target = Path(argv[1]), Path(argv[2])
    elf = decompress_payload(source.read_bytes())
    if not has_pvh_note(elf):
        raise SystemExit(f"extract_vmlinux: {source} has no PVH entry note (kernel built without CONFIG_PVH?)")
    partial = target.with_suffix(".partial")
    partial.write_bytes(elf)
    partial.replace(target)
    print(f"  vmlinux {target.name}: {len(elf) / 2**20:.1f} MiB ELF with PVH entry")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
