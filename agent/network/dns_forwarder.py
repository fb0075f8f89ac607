"""The way out for VPC DNS in ``nat``/``bridge`` mode: a forwarder from each router namespace to the host's
resolvers.

dnsmasq runs inside a VPC's router namespace, which cannot reach the host's resolvers (a VPC without an
internet gateway has no route out at all, and one with an IGW would leave through the VPC's public side). So
the agent listens inside each router namespace on ``127.0.0.1:FORWARDER_PORT`` (UDP and TCP, sockets opened
there with ``setns``, as the metadata service does), and sends each question from a socket opened in the
*host* namespace (``HostUplink.host_netns``; None is the agent's own) to ``HostUplink.dns_upstreams`` in
order, passing the first matching answer back; SERVFAIL when none answers.

In ``lab`` mode it listens nowhere and sends nothing: "DNS in lab mode forwards nothing outside" holds here
as well as in dnsmasq's configuration (which has no ``server=`` line then).
"""

from __future__ import annotations

import logging
import os
import selectors
import socket
import struct
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

from agent.contract.network import HostNetwork
from agent.network import dns, naming, netns

log = logging.getLogger("cloudlet.agent.dns")

#: Questions in flight at once; beyond that UDP questions are dropped (the client retries) instead of queueing.
MAX_IN_FLIGHT = 256


class UplinkChoice(Protocol):
    """What the forwarder reads of ``agent.network.uplink.HostUplink``."""

    mode: str
    host_netns: str | None
    dns_upstreams: tuple[str, ...]


@dataclass(frozen=True)
class Upstream:
    address: str
    port: int = 53

    @property
    def family(self) -> int:
        return socket.AF_INET6 if ":" in self.address else socket.AF_INET


def parse_upstream(text: str) -> Upstream:
    """``1.1.1.1``, ``1.1.1.1#5353`` (dnsmasq's form) or ``[2001:db8::53]:53``."""
    text = text.strip()
    if text.startswith("["):
        address, _, port = text[1:].partition("]")
        return Upstream(address, int(port.lstrip(":#") or 53))
    address, _, port = text.partition("#")
    return Upstream(address, int(port or 53))


class DnsForwarder:
    """Listeners in the router namespaces of VPCs whose resolver is on; told the document after each apply
    (the dataplane's ``MetadataSink`` protocol)."""

    def __init__(self, uplink: UplinkChoice, port: int = dns.FORWARDER_PORT, timeout: float = 2.0) -> None:
        self.port = port
        self.timeout = timeout
        self.host_netns = uplink.host_netns
        self.upstreams = [parse_upstream(u) for u in uplink.dns_upstreams] if uplink.mode != "lab" else []
        self._listeners: dict[str, _Listener] = {}
        self._pool = ThreadPoolExecutor(32, thread_name_prefix="dns-forward")
        self._in_flight = threading.BoundedSemaphore(MAX_IN_FLIGHT)

    @property
    def enabled(self) -> bool:
        return bool(self.upstreams)

    def update(self, doc: HostNetwork) -> None:
        wanted = {naming.router_netns(doc.name_prefix, vpc.id) for vpc in doc.vpcs if vpc.dns} if self.enabled \
            else set()
        for ns in set(self._listeners):
            # Gone from the document, or the namespace was made anew (its sockets are in the old one).
            if ns not in wanted or not self._listeners[ns].current():
                self._listeners.pop(ns).close()  # an open socket would keep a deleted namespace alive
        for ns in sorted(wanted - set(self._listeners)):
            try:
                self._listeners[ns] = _Listener(ns, self)
            except OSError as exc:
                log.warning("no DNS forwarder in %s: %s", ns, exc)

    def close(self) -> None:
        for listener in self._listeners.values():
            listener.close()
        self._listeners.clear()
        self._pool.shutdown(wait=False, cancel_futures=True)

    # --- the host side ---------------------------------------------------------------------------------------

    def dispatch(self, job: Callable[[], None]) -> None:
        """Run ``job`` on the pool, or drop it when too many questions are in flight."""
        if not self._in_flight.acquire(blocking=False):
            return

        def run() -> None:
            try:
                job()
            except Exception:  # one bad question must not end the forwarder
                log.exception("DNS forwarding failed")
            finally:
                self._in_flight.release()

        self._pool.submit(run)

    def _host_socket(self, family: int, kind: int) -> socket.socket:
        """A socket of the host namespace (a test's stand-in namespace, or the agent's own)."""
        if self.host_netns is None:
            return socket.socket(family, kind)
        return netns.run_inside(self.host_netns, lambda: socket.socket(family, kind))

    def resolve_udp(self, query: bytes) -> bytes:
        """The first upstream's answer to ``query`` (matching its id and question), or SERVFAIL."""
        try:
            asked = dns.parse(query)
        except dns.WireError:
            return b""
        for upstream in self.upstreams:
            with self._host_socket(upstream.family, socket.SOCK_DGRAM) as sock:
                sock.settimeout(self.timeout / max(1, len(self.upstreams)))
                try:
                    sock.connect((upstream.address, upstream.port))
                    sock.send(query)
                    while True:
                        reply = sock.recv(65535)
                        if _answers(reply, asked):
                            return reply
                except OSError:
                    continue
        return dns.error_reply(query)

    def resolve_tcp(self, query: bytes) -> bytes:
        """The same over TCP (a truncated UDP answer makes dnsmasq ask again this way)."""
        try:
            asked = dns.parse(query)
        except dns.WireError:
            return b""
        for upstream in self.upstreams:
            with self._host_socket(upstream.family, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.timeout)
                try:
                    sock.connect((upstream.address, upstream.port))
                    sock.sendall(struct.pack("!H", len(query)) + query)
                    reply = _read_frame(sock)
                    if reply is not None and _answers(reply, asked):
                        return reply
                except OSError:
                    continue
        return dns.error_reply(query)


def _answers(reply: bytes, asked: dns.Message) -> bool:
    try:
        message = dns.parse(reply)
    except dns.WireError:
        return False
    return bool(message.flags & 0x8000) and message.ident == asked.ident and message.question == asked.question


def _read_exactly(sock: socket.socket, size: int) -> bytes | None:
    data = b""
    while len(data) < size:
        chunk = sock.recv(size - len(data))
        if not chunk:
            return None
        data += chunk
    return data


def _read_frame(sock: socket.socket) -> bytes | None:
    """One length-prefixed DNS message of a TCP stream (None at its end)."""
    head = _read_exactly(sock, 2)
    return None if head is None else _read_exactly(sock, struct.unpack("!H", head)[0])


class _Listener:
    """UDP and TCP sockets on 127.0.0.1 inside one router namespace, and the thread that waits on them."""

    def __init__(self, ns: str, forwarder: DnsForwarder) -> None:
        self.ns = ns
        self.forwarder = forwarder
        self._stop = threading.Event()
        port = forwarder.port

        def bind() -> tuple[socket.socket, socket.socket]:
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                udp.bind(("127.0.0.1", port))
                tcp.bind(("127.0.0.1", port))
                tcp.listen(64)
            except OSError:
                udp.close()
                tcp.close()
                raise
            return udp, tcp

        self.inode = _inode(ns)
        self.udp, self.tcp = netns.run_inside(ns, bind)
        self._thread = threading.Thread(target=self._serve, name=f"dns-{ns}", daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        forwarder = self.forwarder
        with selectors.DefaultSelector() as selector:
            selector.register(self.udp, selectors.EVENT_READ, "udp")
            selector.register(self.tcp, selectors.EVENT_READ, "tcp")
            while not self._stop.is_set():
                for key, _ in selector.select(timeout=0.2):
                    try:
                        if key.data == "udp":
                            query, client = self.udp.recvfrom(65535)
                            forwarder.dispatch(lambda q=query, c=client: self._answer_udp(forwarder, q, c))
                        else:
                            conn, _ = self.tcp.accept()
                            forwarder.dispatch(lambda c=conn: self._answer_tcp(forwarder, c))
                    except OSError:
                        if self._stop.is_set():
                            return

    def _answer_udp(self, forwarder: DnsForwarder, query: bytes, client: tuple[str, int]) -> None:
        reply = forwarder.resolve_udp(query)
        if reply:
            self.udp.sendto(reply, client)

    def _answer_tcp(self, forwarder: DnsForwarder, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(forwarder.timeout * 2)
            while (query := _read_frame(conn)) is not None:
                reply = forwarder.resolve_tcp(query)
                if not reply:
                    return
                conn.sendall(struct.pack("!H", len(reply)) + reply)

    def current(self) -> bool:
        """Whether the namespace is still the one the sockets were opened in."""
        return _inode(self.ns) == self.inode

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2)
        self.udp.close()
        self.tcp.close()


def _inode(ns: str) -> int | None:
    try:
        return os.stat(netns.path(ns)).st_ino
    except OSError:
        return None
