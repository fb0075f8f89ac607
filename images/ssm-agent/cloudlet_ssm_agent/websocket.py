"""A small RFC 6455 websocket client, enough for Session Manager's data channel (standard library only).

ws:// and wss://, the Upgrade handshake (Sec-WebSocket-Accept checked), masked client frames, text and binary
messages split over continuation frames, 16- and 64-bit lengths, ping answered with pong and the close
handshake. One thread may receive while others send: sends are serialized by a lock, so frames never
interleave.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import os
import socket
import ssl
import struct
import threading
import time
import urllib.parse
from types import TracebackType

ACCEPT_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CONTINUATION, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
NORMAL_CLOSURE, PROTOCOL_ERROR, ABNORMAL_CLOSURE = 1000, 1002, 1006
#: A larger message is refused rather than buffered: a session never sends anything near this big.
MAX_MESSAGE_BYTES = 16 << 20
MAX_HANDSHAKE_BYTES = 64 << 10
#: Enough of a refused handshake's body to say why (the controller answers with a short JSON error).
MAX_ERROR_BODY_BYTES = 4096


class WebSocketError(Exception):
    """The connection broke the protocol (or was not a websocket at all)."""


class HandshakeError(WebSocketError):
    """The server did not switch protocols: carries its status line and body, which say why."""

    def __init__(self, status_line: str, body: str) -> None:
        super().__init__(f"websocket handshake refused: {status_line}" + (f": {body}" if body else ""))
        self.status_line, self.body = status_line, body
        parts = status_line.split(" ", 2)
        self.status = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0


class ConnectionClosed(WebSocketError):
    """The websocket is closed: by a close frame (``code`` as sent) or by the connection dropping (1006)."""

    def __init__(self, code: int, reason: str) -> None:
        super().__init__(f"websocket closed ({code}{': ' + reason if reason else ''})")
        self.code, self.reason = code, reason


def accept_key(key: str) -> str:
    """What the server must answer to our Sec-WebSocket-Key: proof it speaks websocket, not a cached page."""
    return base64.b64encode(hashlib.sha1((key + ACCEPT_GUID).encode()).digest()).decode()


def apply_mask(payload: bytes, mask: bytes) -> bytes:
    """XORs ``payload`` with the repeated 4-byte ``mask``; done on big integers, as a byte loop in Python
    would cost more than the rest of a frame's handling."""
    if not payload:
        return b""
    repeated = (mask * (len(payload) // 4 + 1))[:len(payload)]
    masked = int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")
    return masked.to_bytes(len(payload), "big")


def encode_frame(opcode: int, payload: bytes, mask: bytes, *, final: bool = True) -> bytes:
    """One client frame: clients must mask every frame (RFC 6455 5.3), servers refuse unmasked ones."""
    first = (0x80 if final else 0) | opcode
    length = len(payload)
    if length < 126:
        header = struct.pack(">BB", first, 0x80 | length)
    elif length < 1 << 16:
        header = struct.pack(">BBH", first, 0x80 | 126, length)
    else:
        header = struct.pack(">BBQ", first, 0x80 | 127, length)
    return header + mask + apply_mask(payload, mask)


def connect(url: str, *, ssl_context: ssl.SSLContext | None = None, timeout: float = 10,
            headers: dict[str, str] | None = None) -> WebSocket:
    """Opens a websocket to a ws:// or wss:// URL; ``timeout`` bounds connecting and the handshake only,
    afterwards reads block until data comes or :meth:`WebSocket.close` is called."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("ws", "wss") or not parts.hostname:
        raise WebSocketError(f"not a websocket URL: {url!r}")
    secure = parts.scheme == "wss"
    connection = socket.create_connection((parts.hostname, parts.port or (443 if secure else 80)),
                                          timeout=timeout)
    # Keystrokes are small frames sent back to back (an acknowledgement, then the echo): without this,
    # Nagle's algorithm holds the second until the first is acknowledged, 40 ms later with delayed ACKs.
    connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if secure:
            context = ssl_context or ssl.create_default_context()
            connection = context.wrap_socket(connection, server_hostname=parts.hostname)
        websocket = WebSocket(connection)
        target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
        websocket.handshake(parts.netloc.rsplit("@", 1)[-1], target, headers or {})
        connection.settimeout(None)
        return websocket
    except BaseException:
        connection.close()
        raise


class WebSocket:
    """An open client websocket over a connected (plain or TLS) socket."""

    def __init__(self, connection: socket.socket) -> None:
        self.connection = connection
        self.buffer = bytearray()
        self.send_lock = threading.Lock()
        self.receive_lock = threading.Lock()
        self.close_sent = False
        self.peer_closed = threading.Event()  # the other side's close frame arrived
        self.shut = False

    def __enter__(self) -> WebSocket:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 traceback: TracebackType | None) -> None:
        self.close()

    # --- reading -------------------------------------------------------------------------------------------
    def _fill(self) -> bool:
        chunk = self.connection.recv(65536)
        self.buffer += chunk
        return bool(chunk)

    def _read_exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            if not self._fill():
                raise ConnectionClosed(ABNORMAL_CLOSURE, "the connection dropped without a close frame")
        taken = bytes(self.buffer[:count])
        del self.buffer[:count]
        return taken

    def handshake(self, host: str, target: str, headers: dict[str, str]) -> None:
        """Sends the Upgrade request and checks the answer; anything but a proper 101 raises."""
        key = base64.b64encode(os.urandom(16)).decode()
        lines = [f"GET {target} HTTP/1.1", f"Host: {host}", "Upgrade: websocket", "Connection: Upgrade",
                 f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13",
                 *(f"{name}: {value}" for name, value in headers.items())]
        self.connection.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        while b"\r\n\r\n" not in self.buffer:
            if len(self.buffer) > MAX_HANDSHAKE_BYTES or not self._fill():
                raise WebSocketError("the server's answer to the websocket handshake was cut off or too long")
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        self.buffer = bytearray(rest)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        answer: dict[str, str] = {}
        for line in header_lines:
            name, _, value = line.partition(":")
            name = name.strip().lower()
            answer[name] = f"{answer[name]}, {value.strip()}" if name in answer else value.strip()
        if status_line.split(" ", 2)[1:2] != ["101"]:
            raise HandshakeError(status_line, self._error_body(answer))
        if answer.get("upgrade", "").lower() != "websocket" or "upgrade" not in answer.get(
                "connection", "").lower():
            raise WebSocketError(f"the server answered 101 without upgrading to websocket: {status_line}")
        if answer.get("sec-websocket-accept") != accept_key(key):
            raise WebSocketError("the server's Sec-WebSocket-Accept does not match our key")

    def _error_body(self, headers: dict[str, str]) -> str:
        """The body of a refused handshake, as far as it comes within the connect timeout."""
        length = int(headers["content-length"]) if headers.get("content-length", "").isdigit() else None
        wanted = min(length if length is not None else MAX_ERROR_BODY_BYTES, MAX_ERROR_BODY_BYTES)
        with contextlib.suppress(OSError):
            while len(self.buffer) < wanted and self._fill():
                pass
        return bytes(self.buffer[:wanted]).decode("utf-8", errors="replace").strip()

    def _read_frame(self) -> tuple[bool, int, bytes]:
        """(final, opcode, unmasked payload) of the next frame."""
        first, second = self._read_exactly(2)
        if first & 0x70:
            raise WebSocketError("a frame uses reserved bits, but no extension was negotiated")
        length = second & 0x7F
        if length == 126:
            (length,) = struct.unpack(">H", self._read_exactly(2))
        elif length == 127:
            (length,) = struct.unpack(">Q", self._read_exactly(8))
        if length > MAX_MESSAGE_BYTES:
            raise WebSocketError(f"a {length}-byte frame is larger than {MAX_MESSAGE_BYTES} bytes")
        mask = self._read_exactly(4) if second & 0x80 else b""  # servers must not mask; tolerated
        payload = self._read_exactly(length)
        return bool(first & 0x80), first & 0x0F, apply_mask(payload, mask) if mask else payload

    def receive(self) -> tuple[int, bytes]:
        """The next whole message as (TEXT or BINARY, bytes). Pings are answered on the way; a close frame
        is answered and raises :class:`ConnectionClosed`, as does a dropped connection."""
        with self.receive_lock:
            return self._receive()

    def _receive(self) -> tuple[int, bytes]:
        message_opcode: int | None = None
        fragments: list[bytes] = []
        size = 0
        while True:
            final, opcode, payload = self._read_frame()
            if opcode >= CLOSE:  # control frames may come between the fragments of a message
                if not final or len(payload) > 125:
                    raise WebSocketError("a control frame was fragmented or longer than 125 bytes")
                if opcode == PING:
                    with contextlib.suppress(ConnectionClosed):
                        self._send_frame(PONG, payload)
                elif opcode == CLOSE:
                    self._closed_by_peer(payload)
                elif opcode != PONG:
                    raise WebSocketError(f"unknown control opcode {opcode:#x}")
                continue
            if opcode == CONTINUATION:
                if message_opcode is None:
                    raise WebSocketError("a continuation frame came without a message to continue")
            elif opcode in (TEXT, BINARY):
                if message_opcode is not None:
                    raise WebSocketError("a new message started before the previous one ended")
                message_opcode = opcode
            else:
                raise WebSocketError(f"unknown data opcode {opcode:#x}")
            fragments.append(payload)
            size += len(payload)
            if size > MAX_MESSAGE_BYTES:
                raise WebSocketError(f"a message is larger than {MAX_MESSAGE_BYTES} bytes")
            if final:
                return message_opcode, b"".join(fragments)

    def _closed_by_peer(self, payload: bytes) -> None:
        """Echoes the close (unless ours started it), then raises: nothing may be read after a close."""
        code = struct.unpack(">H", payload[:2])[0] if len(payload) >= 2 else NORMAL_CLOSURE
        reason = payload[2:].decode("utf-8", errors="replace")
        self.peer_closed.set()
        with contextlib.suppress(OSError, ConnectionClosed):
            self._send_frame(CLOSE, struct.pack(">H", code if len(payload) >= 2 else NORMAL_CLOSURE))
        raise ConnectionClosed(code, reason)

    # --- writing -------------------------------------------------------------------------------------------
    def _send_frame(self, opcode: int, payload: bytes, *, lock_timeout: float = -1) -> None:
        frame = encode_frame(opcode, payload, os.urandom(4))
        if not self.send_lock.acquire(timeout=lock_timeout):
            raise ConnectionClosed(ABNORMAL_CLOSURE, "another send is stuck")
        try:
            if self.close_sent:
                raise ConnectionClosed(NORMAL_CLOSURE, "this side already sent its close frame")
            if opcode == CLOSE:
                self.close_sent = True
            self.connection.sendall(frame)
        finally:
            self.send_lock.release()

    def send_text(self, text: str) -> None:
        self._send_frame(TEXT, text.encode())

    def send_binary(self, data: bytes) -> None:
        self._send_frame(BINARY, data)

    def ping(self, data: bytes = b"") -> None:
        self._send_frame(PING, data)

    # --- closing -------------------------------------------------------------------------------------------
    def close(self, code: int = NORMAL_CLOSURE, reason: str = "", timeout: float = 1.0) -> None:
        """The close handshake: our close frame, up to ``timeout`` for the other side's, then the socket is
        shut, which also wakes a thread blocked in :meth:`receive`. Safe to call twice and from any thread."""
        if self.shut:
            return
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError, ConnectionClosed):
            # A send stuck on a peer that stopped reading must not stop us: the shutdown below ends it.
            self._send_frame(CLOSE, struct.pack(">H", code) + reason.encode()[:123], lock_timeout=timeout)
        if self.receive_lock.acquire(blocking=False):  # nobody else reads: wait for the answer ourselves
            try:
                while not self.peer_closed.is_set() and (remaining := deadline - time.monotonic()) > 0:
                    self.connection.settimeout(remaining)
                    self._receive()
            except (OSError, WebSocketError):
                pass
            finally:
                self.receive_lock.release()
        else:  # the reading thread sees the answer
            self.peer_closed.wait(max(0.0, deadline - time.monotonic()))
        self.shut = True
        with contextlib.suppress(OSError):
            # socket.socket's own shutdown: SSLSocket's would drop its TLS state under a thread still reading.
            socket.socket.shutdown(self.connection, socket.SHUT_RDWR)
        self.connection.close()
