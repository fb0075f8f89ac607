"""SNS message signatures: AWS's string to sign, both signature versions, and the served certificate."""

from __future__ import annotations

import base64
import os
import stat

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding

from controller.cloud import Cloud
from controller.config import Config
from controller.sns import http_delivery, signing
from controller.wsgi import create_app
from tests.unit.harness import Clouds

TOPIC = "arn:aws:sns:us-east-2:123456789012:s4-MySNSTopic-1G1WEFCOXTC0P"
#: sns-verify-signature-of-message.html: a Notification and the string AWS signs for it
NOTIFICATION = {"Type": "Notification", "MessageId": "4d4dc071-ddbf-465d-bba8-08f81c89da64", "TopicArn": TOPIC,
                "Subject": "My subject", "Message": "My Test Message", "Timestamp": "2019-01-31T04:37:04.321Z",
                "UnsubscribeURL": "https://example.com/?Action=Unsubscribe"}
NOTIFICATION_STRING = (f"Message\nMy Test Message\nMessageId\n4d4dc071-ddbf-465d-bba8-08f81c89da64\n"
                       f"Subject\nMy subject\nTimestamp\n2019-01-31T04:37:04.321Z\nTopicArn\n{TOPIC}\n"
                       f"Type\nNotification\n")
CONFIRMATION = {"Type": "SubscriptionConfirmation", "MessageId": "3d891288-136d-417f-bc05-901c108273ee",
                "Token": "233...", "TopicArn": TOPIC, "Message": "My Test Message",
                "SubscribeURL": f"https://sns.us-east-2.amazonaws.com/?Action=ConfirmSubscription&TopicArn={TOPIC}"
                                "&Token=233...",
                "Timestamp": "2019-01-31T19:25:13.719Z"}
CONFIRMATION_STRING = ("Message\nMy Test Message\nMessageId\n3d891288-136d-417f-bc05-901c108273ee\n"
                       f"SubscribeURL\n{CONFIRMATION['SubscribeURL']}\nTimestamp\n2019-01-31T19:25:13.719Z\n"
                       f"Token\n233...\nTopicArn\n{TOPIC}\nType\nSubscriptionConfirmation\n")


@pytest.fixture
def cloud(clouds: Clouds) -> Cloud:
    return clouds.vpc().cloud


def test_the_string_to_sign_is_awss_documented_one() -> None:
    assert signing.string_to_sign(NOTIFICATION) == NOTIFICATION_STRING.encode()
    assert signing.string_to_sign(CONFIRMATION) == CONFIRMATION_STRING.encode()
    without_subject = {k: v for k, v in NOTIFICATION.items() if k != "Subject"}
    assert b"Subject" not in signing.string_to_sign(without_subject)
    unsubscribed = {**CONFIRMATION, "Type": "UnsubscribeConfirmation"}
    assert signing.string_to_sign(unsubscribed) == CONFIRMATION_STRING.replace(
        "SubscriptionConfirmation", "UnsubscribeConfirmation").encode()


@pytest.mark.parametrize(("version", "digest"), [("1", hashes.SHA1), ("2", hashes.SHA256)])
@pytest.mark.parametrize("document", [NOTIFICATION, CONFIRMATION])
def test_signatures_verify_with_the_certificate_by_their_version(cloud: Cloud, version: str, digest: type,
                                                                 document: dict) -> None:
    signed = signing.sign(cloud, document, version)
    assert {k: signed[k] for k in document} == document
    assert signed["SignatureVersion"] == version
    certificate = _served_certificate(cloud, signed["SigningCertURL"])
    assert signing.verify(signed, certificate)
    # independently of verify(): RSA PKCS#1 v1.5 over the documented string with that version's hash
    public_key = x509.load_pem_x509_certificate(certificate).public_key()
    expected = NOTIFICATION_STRING if document is NOTIFICATION else CONFIRMATION_STRING
    public_key.verify(base64.b64decode(signed["Signature"]), expected.encode(), padding.PKCS1v15(), digest())
    other = hashes.SHA256 if digest is hashes.SHA1 else hashes.SHA1
    with pytest.raises(InvalidSignature):
        public_key.verify(base64.b64decode(signed["Signature"]), expected.encode(), padding.PKCS1v15(), other())


def test_a_changed_field_or_version_does_not_verify(cloud: Cloud) -> None:
    signed = signing.sign(cloud, NOTIFICATION, "2")
    certificate = _served_certificate(cloud, signed["SigningCertURL"])
    assert not signing.verify({**signed, "Message": "My Test Message!"}, certificate)
    assert not signing.verify({**signed, "Subject": "Another"}, certificate)
    assert not signing.verify({**signed, "SignatureVersion": "1"}, certificate)
    assert not signing.verify({**signed, "Signature": "not base64!"}, certificate)
    assert signing.verify({**signed, "UnsubscribeURL": "unsigned field"}, certificate)
    with pytest.raises(ValueError):
        signing.sign(cloud, NOTIFICATION, "3")


def test_the_key_is_private_at_rest_and_survives_a_restart(clouds: Clouds) -> None:
    first = clouds.vpc().cloud
    signed = signing.sign(first, NOTIFICATION, "1")
    key_file = first.config.data_dir / "sns-signing.pem"
    assert stat.S_IMODE(os.stat(key_file).st_mode) == 0o600
    restarted = Cloud(Config(data_dir=first.config.data_dir))
    try:
        again = signing.sign(restarted, NOTIFICATION, "1")
        assert again["SigningCertURL"] == signed["SigningCertURL"]
        assert signing.verify(signed, _served_certificate(restarted, signed["SigningCertURL"]))
    finally:
        restarted.close()
    other = clouds.vpc().cloud  # another cloud has its own key
    assert not signing.verify(signed, _served_certificate(other, signing.sign(other, NOTIFICATION, "1")
                                                          ["SigningCertURL"]))


def test_the_certificate_is_served_unsigned_and_only_under_its_own_name(cloud: Cloud) -> None:
    url = signing.sign(cloud, NOTIFICATION, "2")["SigningCertURL"]
    assert url.startswith(cloud.config.endpoint_url + "/_cloudlet/sns/SimpleNotificationService-")
    client = create_app(cloud).test_client()
    response = client.get(url.removeprefix(cloud.config.endpoint_url))
    assert response.status_code == 200
    assert b"-----BEGIN CERTIFICATE-----" in response.data and b"PRIVATE" not in response.data
    assert client.get("/_cloudlet/sns/SimpleNotificationService-0123456789abcdef.pem").status_code == 404
    assert client.post(url.removeprefix(cloud.config.endpoint_url)).status_code == 405


def test_the_subscription_confirmation_is_signed_and_names_confirm_subscription(cloud: Cloud) -> None:
    document = http_delivery.confirmation_document(cloud, {"topic_arn": TOPIC, "token": "abc/123"})
    assert document["Message"] == (f"You have chosen to subscribe to the topic {TOPIC}.\n"
                                   "To confirm the subscription, visit the SubscribeURL included in this message.")
    assert document["SubscribeURL"] == (
        f"{cloud.config.endpoint_url}/?Action=ConfirmSubscription&TopicArn={TOPIC.replace(':', '%3A')}"
        "&Token=abc%2F123&Version=2010-03-31")
    assert document["Timestamp"].endswith("Z") and len(document["Timestamp"]) == 24
    signed = signing.sign(cloud, document, "1")
    assert signing.verify(signed, _served_certificate(cloud, signed["SigningCertURL"]))


def _served_certificate(cloud: Cloud, url: str) -> bytes:
    response = create_app(cloud).test_client().get(url.removeprefix(cloud.config.endpoint_url))
    assert response.status_code == 200
    return response.data
