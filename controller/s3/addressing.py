"""S3 bucket addressing: virtual-hosted-style requests are rewritten to path style.

``GET http://photos.s3.localhost:8773/cat.jpg`` becomes ``GET /photos/cat.jpg`` before
routing, so the rest of the controller only ever sees path-style requests.
"""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from controller.protocol.http import HttpRequest

if TYPE_CHECKING:
    from controller.cloud import Cloud


def path_style(cloud: Cloud, request: HttpRequest) -> HttpRequest:
    """S3's ``rewrite_request`` hook: virtual-hosted requests under the cloud's ``s3_domain`` in path style."""
    return virtual_host_to_path(request, cloud.config.s3_domain)


def virtual_host_to_path(request: HttpRequest, base_domain: str) -> HttpRequest:
    """Move the bucket from ``Host: <bucket>.<base_domain>`` into the path, if it is there."""
    host = (request.header("host") or "").rsplit(":", 1)[0].lower()
    suffix = "." + base_domain.lower()
    if not host.endswith(suffix):
        return request
    bucket = host[: -len(suffix)]
    if not bucket:
        return request
    path = "/" + bucket + (request.path if request.path != "/" else "/")
    if path.endswith("/") and request.path == "/":
        path = path[:-1]
    return replace(request, path=path)
