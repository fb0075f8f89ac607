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
    """S3's ``rewrite_request`` hook: virtual-hosted requests in path style.

    Buckets are addressed under the cloud's ``s3_domain`` and, for SDKs inside instances (which reach the
    API by AWS's own names through the agents' relay), under ``s3.<region>.<service_domain>`` and the
    global ``s3.<service_domain>``; a request to one of those names itself is path style already.
    """
    for domain in s3_domains(cloud.config.s3_domain, cloud.config.region, cloud.config.service_domain):
        rewritten = virtual_host_to_path(request, domain)
        if rewritten is not request:
            return rewritten
    return request


def s3_domains(s3_domain: str, region: str, service_domain: str) -> tuple[str, ...]:
    """Every domain under which a host name is ``<bucket>.<domain>``, the most specific first."""
    return (f"s3.{region}.{service_domain}", f"s3.{service_domain}", s3_domain)


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
