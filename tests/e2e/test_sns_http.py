"""SNS to HTTP/S endpoints over the wire: the confirmation handshake, signed notifications, filter policies.

A receiver runs in the test process, as a subscriber's web application would: it records every POST
and, like AWS's sample receivers, visits the SubscribeURL of a SubscriptionConfirmation. Signatures are
checked with the certificate fetched (unsigned) from SigningCertURL, and independently of Cloudlet's
code against the string to sign AWS documents.
"""

from __future__ import annotations

import base64
import datetime
import ipaddress
import json
import ssl
import threading
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from botocore.exceptions import ClientError
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from tests.support import CloudletProcess

Client = Any
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")


class Receiver(ThreadingHTTPServer):
    """A subscriber's endpoint: records POSTs; visits SubscribeURL when ``confirm`` is set."""

    def __init__(self, confirm: bool) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.confirm = confirm
        self.posts: list[tuple[dict[str, str], bytes]] = []
        self.confirm_answers: list[tuple[int, str]] = []
        self.changed = threading.Condition()

    @property
    def url(self) -> str:
        scheme = "https" if isinstance(self.socket, ssl.SSLSocket) else "http"
        return f"{scheme}://127.0.0.1:{self.server_address[1]}/sns-endpoint"

    def wait_for(self, count: int, timeout: float = 15.0) -> list[tuple[dict[str, str], bytes]]:
        with self.changed:
            self.changed.wait_for(lambda: len(self.posts) >= count, timeout=timeout)
            return list(self.posts)

    def of_type(self, message_type: str) -> list[dict[str, Any]]:
        return [json.loads(body) for headers, body in self.posts if headers["x-amz-sns-message-type"] == message_type]


class _Handler(BaseHTTPRequestHandler):
    server: Receiver

    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
        headers = {k.lower(): v for k, v in self.headers.items()}
        if self.server.confirm and headers.get("x-amz-sns-message-type") == "SubscriptionConfirmation":
            with urllib.request.urlopen(json.loads(body)["SubscribeURL"], timeout=10) as answer:
                self.server.confirm_answers.append((answer.status, answer.read().decode()))
        with self.server.changed:
            self.server.posts.append((headers, body))
            self.server.changed.notify_all()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def serve() -> Iterator[Callable[..., Receiver]]:
    started: list[Receiver] = []

    def start(confirm: bool = True, tls: ssl.SSLContext | None = None) -> Receiver:
        server = Receiver(confirm)
        if tls is not None:
            server.socket = tls.wrap_socket(server.socket, server_side=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.shutdown()
        server.server_close()


@pytest.fixture
def sns(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("sns")


@pytest.fixture
def topic(sns: Client) -> Iterator[str]:
    arn = sns.create_topic(Name=f"http-{uuid.uuid4().hex[:8]}")["TopicArn"]
    yield arn
    sns.delete_topic(TopicArn=arn)


def subscribe_and_confirm(sns: Client, topic: str, receiver: Receiver, **attributes: str) -> str:
    pending = sns.subscribe(TopicArn=topic, Protocol=receiver.url.split(":")[0], Endpoint=receiver.url,
                            Attributes=attributes)
    assert pending["SubscriptionArn"] == "pending confirmation"
    [(headers, body)] = receiver.wait_for(1)
    assert headers["x-amz-sns-message-type"] == "SubscriptionConfirmation"
    [(status, answer)] = receiver.confirm_answers
    assert status == 200 and "<ConfirmSubscriptionResult>" in answer
    arn = answer.split("<SubscriptionArn>")[1].split("</SubscriptionArn>")[0]
    assert arn.startswith(topic + ":")
    return arn


def fetch_certificate(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=10) as response:  # unsigned, as a receiver fetches it
        return response.read()


def signature_holds(document: dict[str, Any], certificate: bytes) -> bool:
    """A receiver's own check, by AWS's documented steps (not Cloudlet's code)."""
    fields = NOTIFICATION_FIELDS if document["Type"] == "Notification" else CONFIRMATION_FIELDS
    canonical = "".join(f"{name}\n{document[name]}\n" for name in fields if name in document).encode()
    digest = {"1": hashes.SHA1, "2": hashes.SHA256}[document["SignatureVersion"]]()
    key = x509.load_pem_x509_certificate(certificate).public_key()
    try:
        key.verify(base64.b64decode(document["Signature"]), canonical, padding.PKCS1v15(), digest)
    except Exception:
        return False
    return True


def test_confirmation_handshake_then_signed_notifications(sns: Client, topic: str,
                                                          serve: Callable[..., Receiver]) -> None:
    receiver = serve()
    subscription = subscribe_and_confirm(sns, topic, receiver)
    confirmation = receiver.of_type("SubscriptionConfirmation")[0]
    assert confirmation["TopicArn"] == topic and confirmation["Message"].startswith(
        f"You have chosen to subscribe to the topic {topic}.")
    assert signature_holds(confirmation, fetch_certificate(confirmation["SigningCertURL"]))
    attributes = sns.get_subscription_attributes(SubscriptionArn=subscription)["Attributes"]
    assert attributes["PendingConfirmation"] == "false" and attributes["Endpoint"] == receiver.url

    published = sns.publish(TopicArn=topic, Subject="Greetings", Message="Hello\nworld \u2603",
                            MessageAttributes={"kind": {"DataType": "String", "StringValue": "greeting"}})
    posts = receiver.wait_for(2)
    headers, body = posts[1]
    assert headers["x-amz-sns-message-type"] == "Notification"
    assert headers["x-amz-sns-message-id"] == published["MessageId"]
    assert headers["x-amz-sns-topic-arn"] == topic
    assert headers["x-amz-sns-subscription-arn"] == subscription
    assert headers["content-type"] == "text/plain; charset=UTF-8"
    assert headers["user-agent"] == "Amazon Simple Notification Service Agent"
    notification = json.loads(body)
    assert notification["Message"] == "Hello\nworld \u2603" and notification["Subject"] == "Greetings"
    assert notification["MessageAttributes"] == {"kind": {"Type": "String", "Value": "greeting"}}
    assert notification["SignatureVersion"] == "1"
    certificate = fetch_certificate(notification["SigningCertURL"])
    assert signature_holds(notification, certificate)
    assert not signature_holds({**notification, "Message": "Hello world"}, certificate)

    sns.set_topic_attributes(TopicArn=topic, AttributeName="SignatureVersion", AttributeValue="2")
    sns.publish(TopicArn=topic, Message="signed with SHA256")
    second = json.loads(receiver.wait_for(3)[2][1])
    assert second["SignatureVersion"] == "2" and signature_holds(second, certificate)


def test_filter_policies_and_raw_delivery_over_http(sns: Client, topic: str, serve: Callable[..., Receiver]) -> None:
    receiver = serve()
    policy = {"store": ["example_corp"], "price_usd": [{"numeric": [">=", 100]}],
              "customer_interests": ["rugby", "football"]}
    subscription = subscribe_and_confirm(sns, topic, receiver, FilterPolicy=json.dumps(policy))

    def publish(message: str, **attributes: tuple[str, str]) -> None:
        sns.publish(TopicArn=topic, Message=message, MessageAttributes={
            name: {"DataType": data_type, "StringValue": value} for name, (data_type, value) in attributes.items()})

    publish("cheap", store=("String", "example_corp"), price_usd=("Number", "99.5"),
            customer_interests=("String.Array", '["rugby"]'))
    publish("other store", store=("String", "other"), price_usd=("Number", "210"),
            customer_interests=("String.Array", '["rugby"]'))
    publish("wanted", store=("String", "example_corp"), price_usd=("Number", "210.75"),
            customer_interests=("String.Array", '["soccer", "rugby", "hockey"]'))
    receiver.wait_for(2)
    time.sleep(1.0)  # the two filtered-out messages had their chance to arrive first
    assert [n["Message"] for n in receiver.of_type("Notification")] == ["wanted"]

    body_policy = {"order": {"state": [{"anything-but": ["cancelled"]}]}}
    sns.set_subscription_attributes(SubscriptionArn=subscription, AttributeName="FilterPolicyScope",
                                    AttributeValue="MessageBody")
    sns.set_subscription_attributes(SubscriptionArn=subscription, AttributeName="FilterPolicy",
                                    AttributeValue=json.dumps(body_policy))
    sns.set_subscription_attributes(SubscriptionArn=subscription, AttributeName="RawMessageDelivery",
                                    AttributeValue="true")
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"state": "cancelled"}}))
    sns.publish(TopicArn=topic, Message="not json")
    sns.publish(TopicArn=topic, Message=json.dumps({"order": {"state": "shipped"}}))
    headers, body = receiver.wait_for(3)[2]
    time.sleep(1.0)
    assert len(receiver.posts) == 3
    assert json.loads(body) == {"order": {"state": "shipped"}}  # raw: the message itself
    assert headers["x-amz-sns-rawdelivery"] == "true"


@pytest.mark.parametrize(("policy", "message"), [
    ({"price": [{"numeric": ["<", "100"]}]}, "Value of < must be numeric"),
    ({"store": [{"exists": "yes"}]}, "exists match pattern must be either true or false."),
    ({f"k{i}": ["v"] for i in range(6)}, "Filter policy can not have more than 5 keys"),
])
def test_invalid_filter_policies_are_refused_with_awss_messages(sns: Client, topic: str,
                                                                 policy: dict, message: str) -> None:
    with pytest.raises(ClientError) as refused:
        sns.subscribe(TopicArn=topic, Protocol="http", Endpoint="http://127.0.0.1:9/never",
                      Attributes={"FilterPolicy": json.dumps(policy)})
    error = refused.value.response["Error"]
    assert error["Code"] == "InvalidParameter"
    assert message in error["Message"] and "FilterPolicy" in error["Message"]
    assert sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"] == []


def test_https_endpoints_are_delivered_to_only_when_their_certificate_verifies(
        tmp_path: Path, serve: Callable[..., Receiver]) -> None:
    cert_file, key_file = _server_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    trusting = CloudletProcess(tmp_path / "data")
    trusting.data_dir.mkdir(parents=True)
    (trusting.data_dir / "cloudlet.json").write_text(json.dumps({"sns_https_ca_bundle": str(cert_file)}))
    trusting.start()
    try:
        sns = trusting.client("sns")
        topic = sns.create_topic(Name="https-delivery")["TopicArn"]
        receiver = serve(tls=tls)
        subscribe_and_confirm(sns, topic, receiver)
        sns.publish(TopicArn=topic, Message="over TLS")
        notification = json.loads(receiver.wait_for(2)[1][1])
        assert notification["Message"] == "over TLS"
        assert signature_holds(notification, fetch_certificate(notification["SigningCertURL"]))
    finally:
        trusting.stop()


def test_an_untrusted_https_endpoint_gets_nothing(sns: Client, topic: str, tmp_path: Path,
                                                  serve: Callable[..., Receiver]) -> None:
    cert_file, key_file = _server_certificate(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    receiver = serve(tls=tls)
    assert sns.subscribe(TopicArn=topic, Protocol="https", Endpoint=receiver.url)["SubscriptionArn"] == \
        "pending confirmation"
    time.sleep(2.0)
    assert receiver.posts == []


def _server_certificate(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, as a home lab's endpoint might present."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = directory / "endpoint.pem", directory / "endpoint.key"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file
