"""What the execute-api data plane receives and answers: one HTTP request to an API's invoke URL.

The contract between :mod:`controller.wsgi` (which builds an :class:`InvokeRequest` from the HTTP request)
and the pipelines of REST APIs (:mod:`controller.execute_api.rest.pipeline`) and HTTP APIs
(:mod:`controller.execute_api.http_pipeline`), and what WAF inspects (:mod:`controller.wafv2.inspect`).
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class InvokeRequest:
    """One request to an API's invoke URL, with the body read (API Gateway caps payloads at 10 MB).

    ``path`` is what follows the API in the URL, starting with ``/`` and still percent-encoded as sent:
    for a REST API it begins with the stage (``/prod/pets/1``); for an HTTP API with the stage unless the
    API has a ``$default`` stage. ``headers`` are lower-cased. ``source_vpc``/``source_vpce`` are set for
    requests an agent relayed from inside a VPC (through an interface endpoint for ``source_vpce``).
    """

    api_id: str
    method: str
    path: str
    query: list[tuple[str, str]]
    raw_query: str
    headers: dict[str, str]
    body: bytes
    source_ip: str
    user_agent: str = ""
    host: str = ""
    secure: bool = False
    source_vpc: str | None = None
    source_vpce: str | None = None
    request_time_epoch_ms: int = 0
    #: The path as the client sent and signed it (``/_cloudlet/execute-api/{api}/...`` in the path form):
    #: AWS_IAM methods check the SigV4 signature over it. Empty means ``path``.
    signed_path: str = ""

    def header(self, name: str, default: str = "") -> str:
        return self.headers.get(name.lower(), default)


@dataclass
class InvokeResponse:
    """What the invoke URL answers. ``headers`` may repeat a name (Set-Cookie, multi-value headers)."""

    status: int
    headers: list[tuple[str, str]] = field(default_factory=list)
    body: bytes = b""


#: Largest request body API Gateway accepts (10 MB): larger ones answer 413.
MAX_BODY_BYTES = 10 * 1024 * 1024
