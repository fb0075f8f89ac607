"""A tiny OCI image for Batch tests, written in Python from the host's busybox: no registry is reachable here,
so tests hand podman (directly, or through Cloudlet's S3 as a job's ``s3://`` image) an archive it loads."""

from __future__ import annotations

import hashlib
import io
import json
import re
import subprocess
import tarfile
from pathlib import Path

APPLETS = ("sh", "echo", "env", "sleep", "dd", "cat", "true")


def shared_libraries(binary: Path) -> list[str]:
    """The libraries ``ldd`` says the binary loads (their paths on the host)."""
    return re.findall(r"(/\S+) \(0x", subprocess.run(["ldd", str(binary)], capture_output=True, text=True).stdout)


def add_directories(layer: tarfile.TarFile, directories: tuple[str, ...]) -> None:
    for directory in directories:
        info = tarfile.TarInfo(directory)
        info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
        layer.addfile(info)


def add_busybox(layer: tarfile.TarFile) -> None:
    """The host's busybox (with its libraries) as ``/bin/busybox`` and the applet links tests use."""
    busybox = Path("/bin/busybox").resolve()
    add_directories(layer, ("bin", "tmp", "proc", "dev", "sys", "etc", "lib", "lib64", "lib/x86_64-linux-gnu"))
    layer.add(str(busybox), "bin/busybox")
    for library in shared_libraries(busybox):
        layer.add(str(Path(library).resolve()), library.lstrip("/"))
    for applet in APPLETS:
        info = tarfile.TarInfo(f"bin/{applet}")
        info.type, info.linkname = tarfile.SYMTYPE, "busybox"
        layer.addfile(info)


def oci_archive(path: Path, ref: str, layer_bytes: bytes, env: list[str]) -> Path:
    """An OCI archive at ``path`` of one uncompressed layer, tagged ``ref``."""
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": env, "Cmd": ["sh"]},
                         "rootfs": {"type": "layers", "diff_ids": [diff_id]}}).encode()
    blobs: dict[str, bytes] = {}

    def blob(data: bytes, media_type: str) -> dict[str, object]:
        digest = hashlib.sha256(data).hexdigest()
        blobs[digest] = data
        return {"mediaType": media_type, "digest": f"sha256:{digest}", "size": len(data)}

    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": blob(config, "application/vnd.oci.image.config.v1+json"),
                           "layers": [blob(layer_bytes, "application/vnd.oci.image.layer.v1.tar")]}).encode()
    descriptor = blob(manifest, "application/vnd.oci.image.manifest.v1+json")
    descriptor["annotations"] = {"org.opencontainers.image.ref.name": ref}
    files = {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
             "index.json": json.dumps({"schemaVersion": 2, "manifests": [descriptor]}).encode(),
             **{f"blobs/sha256/{digest}": data for digest, data in blobs.items()}}
    with tarfile.open(path, "w") as archive:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def busybox_oci_archive(path: Path, ref: str) -> Path:
    """An OCI archive of one uncompressed layer: the host's busybox (with its libraries) and applet links."""
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer:
        add_busybox(layer)
    return oci_archive(path, ref, layer_buffer.getvalue(), ["PATH=/bin"])
