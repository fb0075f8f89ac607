"""The WSGI application: the gateway for AWS API calls, Flask for Cloudlet's own endpoints.

Flask routes Cloudlet's own endpoints (``/_cloudlet/...``: agent RPC, health, the hosted
sign-in pages; ``/{pool}/.well-known/...``) and the web console (``/console``, for requests that
are not AWS calls: a signed path-style S3 call to a bucket named ``console`` is still S3's).
Every other request is an AWS API call, handed as-is to the gateway without passing through
Flask's routing, request context and sessions, which cost about a quarter of a simple call's CPU
(py-spy, ``sts get-caller-identity``): a path that could be one of Flask's own goes to Flask, and its
catch-all route ends at the same gateway. Request bodies are not read here: the gateway
and the protocol layer read them when (and as far as) they need to, so S3 uploads stream.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl

from flask import Flask, Response, request
from werkzeug.wrappers import Request

from controller.cloud import Cloud
from controller.execute_api.addressing import invoke_domains, invoke_target
from controller.gateway import Caller, Gateway, relayed_caller
from controller.protocol import HttpRequest
from controller.protocol.http import raw_uri
from controller.protocol.query import has_form_body

if TYPE_CHECKING:
    from controller.workers.relay import Relay

#: A WSGI application: what a request is answered by.
WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]
#: Cloudlet's own paths; no S3 bucket name can start with an underscore.
INTERNAL_PREFIX = "/_cloudlet/"
#: Answered by every process itself: which one answered, and whether it is the primary.
HEALTH_PATH = "/_cloudlet/health"


def create_app(cloud: Cloud, *, relay: Relay | None = None, local_services: frozenset[str] = frozenset()) -> Flask:
    """The controller's WSGI application. An API worker passes ``relay``: it serves the AWS calls of
    ``local_services`` itself and hands every other request, as it came, to ``relay`` (the primary)."""
    app = Flask("cloudlet", static_folder=None)  # no /static/ route: "static" is a valid bucket name
    app.url_map.strict_slashes = False
    gateway = Gateway(cloud)

    from controller.awslambda import code_urls
    from controller.cognito_idp import hosted_ui as cognito_hosted_ui
    from controller.cognito_idp import wellknown as cognito_wellknown
    from controller.console import is_console_request
    from controller.console.pages import blueprint as console
    from controller.hosts.agent_api import blueprint as agent_rpc
    from controller.sns.signing import CERT_PATH_PREFIX
    from controller.sns.signing import blueprint as sns_signing_certificate

    app.register_blueprint(agent_rpc, url_prefix="/_cloudlet/agent/v1")
    app.register_blueprint(sns_signing_certificate, url_prefix=CERT_PATH_PREFIX.rstrip("/"))
    app.register_blueprint(code_urls.blueprint, url_prefix=code_urls.PATH_PREFIX)
    app.register_blueprint(cognito_wellknown.blueprint)  # /{pool-id}/.well-known/*: no bucket has a "_"
    app.register_blueprint(cognito_hosted_ui.blueprint)  # /_cloudlet/cognito/{prefix}/...
    app.register_blueprint(console)  # /console/..., reached only through front()'s check below
    app.config["CLOUD"] = cloud

    @app.get(HEALTH_PATH)
    def health() -> dict[str, Any]:
        return {"status": "ok", "region": cloud.config.region, "process": os.getpid(), "primary": cloud.primary}

    domains = invoke_domains(cloud.config.region, cloud.config.service_domain)

    def aws_call(environ: dict[str, Any]) -> WsgiApp:
        """The answer to an AWS API call (or to an API Gateway invoke URL)."""
        cloud.db.sync()  # what other processes of the cloud committed, before any cache is read
        sent = Request(environ)
        raw_path, _, raw_query = raw_uri(environ).partition("?")
        target = invoke_target(sent.host, raw_path, domains)
        if target is not None:
            return relay or _invoke_url(cloud, sent, target, raw_query, raw_path)
        http_request = HttpRequest(
            method=sent.method, path=raw_path,
            query=parse_qsl(raw_query, keep_blank_values=True), raw_query=raw_query,
            headers={k.lower(): v for k, v in sent.headers.items()},
            body=_body_stream(environ))
        route = None
        if relay is not None:
            if has_form_body(http_request):
                http_request.body = http_request.body_bytes()  # routing reads it: so must the relay, after
            route = gateway.route(http_request)
            if route.service not in local_services:
                return relay.carrying(http_request.body)
        caller = Caller(source_ip=sent.remote_addr or "", user_agent=sent.headers.get("User-Agent", ""),
                        secure=sent.scheme == "https")
        result = gateway.handle(http_request, caller, route=route)
        body = result.body
        response = Response(body if isinstance(body, bytes | Iterable) else b"", status=result.status,
                            headers=result.headers, direct_passthrough=not isinstance(body, bytes))
        if sent.method == "HEAD" and "Content-Length" in result.headers:
            response.headers["Content-Length"] = result.headers["Content-Length"]
        return response

    @app.route("/", defaults={"_path": ""}, methods=_METHODS)
    @app.route("/<path:_path>", methods=_METHODS)
    def aws_api(_path: str) -> Response:
        return aws_call(request.environ)

    routed = app.wsgi_app
    maybe_flasks = flask_paths(app, aws_api.__name__, skip=f"{console.name}.")

    def front(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if is_console_request(path, environ.get("HTTP_AUTHORIZATION", ""), environ.get("QUERY_STRING", "")):
            return (routed if relay is None else relay)(environ, start_response)
        if maybe_flasks(path):
            return (routed if relay is None or path == HEALTH_PATH else relay)(environ, start_response)
        return aws_call(environ)(environ, start_response)

    # {prefix}.auth.{region}.{domain} and {prefix}.auth.localhost: a user pool domain's hosted UI, by name.
    app.wsgi_app = cognito_hosted_ui.HostRouting(  # type: ignore[method-assign]
        front, cognito_hosted_ui.auth_domains(cloud.config.region, cloud.config.service_domain))
    return app


def flask_paths(app: Flask, api_endpoint: str, skip: str = "") -> Callable[[str], bool]:
    """Whether a path could be one of ``app``'s own routes (every rule but the API's catch-all and those
    whose endpoint starts with ``skip``, which are routed by a check of their own): it starts with a rule's
    text up to its first variable, or holds the longest fixed text of a rule that starts with one
    (``/<pool>/.well-known/jwks.json``)."""
    prefixes, pieces = set(), set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == api_endpoint or (skip and rule.endpoint.startswith(skip)):
            continue
        fixed = re.split(r"<[^>]*>", rule.rule)
        if fixed[0] != "/":
            prefixes.add(fixed[0])
        else:
            pieces.add(max(fixed[1:], key=len))
    starts, contains = tuple(sorted(prefixes)), tuple(sorted(pieces))
    return lambda path: path.startswith(starts) or any(piece in path for piece in contains)


_METHODS = ["GET", "PUT", "POST", "DELETE", "HEAD", "PATCH", "OPTIONS"]


def _invoke_url(cloud: Cloud, sent: Request, target: tuple[str, str], raw_query: str,
                signed_path: str) -> Response:
    """A request to an API Gateway invoke URL, handed to the execute-api data plane."""
    from controller.execute_api.dispatch import dispatch
    from controller.execute_api.request import MAX_BODY_BYTES, InvokeRequest

    body = _body_stream(sent.environ).read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return Response(b'{"message":"Request Too Long"}', status=413, content_type="application/json")
    lowered = {k.lower(): v for k, v in sent.headers.items()}
    caller = relayed_caller(lowered, Caller(source_ip=sent.remote_addr or "", secure=sent.scheme == "https"),
                            cloud.agent_credentials.trusts)
    # The relay's headers (its token among them) never travel on to an integration.
    headers = {name: value for name, value in lowered.items() if not name.startswith("x-cloudlet-")}
    api_id, path = target
    answer = dispatch(cloud, InvokeRequest(
        api_id=api_id, method=sent.method, path=path, query=parse_qsl(raw_query, keep_blank_values=True),
        raw_query=raw_query, headers=headers, body=body,
        source_ip=caller.source_ip, user_agent=headers.get("user-agent", ""), host=sent.host,
        secure=caller.secure, source_vpc=caller.source_vpc, source_vpce=caller.source_vpce,
        request_time_epoch_ms=int(time.time() * 1000), signed_path=signed_path))
    return Response(answer.body, status=answer.status, headers=answer.headers)


def _body_stream(environ: dict):
    """A stream of exactly the request body (wsgi.input may not stop at Content-Length)."""
    from werkzeug.wsgi import get_input_stream

    return get_input_stream(environ)
