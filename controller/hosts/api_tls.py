"""The certificate instances trust for the Cloudlet API under AWS's own names.

SDKs inside instances call ``https://sts.home-1.amazonaws.com`` and the like; the agents' API relay
(``agent/network/api_relay.py``) terminates that TLS with a server certificate signed by a CA of this
cloud, and instances trust the CA (IMDS serves it at ``/latest/meta-data/cloudlet/ca-bundle``; the Debian
AMI installs it at boot). Both live in the data dir, the keys mode 0600: the CA is made once per cloud,
the server certificate again when the names it must cover change (another region or service domain) or
it nears its end.

It lives with ``hosts/`` rather than ``auth/`` because it is host-facing material, handed to agents over
their authenticated API (``GET /_cloudlet/agent/v1/api-tls``, :data:`blueprint`), and not part of
authenticating AWS requests.
"""

from __future__ import annotations

import datetime as dt
import fcntl
import ipaddress
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from flask import Blueprint, current_app, jsonify

from controller.hosts.api_access import GLOBAL_ENDPOINTS

if TYPE_CHECKING:
    from controller.cloud import Cloud

CA_CERT, CA_KEY = "api-ca.pem", "api-ca.key"
SERVER_CERT, SERVER_KEY = "api-tls.pem", "api-tls.key"
#: The HTTPS endpoint's own certificate (``cloudlet up --https-listen``): its address and host names.
ENDPOINT_CERT, ENDPOINT_KEY = "endpoint-tls.pem", "endpoint-tls.key"
LOCK = "api-tls.lock"
CA_DAYS = 3650
SERVER_DAYS = 825
#: A server certificate this close to its end is made again (agents fetch it when they start).
RENEW_BEFORE = dt.timedelta(days=30)


@dataclass(frozen=True)
class TlsMaterial:
    """What a relay needs to serve TLS: the chain (server certificate, then the CA) and the server key, PEM."""

    certificate_chain: str
    private_key: str
    ca: str


def server_names(region: str, service_domain: str) -> list[str]:
    """The DNS names the server certificate covers.

    Regional endpoints (``sts.home-1.amazonaws.com``), virtual-hosted buckets
    (``photos.s3.home-1.amazonaws.com``, and the global ``photos.s3.amazonaws.com``), global services
    (``iam.amazonaws.com``, ``organizations.us-east-1.amazonaws.com``: every one of
    :data:`~controller.hosts.api_access.GLOBAL_ENDPOINTS`) and the bare regional names. A wildcard covers
    exactly one label, as for AWS's own certificates: a bucket name with dots fails TLS virtual-hosted.
    """
    regional = f"{region}.{service_domain}"
    names = [f"*.{regional}", f"*.s3.{regional}", f"s3.{regional}", regional, f"*.{service_domain}",
             f"*.s3.{service_domain}"]
    return names + sorted(f"{name}.{service_domain}" for name in set(GLOBAL_ENDPOINTS.values()))


def material(data_dir: Path, region: str, service_domain: str,
             now: dt.datetime | None = None) -> TlsMaterial:
    """The cloud's CA and server certificate, made on first use (and the server one again when stale)."""
    return _issued(data_dir, SERVER_CERT, SERVER_KEY, server_names(region, service_domain), now)


def endpoint_material(data_dir: Path, names: list[str], now: dt.datetime | None = None) -> TlsMaterial:
    """The HTTPS endpoint's certificate for ``names`` (host names and IP addresses), from the same CA."""
    return _issued(data_dir, ENDPOINT_CERT, ENDPOINT_KEY, names, now)


def _issued(data_dir: Path, cert_file: str, key_file: str, names: list[str],
            now: dt.datetime | None) -> TlsMaterial:
    now = now or dt.datetime.now(dt.UTC)
    with open(data_dir / LOCK, "a") as lock:  # one maker at a time: a CA made twice would orphan a cert
        fcntl.flock(lock, fcntl.LOCK_EX)
        ca_key, ca_cert = _ca(data_dir, now)
        cert_path, key_path = data_dir / cert_file, data_dir / key_file
        if not (cert_path.exists() and key_path.exists()) or not _fits(cert_path.read_bytes(), ca_cert, names, now):
            key = ec.generate_private_key(ec.SECP256R1())
            cert = _server_certificate(key, ca_key, ca_cert, names, now)
            _write(key_path, _key_pem(key), private=True)
            _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
        ca_pem = ca_cert.public_bytes(serialization.Encoding.PEM).decode()
        return TlsMaterial(certificate_chain=cert_path.read_text() + ca_pem, private_key=key_path.read_text(),
                           ca=ca_pem)


def cloud_material(cloud: Cloud) -> TlsMaterial:
    config = cloud.config
    return material(config.data_dir, config.region, config.service_domain)


def ca_bundle_pem(cloud: Cloud) -> str:
    """The CA certificate instances add to their trust store (PEM); read as is once made (IMDS asks often)."""
    made = cloud.config.data_dir / CA_CERT
    if made.exists():  # written by an atomic rename: never seen half-made
        return made.read_text()
    return cloud_material(cloud).ca


# --- the agents' endpoint ------------------------------------------------------------------------------------

#: Registered under the agents' blueprint (``controller/hosts/agent_api.py``), whose bearer-token check runs
#: before every route of a nested blueprint.
blueprint = Blueprint("agent_api_tls", __name__)


@blueprint.get("/api-tls")
def api_tls() -> Any:
    found = cloud_material(current_app.config["CLOUD"])
    return jsonify(certificate_chain=found.certificate_chain, private_key=found.private_key, ca=found.ca)


# --- certificates ----------------------------------------------------------------------------------------------


def _ca(data_dir: Path, now: dt.datetime) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    cert_path, key_path = data_dir / CA_CERT, data_dir / CA_KEY
    if cert_path.exists() and key_path.exists():
        key = serialization.load_pem_private_key(key_path.read_bytes(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key, x509.load_pem_x509_certificate(cert_path.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Cloudlet"),
                      x509.NameAttribute(NameOID.COMMON_NAME, f"Cloudlet API CA {os.urandom(4).hex()}")])
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=CA_DAYS))
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                         content_commitment=False, key_encipherment=False, data_encipherment=False,
                                         key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
            .sign(key, hashes.SHA256()))
    _write(key_path, _key_pem(key), private=True)
    _write(cert_path, cert.public_bytes(serialization.Encoding.PEM), private=False)
    return key, cert


def _server_certificate(key: ec.EllipticCurvePrivateKey, ca_key: ec.EllipticCurvePrivateKey,
                        ca_cert: x509.Certificate, names: list[str], now: dt.datetime) -> x509.Certificate:
    return (x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, names[0])]))
            .issuer_name(ca_cert.subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - dt.timedelta(hours=1)).not_valid_after(now + dt.timedelta(days=SERVER_DAYS))
            .add_extension(x509.SubjectAlternativeName([_alternative_name(n) for n in names]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
            .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()), critical=False)
            .sign(ca_key, hashes.SHA256()))


def _alternative_name(name: str) -> x509.GeneralName:
    """An IP address SAN for an address (clients check those against IP SANs only), a DNS SAN otherwise."""
    try:
        return x509.IPAddress(ipaddress.ip_address(name))
    except ValueError:
        return x509.DNSName(name)


def _fits(pem: bytes, ca_cert: x509.Certificate, names: list[str], now: dt.datetime) -> bool:
    """Whether a stored server certificate is the CA's, names exactly ``names`` and is not near its end."""
    cert = x509.load_pem_x509_certificate(pem)
    try:
        sans = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return False
    present = sans.get_values_for_type(x509.DNSName) + [str(a) for a in sans.get_values_for_type(x509.IPAddress)]
    return (cert.issuer == ca_cert.subject and sorted(present) == sorted(names)
            and cert.not_valid_after_utc - RENEW_BEFORE > now)


def _key_pem(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def _write(path: Path, data: bytes, private: bool) -> None:
    """Replace ``path`` atomically; a key file is 0600 from its creation."""
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600 if private else 0o644)
    with os.fdopen(fd, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
