"""Lambda's content-addressed store of function zips, layer zips and container image archives.

Each blob is a file named by the sha256 (hex) of its bytes under ``<data dir>/lambda/code``, so the
same package uploaded twice (or shared by versions) is kept once, and a reader trusts the name. A
write is atomic and durable before it is acknowledged: temp file, fsync, rename, fsync of the
directory. Blobs are not reference-counted: deleting a function leaves its code, which a later
version or another function may share (AWS counts code storage the same way, per stored package).
"""

from __future__ import annotations

import base64
import hashlib
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Cloud = Any


@dataclass(frozen=True)
class CodeRef:
    """Where a package lives and how AWS names it: ``CodeSha256`` is ``sha256_b64``."""

    sha256_hex: str
    sha256_b64: str
    size: int


def describe(data: bytes) -> CodeRef:
    """How the store (and Lambda's CodeSha256) names ``data``, without storing it."""
    digest = hashlib.sha256(data)
    return CodeRef(digest.hexdigest(), base64.b64encode(digest.digest()).decode(), len(data))


class CodeStore:
    """The blobs of one cloud, under one directory."""

    def __init__(self, root: Path) -> None:
        self.root = root
        root.mkdir(parents=True, exist_ok=True)
        self._url_key: bytes | None = None

    @property
    def url_key(self) -> bytes:
        """The HMAC key of GetFunction's presigned code URLs (code_urls.py): random, in a 0600 file, made once."""
        if self._url_key is None:
            path = self.root.parent / "code-url.key"
            try:
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
            except FileExistsError:
                pass
            else:
                with os.fdopen(fd, "wb") as out:
                    out.write(os.urandom(32))
            self._url_key = path.read_bytes()
        return self._url_key

    def put(self, data: bytes) -> CodeRef:
        ref = describe(data)
        path = self.root / ref.sha256_hex
        if path.exists() and path.stat().st_size == ref.size:
            return ref
        fd, temp = tempfile.mkstemp(dir=self.root, prefix=".incoming-")
        try:
            with os.fdopen(fd, "wb") as out:
                out.write(data)
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            Path(temp).unlink(missing_ok=True)
            raise
        directory = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(directory)
        finally:
            os.close(directory)
        return ref

    def open_path(self, sha256_hex: str) -> Path | None:
        if len(sha256_hex) != 64 or any(c not in "0123456789abcdef" for c in sha256_hex):
            return None
        path = self.root / sha256_hex
        return path if path.is_file() else None



def store_of(cloud: Cloud) -> CodeStore:
    """The cloud's code store, made on first use (``cloud.lambda_code``)."""
    if cloud.lambda_code is None:  # two first callers at once make two equal stores over one directory
        cloud.lambda_code = CodeStore(cloud.config.data_dir / "lambda" / "code")
    return cloud.lambda_code


def put(cloud: Cloud, data: bytes) -> CodeRef:
    """Store ``data`` (durably) and name it."""
    return store_of(cloud).put(data)


def open_path(cloud: Cloud, sha256_hex: str) -> Path | None:
    """The file holding the blob named ``sha256_hex``, or None when it is not stored."""
    return store_of(cloud).open_path(sha256_hex)
