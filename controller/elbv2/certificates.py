"""The certificate an HTTPS/TLS listener serves, and the SSL policies listeners name.

ACM does not exist in Cloudlet yet, and IAM has no server certificates: a listener accepts any
well-formed certificate ARN (ACM's or IAM's) and serves a self-signed certificate for the load
balancer's DNS name in its place (generated with ``cryptography``; its key is stored encrypted with the
cloud's secret box and handed to the agent in the ``loadbalancers`` section).
"""

from __future__ import annotations

import datetime as dt
import re

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from controller.elbv2.errors import CertificateNotFound

_ARN = re.compile(r"^arn:[a-z-]+:(acm:[a-z0-9-]+:\d{12}:certificate/[A-Za-z0-9-]+|"
                  r"iam::\d{12}:server-certificate/[\w+=,.@/-]+)$")

DEFAULT_POLICY = "ELBSecurityPolicy-2016-08"
_TLS12 = ["TLSv1.2"]
_CIPHERS_2016 = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES128-SHA256",
                 "ECDHE-RSA-AES128-SHA256", "ECDHE-ECDSA-AES128-SHA", "ECDHE-RSA-AES128-SHA",
                 "ECDHE-ECDSA-AES256-GCM-SHA384", "ECDHE-RSA-AES256-GCM-SHA384", "ECDHE-ECDSA-AES256-SHA384",
                 "ECDHE-RSA-AES256-SHA384", "ECDHE-RSA-AES256-SHA", "ECDHE-ECDSA-AES256-SHA", "AES128-GCM-SHA256",
                 "AES128-SHA256", "AES128-SHA", "AES256-GCM-SHA384", "AES256-SHA256", "AES256-SHA"]
_CIPHERS_FS = ["ECDHE-ECDSA-AES128-GCM-SHA256", "ECDHE-RSA-AES128-GCM-SHA256", "ECDHE-ECDSA-AES256-GCM-SHA384",
               "ECDHE-RSA-AES256-GCM-SHA384"]
_TLS13 = ["TLS_AES_128_GCM_SHA256", "TLS_AES_256_GCM_SHA384", "TLS_CHACHA20_POLY1305_SHA256"]
#: name -> (protocols, ciphers): a few of AWS's predefined policies.
POLICIES: dict[str, tuple[list[str], list[str]]] = {
    "ELBSecurityPolicy-2016-08": (["TLSv1", "TLSv1.1", "TLSv1.2"], _CIPHERS_2016),
    "ELBSecurityPolicy-TLS-1-2-2017-01": (_TLS12, _CIPHERS_2016[:12]),
    "ELBSecurityPolicy-TLS-1-2-Ext-2018-06": (_TLS12, _CIPHERS_2016),
    "ELBSecurityPolicy-FS-1-2-Res-2020-10": (_TLS12, _CIPHERS_FS),
    "ELBSecurityPolicy-TLS13-1-2-2021-06": (["TLSv1.2", "TLSv1.3"], _TLS13 + _CIPHERS_2016[:12]),
    "ELBSecurityPolicy-TLS13-1-3-2021-06": (["TLSv1.3"], _TLS13),
}


def check_arn(arn: str) -> str:
    if not _ARN.match(arn or ""):
        raise CertificateNotFound(f"Certificate '{arn}' not found")
    return arn


def self_signed(dns_name: str) -> tuple[str, str]:
    """(certificate PEM, private key PEM) of a new self-signed ECDSA P-256 certificate for ``dns_name``."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, dns_name[:64])])
    now = dt.datetime.now(dt.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(minutes=5))
            .not_valid_after(now + dt.timedelta(days=395))
            .add_extension(x509.SubjectAlternativeName([x509.DNSName(dns_name)]), critical=False)
            .sign(key, hashes.SHA256()))
    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    return cert.public_bytes(serialization.Encoding.PEM).decode(), key_pem.decode()


def policy_output(name: str) -> dict[str, object]:
    protocols, ciphers = POLICIES[name]
    return {"Name": name, "SslProtocols": protocols,
            "Ciphers": [{"Name": c, "Priority": i} for i, c in enumerate(ciphers, start=1)],
            "SupportedLoadBalancerTypes": ["application", "network"]}
