"""Who this machine is to the service and the credentials it signs with: an EC2 instance (IMDSv2) or a machine
registered by hybrid activation (``mi-...``), whose RSA key proves it for short-lived role credentials."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import ssl
import subprocess
import threading
import urllib.error
import urllib.request
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

from . import AGENT_NAME, log
from .wire import Credentials, JsonClient, make_ssl_context

IMDS_URL = "http://169.254.169.254"


class NotManagedError(Exception):
    """The machine has no credentials at all: neither an instance profile nor a hybrid registration."""


class Identity(Protocol):
    """Who this machine is to the service: EC2 instance (IMDS) or hybrid-registered (``mi-...``)."""

    instance_id: str
    region: str

    def credentials(self) -> Credentials: ...


def ssm_client(endpoint: str | None, region: str, context: ssl.SSLContext,
               credentials: Callable[[], Credentials] | None = None) -> JsonClient:
    return JsonClient(endpoint or f"https://ssm.{region}.amazonaws.com", region, "ssm", "AmazonSSM", context,
                      credentials)


class ImdsIdentity:
    """An EC2 instance: id, region and instance-profile credentials from IMDSv2 (never through a proxy)."""

    def __init__(self, base_url: str = IMDS_URL) -> None:
        self.base_url = base_url
        self.opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        self.cached: Credentials | None = None
        self.lock = threading.Lock()
        self.instance_id = self._get("/latest/meta-data/instance-id")
        self.region = self._get("/latest/meta-data/placement/region")

    def _get(self, path: str) -> str:
        token_request = urllib.request.Request(self.base_url + "/latest/api/token", method="PUT",
                                               headers={"X-aws-ec2-metadata-token-ttl-seconds": "21600"})
        with self.opener.open(token_request, timeout=2) as response:
            token = response.read().decode()
        request = urllib.request.Request(self.base_url + path, headers={"X-aws-ec2-metadata-token": token})
        with self.opener.open(request, timeout=2) as response:
            return response.read().decode().strip()

    def cloud_ca(self) -> str | None:
        """The cloud's CA (PEM), which Cloudlet's metadata service adds as ``meta-data/cloudlet/ca-bundle``:
        the API's AWS names inside VPCs are served with a certificate it signs. None where there is none."""
        try:
            pem = self._get("/latest/meta-data/cloudlet/ca-bundle")
        except urllib.error.HTTPError:
            return None
        return pem if "-----BEGIN CERTIFICATE-----" in pem else None

    def credentials(self) -> Credentials:
        with self.lock:
            if self.cached is None or not self.cached.fresh():
                try:
                    role = self._get("/latest/meta-data/iam/security-credentials/").splitlines()[0].strip()
                    answer = json.loads(self._get(f"/latest/meta-data/iam/security-credentials/{role}"))
                except (urllib.error.HTTPError, IndexError) as error:
                    raise NotManagedError("no instance profile: this instance is not managed") from error
                expires = datetime.fromisoformat(answer["Expiration"]).timestamp()
                self.cached = Credentials(answer["AccessKeyId"], answer["SecretAccessKey"],
                                          answer.get("Token"), expires)
            return self.cached


def openssl(*arguments: str, data: bytes | None = None) -> bytes:
    """Runs the openssl CLI: RSA keys without a third-party crypto library."""
    result = subprocess.run(["openssl", *arguments], input=data, capture_output=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {arguments[0]} failed: {result.stderr.decode(errors='replace').strip()}")
    return result.stdout


def write_private(path: Path, text: str) -> None:
    """Writes a file that only root may read: it holds secrets or the identity of the machine."""
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    os.chmod(path, 0o600)


class HybridIdentity:
    """A machine registered by activation: signs with its RSA key to get short-lived role credentials."""

    def __init__(self, state_dir: Path, ssm: JsonClient, instance_id: str, region: str) -> None:
        self.key_path, self.ssm = state_dir / "key.pem", ssm
        self.instance_id, self.region = instance_id, region
        self.cached: Credentials | None = None
        self.lock = threading.Lock()

    def credentials(self) -> Credentials:
        with self.lock:
            if self.cached is None or not self.cached.fresh():
                timestamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
                signed = openssl("dgst", "-sha256", "-sign", str(self.key_path),
                                 data=f"{self.instance_id}\n{timestamp}".encode())
                answer = self.ssm.call("RequestManagedInstanceRoleToken", {
                    "InstanceId": self.instance_id, "Timestamp": timestamp,
                    "Signature": base64.b64encode(signed).decode()}, signed=False)
                self.cached = Credentials(answer["AccessKeyId"], answer["SecretAccessKey"],
                                          answer.get("SessionToken"), float(answer["TokenExpirationDate"]))
            return self.cached


def register(code: str, activation_id: str, region: str, endpoint: str | None, ca_bundle: str | None,
             state_dir: Path) -> str:
    """Hybrid activation: makes this machine's key pair, registers its public key, remembers the answer."""
    state_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    key_path = state_dir / "key.pem"
    write_private(key_path, "")  # openssl then writes into a file that was never readable by others
    openssl("genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key_path))
    public_key = openssl("pkey", "-in", str(key_path), "-pubout").decode()
    ssm = ssm_client(endpoint, region, make_ssl_context(ca_bundle or os.environ.get("AWS_CA_BUNDLE")))
    answer = ssm.call("RegisterManagedInstance", {
        "ActivationCode": code, "ActivationId": activation_id, "PublicKey": public_key,
        "PublicKeyType": "Rsa", "Fingerprint": hashlib.sha256(public_key.encode()).hexdigest()}, signed=False)
    instance_id = answer["InstanceId"]
    write_private(state_dir / "registration.json", json.dumps(
        {"InstanceId": instance_id, "Region": region, "Endpoint": endpoint, "CaBundle": ca_bundle}, indent=2))
    log(f"registered as {instance_id} in {region}; start the service with `{AGENT_NAME} run`")
    return instance_id
