"""The instance metadata service at 169.254.169.254: who is asking, and what they may read.

The caller is identified by where its packet arrived (the VPC router namespace) and its source address,
which the bridge anti-spoofing guard makes trustworthy: together they name one ENI, never what the
instance claims. The content comes from a ``provider`` callback (the controller's data: instance id, AMI,
credentials of the instance profile...), so this module only does IMDS's protocol: IMDSv1 GETs, IMDSv2
session tokens (PUT with a TTL, bound to the ENI, hop limit as the response's IP TTL), ``http_tokens =
required``, directory listings, 404s.

``handle`` is pure (request in, response out); ``MetadataService`` is the edge: one listening socket in
each VPC router namespace, opened from the agent process, refreshed after every ``Dataplane.apply``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import http.server
import json
import logging
import os
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.contract.network import Eni, HostNetwork, ImdsOptions
from agent.network import naming, netns

log = logging.getLogger("cloudlet.agent.imds")

TOKEN_HEADER = "x-aws-ec2-metadata-token"
TTL_HEADER = "x-aws-ec2-metadata-token-ttl-seconds"
MAX_TTL = 21600


@dataclass(frozen=True)
class Caller:
    """The ENI a request came from, as the dataplane knows it."""

    vpc_id: str
    eni_id: str
    instance_id: str | None
    private_ip: str
    options: ImdsOptions = field(default_factory=ImdsOptions)


@dataclass
class InstanceMetadata:
    """What one instance may read: ``meta_data`` is a tree (dicts are directories, leaves are text; JSON
    documents such as credentials are leaves holding JSON text)."""

    meta_data: dict[str, Any]
    user_data: bytes | None = None
    dynamic: dict[str, Any] = field(default_factory=dict)


Provider = Callable[[Caller], InstanceMetadata | None]


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes = b""
    content_type: str = "text/plain"
    #: For token responses: the IP TTL of the answer (IMDSv2's hop limit).
    ip_ttl: int | None = None


class Tokens:
    """IMDSv2 session tokens: HMAC-signed, bound to one ENI, with an expiry; no server-side state."""

    def __init__(self, secret: bytes | None = None) -> None:
        self.secret = secret or os.urandom(32)

    def issue(self, eni_id: str, ttl: int, now: float) -> str:
        expiry = int(now) + ttl
        payload = f"{eni_id}:{expiry}"
        mac = hmac.new(self.secret, payload.encode(), hashlib.sha256).hexdigest()[:32]
        return base64.urlsafe_b64encode(f"{payload}:{mac}".encode()).decode()

    def valid(self, token: str, eni_id: str, now: float) -> bool:
        try:
            owner, expiry, mac = base64.urlsafe_b64decode(token.encode()).decode().rsplit(":", 2)
        except (ValueError, UnicodeDecodeError):
            return False
        expected = hmac.new(self.secret, f"{owner}:{expiry}".encode(), hashlib.sha256).hexdigest()[:32]
        return hmac.compare_digest(mac, expected) and owner == eni_id and int(expiry) > now


def handle(method: str, path: str, headers: dict[str, str], caller: Caller | None, provider: Provider,
           tokens: Tokens, now: float) -> Response:
    """Answer one IMDS request (headers with lower-case names)."""
    if caller is None or not caller.options.enabled:
        return Response(403, b"Forbidden")
    path = path.split("?", 1)[0]
    if method == "PUT":
        if path != "/latest/api/token":
            return Response(405, b"Method Not Allowed")
        if "x-forwarded-for" in headers:
            return Response(403, b"Forbidden")
        try:
            ttl = int(headers.get(TTL_HEADER, ""))
        except ValueError:
            return Response(400, b"Missing or invalid TTL header")
        if not 1 <= ttl <= MAX_TTL:
            return Response(400, b"Missing or invalid TTL header")
        return Response(200, tokens.issue(caller.eni_id, ttl, now).encode(), ip_ttl=caller.options.hop_limit)
    if method not in ("GET", "HEAD"):
        return Response(405, b"Method Not Allowed")
    token = headers.get(TOKEN_HEADER)
    if token is not None and not tokens.valid(token, caller.eni_id, now):
        return Response(401, b"Unauthorized")
    if token is None and caller.options.http_tokens == "required":
        return Response(401, b"Unauthorized")
    data = provider(caller)
    if data is None:
        return Response(404, b"Not Found")
    return _read(data, path)


#: The metadata versions IMDS lists at ``/``; clients such as cloud-init's EC2 datasource ask for a
#: dated one (``/2021-03-23/meta-data/...``). Every version serves the same (latest) content.
VERSIONS = ("1.0", "2007-01-19", "2007-03-01", "2007-08-29", "2007-10-10", "2007-12-15", "2008-02-01",
            "2008-09-01", "2009-04-04", "2011-01-01", "2011-05-01", "2012-01-12", "2014-02-25", "2014-11-05",
            "2015-10-20", "2016-04-19", "2016-06-30", "2016-09-02", "2018-03-28", "2018-08-17", "2018-09-24",
            "2019-10-01", "2020-10-27", "2021-01-03", "2021-03-23", "2021-07-15", "2022-09-24", "latest")


def _read(data: InstanceMetadata, path: str) -> Response:
    parts = [part for part in path.split("/") if part]
    if not parts:
        return Response(200, "\n".join(VERSIONS).encode())
    if parts[0] not in VERSIONS:
        return Response(404, b"Not Found")
    if len(parts) == 1:
        return Response(200, b"dynamic\nmeta-data\nuser-data")
    if parts[1] == "user-data" and len(parts) == 2:
        return Response(200, data.user_data, "application/octet-stream") if data.user_data is not None \
            else Response(404, b"Not Found")
    trees = {"meta-data": data.meta_data, "dynamic": data.dynamic}
    node: Any = trees.get(parts[1])
    for part in parts[2:]:
        if not isinstance(node, dict) or part not in node:
            return Response(404, b"Not Found")
        node = node[part]
    if node is None:
        return Response(404, b"Not Found")
    if isinstance(node, dict):
        listing = "\n".join(f"{key}/" if isinstance(value, dict) else key for key, value in node.items())
        return Response(200, listing.encode())
    if isinstance(node, (list, tuple)):
        return Response(200, "\n".join(map(str, node)).encode())
    if not isinstance(node, (str, bytes)):
        return Response(200, json.dumps(node, indent=2).encode(), "application/json")
    return Response(200, node if isinstance(node, bytes) else node.encode())


class MetadataService:
    """One listener per VPC router namespace on 169.254.169.254; implements the dataplane's MetadataSink."""

    def __init__(self, provider: Provider, port: int = 80, tokens: Tokens | None = None) -> None:
        self.provider = provider
        self.port = port
        self.tokens = tokens or Tokens()
        self._servers: dict[str, http.server.ThreadingHTTPServer] = {}
        self._callers: dict[str, dict[str, Caller]] = {}
        self._lock = threading.Lock()

    def update(self, doc: HostNetwork) -> None:
        wanted: dict[str, dict[str, Caller]] = {}
        for vpc in doc.vpcs:
            if vpc.metadata:
                wanted[naming.router_netns(doc.name_prefix, vpc.id)] = _callers(vpc.id, vpc.enis)
        with self._lock:
            self._callers = wanted
        for ns in set(self._servers) - set(wanted):
            # An open socket would keep a deleted namespace alive, so it is closed; on a thread of its own, since
            # ``shutdown`` waits for the serving loop's next poll (up to half a second) and the dataplane pass
            # that removed the VPC (a host's last Batch job of it ended, say) need not wait with it.
            threading.Thread(target=_stop, args=(self._servers.pop(ns),), name=f"imds-stop-{ns}",
                             daemon=True).start()
        for ns in set(wanted) - set(self._servers):
            self._servers[ns] = self._serve(ns)

    def close(self) -> None:
        for server in self._servers.values():
            _stop(server)
        self._servers.clear()

    def caller(self, ns: str, ip: str) -> Caller | None:
        with self._lock:
            return self._callers.get(ns, {}).get(ip)

    def _serve(self, ns: str) -> http.server.ThreadingHTTPServer:
        def bind() -> socket.socket:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((naming.METADATA_V4, self.port))
            sock.listen(64)
            return sock

        sock = netns.run_inside(ns, bind)
        server = http.server.ThreadingHTTPServer((naming.METADATA_V4, self.port), _handler(self, ns),
                                                 bind_and_activate=False)
        server.socket.close()
        server.socket = sock
        server.daemon_threads = True
        threading.Thread(target=server.serve_forever, name=f"imds-{ns}", daemon=True).start()
        return server


def _stop(server: http.server.ThreadingHTTPServer) -> None:
    server.shutdown()
    server.server_close()


def _callers(vpc_id: str, enis: list[Eni]) -> dict[str, Caller]:
    return {ip: Caller(vpc_id, eni.id, eni.instance_id, ip, eni.imds) for eni in enis for ip in eni.private_ips}


def _handler(service: MetadataService, ns: str) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        server_version = "EC2ws"
        sys_version = ""

        def _answer(self) -> None:
            caller = service.caller(ns, self.client_address[0])
            headers = {key.lower(): value for key, value in self.headers.items()}
            response = handle(self.command, self.path, headers, caller, service.provider, service.tokens,
                              time.time())
            if response.ip_ttl is not None:
                self.connection.setsockopt(socket.IPPROTO_IP, socket.IP_TTL, response.ip_ttl)
            self.send_response(response.status)
            self.send_header("Content-Type", response.content_type)
            self.send_header("Content-Length", str(len(response.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)

        do_GET = do_PUT = do_HEAD = do_POST = _answer  # noqa: N815 - http.server's naming

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - http.server's signature
            log.debug("%s %s", ns, format % args)

    return Handler
