"""The agent's half of EC2 Instance Connect Endpoint tunnels: TCP from inside an endpoint's namespace.

The controller's websocket listener (``controller.ec2_instance_connect.tunnel``) authenticates and
authorizes ``OpenTunnel``, then asks the agent of the host that plugs the endpoint's ENI for the TCP leg.
It connects to this server (``--tunnel-listen``, its URL registered as ``HostRegistration.tunnel_url``) and
sends one JSON line::

    {"token": "<the agents' bearer token>", "eni": "eni-…", "address": "10.0.1.5", "port": 22}

The server checks the token (constant time), enters only the ENI's service namespace
(``naming.service_netns``: nothing else may be entered, and only if it exists), opens the connection from inside it (so
the instance sees the endpoint's address and its security group decides), answers one JSON line
(``{"ok": true}`` or ``{"ok": false, "error": "…"}``) and then splices both directions until either side
closes. :func:`parse_request` is pure.
"""

from __future__ import annotations

import contextlib
import hmac
import ipaddress
import json
import logging
import re
import socket
import socketserver
import threading
from dataclasses import dataclass

from agent.network import naming, netns

log = logging.getLogger("cloudlet.agent.tunnel")

#: How long the TCP connect from the namespace may take (a security group that drops SYNs ends here).
CONNECT_TIMEOUT = 5.0
MAX_HEADER = 4096


class TunnelRequestError(ValueError):
    """A header line the server refuses."""


@dataclass(frozen=True)
class TunnelRequest:
    netns: str
    address: str
    port: int


def parse_request(line: bytes, token: str, name_prefix: str) -> TunnelRequest:
    """The request in ``line`` if it carries ``token`` and names an endpoint namespace (pure)."""
    try:
        data = json.loads(line)
    except ValueError as exc:
        raise TunnelRequestError("not JSON") from exc
    if not isinstance(data, dict):
        raise TunnelRequestError("not an object")
    given = str(data.get("token", ""))
    if not token or not hmac.compare_digest(given.encode(), token.encode()):
        raise TunnelRequestError("bad token")
    eni = str(data.get("eni", ""))
    if not re.fullmatch(r"eni-[0-9a-f]{8,17}", eni):
        raise TunnelRequestError(f"not an ENI id: {eni!r}")
    name = naming.service_netns(name_prefix, eni)
    try:
        address = str(ipaddress.IPv4Address(str(data.get("address", ""))))
        port = int(data.get("port", 0))
    except ValueError as exc:
        raise TunnelRequestError("bad address or port") from exc
    if not 1 <= port <= 65535:
        raise TunnelRequestError("bad port")
    return TunnelRequest(name, address, port)


def splice(a: socket.socket, b: socket.socket) -> None:
    """Copy bytes both ways until one side closes; then close both."""

    def pump(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (dst, src):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)

    other = threading.Thread(target=pump, args=(b, a), daemon=True)
    other.start()
    pump(a, b)
    other.join()
    a.close()
    b.close()


class _Handler(socketserver.StreamRequestHandler):
    server: TunnelServer

    def handle(self) -> None:
        line = self.rfile.readline(MAX_HEADER)
        try:
            request = parse_request(line, self.server.token, self.server.name_prefix)
            upstream = netns.run_inside(request.netns, lambda: socket.create_connection(
                (request.address, request.port), timeout=CONNECT_TIMEOUT))
        except (TunnelRequestError, OSError) as exc:
            log.info("tunnel refused: %s", exc)
            self.wfile.write(json.dumps({"ok": False, "error": str(exc)}).encode() + b"\n")
            return
        upstream.settimeout(None)
        self.wfile.write(b'{"ok": true}\n')
        self.wfile.flush()
        splice(self.connection, upstream)


class TunnelServer(socketserver.ThreadingTCPServer):
    """Serves tunnel requests on ``address`` from a daemon thread; ``url`` is what the agent registers."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], token: str, name_prefix: str) -> None:
        super().__init__(address, _Handler)
        self.token = token
        self.name_prefix = name_prefix
        host, port = self.server_address[:2]
        self.url = f"tcp://{host}:{port}"
        threading.Thread(target=self.serve_forever, name="eice-tunnel", daemon=True).start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
