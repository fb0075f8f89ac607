"""The host's EBS storage pool: one qcow2 file per volume, ``<pool>/<volume id>.qcow2``, made with qemu-img.

Why these choices:
- qcow2 files are sparse (a blank 100 GiB volume costs a few hundred KiB), grow in place and copy to
  standalone images (``qemu-img convert`` reads through any backing chain), which is what snapshots need.
- Encrypted volumes are qcow2 with LUKS inside (``encrypt.format=luks``): every sector on disk is
  AES-XTS ciphertext, so the raw file holds no plaintext. The LUKS passphrase is the volume's data key
  from KMS in its base64 text form: LUKS passphrases must be UTF-8, and a random 32-byte key is not. As
  the passphrase is a random 256-bit key, PBKDF stretching adds nothing, so keyslots are made with a
  10 ms iteration time (opening an image then costs milliseconds instead of ~2 s per qemu-img call).
- Every change lands atomically: a new file is written next to its final name (``.<name>.part``) and
  renamed, so a crash never leaves a half-made volume under a volume's name.
- Sizes are read from the qcow2 header, which needs no lock on the image: a file attached to a running
  guest is read without disturbing it.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

VOLUME_FILE = re.compile(r"^(vol-[0-9a-f]{8,17})\.qcow2$")
#: PBKDF iteration time of new LUKS keyslots, in milliseconds (see the module docstring).
LUKS_ITER_TIME_MS = 10


class PoolError(RuntimeError):
    """qemu-img could not do what was asked (the message carries its words)."""


@dataclass(frozen=True)
class ImageInfo:
    virtual_size: int
    encrypted: bool
    backing_file: str | None


def _secret(secret_id: str, key: str) -> list[str]:
    """A QEMU secret object whose value is the key's base64 text (the LUKS passphrase)."""
    return ["--object", f"secret,id={secret_id},data={key}"]


def _opts(path: Path, secret_id: str | None = None) -> str:
    """``--image-opts`` of a qcow2 file, opened with the LUKS passphrase in ``secret_id`` if it has one."""
    options = f"driver=qcow2,file.filename={str(path).replace(',', ',,')}"
    return options + (f",encrypt.key-secret={secret_id}" if secret_id else "")


def _luks_options(secret_id: str) -> str:
    return f"encrypt.format=luks,encrypt.key-secret={secret_id},encrypt.iter-time={LUKS_ITER_TIME_MS}"


def create_command(path: Path, size_bytes: int, key: str | None) -> list[str]:
    """A blank qcow2 of ``size_bytes``; LUKS-encrypted under ``key`` when one is given."""
    if key is None:
        return ["qemu-img", "create", "-q", "-f", "qcow2", str(path), str(size_bytes)]
    return ["qemu-img", "create", "-q", "-f", "qcow2", *_secret("s0", key), "-o", _luks_options("s0"), str(path),
            str(size_bytes)]


def resize_command(path: Path, size_bytes: int, key: str | None) -> list[str]:
    """Grow a qcow2 that nothing has open (QEMU never shrinks here: the caller checks)."""
    if key is None:
        return ["qemu-img", "resize", "-q", "-f", "qcow2", str(path), str(size_bytes)]
    return ["qemu-img", "resize", "-q", *_secret("s0", key), "--image-opts", _opts(path, "s0"), str(size_bytes)]


def convert_command(source: Path, source_key: str | None, target: Path, target_key: str | None) -> list[str]:
    """A standalone qcow2 copy of ``source``'s guest-visible content (backing chains flattened), decrypted
    with ``source_key`` and encrypted with ``target_key`` where given."""
    command = ["qemu-img", "convert", "-q"]
    if source_key is not None:
        command += _secret("src", source_key)
    if target_key is not None:
        command += _secret("dst", target_key)
    command += ["--image-opts", _opts(source, "src" if source_key is not None else None), "-O", "qcow2"]
    if target_key is not None:
        command += ["-o", _luks_options("dst")]
    return [*command, str(target)]


# QEMU times its LUKS key-derivation benchmark in thread CPU time and gives up when a round measures
# 0 ms, which a coarse clock on a busy host produces now and then, sometimes several runs in a row (CI saw
# five); a fresh run a moment later measures again, so the runs are spread over a few seconds.
_PBKDF_CLOCK_GLITCH = "Unable to get accurate CPU usage"
_PBKDF_ATTEMPTS = 8
_PBKDF_BACKOFF_SECONDS = 0.2


def _run(command: list[str], what: str) -> str:
    for attempt in range(1, _PBKDF_ATTEMPTS + 1):
        result = subprocess.run(command, capture_output=True, text=True)
        if result.returncode == 0:
            return result.stdout
        if _PBKDF_CLOCK_GLITCH not in result.stderr or attempt == _PBKDF_ATTEMPTS:
            break
        time.sleep(_PBKDF_BACKOFF_SECONDS * attempt)
    raise PoolError(f"{what}: {result.stderr.strip() or f'qemu-img exited {result.returncode}'}")


def image_info(path: Path) -> ImageInfo:
    """What qemu-img says of an image (``-U``: also for one a running guest has open)."""
    data = json.loads(_run(["qemu-img", "info", "-U", "--output", "json", str(path)], f"cannot read {path.name}"))
    return ImageInfo(int(data["virtual-size"]), bool(data.get("encrypted")),
                     data.get("full-backing-filename") or data.get("backing-filename"))


def check_key(path: Path, key: str) -> None:
    """Raise PoolError unless ``key`` opens the encrypted image ``path``."""
    # qemu-img info reads only the header; opening for I/O unlocks a LUKS keyslot (or fails to).
    _run(["qemu-io", "-r", "-U", *_secret("s0", key), "--image-opts", _opts(path, "s0"), "-c", "read 0 512"],
         f"the data key does not open {path.name}")


def virtual_size(path: Path) -> int:
    """The guest-visible size, from the qcow2 header (no lock needed)."""
    with path.open("rb") as f:
        header = f.read(32)
    if header[:4] != b"QFI\xfb":
        raise PoolError(f"{path} is not a qcow2 image")
    return int.from_bytes(header[24:32], "big")


def partial(path: Path) -> Path:
    return path.with_name(f".{path.name}.part")


class VolumePool:
    """The volume files of one host (see the module docstring)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def ensure(self) -> None:
        """The pool directory, traversable by QEMU's user (libvirt chowns files, not directories)."""
        self.directory.mkdir(parents=True, exist_ok=True)
        os.chmod(self.directory, 0o755)

    def path(self, volume_id: str) -> Path:
        return self.directory / f"{volume_id}.qcow2"

    def volumes(self) -> dict[str, int]:
        """Volume id -> virtual size, for every volume file in the pool."""
        if not self.directory.is_dir():
            return {}
        found = {}
        for entry in self.directory.iterdir():
            match = VOLUME_FILE.match(entry.name)
            if match:
                try:
                    found[match.group(1)] = virtual_size(entry)
                except (OSError, PoolError):
                    found[match.group(1)] = 0
        return found

    def _publish(self, work: Path, volume_id: str) -> Path:
        target = self.path(volume_id)
        os.chmod(work, 0o600)
        os.replace(work, target)
        return target

    def create(self, volume_id: str, size_bytes: int, key: str | None) -> Path:
        """A blank volume (encrypted under ``key`` if given)."""
        self.ensure()
        work = partial(self.path(volume_id))
        work.unlink(missing_ok=True)
        _run(create_command(work, size_bytes, key), f"cannot create {volume_id}")
        return self._publish(work, volume_id)

    def restore(self, volume_id: str, download: Path, size_bytes: int, key: str | None,
                snapshot_key: str | None = None) -> Path:
        """A volume from a downloaded snapshot image (consumed): kept as is when it is already what the
        volume must be, else re-encrypted (under ``key``; ``snapshot_key``, default ``key``, opens it);
        then grown to ``size_bytes`` if the snapshot was smaller."""
        self.ensure()
        info = image_info(download)
        if info.backing_file:
            raise PoolError(f"the snapshot for {volume_id} is not a standalone image")
        if info.encrypted and key is None:
            raise PoolError(f"{volume_id} comes from an encrypted snapshot and must be encrypted too")
        source_key = (snapshot_key or key) if info.encrypted else None
        if source_key is not None:
            check_key(download, source_key)
        work = partial(self.path(volume_id))
        work.unlink(missing_ok=True)
        if source_key == key:
            os.replace(download, work)
        else:
            try:
                _run(convert_command(download, source_key, work, key), f"cannot restore {volume_id}")
            finally:
                download.unlink(missing_ok=True)
        if virtual_size(work) < size_bytes:
            _run(resize_command(work, size_bytes, key), f"cannot grow {volume_id}")
        return self._publish(work, volume_id)

    def grow(self, path: Path, size_bytes: int, key: str | None) -> None:
        """Grow a volume file that no running guest has open; never shrinks."""
        if virtual_size(path) < size_bytes:
            _run(resize_command(path, size_bytes, key), f"cannot grow {path.name}")

    def adopt(self, volume_id: str, source: Path) -> Path:
        """Take an instance's kept root disk into the pool as a standalone volume (its AMI backing file
        flattened in), then delete the source."""
        self.ensure()
        work = partial(self.path(volume_id))
        work.unlink(missing_ok=True)
        _run(convert_command(source, None, work, None), f"cannot move {source.name} into the pool")
        target = self._publish(work, volume_id)
        source.unlink()
        return target

    def copy(self, source: Path, key: str | None, target: Path) -> None:
        """A standalone copy of a volume file nothing writes to (a snapshot of a detached volume), encrypted
        under the same key as its volume."""
        _run(convert_command(source, key, target, key), f"cannot copy {source.name}")

    def blank_like(self, source: Path, key: str | None, target: Path) -> None:
        """An empty image of ``source``'s size and encryption, for a live copy to fill."""
        _run(create_command(target, virtual_size(source), key), f"cannot prepare a copy of {source.name}")

    def delete(self, volume_id: str) -> None:
        """Remove a volume's file (its data goes with it) and any half-made one."""
        self.path(volume_id).unlink(missing_ok=True)
        partial(self.path(volume_id)).unlink(missing_ok=True)
