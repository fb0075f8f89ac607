"""Where the agent puts what it produced, with the machine's own role, as AWS's agent does: Run Command output
and session transcripts in S3, session transcripts in CloudWatch Logs.

One place knows how to reach S3 and Logs (the agent's ``--endpoint`` serves every service on Cloudlet, AWS has
a host per service and region) and how to sign for them, so commands and sessions cannot drift apart.
"""

from __future__ import annotations

import hashlib
import ssl
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

from .wire import Credentials, JsonClient, http_send, sigv4_headers

#: How long one S3 PUT may take: a large transcript over a slow link still fits.
PUT_TIMEOUT_SECONDS = 120

#: A body read twice, first to hash it and then to send it: a transcript spilled to disk is streamed both
#: times instead of being loaded into memory.
ChunkSource = Callable[[], Iterator[bytes]]


@dataclass(frozen=True)
class AwsAccess:
    """The machine's way to AWS services other than Systems Manager: its credentials, its region, one
    endpoint serving every service (Cloudlet's, from ``--endpoint``) or None for AWS's own hosts, and the
    trust store for https."""

    credentials: Callable[[], Credentials]
    region: str
    endpoint: str | None
    context: ssl.SSLContext

    def s3_endpoint(self, region: str) -> str:
        return (self.endpoint or f"https://s3.{region}.amazonaws.com").rstrip("/")

    def put_object(self, bucket: str, key: str, body: bytes | ChunkSource, region: str | None = None) -> None:
        """PUTs one object (path-style, SigV4 with the payload's hash, as S3 requires); raises ServiceError or
        OSError when S3 refuses or cannot be reached. A callable body is streamed, never held whole."""
        region = region or self.region
        url = f"{self.s3_endpoint(region)}/{urllib.parse.quote(f'{bucket}/{key}', safe='/-_.~')}"
        if isinstance(body, bytes):
            digest, length = hashlib.sha256(body).hexdigest(), len(body)
            data: bytes | Iterable[bytes] = body
        else:
            hasher, length = hashlib.sha256(), 0
            for chunk in body():
                hasher.update(chunk)
                length += len(chunk)
            digest, data = hasher.hexdigest(), body()
        headers = sigv4_headers("PUT", url, {"x-amz-content-sha256": digest}, b"", self.credentials(), region,
                                "s3", datetime.now(UTC), payload_hash=digest)
        headers["Content-Length"] = str(length)  # an iterable body is sent as is only with its length given
        http_send(urllib.request.Request(url, data, headers, method="PUT"), self.context, PUT_TIMEOUT_SECONDS)

    def logs(self) -> JsonClient:
        """A CloudWatch Logs client (JSON 1.1, ``Logs_20140328``, signed as ``logs``)."""
        return JsonClient(self.endpoint or f"https://logs.{self.region}.amazonaws.com", self.region, "logs",
                          "Logs_20140328", self.context, self.credentials)
