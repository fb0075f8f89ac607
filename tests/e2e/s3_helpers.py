"""Helpers shared by the S3 end-to-end tests (this module holds no tests).

- :func:`new_bucket` / :func:`remove_bucket`: a uniquely named bucket, and removing one
  whatever it holds (versions, delete markers, unfinished uploads).
- :func:`send_signed`: a hand-built SigV4 request (aws-chunked bodies, virtual-hosted
  Host headers) sent with ``http.client``, for what no SDK sends over plain HTTP.
- :class:`PatternStream`: a seekable stream of any size whose bytes are computed from
  their offset, so huge objects are neither stored nor held by the test process.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import io
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote, urlsplit

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials as BotoCredentials

from tests.support import CloudletProcess, Credentials


def new_bucket(s3: Any, name: str, **create: Any) -> str:
    s3.create_bucket(Bucket=name, **create)
    return name


def remove_bucket(s3: Any, name: str) -> None:
    """Delete every version, delete marker and upload of a bucket, then the bucket."""
    try:
        for page in s3.get_paginator("list_object_versions").paginate(Bucket=name):
            entries = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                       for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
            if entries:
                s3.delete_objects(Bucket=name, Delete={"Objects": entries, "Quiet": True})
        for page in s3.get_paginator("list_multipart_uploads").paginate(Bucket=name):
            for upload in page.get("Uploads", []):
                s3.abort_multipart_upload(Bucket=name, Key=upload["Key"], UploadId=upload["UploadId"])
        s3.delete_bucket(Bucket=name)
    except s3.exceptions.NoSuchBucket:
        pass


@dataclass
class RawResponse:
    status: int
    headers: dict[str, str]
    body: bytes


def send_signed(cloudlet: CloudletProcess, method: str, path: str, *,
                body: bytes | Callable[[str, str], bytes] = b"", headers: dict[str, str] | None = None,
                payload_hash: str | None = None, host: str | None = None,
                credentials: Credentials | None = None) -> RawResponse:
    """Sign ``method path`` with SigV4 (declaring ``payload_hash``) and send it to the cloud.

    ``host`` replaces the Host header (virtual-hosted style). ``body`` is bytes, or a
    function of the request's seed signature and timestamp that makes the body (signed
    aws-chunked bodies chain their chunk signatures from the request's).
    """
    creds = credentials or cloudlet.root_credentials()
    port = urlsplit(cloudlet.endpoint).port
    request_headers = {"Host": host or f"127.0.0.1:{port}", **(headers or {})}
    request_headers["X-Amz-Content-SHA256"] = payload_hash or hashlib.sha256(
        body if isinstance(body, bytes) else b"").hexdigest()
    request = AWSRequest(method=method, url=f"http://{request_headers['Host']}{path}", headers=request_headers)
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key, creds.session_token), "s3",
              cloudlet.region).add_auth(request)
    signed = dict(request.headers.items())
    if callable(body):
        body = body(signed["Authorization"].rsplit("Signature=", 1)[1], request.context["timestamp"])
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        connection.request(method, path, body=body, headers=signed)
        response = connection.getresponse()
        return RawResponse(response.status, {k.lower(): v for k, v in response.getheaders()}, response.read())
    finally:
        connection.close()


def signing_key(secret: str, date: str, region: str) -> bytes:
    key = hmac.digest(f"AWS4{secret}".encode(), date.encode(), "sha256")
    for part in (region, "s3", "aws4_request"):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def signed_chunks(data: bytes, chunk_size: int, *, seed: str, secret: str, timestamp: str, region: str) -> bytes:
    """An aws-chunked body with chained chunk signatures (STREAMING-AWS4-HMAC-SHA256-PAYLOAD)."""
    key = signing_key(secret, timestamp[:8], region)
    scope = f"{timestamp[:8]}/{region}/s3/aws4_request"
    empty = hashlib.sha256(b"").hexdigest()
    previous = seed
    out = io.BytesIO()
    pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for piece in pieces:
        to_sign = (f"AWS4-HMAC-SHA256-PAYLOAD\n{timestamp}\n{scope}\n{previous}\n{empty}\n"
                   f"{hashlib.sha256(piece).hexdigest()}")
        previous = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
        out.write(f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + b"\r\n")
    return out.getvalue()


def quoted(key: str) -> str:
    return quote(key, safe="/~")


class PatternStream(io.RawIOBase):
    """``size`` bytes, seekable, each 1 MiB block a rotation of one random block by its index.

    Equal content for equal offsets, different blocks differ, and nothing is stored:
    :meth:`digest` computes the MD5 of the whole stream without holding it.
    """

    BLOCK = 1 << 20

    def __init__(self, size: int, seed: bytes | None = None) -> None:
        super().__init__()
        self.size = size
        self.position = 0
        self._base = seed or os.urandom(self.BLOCK)

    def _block(self, index: int) -> bytes:
        shift = (index * 7919) % self.BLOCK
        return self._base[shift:] + self._base[:shift]

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self.position

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self.position, io.SEEK_END: self.size}[whence]
        self.position = max(0, min(self.size, base + offset))
        return self.position

    def read(self, size: int = -1) -> bytes:
        end = self.size if size is None or size < 0 else min(self.size, self.position + size)
        parts = []
        while self.position < end:
            index, offset = divmod(self.position, self.BLOCK)
            take = min(self.BLOCK - offset, end - self.position)
            parts.append(self._block(index)[offset:offset + take])
            self.position += take
        return b"".join(parts)

    def readinto(self, target: Any) -> int:
        data = self.read(len(target))
        target[:len(data)] = data
        return len(data)

    def digest(self) -> str:
        md5 = hashlib.md5()
        for index in range(0, (self.size + self.BLOCK - 1) // self.BLOCK):
            block = self._block(index)
            md5.update(block[:min(self.BLOCK, self.size - index * self.BLOCK)])
        return md5.hexdigest()
