"""EC2 Instance Connect Endpoint tunnels: AWS CLI v2's ``open-tunnel`` websocket, served by the controller.

The client (``aws ec2-instance-connect open-tunnel``, ``cloudlet eice-proxy``) opens
``ws://<listener>/openTunnel?instanceConnectEndpointId=…&remotePort=…&privateIpAddress=…[&maxTunnelDuration=…]``
presigned with SigV4 for the service ``ec2-instance-connect`` (``Host`` = the endpoint's DnsName, expiry 60 s),
as awscli's ``eicesigner.py`` builds it. cheroot's WSGI cannot hand a socket over, so the ``websockets``
library's sync server listens on its own address (``Config.instance_connect_listen``). Before upgrading it:

- verifies the presigned signature (``controller.auth.sigv4``) against the access key's secret;
- checks the endpoint is the caller's and ``create-complete``, the port and the duration (1..3600 s), and that
  the address is in one of the endpoint VPC's subnets;
- authorizes ``ec2-instance-connect:OpenTunnel`` on the endpoint's ARN with the condition keys
  ``ec2-instance-connect:remotePort``, ``…:privateIpAddress`` and ``…:maxTunnelDuration``;
- records the call in the audit trail, and answers a refusal with its HTTP status and ``Code: message``.

Then it asks the agent of the host that plugs the endpoint's ENI (``agent.network.tunnel``) for a TCP
connection from inside the ENI's namespace, and copies binary websocket messages to it and back, closing
the tunnel after ``maxTunnelDuration``. :func:`check_query` is pure.

The same listener serves other websocket services mounted on a path (:meth:`TunnelListener.mount`): the
web console's browser shell at ``/console/shell`` (:mod:`controller.console.shell_server`), which opens
its tunnel with :meth:`TunnelListener.open_as`.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import ipaddress
import json
import logging
import queue
import socket
import threading
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol
from urllib.parse import parse_qsl, urlsplit

from sqlalchemy import select
from websockets.sync.server import Server, ServerConnection, serve

from controller.api import Principal, RequestContext
from controller.audit import CallRecord
from controller.auth import errors as auth_errors
from controller.auth import sigv4
from controller.cloud import Cloud
from controller.ec2.ids import INSTANCE_CONNECT_ENDPOINT
from controller.ec2.vpc import state
from controller.ec2.vpc.desired_network import HostInfo, place_nat_gateway
from controller.ec2.vpc.instance_connect_endpoints import CREATED, endpoint_state
from controller.errors import ServiceError, error
from controller.hosts import state as hosts_state
from controller.iam.enforce import check_action
from controller.protocol import HttpRequest
from controller.state import utcnow

log = logging.getLogger(__name__)

SERVICE = "ec2-instance-connect"
ACTION = "ec2-instance-connect:OpenTunnel"
MAX_TUNNEL_SECONDS = 3600
#: In the data dir: the listener's URL, for clients on this machine.
URL_FILE = "instance-connect-url"
ValidationException = error("ValidationException")
AccessDenied = error("AccessDeniedException", status=403)
ResourceNotFound = error("ResourceNotFoundException", status=404)
Unavailable = error("ServiceUnavailableException", status=503)


@dataclass(frozen=True)
class TunnelQuery:
    endpoint_id: str
    private_ip: str
    port: int
    max_duration: int


def check_query(query: dict[str, str]) -> TunnelQuery:
    """The tunnel's parameters, or AWS's ``ValidationException`` (pure)."""
    endpoint_id = query.get("instanceConnectEndpointId", "")
    if not endpoint_id.startswith("eice-"):
        raise ValidationException("instanceConnectEndpointId is missing or invalid.")
    try:
        ip = str(ipaddress.IPv4Address(query.get("privateIpAddress", "")))
    except ValueError:
        raise ValidationException("privateIpAddress is missing or invalid.") from None
    try:
        port = int(query.get("remotePort", ""))
        duration = int(query.get("maxTunnelDuration", str(MAX_TUNNEL_SECONDS)))
    except ValueError:
        raise ValidationException("remotePort and maxTunnelDuration must be integers.") from None
    if not 1 <= port <= 65535:
        raise ValidationException("remotePort must be between 1 and 65535.")
    if not 1 <= duration <= MAX_TUNNEL_SECONDS:
        raise ValidationException(f"maxTunnelDuration must be between 1 and {MAX_TUNNEL_SECONDS} seconds.")
    return TunnelQuery(endpoint_id, ip, port, duration)


class Mounted(Protocol):
    """A websocket service sharing the listener: it admits (or refuses) before the upgrade, then runs."""

    def admit(self, connection: ServerConnection, request: Any) -> Any: ...

    def run(self, connection: ServerConnection) -> None: ...


@dataclass(frozen=True)
class _Opened:
    upstream: socket.socket
    max_duration: int


class TunnelListener:
    """The websocket listener, on a daemon thread; ``address`` is where it listens."""

    def __init__(self, cloud: Cloud, host: str, port: int, data_dir: Path | None = None) -> None:
        self.cloud = cloud
        self._opened: dict[int, _Opened] = {}
        self._mounted: dict[str, Mounted] = {}
        self._server: Server = serve(self._session, host, port, process_request=self._admit, max_size=2**20)
        bound_host, bound_port = self._server.socket.getsockname()[:2]
        self.url = f"ws://{bound_host}:{bound_port}"
        if data_dir is not None:  # ``cloudlet ssh --eice`` and ``cloudlet eice-proxy`` read it
            (data_dir / URL_FILE).write_text(self.url + "\n")
        threading.Thread(target=self._server.serve_forever, name="eice-listener", daemon=True).start()

    def close(self) -> None:
        self._server.shutdown()

    def mount(self, path: str, service: Mounted) -> None:
        """Serve websocket requests for ``path`` with ``service`` rather than as tunnels."""
        self._mounted[path] = service

    # before the upgrade --------------------------------------------------------------------------------------

    def _admit(self, connection: ServerConnection, request):  # noqa: ANN001, ANN202 (websockets' types)
        mounted = self._mounted.get(urlsplit(request.path).path)
        if mounted is not None:
            return mounted.admit(connection, request)
        now = dt.datetime.now(dt.UTC)
        source_ip = str(connection.remote_address[0])
        call = self._call_record(now, source_ip, request.headers.get("User-Agent", ""))
        try:
            upstream, duration = self._open(request, now, call)
        except ServiceError as exc:
            call.error_code, call.error_message = exc.code, exc.message
            # The service's model gives AccessDeniedException 400; the tunnel endpoint refuses with 403.
            status = 403 if exc.code in ("AccessDeniedException", "AccessDenied") else exc.status
            return connection.respond(status, f"{exc.code}: {exc.message}\n")
        finally:
            if not call.account_id:
                call.account_id = self.cloud.credentials.management_account() or ""
            self.cloud.audit.record(call)
        self._opened[id(connection)] = _Opened(upstream, duration)
        return None

    def _open(self, request, now: dt.datetime,  # noqa: ANN001 (websockets' Request)
              call: CallRecord) -> tuple[socket.socket, int]:
        parts = urlsplit(request.path)
        if parts.path != "/openTunnel":
            raise ResourceNotFound("Not found.")
        http = HttpRequest(method="GET", path=parts.path, query=parse_qsl(parts.query, keep_blank_values=True),
                           headers={k.lower(): v for k, v in request.headers.raw_items()}, raw_query=parts.query)
        principal = self._authenticate(http, now, call)
        query = check_query(dict(http.query))
        return self._authorized(principal, query, now, call, http.header("host", "") or ""), query.max_duration

    def open_as(self, principal: Principal, query: TunnelQuery, source_ip: str, user_agent: str) -> socket.socket:
        """OpenTunnel for the console's browser shell, which authenticated ``principal`` itself (its session):
        authorized, audited and connected exactly as a presigned websocket's."""
        now = dt.datetime.now(dt.UTC)
        call = self._call_record(now, source_ip, user_agent)
        call.account_id, call.principal_kind = principal.account_id, principal.kind
        call.principal_arn, call.principal_id, call.principal_name = principal.arn, principal.user_id, principal.name
        try:
            return self._authorized(principal, query, now, call, "")
        except ServiceError as exc:
            call.error_code, call.error_message = exc.code, exc.message
            raise
        finally:
            self.cloud.audit.record(call)

    def _call_record(self, now: dt.datetime, source_ip: str, user_agent: str) -> CallRecord:
        return CallRecord(request_id=str(uuid.uuid4()), time=now, account_id="", service=SERVICE,
                          event_source=f"{SERVICE}.amazonaws.com", operation="OpenTunnel",
                          region=self.cloud.config.region, source_ip=source_ip, user_agent=user_agent)

    def _authorized(self, principal: Principal, query: TunnelQuery, now: dt.datetime, call: CallRecord,
                    host: str) -> socket.socket:
        """The connection to ``query``'s address and port, once ``principal`` may open it."""
        call.parameters = {"instanceConnectEndpointId": query.endpoint_id, "privateIpAddress": query.private_ip,
                           "remotePort": query.port, "maxTunnelDuration": query.max_duration}
        ctx = RequestContext(cloud=self.cloud, service=SERVICE, operation="OpenTunnel", request_id=call.request_id,
                             region=self.cloud.config.region, principal=principal, source_ip=call.source_ip,
                             received_at=now, host=host)
        arn = INSTANCE_CONNECT_ENDPOINT.arn(ctx, query.endpoint_id)
        call.resources = [arn]
        eni_id, zone = self._endpoint(ctx, query)
        ctx.condition_keys.update({"ec2-instance-connect:remotePort": str(query.port),
                                   "ec2-instance-connect:privateIpAddress": query.private_ip,
                                   "ec2-instance-connect:maxTunnelDuration": str(query.max_duration)})
        check_action(ctx, ACTION, [arn])
        return self._connect(eni_id, zone, query)

    def _authenticate(self, http: HttpRequest, now: dt.datetime, call: CallRecord):  # noqa: ANN202
        info = sigv4.parse_authorization(http, service=SERVICE)
        if info is None or not info.presigned:
            raise auth_errors.missing_authentication(SERVICE)
        call.access_key_id = info.access_key_id
        credential = self.cloud.credentials.resolve(info.access_key_id)
        if credential is None or credential.status != "Active":
            raise auth_errors.unknown_key(SERVICE, info.access_key_id)
        principal = credential.principal
        call.account_id, call.principal_kind = principal.account_id, principal.kind
        call.principal_arn, call.principal_id, call.principal_name = principal.arn, principal.user_id, principal.name
        sigv4.verify(http, info, credential.secret_access_key, now=now, service=SERVICE)
        if info.expires is not None and now > info.amz_date + dt.timedelta(seconds=info.expires):
            raise AccessDenied("Request has expired")  # the CLI presigns for 60 s
        if credential.is_expired(now):
            raise auth_errors.expired_token(SERVICE)
        if not credential.token_matches(info.security_token):
            raise auth_errors.unknown_key(SERVICE, info.access_key_id)
        return principal

    def _endpoint(self, ctx: RequestContext, query: TunnelQuery) -> tuple[str, str]:
        """The endpoint's ENI and zone, once the endpoint and the address are checked."""
        table = state.instance_connect_endpoints
        with self.cloud.db.read() as conn:
            row = conn.execute(select(table).where(table.c.instance_connect_endpoint_id == query.endpoint_id,
                                                   table.c.account_id == ctx.account_id)).mappings().first()
            cidrs = [] if row is None else conn.execute(select(state.subnets.c.cidr_block).where(
                state.subnets.c.vpc_id == row["vpc_id"])).scalars().all()
        current = None if row is None else endpoint_state(row, utcnow())
        if row is None or current is None:
            raise ResourceNotFound(f"The instance connect endpoint {query.endpoint_id} does not exist.")
        if current != CREATED or not row["network_interface_id"]:
            raise ValidationException(f"The instance connect endpoint {query.endpoint_id} is {current}.")
        address = ipaddress.IPv4Address(query.private_ip)
        if not any(address in ipaddress.ip_network(c) for c in cidrs):
            raise ValidationException(f"The private IP address {query.private_ip} is not in the VPC "
                                      f"{row['vpc_id']} of the instance connect endpoint.")
        return row["network_interface_id"], row["availability_zone"]

    def _connect(self, eni_id: str, zone: str, query: TunnelQuery) -> socket.socket:
        """A TCP connection from the endpoint's namespace, made by the agent of the host that plugs its ENI."""
        records = hosts_state.list_hosts(self.cloud.db)
        up = [HostInfo(r.host_id, r.zone) for r in records if r.state == "up"]
        servers = hosts_state.tunnel_servers(self.cloud.db)
        if not up:
            raise Unavailable("No host runs the instance connect endpoint.")
        host = place_nat_gateway(eni_id, zone, up, up[0])
        url = servers.get(host)
        if url is None:
            raise Unavailable(f"Host {host} serves no instance connect tunnels.")
        where = urlsplit(url)
        sock = socket.create_connection((where.hostname, where.port), timeout=10)
        try:
            sock.sendall(json.dumps({"token": self.cloud.agent_credentials.token_for(host), "eni": eni_id, "address": query.private_ip,
                                     "port": query.port}).encode() + b"\n")
            answer = _read_line(sock)
        except OSError as exc:
            sock.close()
            raise Unavailable(f"The tunnel could not be opened: {exc}") from None
        reply = json.loads(answer or b"{}")
        if not reply.get("ok"):
            sock.close()
            raise error("RequestTimeout", status=408)(
                f"Could not connect to {query.private_ip}:{query.port}: {reply.get('error', 'no answer')}")
        sock.settimeout(None)
        return sock

    # after the upgrade ---------------------------------------------------------------------------------------

    def _session(self, connection: ServerConnection) -> None:
        opened = self._opened.pop(id(connection), None)
        if opened is None:
            mounted = self._mounted.get(urlsplit(connection.request.path).path) if connection.request else None
            if mounted is not None:  # a mounted service's connection (it ignores one it refused)
                mounted.run(connection)
            return
        upstream = opened.upstream
        timer = threading.Timer(opened.max_duration, connection.close)
        timer.daemon = True
        timer.start()

        def downstream() -> None:
            try:
                while data := upstream.recv(65536):
                    connection.send(data)
            except Exception:  # noqa: BLE001 (either side went away)
                pass
            connection.close()

        # The websocket is read on this thread and written upstream by another, through a queue, so a slow
        # instance never stops the reading. Known limit: websockets' sync connections hold their lock while a
        # send blocks, so when BOTH directions carry more than the socket buffers at once (a bulk echo), a
        # sync client and this server can stall each other until the keepalive ping times out (20 s).
        # Interactive SSH and one-way transfers (whose other direction is small acks) are not affected.
        inbound: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()

        def upward() -> None:
            try:
                while (data := inbound.get()) is not None:
                    upstream.sendall(data)
            except OSError:
                connection.close()

        threads = [threading.Thread(target=pump, daemon=True) for pump in (downstream, upward)]
        for thread in threads:
            thread.start()
        try:
            for message in connection:
                inbound.put(message if isinstance(message, bytes) else message.encode())
        except Exception:  # noqa: BLE001 (either side went away)
            pass
        finally:
            inbound.put(None)
            timer.cancel()
            threads[1].join(timeout=5)
            with contextlib.suppress(OSError):
                upstream.shutdown(socket.SHUT_RDWR)
            upstream.close()
            threads[0].join(timeout=5)


def _read_line(sock: socket.socket) -> bytes:
    """One line, byte by byte (nothing after it is consumed: the tunnel's bytes follow)."""
    line = b""
    while not line.endswith(b"\n") and len(line) < 4096:
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line
