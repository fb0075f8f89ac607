"""An API worker's relay (controller/workers/relay.py) against a real cheroot server on a Unix socket."""

from __future__ import annotations

import http.client
import json
import socket
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from werkzeug.test import EnvironBuilder

from controller.server import HttpServer
from controller.workers.relay import REPLAYABLE_BODY, Relay

TOKEN = "agents-token"


def primary_app(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
    """Echoes what it was sent; /stream answers in chunks of unknown total length, /cookies twice."""
    body = environ["wsgi.input"].read()
    if environ["PATH_INFO"] == "/stream":
        start_response("200 OK", [("Content-Type", "text/plain")])
        return (f"part {n};".encode() for n in range(1000))
    headers = {name[5:].lower().replace("_", "-"): value for name, value in environ.items()
               if name.startswith("HTTP_")}
    answer = json.dumps({"method": environ["REQUEST_METHOD"], "uri": environ.get("REQUEST_URI"),
                         "headers": headers, "length": len(body), "tail": body[-8:].decode()}).encode()
    extra = [("Set-Cookie", "a=1"), ("Set-Cookie", "b=2")] if environ["PATH_INFO"] == "/cookies" else []
    start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(answer))),
                                   *extra])
    return [answer]


@pytest.fixture
def primary(tmp_path: Path) -> Iterator[str]:
    path = str(tmp_path / "primary.sock")
    server = HttpServer(primary_app, "", 0, 4, unix_path=path)
    server.start()
    yield path
    server.stop()


def relayed(relay: Relay, path: str, *, chunked: bool = False,
            **request: Any) -> tuple[str, list[tuple[str, str]], bytes]:
    environ = EnvironBuilder(path=path, **request).get_environ()
    if chunked:  # as cheroot hands a chunked upload to the application: no length, the input terminated
        del environ["CONTENT_LENGTH"]
        environ.update(HTTP_TRANSFER_ENCODING="chunked", **{"wsgi.input_terminated": True})
    environ["REQUEST_URI"] = environ["RAW_URI"] = path
    environ["REMOTE_ADDR"] = "192.0.2.7"
    seen: dict[str, Any] = {}

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        seen.update(status=status, headers=headers)

    body = b"".join(relay(environ, start_response))
    return seen["status"], seen["headers"], body


def test_the_request_arrives_as_sent_with_the_client_proven_by_the_token(primary: str) -> None:
    relay = Relay(primary, TOKEN)
    status, _, body = relayed(relay, "/a%2Fb?x=1", method="PUT", data=b"payload",
                              headers={"X-Cloudlet-Source-Ip": "10.9.9.9", "X-Amz-Date": "20261206T000000Z"})
    echoed = json.loads(body)
    assert status == "201 Created"
    assert echoed["method"] == "PUT" and echoed["uri"] == "/a%2Fb?x=1" and echoed["tail"] == "payload"
    assert echoed["headers"]["x-amz-date"] == "20261206T000000Z"
    # the client's own claim is dropped: the relay states the address it saw, with the proof
    assert echoed["headers"]["x-cloudlet-source-ip"] == "192.0.2.7"
    assert echoed["headers"]["x-cloudlet-relay-token"] == TOKEN


def test_an_agents_proven_claims_pass_unchanged(primary: str) -> None:
    relay = Relay(primary, TOKEN)
    _, _, body = relayed(relay, "/", headers={"X-Cloudlet-Relay-Token": TOKEN, "X-Cloudlet-Source-Ip": "10.0.1.5",
                                               "X-Cloudlet-Source-Vpc": "vpc-1"})
    headers = json.loads(body)["headers"]
    assert headers["x-cloudlet-source-ip"] == "10.0.1.5" and headers["x-cloudlet-source-vpc"] == "vpc-1"


def test_one_connection_carries_request_after_request(primary: str) -> None:
    relay = Relay(primary, TOKEN)
    for _ in range(5):
        assert relayed(relay, "/", method="POST", data=b"x")[0] == "201 Created"
        assert len(relay._idle) == 1


def test_a_connection_the_primary_closed_is_replaced_without_an_error(tmp_path: Path) -> None:
    path = str(tmp_path / "primary.sock")
    relay = Relay(path, TOKEN)
    for _ in range(2):  # the second server is a restarted primary: the kept connection is dead
        server = HttpServer(primary_app, "", 0, 2, unix_path=path)
        server.start()
        try:
            assert relayed(relay, "/", method="POST", data=b"again")[0] == "201 Created"
        finally:
            server.stop()
            Path(path).unlink(missing_ok=True)


def test_a_request_the_primary_received_is_never_sent_twice(tmp_path: Path) -> None:
    """A primary that dies after reading a request may have acted on it: the relay reports the failure and
    does not send it again (a CreateQueue or a SendMessage would run twice)."""
    path = str(tmp_path / "primary.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    listener.listen()
    received: list[bytes] = []

    def dying_primary() -> None:
        """Answers the first request on a kept-alive connection, then reads the next and dies."""
        while True:
            try:
                connection, _ = listener.accept()
            except OSError:
                return
            with connection, connection.makefile("rb") as reader:
                for answer in (True, False):
                    head = b""
                    while (line := reader.readline()) not in (b"\r\n", b""):
                        head += line
                    if not head:
                        break
                    length = int(head.lower().split(b"content-length:")[1].split(b"\r\n")[0])
                    received.append(reader.read(length))
                    if answer:
                        connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    thread = threading.Thread(target=dying_primary, daemon=True)
    thread.start()
    relay = Relay(path, TOKEN)
    try:
        assert relayed(relay, "/", method="POST", data=b"first")[0] == "200 OK"
        with pytest.raises(http.client.RemoteDisconnected):
            relayed(relay, "/", method="POST", data=b"second")
        assert received == [b"first", b"second"]
    finally:
        listener.close()
        relay.close()


def test_large_and_chunked_bodies_and_streamed_answers(primary: str) -> None:
    relay = Relay(primary, TOKEN)
    large = b"L" * (REPLAYABLE_BODY + 5) + b"the-end!"
    assert json.loads(relayed(relay, "/", method="PUT", data=large)[2])["length"] == len(large)
    echoed = json.loads(relayed(relay, "/", method="PUT", data=b"one,two,three", chunked=True)[2])
    assert echoed["length"] == len(b"one,two,three") and echoed["tail"] == "wo,three"
    status, headers, body = relayed(relay, "/stream")
    assert body == b"".join(f"part {n};".encode() for n in range(1000))
    assert not any(name.lower() == "transfer-encoding" for name, _ in headers)  # the worker's server chunks
    _, headers, _ = relayed(relay, "/cookies")
    assert [value for name, value in headers if name == "Set-Cookie"] == ["a=1", "b=2"]
