"""Which requests are for an API's invoke URL, and for which API: pure, from the Host and the path.

AWS serves a stage at ``https://{api-id}.execute-api.{region}.amazonaws.com/{stage}/...``. Cloudlet answers
the same names under its ``service_domain`` (the VPC resolver points them at the API relay), under
``execute-api.localhost`` for browsers and curl on the host (they resolve ``*.localhost`` to loopback), and
at a path that needs no name at all: ``{endpoint}/_cloudlet/execute-api/{api-id}/{stage}/...``.
"""

from __future__ import annotations

PATH_PREFIX = "/_cloudlet/execute-api/"
LOCAL_DOMAIN = "execute-api.localhost"


def invoke_domains(region: str, service_domain: str) -> tuple[str, ...]:
    """The domains an API id is the first label of."""
    return (f"execute-api.{region}.{service_domain}".lower(), LOCAL_DOMAIN)


def invoke_target(host: str, raw_path: str, domains: tuple[str, ...]) -> tuple[str, str] | None:
    """``(api_id, path after the API)`` when the request is for an invoke URL, else None.

    The path keeps its encoding as sent and always starts with ``/``.
    """
    name = host.rsplit(":", 1)[0].lower() if not host.startswith("[") else ""
    for domain in domains:
        api_id = name[: -len(domain) - 1] if name.endswith("." + domain) else ""
        if api_id and "." not in api_id:
            return api_id, raw_path or "/"
    if raw_path.startswith(PATH_PREFIX):
        api_id, _, rest = raw_path[len(PATH_PREFIX):].partition("/")
        if api_id:
            return api_id, "/" + rest
    return None
