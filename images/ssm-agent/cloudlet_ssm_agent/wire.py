"""How the agent talks to AWS JSON 1.1 services: Signature Version 4, https with a chosen trust store, errors.

Kept apart from everything else so the signer can be checked alone against AWS's test suite and botocore.
"""

from __future__ import annotations

import hashlib
import hmac
import http.client
import json
import ssl
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

#: Credentials are renewed this long before they expire, so no call is ever signed with a dead key.
REFRESH_MARGIN_SECONDS = 300


class ServiceError(Exception):
    """An error answer of an AWS API: keeps the code so callers can tell 'retry' from 'give up'."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(f"{code}: {message} (HTTP {status})")
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None
    expires_at: float | None = None  # epoch seconds

    def fresh(self) -> bool:
        return self.expires_at is None or time.time() < self.expires_at - REFRESH_MARGIN_SECONDS


def sigv4_headers(method: str, url: str, headers: dict[str, str], body: bytes, credentials: Credentials,
                  region: str, service: str, now: datetime,
                  payload_hash: str | None = None) -> dict[str, str]:
    """Returns ``headers`` plus X-Amz-Date, X-Amz-Security-Token and Authorization, signed for ``service``.

    Pure (time is a parameter) so it can be checked against AWS's test suite and botocore. Every header given
    is signed, as botocore does; S3 paths are signed as sent, other services' paths are encoded once more.
    ``payload_hash`` stands for ``body``'s SHA-256 when the body is streamed (a session transcript spilled to
    disk), so it never has to be in memory at once.
    """
    parts = urllib.parse.urlsplit(url)
    amz_date = now.strftime("%Y%m%dT%H%M%SZ")
    signed = {**headers, "X-Amz-Date": amz_date}
    if credentials.session_token:
        signed["X-Amz-Security-Token"] = credentials.session_token
    if not any(name.lower() == "host" for name in signed):
        signed["Host"] = parts.netloc
    canonical = {name.lower(): " ".join(value.split()) for name, value in signed.items()}
    signed_names = ";".join(sorted(canonical))
    path = parts.path or "/"
    canonical_path = path if service == "s3" else urllib.parse.quote(path, safe="/~")
    encoded_query = sorted((urllib.parse.quote(name, safe="-_.~"), urllib.parse.quote(value, safe="-_.~"))
                           for name, value in urllib.parse.parse_qsl(parts.query, keep_blank_values=True))
    canonical_query = "&".join(f"{name}={value}" for name, value in encoded_query)
    canonical_request = "\n".join([
        method, canonical_path, canonical_query,
        "".join(f"{name}:{canonical[name]}\n" for name in sorted(canonical)),
        signed_names, payload_hash or hashlib.sha256(body).hexdigest(),
    ])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope,
                                hashlib.sha256(canonical_request.encode()).hexdigest()])
    key = ("AWS4" + credentials.secret_access_key).encode()
    for step in (amz_date[:8], region, service, "aws4_request"):
        key = hmac.new(key, step.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    signed["Authorization"] = (f"AWS4-HMAC-SHA256 Credential={credentials.access_key_id}/{scope}, "
                               f"SignedHeaders={signed_names}, Signature={signature}")
    return signed


def make_ssl_context(ca_bundle: str | None, cloud_ca: str | None = None) -> ssl.SSLContext:
    """The trust store for https and wss: a private CA's bundle (Cloudlet's own) or the system's, plus
    ``cloud_ca`` (PEM) when the instance metadata service handed out the cloud's CA."""
    context = ssl.create_default_context(cafile=ca_bundle) if ca_bundle else ssl.create_default_context()
    if cloud_ca:
        context.load_verify_locations(cadata=cloud_ca)
    return context


def service_error(status: int, raw: bytes) -> ServiceError:
    """An AWS error answer as a :class:`ServiceError` with the service's code."""
    try:
        answer = json.loads(raw or b"{}")
    except ValueError:
        answer = {}
    code = str(answer.get("__type") or answer.get("code") or f"HTTP{status}").rsplit("#", 1)[-1]
    message = answer.get("message") or answer.get("Message") or raw[:200].decode(errors="replace")
    return ServiceError(code, str(message), status)


def http_send(request: urllib.request.Request, context: ssl.SSLContext, timeout: float) -> bytes:
    """Sends a request; an AWS error answer becomes a :class:`ServiceError` with the service's code."""
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            return response.read()
    except urllib.error.HTTPError as error:
        raise service_error(error.code, error.read()) from None


class KeptAlive:
    """Kept-alive connections to one endpoint, one call on each at a time (a long poll holds one while the
    command threads use others). Under emulation a TLS handshake costs more than the call it carries, and a
    Run Command message takes four calls. A reused connection that the server closed while idle fails before
    any answer; the call is then sent once more on a new one. A proxy from the environment is honoured by
    sending through urllib instead, as before."""

    #: Idle connections kept; more concurrent calls than this open (and then close) their own.
    IDLE_LIMIT = 4

    def __init__(self, endpoint: str, context: ssl.SSLContext) -> None:
        parts = urllib.parse.urlsplit(endpoint)
        self.secure, self.host, self.port = parts.scheme == "https", parts.hostname or "", parts.port
        self.context = context
        self.proxied = parts.hostname is not None and bool(urllib.request.getproxies().get(parts.scheme)) and \
            not urllib.request.proxy_bypass(parts.hostname)
        self.idle: list[http.client.HTTPConnection] = []
        self.lock = threading.Lock()

    def _new(self, timeout: float) -> http.client.HTTPConnection:
        if self.secure:
            return http.client.HTTPSConnection(self.host, self.port, timeout=timeout, context=self.context)
        return http.client.HTTPConnection(self.host, self.port, timeout=timeout)

    def send(self, url: str, body: bytes, headers: dict[str, str], timeout: float) -> bytes:
        """POSTs ``body``; the answer's body, or a :class:`ServiceError` for an error answer."""
        if self.proxied:
            return http_send(urllib.request.Request(url, body, headers, method="POST"), self.context, timeout)
        path = urllib.parse.urlsplit(url).path or "/"
        while True:
            with self.lock:
                connection, reused = (self.idle.pop(), True) if self.idle else (self._new(timeout), False)
            try:
                connection.timeout = timeout
                if connection.sock is not None:
                    connection.sock.settimeout(timeout)
                connection.request("POST", path, body, headers)
                response = connection.getresponse()
                raw = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError) as error:
                connection.close()
                if reused:
                    continue  # closed while idle: the request never reached a live connection's reader
                raise ConnectionError(f"{self.host}: {error}") from error
            except http.client.HTTPException as error:
                connection.close()
                raise ConnectionError(f"{self.host}: {error}") from error
            except BaseException:
                connection.close()
                raise
            with self.lock:
                keep = not response.will_close and len(self.idle) < self.IDLE_LIMIT
                if keep:
                    self.idle.append(connection)
            if not keep:
                connection.close()
            if response.status >= 300:
                raise service_error(response.status, raw)
            return raw


class JsonClient:
    """One AWS JSON 1.1 service: POST / with X-Amz-Target, SigV4 signed unless the operation is anonymous."""

    def __init__(self, endpoint: str, region: str, signing_name: str, target_prefix: str,
                 context: ssl.SSLContext, credentials: Callable[[], Credentials] | None = None) -> None:
        self.endpoint, self.region, self.signing_name = endpoint.rstrip("/"), region, signing_name
        self.target_prefix, self.context, self.credentials = target_prefix, context, credentials
        self.connections = KeptAlive(self.endpoint, context)

    def call(self, operation: str, payload: dict[str, Any], *, signed: bool = True,
             timeout: float = 20) -> dict[str, Any]:
        url = self.endpoint + "/"
        body = json.dumps(payload).encode()
        headers = {"Content-Type": "application/x-amz-json-1.1",
                   "X-Amz-Target": f"{self.target_prefix}.{operation}"}
        if signed and self.credentials is not None:
            headers = sigv4_headers("POST", url, headers, body, self.credentials(), self.region,
                                    self.signing_name, datetime.now(UTC))
        return json.loads(self.connections.send(url, body, headers, timeout) or b"{}")
