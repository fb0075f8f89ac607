"""AMIs on a host: the manifest images/ writes, a verified read-only cache of their files, root overlays.

The cache copies an AMI's files once per host into ``<cache>/<image id>-<sha prefix>/`` while hashing them
(the manifest's sha256s must match), marks them read-only and never rewrites them afterwards: instance
root disks are qcow2 overlays whose backing file is the cached base, and rewriting a base under running
overlays corrupts them. The directory name carries the content hash, so re-registering an image id with
other content can never replace files in use.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.compute.spec import BootMode, BootSpec


class ImageError(RuntimeError):
    """An AMI's files are missing, damaged or not what the manifest says."""


@dataclass(frozen=True)
class ImageFile:
    path: Path
    sha256: str


@dataclass(frozen=True)
class AmiManifest:
    """An AMI as images/ describes it (``cloudlet-ami/1``); paths are absolute once loaded."""

    name: str
    boot_mode: BootMode
    root_disk: ImageFile
    root_virtual_size: int
    kernel: ImageFile | None = None
    initrd: ImageFile | None = None
    cmdline: str = ""
    #: Present on images built by images/ that support the hypervisor probe (see agent.compute.probe).
    probe_cmdline: str = ""
    probe_marker: str = ""

    @classmethod
    def load(cls, path: Path) -> AmiManifest:
        try:
            data: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError) as exc:
            raise ImageError(f"cannot read AMI manifest {path}: {exc}") from exc
        if data.get("schema") != "cloudlet-ami/1":
            raise ImageError(f"{path}: not a cloudlet-ami/1 manifest")
        base = path.parent

        def file(key: str) -> ImageFile | None:
            entry = data.get(key)
            return ImageFile(base / entry["file"], entry["sha256"]) if entry else None

        root = file("root_disk")
        if root is None:
            raise ImageError(f"{path}: no root_disk")
        mode = BootMode(data["boot_mode"])
        kernel = file("kernel")
        if mode is BootMode.DIRECT_KERNEL and kernel is None:
            raise ImageError(f"{path}: direct-kernel boot without a kernel")
        return cls(name=data["name"], boot_mode=mode, root_disk=root,
                   root_virtual_size=int(data["root_disk"]["virtual_size"]), kernel=kernel, initrd=file("initrd"),
                   cmdline=data.get("cmdline", ""), probe_cmdline=data.get("probe_cmdline", ""),
                   probe_marker=data.get("probe_marker", ""))


@dataclass(frozen=True)
class CachedImage:
    """An AMI's files in the host cache, ready to back instances."""

    image_id: str
    base_disk: Path
    virtual_size: int
    boot: BootSpec


def _copy_verified(source: ImageFile, target: Path) -> None:
    digest = hashlib.sha256()
    with tempfile.NamedTemporaryFile(dir=target.parent, prefix=f".{target.name}.", delete=False) as out:
        try:
            with source.path.open("rb") as src:
                for block in iter(lambda: src.read(1 << 20), b""):
                    digest.update(block)
                    out.write(block)
            if digest.hexdigest() != source.sha256:
                raise ImageError(f"{source.path}: sha256 {digest.hexdigest()} does not match the manifest's "
                                 f"{source.sha256}")
            os.chmod(out.name, 0o444)
            os.replace(out.name, target)
        except BaseException:
            os.unlink(out.name)
            raise


class ImageCache:
    """Per-host cache of AMI files (see the module docstring)."""

    def __init__(self, cache_dir: Path) -> None:
        self.cache_dir = cache_dir

    def ensure(self, image_id: str, manifest: AmiManifest) -> CachedImage:
        """The cached copy of ``image_id``, copying and verifying its files on first use."""
        directory = self.cache_dir / f"{image_id}-{manifest.root_disk.sha256[:12]}"
        files = {"root.qcow2": manifest.root_disk}
        if manifest.kernel:
            files["kernel"] = manifest.kernel
        if manifest.initrd:
            files["initrd"] = manifest.initrd
        if not (directory / ".complete").exists():
            directory.mkdir(parents=True, exist_ok=True)
            os.chmod(directory, 0o755)
            for name, source in files.items():
                if not (directory / name).exists():
                    _copy_verified(source, directory / name)
            (directory / ".complete").write_text(json.dumps({n: f.sha256 for n, f in files.items()}))
        boot = BootSpec(manifest.boot_mode, kernel=directory / "kernel" if manifest.kernel else None,
                        initrd=directory / "initrd" if manifest.initrd else None, cmdline=manifest.cmdline)
        return CachedImage(image_id, directory / "root.qcow2", manifest.root_virtual_size, boot)

    def remove(self, image_id: str) -> None:
        """Forget an image's cached files (only when no instance on this host uses it)."""
        for directory in self.cache_dir.glob(f"{image_id}-*"):
            shutil.rmtree(directory)


def qcow2_virtual_size(path: Path) -> int:
    """The guest-visible size of a qcow2 image, from its header (no qemu-img: works on images in use)."""
    with path.open("rb") as f:
        header = f.read(32)
    if header[:4] != b"QFI\xfb":
        raise ImageError(f"{path} is not a qcow2 image")
    return int.from_bytes(header[24:32], "big")


def overlay_command(base: Path, overlay: Path, size_bytes: int) -> list[str]:
    return ["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(overlay), str(size_bytes)]


def create_overlay(base: Path, overlay: Path, size_bytes: int) -> None:
    """A new qcow2 ``overlay`` of ``size_bytes`` on the read-only ``base`` (never smaller than the base)."""
    base_size = qcow2_virtual_size(base)
    if size_bytes < base_size:
        raise ImageError(f"root disk of {size_bytes} bytes is smaller than its image ({base_size} bytes)")
    result = subprocess.run(overlay_command(base, overlay, size_bytes), capture_output=True, text=True)
    if result.returncode != 0:
        raise ImageError(f"cannot create root disk {overlay}: {result.stderr.strip()}")
