"""The API relay in a real namespace: TLS with the cloud's certificate, plain HTTP, bodies streamed both
ways in either framing, Expect: 100-continue, keep-alive, and the trusted headers (a client's forged ones
dropped). The controller is a stand-in that echoes what it got; curl is the client, run in the namespace."""

from __future__ import annotations

import hashlib
import http.client
import http.server
import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.network import netns
from agent.network.api_relay import ApiRelay, RelayListener, TlsPair
from controller.hosts import api_tls
from tests.prerequisites import missing_root, require

require(missing_root(), "network namespace tests")
pytestmark = pytest.mark.root

ADDRESS = "203.0.113.2"
BIG = 5 * 1024 * 1024 + 17


class Echo(http.server.BaseHTTPRequestHandler):
    """Answers every request with what arrived: headers, body length and digest; GET /big streams BIG bytes."""

    protocol_version = "HTTP/1.1"

    def _any(self) -> None:
        if self.path.startswith(("/deny", "/drop")):
            self._refuse_or_drop()
            return
        if self.path.startswith("/big"):
            self.send_response(200)
            chunked = "chunked" in self.path
            self.send_header("Transfer-Encoding" if chunked else "Content-Length", "chunked" if chunked else str(BIG))
            self.end_headers()
            block, left = b"x" * 65536, BIG
            while left:
                piece = block[:min(left, len(block))]
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece) if chunked else piece)
                left -= len(piece)
            if chunked:
                self.wfile.write(b"0\r\n\r\n")
            return
        body = self._body()
        answer = json.dumps({"method": self.command, "path": self.path, "headers": dict(self.headers.items()),
                             "length": len(body), "sha256": hashlib.sha256(body).hexdigest()}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(answer)

    def _refuse_or_drop(self) -> None:
        """What the controller's server does with a request refused before its body is read: an early 403
        with the body left in the stream (cheroot drains only a known length), or with the connection
        closed (/deny-close); /drop answers and then closes without saying so, as an idle timeout does."""
        denied = self.path.startswith("/deny")
        self.send_response(403 if denied else 200)
        self.send_header("Content-Length", "2")
        if self.path != "/deny":
            self.close_connection = True
            if denied:
                self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(b"no" if denied else b"ok")

    def _body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            data = b""
            while size := int(self.rfile.readline().split(b";")[0], 16):
                data += self.rfile.read(size)
                self.rfile.readline()
            while self.rfile.readline() not in (b"\r\n", b""):
                pass
            return data
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _any  # noqa: N815

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def relay_lab(tmp_path: Path) -> Iterator[dict[str, Any]]:
    ns = f"cl-t-relay-{uuid.uuid4().hex[:5]}"
    netns.create(ns)
    upstream = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()
    material = api_tls.material(tmp_path, "home-1", "amazonaws.com")
    (tmp_path / "ca.pem").write_text(material.ca)
    relay = ApiRelay(f"http://127.0.0.1:{upstream.server_port}", "agents-token",
                     tls=lambda: TlsPair(material.certificate_chain, material.private_key))
    try:
        subprocess.run(["ip", "-n", ns, "link", "set", "lo", "up"], check=True)
        # Bound before the address exists (IP_FREEBIND), as when the dataplane has not put it there yet.
        relay.update([RelayListener(ns, ADDRESS, "internet", "vpc-1")])
        subprocess.run(["ip", "-n", ns, "addr", "add", f"{ADDRESS}/32", "dev", "lo"], check=True)
        yield {"ns": ns, "relay": relay, "ca": tmp_path / "ca.pem", "tmp": tmp_path}
    finally:
        relay.close()
        upstream.shutdown()
        upstream.server_close()
        netns.remove(ns)


def curl(lab: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", "netns", "exec", lab["ns"], "curl", "-sS", "--max-time", "20",
                           "--resolve", f"photos.s3.home-1.amazonaws.com:443:{ADDRESS}",
                           "--resolve", f"sts.home-1.amazonaws.com:443:{ADDRESS}",
                           "--resolve", f"evil.example.com:443:{ADDRESS}", "--cacert", str(lab["ca"]), *args],
                          capture_output=True, text=True, timeout=30)


def test_https_relays_with_trusted_headers_and_drops_forged_ones(relay_lab: dict[str, Any]) -> None:
    done = curl(relay_lab, "-H", "X-Cloudlet-Source-Ip: 1.2.3.4", "-H", "X-Cloudlet-Relay-Token: mine",
                "-H", "X-Forwarded-Proto: http", "https://sts.home-1.amazonaws.com/?Action=GetCallerIdentity")
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert seen["path"] == "/?Action=GetCallerIdentity"
    assert headers["host"] == "sts.home-1.amazonaws.com"
    assert headers["x-cloudlet-relay-token"] == "agents-token"
    assert headers["x-cloudlet-source-ip"] == ADDRESS  # curl's own address in the namespace
    assert headers["x-cloudlet-source-vpc"] == "vpc-1" and headers["x-cloudlet-via"] == "internet"
    assert headers["x-forwarded-proto"] == "https"
    assert sum(k.lower() == "x-cloudlet-source-ip" for k in seen["headers"]) == 1


def test_the_certificate_names_only_the_service_names(relay_lab: dict[str, Any]) -> None:
    done = curl(relay_lab, "https://evil.example.com/")
    assert done.returncode == 60, done.stderr  # curl: peer certificate cannot be authenticated


def test_plain_http_on_80(relay_lab: dict[str, Any]) -> None:
    done = curl(relay_lab, "-H", "Host: sqs.home-1.amazonaws.com", f"http://{ADDRESS}/queue")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["headers"]["X-Forwarded-Proto"] == "http"


def test_bodies_stream_both_ways_in_either_framing_with_keep_alive(relay_lab: dict[str, Any]) -> None:
    payload = relay_lab["tmp"] / "payload"
    payload.write_bytes(bytes(range(256)) * (BIG // 256) + b"tail")
    digest = hashlib.sha256(payload.read_bytes()).hexdigest()
    url = "https://photos.s3.home-1.amazonaws.com/key"
    # A large PUT: curl sends Expect: 100-continue and waits for the relay's 100 before the body.
    done = curl(relay_lab, "-v", "-T", str(payload), url)
    assert done.returncode == 0, done.stderr
    assert "Expect: 100-continue" in done.stderr and "HTTP/1.1 100 Continue" in done.stderr
    seen = json.loads(done.stdout)
    assert (seen["method"], seen["length"], seen["sha256"]) == ("PUT", payload.stat().st_size, digest)
    chunked = curl(relay_lab, "-T", str(payload), "-H", "Transfer-Encoding: chunked", url)
    assert json.loads(chunked.stdout)["sha256"] == digest, chunked.stderr
    # Two downloads on one connection (curl reuses it), one of each framing, bodies intact.
    out_a, out_b = relay_lab["tmp"] / "a", relay_lab["tmp"] / "b"
    done = curl(relay_lab, "-v", "-o", str(out_a), f"{url.rsplit('/', 1)[0]}/big",
                "-o", str(out_b), f"{url.rsplit('/', 1)[0]}/big-chunked")
    assert done.returncode == 0, done.stderr
    assert "Re-using existing connection" in done.stderr or "Reusing existing" in done.stderr
    assert out_a.stat().st_size == BIG and out_b.stat().st_size == BIG
    head = curl(relay_lab, "-I", f"{url.rsplit('/', 1)[0]}/small")
    assert head.returncode == 0 and "200" in head.stdout.splitlines()[0], head.stderr


def test_update_closes_listeners_that_are_gone(relay_lab: dict[str, Any]) -> None:
    relay_lab["relay"].update([])
    done = curl(relay_lab, "--connect-timeout", "2", "https://sts.home-1.amazonaws.com/")
    assert done.returncode == 7, done.stderr  # connection refused: nothing listens any more


def test_a_malformed_length_is_refused_with_400(relay_lab: dict[str, Any]) -> None:
    def ask() -> bytes:
        with socket.create_connection((ADDRESS, 80), timeout=5) as conn:
            conn.sendall(b"PUT /k HTTP/1.1\r\nHost: s3.home-1.amazonaws.com\r\nContent-Length: ten\r\n\r\n")
            return conn.recv(4096)

    assert netns.run_inside(relay_lab["ns"], ask).startswith(b"HTTP/1.1 400 ")


def _exchange(lab: dict[str, Any], requests: list[tuple[str, str, bytes | None, dict[str, str]]]) -> list[Any]:
    """Send ``requests`` on ONE client connection to the relay (http.client, as botocore), inside the
    namespace; each answer is (status, body, same connection as the first)."""

    def run() -> list[Any]:
        conn = http.client.HTTPConnection(ADDRESS, 80, timeout=20)
        answers, first = [], None
        try:
            for method, path, body, headers in requests:
                conn.request(method, path, body=body, headers={"Host": "photos.s3.home-1.amazonaws.com", **headers},
                             encode_chunked="Transfer-Encoding" in headers)
                first = first or conn.sock
                response = conn.getresponse()
                answers.append((response.status, response.read(), conn.sock is first))
        finally:
            conn.close()
        return answers

    return netns.run_inside(lab["ns"], run)


def _chunks(data: bytes, size: int = 65536) -> Iterator[bytes]:
    for at in range(0, len(data), size):
        yield data[at:at + size]


def test_an_early_refusal_leaves_both_connections_in_step(relay_lab: dict[str, Any]) -> None:
    """boto3's PutObject over HTTPS: chunked with Expect: 100-continue; the controller refuses it before
    reading the body. The client gets the 403 and its next request on the same connection works."""
    body = bytes(range(256)) * 4096  # 1 MiB
    expect = {"Expect": "100-continue"}
    answers = _exchange(relay_lab, [
        ("PUT", "/deny", _chunks(body), {**expect, "Transfer-Encoding": "chunked"}),  # type: ignore[list-item]
        ("GET", "/after-chunked", None, {}),
        ("PUT", "/deny-close", body * 4, expect),  # a known length, and the controller closes: send fails
        ("GET", "/after-close", None, {}),
    ])
    assert [status for status, _, _ in answers] == [403, 200, 403, 200]
    assert answers[0][1] == b"no" and json.loads(answers[3][1])["path"] == "/after-close"
    assert all(same for _, _, same in answers), "the client's connection was closed"


def test_a_connection_the_controller_closed_while_idle_is_replaced(relay_lab: dict[str, Any]) -> None:
    answers = _exchange(relay_lab, [("GET", "/drop", None, {}), ("PUT", "/next", b"payload", {})])
    assert [status for status, _, _ in answers] == [200, 200]
    assert json.loads(answers[1][1])["length"] == len(b"payload")


@pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")  # an address, not a name in the cert
def test_with_the_real_controller_a_denied_put_leaves_the_connection_usable(relay_lab: dict[str, Any]) -> None:
    """boto3 through the relay to the real controller (cheroot): a bucket policy denies a 6 MB PutObject (sent
    chunked with Expect: 100-continue; the controller answers 403 and closes before taking it all), and the
    client gets the 403 and the GetObject that follows on the same pooled connection still works."""
    import boto3
    import botocore.config
    import botocore.exceptions

    from controller.cloud import Cloud
    from controller.config import Config
    from controller.server import HttpServer
    from controller.wsgi import create_app

    cloud = Cloud(Config(data_dir=relay_lab["tmp"] / "cloud"))
    account = cloud.credentials.create_account("owner", "owner@example.com", is_management=True)
    key, secret = cloud.credentials.create_root_key(account)
    server = HttpServer(create_app(cloud), "127.0.0.1", 0, threads=4)
    server.start()
    relay = ApiRelay(f"http://127.0.0.1:{server.port}", "agents-token", tls=relay_lab["relay"].tls, https_port=8443,
                     http_port=8080)
    relay.update([RelayListener(relay_lab["ns"], ADDRESS, "internet")])
    deny_put = json.dumps({"Version": "2012-10-17", "Statement": [{"Effect": "Deny", "Principal": "*",
                                                                    "Action": "s3:PutObject",
                                                                    "Resource": "arn:aws:s3:::photos/*"}]})

    def client_calls() -> tuple[str, bytes]:
        s3 = boto3.session.Session(aws_access_key_id=key, aws_secret_access_key=secret, region_name="home-1").client(
            "s3", endpoint_url=f"https://{ADDRESS}:8443", verify=False,
            config=botocore.config.Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}))
        s3.create_bucket(Bucket="photos")
        s3.put_object(Bucket="photos", Key="kept", Body=b"before the policy")
        s3.put_bucket_policy(Bucket="photos", Policy=deny_put)
        try:
            s3.put_object(Bucket="photos", Key="denied", Body=b"x" * 6_000_000)
            code = "allowed"
        except botocore.exceptions.ClientError as exc:
            code = exc.response["Error"]["Code"]
        return code, s3.get_object(Bucket="photos", Key="kept")["Body"].read()

    try:
        assert netns.run_inside(relay_lab["ns"], client_calls) == ("AccessDenied", b"before the policy")
    finally:
        relay.close()
        server.stop()
        cloud.close()
