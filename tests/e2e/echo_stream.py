"""One TCP connection held open to an echo server, a numbered line every interval; run inside a namespace.

``python -m tests.e2e.echo_stream HOST PORT [INTERVAL]`` connects (retrying while the server boots), says
``connected`` on stdout, then sends ``<n>\\n`` and waits for that line to come back before the next one. When
its stdin closes it prints one JSON line: lines echoed, the longest gap between two echoes (seconds: the
outage a live migration caused, plus one interval), and the error that ended the stream early, if any.
The same connection throughout: a reconnect would hide a lost connection, so there is none.
"""

from __future__ import annotations

import json
import select
import socket
import sys
import time

CONNECT_TIMEOUT = 180.0
#: How long one line may take to come back before the stream counts as broken (TCP retransmits in between).
ECHO_TIMEOUT = 60.0


def connect(host: str, port: int) -> socket.socket:
    deadline = time.monotonic() + CONNECT_TIMEOUT
    while True:
        try:
            return socket.create_connection((host, port), timeout=2)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.5)


def stream(sock: socket.socket, interval: float) -> dict[str, object]:
    sock.settimeout(ECHO_TIMEOUT)
    reader = sock.makefile("r")
    echoed, longest, last = 0, 0.0, time.monotonic()
    error = ""
    while not select.select([sys.stdin], [], [], interval)[0]:
        try:
            sock.sendall(f"{echoed}\n".encode())
            line = reader.readline()
        except OSError as exc:
            error = f"{type(exc).__name__}: {exc}"
            break
        if line.strip() != str(echoed):
            error = f"expected {echoed}, got {line.strip()!r}" if line else "the connection was closed"
            break
        now = time.monotonic()
        longest, last, echoed = max(longest, now - last), now, echoed + 1
    return {"echoed": echoed, "longest_gap": round(longest, 3), "error": error}


def main() -> None:
    host, port = sys.argv[1], int(sys.argv[2])
    interval = float(sys.argv[3]) if len(sys.argv) > 3 else 0.1
    sock = connect(host, port)
    print("connected", flush=True)
    print(json.dumps(stream(sock, interval)), flush=True)


if __name__ == "__main__":
    main()
