"""AMI manifests, the per-host image cache, and the pure parts of the images/ build scripts."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import lzma
import struct
from pathlib import Path
from types import ModuleType

import pytest

from agent.compute import images
from agent.compute.images import (
    AmiManifest,
    ImageCache,
    ImageError,
    create_overlay,
    overlay_command,
    qcow2_virtual_size,
)
from agent.compute.spec import BootMode

SCRIPTS = Path(__file__).resolve().parents[2] / "images" / "scripts"


def load_script(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def qcow2_header(virtual_size: int) -> bytes:
    return b"QFI\xfb" + struct.pack(">I", 3) + b"\0" * 16 + struct.pack(">Q", virtual_size) + b"\0" * 72


def write_ami(directory: Path, *, root: bytes = qcow2_header(2**30)) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    files = {"root.qcow2": root, "vmlinux": b"\x7fELF kernel", "initrd.img": b"070701 initrd"}
    for name, data in files.items():
        (directory / name).write_bytes(data)

    def entry(name: str) -> dict[str, object]:
        return {"file": name, "sha256": hashlib.sha256(files[name]).hexdigest(), "size": len(files[name])}

    manifest = {"schema": "cloudlet-ami/1", "name": "tiny", "boot_mode": "direct-kernel",
                "root_disk": {**entry("root.qcow2"), "virtual_size": 2**30}, "kernel": entry("vmlinux"),
                "initrd": entry("initrd.img"), "cmdline": "console=ttyS0", "probe_cmdline": "cloudlet.probe",
                "probe_marker": "OK"}
    path = directory / "manifest.json"
    path.write_text(json.dumps(manifest))
    return path


def test_manifest_load_resolves_paths(tmp_path: Path) -> None:
    manifest = AmiManifest.load(write_ami(tmp_path / "ami"))
    assert manifest.boot_mode is BootMode.DIRECT_KERNEL
    assert manifest.kernel is not None and manifest.kernel.path == tmp_path / "ami" / "vmlinux"
    assert manifest.root_virtual_size == 2**30
    assert (manifest.cmdline, manifest.probe_cmdline, manifest.probe_marker) == ("console=ttyS0", "cloudlet.probe", "OK")


@pytest.mark.parametrize("document, message", [
    ("not json", "cannot read"),
    (json.dumps({"schema": "other"}), "not a cloudlet-ami/1"),
    (json.dumps({"schema": "cloudlet-ami/1", "name": "x", "boot_mode": "direct-kernel",
                 "root_disk": {"file": "r", "sha256": "0", "virtual_size": 1}}), "without a kernel"),
])
def test_manifest_load_rejects_bad_documents(tmp_path: Path, document: str, message: str) -> None:
    path = tmp_path / "manifest.json"
    path.write_text(document)
    with pytest.raises(ImageError, match=message):
        AmiManifest.load(path)


def test_cache_copies_verified_read_only_files_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    manifest = AmiManifest.load(write_ami(tmp_path / "ami"))
    cache = ImageCache(tmp_path / "cache")
    cached = cache.ensure("ami-1", manifest)
    assert cached.base_disk.read_bytes() == (tmp_path / "ami" / "root.qcow2").read_bytes()
    assert cached.base_disk.stat().st_mode & 0o777 == 0o444
    assert cached.boot.kernel is not None and cached.boot.kernel.read_bytes() == b"\x7fELF kernel"
    assert cached.boot.cmdline == "console=ttyS0" and cached.virtual_size == 2**30

    def no_copy(*_args: object) -> None:
        raise AssertionError("copied again")

    monkeypatch.setattr(images, "_copy_verified", no_copy)
    assert cache.ensure("ami-1", manifest) == cached


def test_cache_refuses_files_that_do_not_match_the_manifest(tmp_path: Path) -> None:
    manifest = AmiManifest.load(write_ami(tmp_path / "ami"))
    (tmp_path / "ami" / "vmlinux").write_bytes(b"tampered")
    cache = ImageCache(tmp_path / "cache")
    with pytest.raises(ImageError, match="does not match"):
        cache.ensure("ami-1", manifest)
    directory = next((tmp_path / "cache").iterdir())
    assert not (directory / "kernel").exists() and not (directory / ".complete").exists()
    assert [p.name for p in directory.iterdir() if p.name.startswith(".")] == []  # no temporary left behind


def test_same_image_id_with_new_content_never_touches_files_in_use(tmp_path: Path) -> None:
    cache = ImageCache(tmp_path / "cache")
    first = cache.ensure("ami-1", AmiManifest.load(write_ami(tmp_path / "v1")))
    second = cache.ensure("ami-1", AmiManifest.load(write_ami(tmp_path / "v2", root=qcow2_header(2**31))))
    assert first.base_disk != second.base_disk and first.base_disk.exists()
    cache.remove("ami-1")
    assert list((tmp_path / "cache").iterdir()) == []


def test_qcow2_size_and_overlay_rules(tmp_path: Path) -> None:
    base = tmp_path / "base.qcow2"
    base.write_bytes(qcow2_header(3 * 2**30))
    assert qcow2_virtual_size(base) == 3 * 2**30
    with pytest.raises(ImageError, match="smaller than its image"):
        create_overlay(base, tmp_path / "top.qcow2", 2**30)
    raw = tmp_path / "raw.img"
    raw.write_bytes(b"\0" * 64)
    with pytest.raises(ImageError, match="not a qcow2"):
        qcow2_virtual_size(raw)
    assert overlay_command(base, tmp_path / "top.qcow2", 5) == [
        "qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(tmp_path / "top.qcow2"), "5"]


# -- images/scripts ---------------------------------------------------------------------------------------------


def elf_with_modinfo(fields: dict[str, str]) -> bytes:
    """A minimal ELF64 object with a .modinfo section, as a kernel module carries."""
    modinfo = b"".join(f"{k}={v}".encode() + b"\0" for k, v in fields.items())
    shstrtab = b"\0.modinfo\0.shstrtab\0"
    data_offset = 64
    shstr_offset = data_offset + len(modinfo)
    shoff = (shstr_offset + len(shstrtab) + 7) // 8 * 8
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack(
        "<HHIQQQIHHHHHH", 1, 62, 1, 0, 0, shoff, 0, 64, 0, 0, 64, 3, 2)
    body = modinfo + shstrtab
    padding = b"\0" * (shoff - 64 - len(body))

    def section(name: int, kind: int, offset: int, size: int) -> bytes:
        return struct.pack("<IIQQQQIIQQ", name, kind, 0, 0, offset, size, 0, 0, 1, 0)

    sections = section(0, 0, 0, 0) + section(1, 1, data_offset, len(modinfo)) + \
        section(10, 3, shstr_offset, len(shstrtab))
    return header + body + padding + sections


def test_initramfs_module_order_puts_dependencies_first(tmp_path: Path) -> None:
    build_initramfs = load_script("build_initramfs")
    modules = {
        "kernel/fs/ext4/ext4.ko": {"depends": "jbd2,mbcache", "softdep": "pre: crypto-crc32c"},
        "kernel/fs/jbd2/jbd2.ko": {"depends": "", "softdep": "pre: crypto-crc32c"},
        "kernel/fs/mbcache.ko": {"depends": ""},
        "kernel/crypto/crc32c_generic.ko": {"depends": ""},
        "kernel/drivers/virtio/virtio-rng.ko": {"depends": "virtio"},
        "kernel/drivers/virtio/virtio.ko": {"depends": ""},
    }
    for relative, fields in modules.items():
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(elf_with_modinfo(fields))
    order = [p.name for p in build_initramfs.load_order(tmp_path, ["virtio_rng", "ext4"])]
    assert order == ["virtio.ko", "virtio-rng.ko", "crc32c_generic.ko", "jbd2.ko", "mbcache.ko", "ext4.ko"]
    with pytest.raises(SystemExit, match="nope"):
        build_initramfs.load_order(tmp_path, ["nope"])


def test_initramfs_cpio_is_newc_with_fixed_owner_and_mtime() -> None:
    build_initramfs = load_script("build_initramfs")
    writer = build_initramfs.CpioWriter(mtime=1700000000)
    writer.directory("dev")
    writer.char_device("dev/console", 5, 1)
    writer.file("init", b"#!/bin/sh\n", 0o755)
    writer.symlink("bin/sh", "busybox")
    archive = writer.finish()
    entries = []
    offset = 0
    while True:
        header = archive[offset:offset + 110]
        assert header[:6] == b"070701"
        values = [int(header[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        mode, uid, gid, mtime, size, rdevmajor, namesize = (values[1], values[2], values[3], values[5], values[6],
                                                            values[9], values[11])
        name = archive[offset + 110:offset + 110 + namesize - 1].decode()
        data_start = (offset + 110 + namesize + 3) // 4 * 4
        entries.append((name, oct(mode), uid, gid, mtime, archive[data_start:data_start + size], rdevmajor))
        offset = (data_start + size + 3) // 4 * 4
        if name == "TRAILER!!!":
            break
    assert [e[0] for e in entries] == ["dev", "dev/console", "init", "bin/sh", "TRAILER!!!"]
    assert all(e[2] == e[3] == 0 for e in entries)
    assert all(e[4] == 1700000000 for e in entries[:-1])
    assert entries[1][1] == oct(0o20600) and entries[1][6] == 5
    assert entries[2][5] == b"#!/bin/sh\n" and entries[2][1] == oct(0o100755)
    assert entries[3][5] == b"busybox"


def elf_with_note(name: bytes, note_type: int) -> bytes:
    """A minimal ELF64 executable with one PT_NOTE program header."""
    padded = name + b"\0" * (-len(name) % 4)
    note = struct.pack("<III", len(name), 4, note_type) + padded + b"\0" * 4
    header = b"\x7fELF\x02\x01\x01" + b"\0" * 9 + struct.pack(
        "<HHIQQQIHHHHHH", 2, 62, 1, 0, 64, 0, 0, 64, 56, 1, 64, 0, 0)
    program = struct.pack("<IIQQQQQQ", 4, 0, 64 + 56, 0, 0, len(note), len(note), 4)
    return header + program + note


def test_vmlinux_extraction_finds_the_xz_elf_and_checks_pvh() -> None:
    extract = load_script("extract_vmlinux")
    pvh = elf_with_note(b"Xen\0", 18)
    bzimage = b"MZ setup code" + b"\xfd7zXZ\x00 not really xz" + lzma.compress(pvh, format=lzma.FORMAT_XZ) + b"trailer"
    assert extract.decompress_payload(bzimage) == pvh
    assert extract.has_pvh_note(pvh)
    assert not extract.has_pvh_note(elf_with_note(b"Xen\0", 17))
    assert not extract.has_pvh_note(elf_with_note(b"GNU\0", 18))
    with pytest.raises(SystemExit):
        extract.decompress_payload(b"MZ no payload")
