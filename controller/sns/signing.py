"""Signatures of the messages SNS posts to HTTP/S endpoints, and the certificate that verifies them.

AWS signs every Notification, SubscriptionConfirmation and UnsubscribeConfirmation it sends: the
string to sign is ``Name\\nValue\\n`` for a fixed, byte-sorted list of the document's fields (Message,
MessageId, Subject when present, Timestamp, TopicArn, Type for a notification; Message, MessageId,
SubscribeURL, Timestamp, Token, TopicArn, Type for the confirmations), signed with RSA and PKCS#1 v1.5
over SHA1 (SignatureVersion "1") or SHA256 ("2"). ``SigningCertURL`` names the X.509 certificate that
holds the public key (docs.aws.amazon.com/sns/latest/dg/sns-verify-signature-of-message.html).

Cloudlet's signing key is one RSA key per cloud with a self-signed certificate, made on first use and
kept in a 0600 file of the data directory (``sns-signing.pem``: key, then certificate), so signatures
stay verifiable across restarts. The certificate is served read-only and without authentication, as
AWS serves its own, at ``/_cloudlet/sns/SimpleNotificationService-<id>.pem`` (:data:`blueprint`).
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import hashlib
import os
import secrets
import threading
from collections import OrderedDict
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID
from flask import Blueprint, Response, abort, current_app

if TYPE_CHECKING:
    from controller.cloud import Cloud

#: The fields of the string to sign, in byte order, per message type (optional ones are skipped if absent).
NOTIFICATION_FIELDS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
CONFIRMATION_FIELDS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
HASHES = {"1": hashes.SHA1, "2": hashes.SHA256}
CERT_PATH_PREFIX = "/_cloudlet/sns/"
_KEY_FILE = "sns-signing.pem"
_CERT_DAYS = 3650

blueprint = Blueprint("sns_signing_cert", __name__)


def string_to_sign(document: dict) -> bytes:
    """AWS's canonical form of a message: ``Name\\nValue\\n`` for each signed field present."""
    fields = NOTIFICATION_FIELDS if document.get("Type") == "Notification" else CONFIRMATION_FIELDS
    return "".join(f"{name}\n{document[name]}\n" for name in fields if name in document).encode("utf-8")


class Signer:
    """A cloud's signing key, its certificate's path, and the signatures it made last.

    A message fanned out to many subscriptions signs the same string for each (the subscription's ARN
    is in no signed field), so recent signatures are reused instead of computed again.
    """

    _RECENT = 1024

    def __init__(self, key: rsa.RSAPrivateKey, certificate: x509.Certificate) -> None:
        self.key = key
        self.certificate = certificate
        self.certificate_path = certificate_path(certificate)
        self._recent: OrderedDict[tuple[str, bytes], str] = OrderedDict()
        self._lock = threading.Lock()

    def signature(self, canonical: bytes, version: str) -> str:
        with self._lock:
            known = self._recent.get((version, canonical))
            if known is not None:
                self._recent.move_to_end((version, canonical))
                return known
        made = base64.b64encode(self.key.sign(canonical, padding.PKCS1v15(), HASHES[version]())).decode("ascii")
        with self._lock:
            self._recent[(version, canonical)] = made
            if len(self._recent) > self._RECENT:
                self._recent.popitem(last=False)
        return made


def signer(cloud: Cloud) -> Signer:
    """The cloud's :class:`Signer`, made (and its key file created) on first use."""
    if cloud.sns_signer is None:
        key, certificate = signing_identity(cloud)
        cloud.sns_signer = Signer(key, certificate)
    return cloud.sns_signer


def sign(cloud: Cloud, document: dict, version: str) -> dict:
    """``document`` with ``SignatureVersion``, ``Signature`` (base64) and ``SigningCertURL`` added."""
    if version not in HASHES:
        raise ValueError(f"SignatureVersion must be 1 or 2, not {version!r}")
    made = signer(cloud)
    return {**document, "SignatureVersion": version, "Signature": made.signature(string_to_sign(document), version),
            "SigningCertURL": cloud.config.endpoint_url + made.certificate_path}  # the port is known late


def verify(document: dict, cert_pem: bytes | str) -> bool:
    """Whether ``document``'s Signature verifies with the certificate, as a receiver checks it."""
    version = str(document.get("SignatureVersion", ""))
    if version not in HASHES or "Signature" not in document:
        return False
    pem = cert_pem.encode("ascii") if isinstance(cert_pem, str) else cert_pem
    try:
        public_key = x509.load_pem_x509_certificate(pem).public_key()
        signature = base64.b64decode(document["Signature"], validate=True)
        public_key.verify(signature, string_to_sign(document), padding.PKCS1v15(), HASHES[version]())
    except (InvalidSignature, ValueError, TypeError):
        return False
    return True


def certificate_path(certificate: x509.Certificate) -> str:
    """Where the certificate is served: named, as AWS names its own, after a digest of the certificate."""
    digest = hashlib.sha256(certificate.public_bytes(serialization.Encoding.DER)).hexdigest()[:32]
    return f"{CERT_PATH_PREFIX}SimpleNotificationService-{digest}.pem"


def signing_identity(cloud: Cloud) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """The cloud's signing key and certificate, created on first use."""
    path = cloud.config.data_dir / _KEY_FILE
    if not path.exists():
        _create(path, cloud.config.region)
    data = path.read_bytes()
    key = serialization.load_pem_private_key(data, password=None)
    if not isinstance(key, rsa.RSAPrivateKey):
        raise ValueError(f"{path} does not hold an RSA key")
    return key, x509.load_pem_x509_certificate(data[data.index(b"-----BEGIN CERTIFICATE-----"):])


def _create(path: Path, region: str) -> None:
    """Write a new key and certificate atomically (two processes starting at once agree on one)."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"sns.{region}.cloudlet"),
                      x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cloudlet Simple Notification Service")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number())
                   .not_valid_before(now - datetime.timedelta(days=1))
                   .not_valid_after(now + datetime.timedelta(days=_CERT_DAYS))
                   .add_extension(x509.KeyUsage(digital_signature=True, content_commitment=False,
                                                key_encipherment=False, data_encipherment=False,
                                                key_agreement=False, key_cert_sign=False, crl_sign=False,
                                                encipher_only=False, decipher_only=False), critical=True)
                   .sign(key, hashes.SHA256()))
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption()) + certificate.public_bytes(serialization.Encoding.PEM)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(pem)
            handle.flush()
            os.fsync(handle.fileno())
        with contextlib.suppress(FileExistsError):  # another process made it first: use theirs
            os.link(temporary, path)
    finally:
        temporary.unlink()


@blueprint.get("/SimpleNotificationService-<cert_id>.pem")
def signing_certificate(cert_id: str) -> Response:
    """The cloud's signing certificate (public), for receivers to verify signatures with."""
    made = signer(current_app.config["CLOUD"])
    if made.certificate_path != f"{CERT_PATH_PREFIX}SimpleNotificationService-{cert_id}.pem":
        abort(404)
    return Response(made.certificate.public_bytes(serialization.Encoding.PEM), mimetype="application/x-pem-file")
