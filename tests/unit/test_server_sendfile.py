"""Bodies that are ranges of local files leave the controller's HTTP server through sendfile(2), with the
same bytes a read would give; any other body, or one whose Content-Length disagrees, is iterated."""

from __future__ import annotations

import http.client
import os
import socket
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from controller.protocol.file_body import FileRanges
from controller.server import HttpServer

Body = Callable[[], FileRanges]


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    first, second = tmp_path / "first", tmp_path / "second"
    first.write_bytes(os.urandom(3 << 20))
    second.write_bytes(os.urandom(100_000))
    return first, second


@pytest.fixture
def sendfile_calls(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    original = socket.socket.sendfile

    def counting(self: socket.socket, file: Any, offset: int = 0, count: int | None = None) -> int:
        calls.append(count or 0)
        return original(self, file, offset, count)

    monkeypatch.setattr(socket.socket, "sendfile", counting)
    return calls


@contextmanager
def serve(body: Body, declared: Callable[[FileRanges], int | None]) -> Iterator[http.client.HTTPConnection]:
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> FileRanges:
        made = body()
        length = declared(made)
        start_response("200 OK", [] if length is None else [("Content-Length", str(length))])
        return made

    server = HttpServer(app, "127.0.0.1", 0, 2)
    server.start()
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        yield connection
    finally:
        connection.close()
        server.stop()


def total(made: FileRanges) -> int:
    return sum(length for _, _, length in made.file_ranges)


def get(connection: http.client.HTTPConnection) -> bytes:
    connection.request("GET", "/")
    return connection.getresponse().read()


def test_ranges_of_several_files_are_sent_by_the_kernel_in_order(files: tuple[Path, Path],
                                                                 sendfile_calls: list[int]) -> None:
    first, second = files
    opened: list[FileRanges] = []

    def body() -> FileRanges:
        opened.append(FileRanges([(first.open("rb"), 1000, 2 << 20), (second.open("rb"), 0, 100_000)]))
        return opened[-1]

    with serve(body, total) as connection:
        assert get(connection) == first.read_bytes()[1000:1000 + (2 << 20)] + second.read_bytes()
        assert get(connection) == first.read_bytes()[1000:1000 + (2 << 20)] + second.read_bytes()  # kept alive
    assert sendfile_calls == [2 << 20, 100_000] * 2
    assert all(handle.closed for made in opened for handle, _, _ in made.file_ranges)


def test_a_body_without_its_length_is_iterated_not_sent_by_the_kernel(files: tuple[Path, Path],
                                                                       sendfile_calls: list[int]) -> None:
    first, _ = files

    def body() -> FileRanges:
        return FileRanges([(first.open("rb"), 10, 100)])

    with serve(body, lambda made: None) as connection:  # cheroot sends it chunked
        assert get(connection) == first.read_bytes()[10:110]
    assert sendfile_calls == []


def test_a_file_shorter_than_its_range_cuts_the_connection(files: tuple[Path, Path]) -> None:
    _, second = files

    def body() -> FileRanges:
        return FileRanges([(second.open("rb"), 0, 200_000)])

    with serve(body, total) as connection:
        connection.request("GET", "/")
        with pytest.raises(http.client.IncompleteRead):
            connection.getresponse().read()


def test_iterating_reads_the_same_bytes_and_closes_the_files(files: tuple[Path, Path]) -> None:
    first, second = files
    made = FileRanges([(second.open("rb"), 99_990, 10), (first.open("rb"), 0, (1 << 20) + 5)])
    assert b"".join(made) == second.read_bytes()[-10:] + first.read_bytes()[:(1 << 20) + 5]
    assert all(handle.closed for handle, _, _ in made.file_ranges)
