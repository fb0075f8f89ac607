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


def busybox_oci_archive(path: Path, ref: str) -> Path:
    """An OCI archive of one uncompressed layer: the host's busybox (with its libraries) and applet links."""
    busybox = Path("/bin/busybox").resolve()
    libraries = re.findall(r"(/\S+) \(0x", subprocess.run(["ldd", str(busybox)], capture_output=True,
                                                            text=True).stdout)
    layer_buffer = io.BytesIO()
    with tarfile.open(fileobj=layer_buffer, mode="w") as layer:
        for directory in ("bin", "tmp", "proc", "dev", "sys", "etc", "lib", "lib64", "lib/x86_64-linux-gnu"):
            info = tarfile.TarInfo(directory)
            info.type, info.mode = tarfile.DIRTYPE, 0o1777 if directory == "tmp" else 0o755
            layer.addfile(info)
        layer.add(str(busybox), "bin/busybox")
        for library in libraries:
            layer.add(str(Path(library).resolve()), library.lstrip("/"))
        for applet in ("sh", "echo", "env", "sleep", "dd", "cat", "true"):
            info = tarfile.TarInfo(f"bin/{applet}")
            info.type, info.linkname = tarfile.SYMTYPE, "busybox"
            layer.addfile(info)
    layer_bytes = layer_buffer.getvalue()
    diff_id = "sha256:" + hashlib.sha256(layer_bytes).hexdigest()
    config = json.dumps({"architecture": "amd64", "os": "linux", "config": {"Env": ["PATH=/bin"], "Cmd": ["sh"]},
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
