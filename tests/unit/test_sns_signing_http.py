"""HTTP/S delivery of signed SNS messages to a real local server, and AWS's retry schedule."""

from __future__ import annotations

import datetime
import ipaddress
import json
import ssl
import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.cloud import Cloud
from controller.sns import http_delivery, signing
from controller.sns.http_delivery import deliver_http, outcome, retry_delays
from controller.wsgi import create_app
from tests.unit.harness import Clouds

TOPIC = "arn:aws:sns:home-1:111111111111:orders"
SUBSCRIPTION = TOPIC + ":2bcfbf39-05c3-41de-beaa-fcfcc21c8f55"


class Receiver(ThreadingHTTPServer):
    """A local endpoint that records every POST and answers ``status``."""

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.received: list[tuple[str, dict[str, str], bytes]] = []
        self.status = 200

    @property
    def url(self) -> str:
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.server.received.append((self.path, dict(self.headers.items()), body))
        self.send_response(self.server.status)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[[ssl.SSLContext | None], Receiver]]:
    """Starts receivers (HTTPS with a TLS context), stopped after the test."""
    started: list[Receiver] = []

    def start(context: ssl.SSLContext | None = None) -> Receiver:
        server = Receiver()
        if context is not None:
            server.socket = context.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def receiver(serve: Callable[[ssl.SSLContext | None], Receiver]) -> Receiver:
    return serve(None)


@pytest.fixture
def cloud(clouds: Clouds) -> Cloud:
    return clouds.vpc().cloud


def test_a_notification_is_posted_with_awss_headers_and_verifies(cloud: Cloud, receiver: Receiver) -> None:
    document = signing.sign(cloud, {"Type": "Notification", "MessageId": "22b80b92", "TopicArn": TOPIC,
                                    "Subject": "Hé", "Message": "line 1\nline 2 \u2603",
                                    "Timestamp": "2012-05-02T00:54:06.655Z"}, "2")
    status = deliver_http(cloud, receiver.url + "/sns?x=1", document,
                          {"x-amz-sns-subscription-arn": SUBSCRIPTION}, 5.0)
    assert status == 200
    [(path, headers, body)] = receiver.received
    assert path == "/sns?x=1"
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == "22b80b92"
    assert headers["x-amz-sns-topic-arn"] == TOPIC
    assert headers["x-amz-sns-subscription-arn"] == SUBSCRIPTION
    assert headers["Content-Type"] == "text/plain; charset=UTF-8"
    assert headers["User-Agent"] == "Amazon Simple Notification Service Agent"
    received = json.loads(body.decode("utf-8"))
    assert received == document
    certificate = create_app(cloud).test_client().get(
        received["SigningCertURL"].removeprefix(cloud.config.endpoint_url)).data
    assert signing.verify(received, certificate)


def test_raw_delivery_posts_the_message_itself_and_userinfo_becomes_basic_auth(cloud: Cloud,
                                                                                receiver: Receiver) -> None:
    endpoint = receiver.url.replace("http://", "http://user:p%40ss@")
    assert deliver_http(cloud, endpoint, "just the message", {"x-amz-sns-rawdelivery": "true"}, 5.0) == 200
    [(_, headers, body)] = receiver.received
    assert body == b"just the message"
    assert headers["x-amz-sns-rawdelivery"] == "true"
    assert headers["Authorization"] == "Basic dXNlcjpwQHNz"  # user:p@ss


def test_statuses_and_failures_map_to_awss_outcomes(cloud: Cloud, receiver: Receiver) -> None:
    receiver.status = 503
    assert deliver_http(cloud, receiver.url, {"Type": "Notification"}, {}, 5.0) == 503
    receiver.status = 404
    assert deliver_http(cloud, receiver.url, {"Type": "Notification"}, {}, 5.0) == 404
    closed = receiver.url.rsplit(":", 1)[0] + ":1"
    assert deliver_http(cloud, closed, {"Type": "Notification"}, {}, 2.0) == 0
    assert deliver_http(cloud, "ftp://127.0.0.1/", {"Type": "Notification"}, {}, 2.0) == 0
    assert [outcome(s) for s in (200, 204, 0, 101, 500, 503, 400, 404, 301)] == [
        "delivered", "delivered", "retry", "retry", "retry", "retry", "failed", "failed", "failed"]


def test_https_endpoints_must_present_a_trusted_certificate(clouds: Clouds, tmp_path: Path,
                                                            serve: Callable[[ssl.SSLContext | None], Receiver]) -> None:
    cert_file, key_file = _server_certificate(tmp_path)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    receiver = serve(context)
    untrusting = clouds.vpc().cloud
    assert deliver_http(untrusting, receiver.url, {"Type": "Notification"}, {}, 5.0) == 0
    assert receiver.received == []
    trusting = clouds.vpc(sns_https_ca_bundle=str(cert_file)).cloud
    assert deliver_http(trusting, receiver.url, {"Type": "Notification"}, {}, 5.0) == 200
    assert len(receiver.received) == 1


def test_send_confirmation_posts_a_signed_subscription_confirmation(cloud: Cloud, receiver: Receiver) -> None:
    subscription = {"subscription_arn": SUBSCRIPTION, "topic_arn": TOPIC, "endpoint": receiver.url + "/hook",
                    "token": "a" * 64, "account_id": "111111111111", "raw": True, "signature_version": "2"}
    assert http_delivery.send_confirmation(cloud, subscription) == 200
    [(path, headers, body)] = receiver.received
    document = json.loads(body)
    assert path == "/hook" and headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    assert "x-amz-sns-subscription-arn" not in headers
    assert [document[k] for k in ("Type", "Token", "TopicArn", "SignatureVersion")] == [
        "SubscriptionConfirmation", "a" * 64, TOPIC, "2"]
    assert "Action=ConfirmSubscription" in document["SubscribeURL"]
    certificate = create_app(cloud).test_client().get(
        document["SigningCertURL"].removeprefix(cloud.config.endpoint_url)).data
    assert signing.verify(document, certificate)


@pytest.mark.parametrize(("policy", "expected"), [
    # DeliveryPolicies.html: the default, 3 retries 20 seconds apart
    ({}, [20.0, 20.0, 20.0]),
    # ... and with a maximum delay of 40 s, linear: 20, 30, 40
    ({"maxDelayTarget": 40}, [20.0, 30.0, 40.0]),
    ({"numRetries": 0}, []),
    ({"numRetries": 5, "numNoDelayRetries": 2, "numMinDelayRetries": 1, "numMaxDelayRetries": 2,
      "minDelayTarget": 5, "maxDelayTarget": 9}, [0.0, 0.0, 5.0, 9.0, 9.0]),
    ({"numRetries": 4, "numNoDelayRetries": 1, "minDelayTarget": 10, "maxDelayTarget": 10}, [0.0, 10.0, 10.0, 10.0]),
])
def test_retry_schedule_follows_the_documented_phases(policy: dict, expected: list[float]) -> None:
    assert retry_delays(policy) == expected


def test_the_documented_sample_policy_makes_fifty_retries() -> None:
    # sns-message-delivery-retries.html: 3 at once, 2 a second apart, 10 backing off from 1 to 60 s, 35 at 60 s
    delays = retry_delays({"minDelayTarget": 1, "maxDelayTarget": 60, "numRetries": 50, "numNoDelayRetries": 3,
                           "numMinDelayRetries": 2, "numMaxDelayRetries": 35, "backoffFunction": "exponential"})
    assert len(delays) == 50
    assert delays[:5] == [0.0, 0.0, 0.0, 1.0, 1.0]
    backoff = delays[5:15]
    assert backoff[0] == 1.0 and backoff[-1] == 60.0
    assert all(a < b for a, b in zip(backoff, backoff[1:], strict=False))
    assert delays[15:] == [60.0] * 35


@pytest.mark.parametrize("function", ["linear", "arithmetic", "geometric", "exponential"])
def test_every_backoff_function_climbs_from_the_minimum_to_the_maximum(function: str) -> None:
    delays = retry_delays({"minDelayTarget": 5, "maxDelayTarget": 260, "numRetries": 10,
                           "backoffFunction": function})
    assert delays[0] == 5.0 and delays[-1] == 260.0
    assert all(a < b for a, b in zip(delays, delays[1:], strict=False))


def test_no_policy_retries_past_an_hour() -> None:
    delays = retry_delays({"minDelayTarget": 3600, "maxDelayTarget": 3600, "numRetries": 100})
    assert delays == [3600.0]
    assert sum(retry_delays({"minDelayTarget": 60, "maxDelayTarget": 120, "numRetries": 100})) <= 3600


def _server_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, as a home lab's endpoint might use."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "server.pem", directory / "server.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file
