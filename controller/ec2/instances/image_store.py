"""The controller's AMI store: each image's files under ``DATA_DIR/images/<image id>/``, verified and immutable.

An AMI's content arrives one of four ways and always ends up as copies in the store (never references
to files someone may rebuild or delete): a Cloudlet AMI manifest (``cloudlet-ami/1``, what images/
builds: root disk plus, for direct kernel boot, kernel, initrd and command line) or a bare disk image
(qcow2 or raw, booting itself), either from a local path (operators) or from objects in Cloudlet's S3
(a manifest's files are read next to it, like the parts of an AWS bundle); or a root disk uploaded by an
agent for CreateImage. Files are hashed while copied; agents re-verify those hashes in their own cache.
Raw disks become qcow2 here because instance root volumes are qcow2 overlays on the image.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from agent.contract.instances import ImageView
from controller.api import RequestContext
from controller.config import Config
from controller.errors import ServiceError, error

InvalidManifest = error("InvalidManifest")
QCOW2_MAGIC = b"QFI\xfb"
BLOCK = 1 << 20
#: Names of an image's files in the store, by role.
FILE_NAMES = {"root_disk": "root.qcow2", "kernel": "kernel", "initrd": "initrd"}


@dataclass
class ImageContent:
    """What registration learned about an image, and its files as stored (role -> file record)."""

    boot_mode: str
    cmdline: str = ""
    architecture: str = "x86_64"
    files: dict[str, dict[str, Any]] = field(default_factory=dict)
    description: str = ""

    @property
    def root_virtual_size(self) -> int:
        return int(self.files["root_disk"]["virtual_size"])


def image_dir(config: Config, image_id: str) -> Path:
    return config.data_dir / "images" / image_id


def _fresh_dir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o755)
    return path


def copy_hashed(chunks: Iterable[bytes], target: Path) -> dict[str, Any]:
    """Write ``chunks`` to ``target`` (read-only afterwards); its sha256 and size."""
    digest, size = hashlib.sha256(), 0
    tmp = target.with_name(f".{target.name}.part")
    with tmp.open("wb") as out:
        for chunk in chunks:
            digest.update(chunk)
            size += len(chunk)
            out.write(chunk)
        out.flush()
        os.fsync(out.fileno())
    os.chmod(tmp, 0o444)
    os.replace(tmp, target)
    return {"file": target.name, "sha256": digest.hexdigest(), "size": size}


def file_chunks(path: Path) -> Iterable[bytes]:
    with path.open("rb") as f:
        yield from iter(lambda: f.read(BLOCK), b"")


def stream_chunks(stream: IO[bytes]) -> Iterable[bytes]:
    yield from iter(lambda: stream.read(BLOCK), b"")


def qcow2_facts(path: Path) -> tuple[int, bool]:
    """(virtual size, has a backing file) from a qcow2 header; InvalidManifest if it is not qcow2."""
    with path.open("rb") as f:
        header = f.read(32)
    if header[:4] != QCOW2_MAGIC:
        raise InvalidManifest(f"{path.name} is not a qcow2 image")
    return int.from_bytes(header[24:32], "big"), int.from_bytes(header[8:16], "big") != 0


def store_root_disk(staged: Path, target_dir: Path, staged_record: dict[str, Any] | None = None) -> dict[str, Any]:
    """Turn a staged disk (qcow2 without backing file, or raw) into the store's ``root.qcow2`` record.

    ``staged_record`` (what :func:`copy_hashed` returned) says ``staged`` is the store's own hashed copy: a qcow2
    one is moved into place rather than written a second time (a built-in image is registered at every start of
    a fresh cloud, and its root disk is most of its bytes); otherwise ``staged`` is someone else's file, copied."""
    target = target_dir / FILE_NAMES["root_disk"]
    with staged.open("rb") as f:
        is_qcow2 = f.read(4) == QCOW2_MAGIC
    if is_qcow2:
        virtual_size, backed = qcow2_facts(staged)
        if backed:
            raise InvalidManifest("The disk image has a backing file: flatten it first (qemu-img convert).")
        if staged_record is None:
            record = copy_hashed(file_chunks(staged), target)
        else:
            os.replace(staged, target)
            record = {**staged_record, "file": target.name}
    else:
        converted = target_dir / ".root-converted.qcow2"
        result = subprocess.run(["qemu-img", "convert", "-q", "-f", "raw", "-O", "qcow2", str(staged),
                                 str(converted)], capture_output=True, text=True)
        if result.returncode != 0:
            converted.unlink(missing_ok=True)
            raise InvalidManifest(f"The disk image could not be converted: {result.stderr.strip()[:200]}")
        virtual_size, _ = qcow2_facts(converted)
        record = copy_hashed(file_chunks(converted), target)
        converted.unlink()
    return {**record, "virtual_size": virtual_size}


# --- sources ----------------------------------------------------------------------------------------------------


def parse_manifest(text: str | bytes, where: str) -> dict[str, Any]:
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise InvalidManifest(f"{where} is not a JSON manifest: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != "cloudlet-ami/1" or not data.get("root_disk"):
        raise InvalidManifest(f"{where} is not a cloudlet-ami/1 manifest with a root_disk")
    if data.get("boot_mode") not in ("direct-kernel", "disk"):
        raise InvalidManifest(f"{where}: boot_mode must be direct-kernel or disk")
    if data["boot_mode"] == "direct-kernel" and not data.get("kernel"):
        raise InvalidManifest(f"{where}: direct-kernel boot without a kernel")
    return data


def _verify(record: dict[str, Any], expected: dict[str, Any], role: str) -> None:
    if expected.get("sha256") and record["sha256"] != expected["sha256"]:
        raise InvalidManifest(f"The {role} does not match the manifest's sha256.")


def import_manifest_files(data: dict[str, Any], target_dir: Path, fetch: Any) -> ImageContent:
    """Copy a manifest's files with ``fetch(relative name) -> chunks`` and check them against it."""
    _fresh_dir(target_dir)
    content = ImageContent(boot_mode=data["boot_mode"], cmdline=data.get("cmdline", ""),
                           architecture=data.get("architecture", "x86_64"), description=data.get("description", ""))
    staged = target_dir / ".root-staged"
    staged_record = copy_hashed(fetch(data["root_disk"]["file"]), staged)
    _verify(staged_record, data["root_disk"], "root disk")
    content.files["root_disk"] = store_root_disk(staged, target_dir, staged_record)
    staged.unlink(missing_ok=True)
    for role in ("kernel", "initrd"):
        entry = data.get(role)
        if entry:
            record = copy_hashed(fetch(entry["file"]), target_dir / FILE_NAMES[role])
            _verify(record, entry, role)
            content.files[role] = record
    return content


def import_local(path: Path, target_dir: Path) -> ImageContent:
    """From a manifest (``*.json``) or a disk image on this machine."""
    if not path.is_file():
        raise InvalidManifest(f"No such file: {path}")
    if path.suffix == ".json":
        data = parse_manifest(path.read_bytes(), str(path))
        return import_manifest_files(data, target_dir, lambda name: file_chunks(path.parent / name))
    _fresh_dir(target_dir)
    return ImageContent(boot_mode="disk", files={"root_disk": store_root_disk(path, target_dir)})


def import_s3(ctx: RequestContext, bucket: str, key: str, target_dir: Path) -> ImageContent:
    """From S3 objects the caller may read: a manifest and its sibling files, or one disk image."""
    if key.endswith(".json"):
        data = parse_manifest(b"".join(s3_object_chunks(ctx, bucket, key)), f"{bucket}/{key}")
        folder = key.rpartition("/")[0]
        return import_manifest_files(data, target_dir, lambda name: s3_object_chunks(
            ctx, bucket, f"{folder}/{name}" if folder else name))
    _fresh_dir(target_dir)
    staged = target_dir / ".root-staged"
    staged_record = copy_hashed(s3_object_chunks(ctx, bucket, key), staged)
    try:
        return ImageContent(boot_mode="disk", files={"root_disk": store_root_disk(staged, target_dir, staged_record)})
    finally:
        staged.unlink(missing_ok=True)


def s3_object_chunks(ctx: RequestContext, bucket: str, key: str) -> Iterable[bytes]:
    """An object's bytes, read as the caller (IAM and the bucket policy decide, as for s3:GetObject)."""
    from controller.iam.enforce import check_action

    s3 = ctx.cloud.services.get("s3")
    if s3 is None:
        raise InvalidManifest("This cloud has no S3 service to read the image from.")
    s3_ctx = dataclasses.replace(ctx, service="s3", operation="GetObject", audit_resources=[], condition_keys={})
    params = {"Bucket": bucket, "Key": key}
    try:
        check_action(s3_ctx, "s3:GetObject", [f"arn:{ctx.cloud.config.partition}:s3:::{bucket}/{key}"], params)
        body = s3.operations["GetObject"].handler(s3_ctx, params)["Body"]
    except ServiceError as exc:
        raise InvalidManifest(f"Unable to read s3://{bucket}/{key}: {exc.code}: {exc.message}") from None
    try:
        yield from body
    finally:
        body.close()


def copy_files_from(source_dir: Path, files: dict[str, dict[str, Any]], roles: Iterable[str],
                    target_dir: Path) -> dict[str, dict[str, Any]]:
    """Copies of some of another image's files (a captured image keeps its source's kernel and initrd)."""
    _fresh_dir(target_dir)
    copied = {}
    for role in roles:
        if role in files:
            copied[role] = copy_hashed(file_chunks(source_dir / files[role]["file"]), target_dir / FILE_NAMES[role])
    return copied


def remove(config: Config, image_id: str) -> None:
    shutil.rmtree(image_dir(config, image_id), ignore_errors=True)


def agent_view(config: Config, image_id: str, row: dict[str, Any]) -> ImageView:
    """How an agent gets the image: boot facts and, per file, its path here and hash (the agent copies it
    into its verified cache, reading the path when it shares this machine, downloading it otherwise)."""
    directory = image_dir(config, image_id)
    files = {role: {**record, "path": str(directory / record["file"])} for role, record in row["files"].items()}
    return ImageView(image_id=image_id, boot_mode=row["boot_mode"], cmdline=row["cmdline"] or "", files=files)
