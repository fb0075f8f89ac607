"""The browser shell's server side: a console session's websocket on the Instance Connect listener, relayed to
an SSH login on the instance, as the EC2 console's "EC2 Instance Connect" tab does it.

cheroot (the console's server) cannot hand over a socket, so the shell's websocket is served by the Instance
Connect tunnel listener (:class:`~controller.ec2_instance_connect.tunnel.TunnelListener`) at
:data:`~controller.console.shell.WEBSOCKET_PATH`. Before upgrading, :meth:`ConsoleShells.admit` finds the
console session from its cookie (as the console's own requests do: the session row, then the principal its
credentials resolve to, then the role it acts as) and spends the page's one-time ticket issued to that session
(:mod:`controller.console.shell`). After, :meth:`ConsoleShells.run` acts AS THAT PRINCIPAL through the API,
so IAM decides and CloudTrail records each step as for any client:

1. a throwaway ed25519 key pushed with ``SendSSHPublicKey`` (``service_calls``, like every console action);
2. the instance's VPC and address (``DescribeInstances``) and the VPC's endpoint
   (``DescribeInstanceConnectEndpoints``), then ``OpenTunnel`` to port 22 (:meth:`TunnelListener.open_as`);
3. an SSH login with paramiko (retried while the guest has not yet read the key from its metadata service)
   and a shell on a PTY, whose bytes go to the websocket and back; the page's resizes resize the PTY.

A refusal at any step is written into the page's terminal as AWS's code and message, and the websocket closes.
Instances are reached through their VPC's Instance Connect Endpoint only, as the controller has no route of its
own into VPCs. The guest's host key is not checked (the key is for this one session, nothing is trusted to it).
"""

from __future__ import annotations

import contextlib
import datetime as dt
import io
import threading
import time
from dataclasses import dataclass
from http.cookies import CookieError, SimpleCookie
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import paramiko
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from websockets.exceptions import ConnectionClosed

from controller import service_calls
from controller.api import Principal
from controller.console import role_switch, shell
from controller.console import state as sessions_state
from controller.console.calls import USER_AGENT
from controller.console.sessions import COOKIE, principal_of
from controller.ec2_instance_connect.tunnel import TunnelListener, TunnelQuery
from controller.errors import ServiceError
from controller.service_calls import ServiceCallError

if TYPE_CHECKING:
    from websockets.sync.server import ServerConnection

#: How long a pushed key may take to reach the guest (its metadata answers are cached ~5 s), as ``cloudlet ssh``.
KEY_WAIT_SECONDS = 20
#: A shell lasts at most as long as a tunnel may.
MAX_SHELL_SECONDS = 3600


@dataclass(frozen=True)
class _Admitted:
    principal: Principal
    ticket: shell.Ticket
    source_ip: str


class ShellRefused(Exception):
    """A step of opening the shell failed; shown in the page's terminal as ``code: message``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


class ConsoleShells:
    """The browser shells of one Instance Connect listener."""

    def __init__(self, listener: TunnelListener) -> None:
        self.listener = listener
        self.cloud = listener.cloud
        self._spent = shell.Spent()
        self._admitted: dict[int, _Admitted] = {}

    def admit(self, connection: ServerConnection, request: Any) -> Any:
        """None (upgrade) for a live session's cookie with its unspent ticket; a 403 answer otherwise."""
        cloud = self.cloud
        cloud.db.sync()  # sign-outs and IAM changes other processes committed
        now = dt.datetime.now(dt.UTC)
        try:
            cookie = SimpleCookie(request.headers.get("Cookie", ""))
        except CookieError:
            cookie = SimpleCookie()
        session = sessions_state.find(cloud.db, cloud.secrets, cookie[COOKIE].value if COOKIE in cookie else "",
                                      now)
        user = principal_of(cloud, session, now) if session is not None else None
        if session is None or user is None:
            return connection.respond(403, "Your console session has ended. Sign in again.\n")
        token = parse_qs(urlsplit(request.path).query).get("ticket", [""])[0]
        try:
            ticket = shell.open_ticket(cloud.secrets, token, session.token_hash)
        except shell.TicketRefused as refused:
            return connection.respond(403, f"{refused}\n")
        if not self._spent.claim(ticket):
            return connection.respond(403, "The shell's ticket was already used. Reload the page.\n")
        _, acting_as, _ = role_switch.acting(cloud, session, user, now)
        self._admitted[id(connection)] = _Admitted(acting_as, ticket, str(connection.remote_address[0]))
        return None

    def run(self, connection: ServerConnection) -> None:
        """The shell of an admitted connection, until either side ends it (nothing for any other)."""
        admitted = self._admitted.pop(id(connection), None)
        if admitted is None:
            return
        try:
            channel = self._login(admitted, connection)
        except (ShellRefused, paramiko.SSHException, OSError) as exc:
            refused = exc if isinstance(exc, ShellRefused) else ShellRefused("ConnectionFailed", str(exc))
            with contextlib.suppress(ConnectionClosed):
                connection.send(shell.failure(refused.code, refused.message))
            connection.close()
            return
        except ConnectionClosed:  # the page went away while the shell was being opened
            return
        _relay(connection, channel)

    def _call(self, admitted: _Admitted, service: str, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        try:
            return service_calls.call(self.cloud, admitted.principal, service, operation, params,
                                      invoked_by=USER_AGENT, source_ip=admitted.source_ip)
        except ServiceCallError as refused:
            raise ShellRefused(refused.code, refused.message) from None

    def _login(self, admitted: _Admitted, connection: ServerConnection) -> paramiko.Channel:
        """An interactive shell on the instance, logged in with a key pushed for this session."""
        ticket = admitted.ticket
        key = _throwaway_key()
        connection.send(shell.status(f"Pushing a one-time key for {ticket.os_user} (SendSSHPublicKey)..."))
        self._call(admitted, "ec2-instance-connect", "SendSSHPublicKey", {
            "InstanceId": ticket.instance_id, "InstanceOSUser": ticket.os_user,
            "SSHPublicKey": f"{key.get_name()} {key.get_base64()} cloudlet-console"})
        reservations = self._call(admitted, "ec2", "DescribeInstances",
                                  {"InstanceIds": [ticket.instance_id]})["Reservations"]
        instance = reservations[0]["Instances"][0]
        vpc_id, address = instance.get("VpcId", ""), instance.get("PrivateIpAddress", "")
        endpoints = [e for e in self._call(admitted, "ec2", "DescribeInstanceConnectEndpoints", {}).get(
            "InstanceConnectEndpoints", []) if e.get("VpcId") == vpc_id and e.get("State") == "create-complete"]
        if not endpoints or not address:
            raise ShellRefused("NoInstanceConnectEndpoint", f"The VPC {vpc_id} of {ticket.instance_id} has no EC2 "
                               "Instance Connect Endpoint ready: the console reaches instances through one.")
        endpoint_id = endpoints[0]["InstanceConnectEndpointId"]
        connection.send(shell.status(f"Connecting to {address}:22 through {endpoint_id}..."))
        transport = self._authenticated(admitted, endpoint_id, address, key)
        channel = transport.open_session()
        channel.get_pty(term="xterm-256color")
        channel.invoke_shell()
        return channel

    def _authenticated(self, admitted: _Admitted, endpoint_id: str, address: str,
                       key: paramiko.PKey) -> paramiko.Transport:
        """An SSH transport logged in with ``key``: the guest reads pushed keys from its metadata service
        within seconds, so a refused key is tried again (on a new connection when the server hangs up)."""
        query = TunnelQuery(endpoint_id, address, 22, MAX_SHELL_SECONDS)
        deadline = time.monotonic() + KEY_WAIT_SECONDS
        while True:
            try:
                sock = self.listener.open_as(admitted.principal, query, admitted.source_ip, USER_AGENT)
            except ServiceError as refused:
                raise ShellRefused(refused.code, refused.message) from None
            transport = paramiko.Transport(sock)
            try:
                transport.start_client(timeout=10)
                while True:
                    try:
                        transport.auth_publickey(admitted.ticket.os_user, key)
                        return transport
                    except paramiko.AuthenticationException:
                        if time.monotonic() > deadline:
                            raise
                        time.sleep(1)
            except paramiko.AuthenticationException:
                transport.close()
                raise ShellRefused("AuthenticationFailed", f"The instance did not accept the pushed key for "
                                   f"{admitted.ticket.os_user} within {KEY_WAIT_SECONDS} s.") from None
            except (paramiko.SSHException, OSError, EOFError) as exc:
                transport.close()
                if time.monotonic() > deadline:
                    raise ShellRefused("ConnectionFailed", f"SSH to {address} failed: {exc}") from None
                time.sleep(1)


def _throwaway_key() -> paramiko.PKey:
    """A new ed25519 key for one session (paramiko cannot generate ed25519 keys itself)."""
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH, serialization.NoEncryption())
    return paramiko.Ed25519Key.from_private_key(io.StringIO(pem.decode()))


def _relay(connection: ServerConnection, channel: paramiko.Channel) -> None:
    """Terminal bytes both ways until either side closes (or :data:`MAX_SHELL_SECONDS`)."""
    timer = threading.Timer(MAX_SHELL_SECONDS, connection.close)
    timer.daemon = True
    timer.start()

    def downstream() -> None:
        try:
            while data := channel.recv(65536):
                connection.send(data)
        except Exception:  # noqa: BLE001 (either side went away)
            pass
        connection.close()

    reader = threading.Thread(target=downstream, name="console-shell", daemon=True)
    reader.start()
    try:
        for message in connection:
            try:
                meant = shell.client_message(message)
            except ValueError:
                continue  # a page of another version: nothing to do with it
            if isinstance(meant, shell.Resize):
                channel.resize_pty(width=meant.columns, height=meant.rows)
            else:
                channel.sendall(meant)
    except Exception:  # noqa: BLE001 (either side went away)
        pass
    finally:
        timer.cancel()
        channel.close()
        channel.get_transport().close()
        reader.join(timeout=5)
