"""The canned-answer server: the limit of a benchmark's own harness.

It answers every request with one fixed, recorded response (status, headers, body) and does no other work,
so what a set of clients reaches against it is what those clients can drive on this machine at all. A
server under test is judged against that limit as well as against its peer: on 2 cores, 8 boto3 processes
take most of the CPU themselves.

It runs in a process of its own (asyncio: one thread, no framework), with HTTP/1.1 keep-alive and
``Expect: 100-continue`` (boto3 sends it with S3 PUT bodies). :func:`recorder` captures the response to
replay from a real server through botocore's own ``after-call`` event, so the canned answer is exactly one
the clients parse.
"""

from __future__ import annotations

import asyncio
import io
import multiprocessing
from collections.abc import Callable
from typing import Any

from botocore.response import StreamingBody
from common import free_port, wait_for_port

#: Headers that describe one connection or moment, not the answer: the canned server writes its own.
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "date"}


def encode(status: int, headers: dict[str, str], body: bytes) -> bytes:
    """A complete HTTP/1.1 response with a Content-Length (keep-alive)."""
    lines = [f"HTTP/1.1 {status} Canned"]
    lines += [f"{name}: {value}" for name, value in headers.items() if name.lower() not in HOP_BY_HOP]
    lines.append(f"Content-Length: {len(body)}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


def recorder() -> tuple[dict[str, bytes], Callable[..., None]]:
    """(the last response seen, a botocore ``after-call`` handler that records it as bytes to replay)."""
    seen: dict[str, bytes] = {}

    def record(http_response: Any, parsed: dict[str, Any], **_: Any) -> None:
        content = http_response.content  # reads a streamed body (S3 GET): the caller gets a copy of it
        seen["response"] = encode(http_response.status_code, dict(http_response.headers), content)
        if isinstance(parsed.get("Body"), StreamingBody):
            parsed["Body"] = StreamingBody(io.BytesIO(content), len(content))

    return seen, record


async def _answer(response: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            length, expect = 0, False
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                name = name.strip().lower()
                if name == b"content-length":
                    length = int(value)
                elif name == b"expect" and value.strip().lower() == b"100-continue":
                    expect = True
            if expect:
                writer.write(b"HTTP/1.1 100 Continue\r\n\r\n")
            if length:
                await reader.readexactly(length)
            writer.write(response)
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError):
        pass
    finally:
        writer.close()


def _serve(port: int, response: bytes) -> None:
    async def main() -> None:
        server = await asyncio.start_server(lambda r, w: _answer(response, r, w), "127.0.0.1", port, backlog=256)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


class CannedServer:
    """A canned-answer server process on a loopback port, replaying ``response`` to every request."""

    def __init__(self, response: bytes) -> None:
        self.port = free_port()
        self.process = multiprocessing.get_context("fork").Process(target=_serve, args=(self.port, response),
                                                                    daemon=True)
        self.process.start()
        wait_for_port(self.port)
        self.endpoint = f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        self.process.terminate()
        self.process.join(timeout=10)
