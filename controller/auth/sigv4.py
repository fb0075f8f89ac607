"""AWS Signature Version 4 verification, in the words each AWS service uses.

Two steps, so the caller can look the access key up in between (an unknown key is
answered before the signature is checked, as AWS does)::

    info = sigv4.parse_authorization(request, service="s3", region="us-east-1")
    if info is None:            # no SigV4 at all: anonymous for S3, MissingAuthenticationToken elsewhere
        ...
    secret = keys[info.access_key_id]
    signing = sigv4.verify(request, info, secret, now=now, service="s3")

Both the ``Authorization`` header form and the presigned query form are supported.
The canonical request is built exactly as AWS builds it; the only per-service
differences are the ``service="s3"`` rules: S3 canonicalizes the path by decoding and
re-encoding it once (other services encode the raw path a second time, after removing
dot segments), trusts ``x-amz-content-sha256`` for the payload hash (checked against
the body later, while streaming), answers time skew with ``RequestTimeTooSkewed``,
honours ``X-Amz-Expires`` and has its own error codes for malformed authorization.

The signing key is derived once per secret, day, region and service (an LRU cache),
since the four chained HMACs dominate the cost of a verification.

Header values and the raw path are taken as a WSGI server hands them over (bytes
decoded as Latin-1) and signed as the client's bytes, so UTF-8 metadata verifies.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import re
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from functools import lru_cache

from controller.auth.canonical import (
    canonical_header_value,
    canonical_query_string,
    canonical_uri,
    query_params,
    raw_query,
)
from controller.errors import AccessDenied, ServiceError, error
from controller.protocol.http import HttpRequest

ALGORITHM = "AWS4-HMAC-SHA256"
TERMINATOR = "aws4_request"
UNSIGNED_PAYLOAD = "UNSIGNED-PAYLOAD"
STREAMING_SIGNED = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"
STREAMING_SIGNED_TRAILER = "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"
STREAMING_UNSIGNED_TRAILER = "STREAMING-UNSIGNED-PAYLOAD-TRAILER"
#: SigV4a streaming payloads: named in S3's error message, not supported here.
_STREAMING_ECDSA = ("STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD", "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER")
#: The payload tokens S3 accepts in ``x-amz-content-sha256`` besides a hex SHA-256.
PAYLOAD_TOKENS = frozenset({UNSIGNED_PAYLOAD, STREAMING_SIGNED, STREAMING_SIGNED_TRAILER, STREAMING_UNSIGNED_TRAILER})
EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()

MAX_SKEW = dt.timedelta(minutes=15)
MAX_PRESIGNED_EXPIRES = 604800

IncompleteSignature = error("IncompleteSignature", 400)
SignatureDoesNotMatch = error("SignatureDoesNotMatch", 403)
RequestTimeTooSkewed = error("RequestTimeTooSkewed", 403)
AuthorizationHeaderMalformed = error("AuthorizationHeaderMalformed", 400)
AuthorizationQueryParametersError = error("AuthorizationQueryParametersError", 400)
InvalidRequest = error("InvalidRequest", 400)
InvalidArgument = error("InvalidArgument", 400)

_MISMATCH_S3 = ("The request signature we calculated does not match the signature you provided. "
                "Check your key and signing method.")
_MISMATCH = ("The request signature we calculated does not match the signature you provided. "
             "Check your AWS Secret Access Key and signing method. Consult the service documentation for details.")
_S3_ONLY_V4 = "The authorization mechanism you have provided is not supported. Please use AWS4-HMAC-SHA256."
_S3_ONE_MECHANISM = ("Only one auth mechanism allowed; only the X-Amz-Algorithm query parameter, Signature query "
                     "string parameter or the Authorization header should be specified")
_S3_BAD_PAYLOAD_HASH = ("x-amz-content-sha256 must be UNSIGNED-PAYLOAD, STREAMING-UNSIGNED-PAYLOAD-TRAILER, "
                        "STREAMING-AWS4-HMAC-SHA256-PAYLOAD, STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER, "
                        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD, STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD-TRAILER "
                        "or a valid sha256 value.")
_S3_PRESIGN_PARAMS = ("Query-string authentication version 4 requires the X-Amz-Algorithm, X-Amz-Credential, "
                      "X-Amz-Signature, X-Amz-Date, X-Amz-SignedHeaders, and X-Amz-Expires parameters.")
_S3_CREDENTIAL_FORMAT = ('the Credential is mal-formed; expecting "<YOUR-AKID>/YYYYMMDD/REGION/SERVICE/'
                         'aws4_request".')
_S3_NO_DATE = "AWS authentication requires a valid Date or x-amz-date header"
_S3_PRESIGN_DATE = "X-Amz-Date must be in the ISO8601 Long Format \"yyyyMMdd'T'HHmmss'Z'\""
_S3_NOT_SIGNED = "There were headers present in the request which were not signed"
_HOST_NOT_SIGNED = "'Host' or ':authority' must be a 'SignedHeader' in the AWS Authorization."

#: Query parameters of a presigned request, by lower-case name (S3 takes any letter case).
_PRESIGN_PARAMS = ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature", "X-Amz-Date",
                   "X-Amz-SignedHeaders", "X-Amz-Expires")
_AMZ_DATE = re.compile(r"\d{8}T\d{6}Z")
_SCOPE_DATE = re.compile(r"\d{8}")
_SHA256_HEX = re.compile(r"[0-9a-fA-F]{64}")
_SIGNATURE_HEX = re.compile(r"[0-9a-fA-F]{64}")


@dataclass(frozen=True, slots=True)
class SignatureInfo:
    """What a request claims about its signature, parsed and checked for form only.

    ``date``/``region``/``service`` are the credential scope. ``payload_hash`` is the
    payload hash the request declares (``x-amz-content-sha256``; ``UNSIGNED-PAYLOAD`` for
    an S3 presigned URL), ``None`` when it declares none. ``amz_date`` is the signing
    time (from ``X-Amz-Date``, else the ``Date`` header) and ``timestamp`` the same in
    the ISO 8601 basic form the string to sign uses. ``expires`` is ``X-Amz-Expires`` of
    a presigned request.
    """

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str
    payload_hash: str | None
    security_token: str | None
    presigned: bool
    expires: int | None
    amz_date: dt.datetime
    timestamp: str

    @property
    def scope(self) -> str:
        return f"{self.date}/{self.region}/{self.service}/{TERMINATOR}"


@dataclass(frozen=True, slots=True)
class SigningContext:
    """What a verified request hands on to check the rest of its payload (aws-chunked signatures)."""

    key: bytes = field(repr=False)
    timestamp: str
    scope: str
    seed_signature: str
    access_key_id: str


@lru_cache(maxsize=4096)
def signing_key(secret_access_key: str, date: str, region: str, service: str) -> bytes:
    """The SigV4 signing key, ``HMAC(HMAC(HMAC(HMAC("AWS4"+secret, date), region), service), "aws4_request")``."""
    key = hmac.digest(f"AWS4{secret_access_key}".encode(), date.encode(), "sha256")
    for part in (region, service, TERMINATOR):
        key = hmac.digest(key, part.encode(), "sha256")
    return key


def sign(key: bytes, string_to_sign: str) -> str:
    """The hex HMAC-SHA256 of ``string_to_sign`` under a signing key."""
    return hmac.new(key, string_to_sign.encode("utf-8", "surrogateescape"), hashlib.sha256).hexdigest()


# --- parsing -----------------------------------------------------------------------------------------


def parse_authorization(request: HttpRequest, *, service: str = "",
                        region: str | None = None) -> SignatureInfo | None:
    """Parse and check the form of the request's SigV4 authorization.

    Returns ``None`` when the request carries no SigV4 authorization at all; the caller
    decides between anonymous access (S3) and ``MissingAuthenticationToken``. Raises the
    ``service``'s own error for a malformed authorization: a missing part, a credential
    scope that is not ``<key>/<yyyymmdd>/<region>/<service>/aws4_request`` (checked
    against ``service`` and, when given, ``region``), a missing or invalid date, ``host``
    not signed. ``service="s3"`` selects S3's rules and error codes.
    """
    s3 = service == "s3"
    authorization = (request.headers.get("authorization") or "").strip()
    query = query_params(request)
    query_algorithm = query.get("x-amz-algorithm")
    if authorization:
        if query_algorithm is not None:
            if s3:
                raise InvalidArgument(_S3_ONE_MECHANISM, ArgumentName="Authorization", ArgumentValue=authorization)
            raise IncompleteSignature("Found both 'X-Amz-Algorithm' as a query-string param and 'Authorization' "
                                      "as HTTP header.")
        return _parse_header(request, authorization, service, region)
    if s3 and any(name.lower() in query for name in _PRESIGN_PARAMS):
        return _parse_query(request, query, service, region)
    if not s3 and query_algorithm is not None:
        return _parse_query(request, query, service, region)
    if s3 and "awsaccesskeyid" in query and "signature" in query:
        raise InvalidRequest(_S3_ONLY_V4)
    return None


def _parse_header(request: HttpRequest, authorization: str, service: str,
                  region: str | None) -> SignatureInfo | None:
    s3 = service == "s3"
    algorithm, _, rest = authorization.partition(" ")
    if algorithm != ALGORITHM:
        if s3:
            if algorithm == "AWS" or algorithm.startswith("AWS4-"):
                raise InvalidRequest(_S3_ONLY_V4)
            raise InvalidArgument("Unsupported Authorization Type", ArgumentName="Authorization",
                                  ArgumentValue=authorization)
        if algorithm.startswith("AWS4-"):
            raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{algorithm}' (only AWS4-HMAC-SHA256 for now). ")
        return None
    components: dict[str, str] = {}
    for component in rest.split(","):
        component = component.strip()
        if not component:
            continue
        name, equals, value = component.partition("=")
        if not equals:
            if s3:
                raise AuthorizationHeaderMalformed(
                    f'The authorization header is malformed; the authorization component "{component}" is '
                    "malformed.")
            raise IncompleteSignature(f"'{component}' not a valid key=value pair (missing equal-sign) in "
                                      f"Authorization header: '{authorization}'.")
        components[name.strip()] = value.strip()
    date_header = request.headers.get("x-amz-date") or request.headers.get("date")
    missing = [name for name in ("Credential", "SignedHeaders", "Signature") if not components.get(name)]
    if s3 and missing:
        raise AuthorizationHeaderMalformed("The authorization header is malformed; the authorization header "
                                           "requires three components: Credential, SignedHeaders, and Signature.")
    if not s3 and (missing or not date_header):
        message = "".join(f"Authorization header requires '{name}' parameter. " for name in missing)
        if not date_header:
            message += "Authorization header requires existence of either a 'X-Amz-Date' or a 'Date' header. "
        raise IncompleteSignature(f"{message}Authorization={authorization}")

    access_key_id, date, scope_region, scope_service = _parse_credential(
        components["Credential"], service, region, where="header")
    amz_date, timestamp = _request_time(request, service)
    _check_scope_date(date, timestamp, service, where="header")
    signed_headers = _signed_headers(components["SignedHeaders"])
    payload_hash = request.headers.get("x-amz-content-sha256")
    if s3:
        _check_s3_payload_hash(payload_hash)
    _check_signed_headers(request, signed_headers, s3, presigned=False)
    return SignatureInfo(
        access_key_id=access_key_id, date=date, region=scope_region, service=scope_service,
        signed_headers=signed_headers, signature=components["Signature"], payload_hash=payload_hash,
        security_token=request.headers.get("x-amz-security-token"), presigned=False, expires=None,
        amz_date=amz_date, timestamp=timestamp)


def _parse_query(request: HttpRequest, query: dict[str, str], service: str, region: str | None) -> SignatureInfo:
    s3 = service == "s3"
    if s3:
        if any(not query.get(name.lower()) for name in _PRESIGN_PARAMS):
            raise AuthorizationQueryParametersError(_S3_PRESIGN_PARAMS)
    else:
        missing = [name for name in ("X-Amz-Algorithm", "X-Amz-Credential", "X-Amz-Signature",
                                     "X-Amz-SignedHeaders", "X-Amz-Date") if not query.get(name.lower())]
        if missing:
            message = "".join(f"AWS query-string parameters must include '{name}'. " for name in missing)
            raise IncompleteSignature(message + "Re-examine the query-string parameters.")
    algorithm = query["x-amz-algorithm"]
    if algorithm != ALGORITHM:
        if s3:
            raise AuthorizationQueryParametersError(
                'X-Amz-Algorithm only supports "AWS4-HMAC-SHA256 and AWS4-ECDSA-P256-SHA256"')
        raise IncompleteSignature(f"Unsupported AWS 'algorithm': '{algorithm}' (only AWS4-HMAC-SHA256 for now). ")
    access_key_id, date, scope_region, scope_service = _parse_credential(
        query["x-amz-credential"], service, region, where="query")
    timestamp = query["x-amz-date"]
    amz_date = _parse_amz_date(timestamp)
    if amz_date is None:
        if s3:
            raise AuthorizationQueryParametersError(_S3_PRESIGN_DATE)
        raise IncompleteSignature(_coral_date_message(timestamp))
    _check_scope_date(date, timestamp, service, where="query")
    expires = _parse_expires(query.get("x-amz-expires"), s3)
    signed_headers = _signed_headers(query["x-amz-signedheaders"])
    _check_signed_headers(request, signed_headers, s3, presigned=True)
    if s3:
        payload_hash = query.get("x-amz-content-sha256") or UNSIGNED_PAYLOAD
        _check_s3_payload_hash(payload_hash)
    else:
        payload_hash = request.headers.get("x-amz-content-sha256")
    return SignatureInfo(
        access_key_id=access_key_id, date=date, region=scope_region, service=scope_service,
        signed_headers=signed_headers, signature=query["x-amz-signature"], payload_hash=payload_hash,
        security_token=query.get("x-amz-security-token"), presigned=True, expires=expires,
        amz_date=amz_date, timestamp=timestamp)


def _parse_credential(credential: str, service: str, region: str | None, *,
                      where: str) -> tuple[str, str, str, str]:
    """Split ``<key>/<date>/<region>/<service>/aws4_request`` and check it against the endpoint."""
    s3 = service == "s3"
    parts = credential.split("/")
    if len(parts) != 5 or not parts[0]:
        if s3:
            raise _s3_malformed(where, _S3_CREDENTIAL_FORMAT)
        raise IncompleteSignature("Credential must have exactly 5 slash-delimited elements, e.g. "
                                  f"keyid/date/region/service/term, got '{credential}'")
    access_key_id, date, scope_region, scope_service, terminator = parts
    if s3:
        if not _SCOPE_DATE.fullmatch(date):
            raise _s3_malformed(where, f'incorrect date format "{date}". This date in the credential must be in '
                                       'the format "yyyyMMdd".')
        if terminator != TERMINATOR:
            raise _s3_malformed(where, f'incorrect terminal "{terminator}". This endpoint uses "aws4_request".')
        if scope_service != "s3":
            raise _s3_malformed(where, f'incorrect service "{scope_service}". This endpoint belongs to "s3".')
        if region is not None and scope_region != region:
            exc = _s3_malformed(where, f"the region '{scope_region}' is wrong; expecting '{region}'")
            exc.extra["Region"] = region
            raise exc
        return access_key_id, date, scope_region, scope_service
    problems = []
    if region is not None and scope_region != region:
        problems.append(f"Credential should be scoped to a valid region, not '{scope_region}'. ")
    if service and scope_service != service:
        problems.append(f"Credential should be scoped to correct service: '{service}'. ")
    if terminator != TERMINATOR:
        problems.append(f"Credential should be scoped with a valid terminator: 'aws4_request', not '{terminator}'. ")
    if problems:
        raise SignatureDoesNotMatch("".join(problems).rstrip())
    return access_key_id, date, scope_region, scope_service


def _s3_malformed(where: str, detail: str) -> ServiceError:
    if where == "header":
        return AuthorizationHeaderMalformed(f"The authorization header is malformed; {detail}")
    return AuthorizationQueryParametersError(f"Error parsing the X-Amz-Credential parameter; {detail}")


def _request_time(request: HttpRequest, service: str) -> tuple[dt.datetime, str]:
    """The signing time of a header-signed request: ``x-amz-date``, else ``Date``."""
    amz_date_header = request.headers.get("x-amz-date")
    if amz_date_header is not None:
        raw = amz_date_header.strip()
        amz_date = _parse_amz_date(raw)
    else:
        raw = request.headers.get("date", "")
        amz_date = _parse_http_date(raw)
    if amz_date is None:
        if service == "s3":
            raise AccessDenied(_S3_NO_DATE)
        raise IncompleteSignature(_coral_date_message(raw))
    return amz_date, raw if amz_date_header is not None else _iso_basic(amz_date)


def _coral_date_message(raw: str) -> str:
    return f"Date must be in ISO-8601 'basic format'. Got '{raw}'. See http://en.wikipedia.org/wiki/ISO_8601"


def _check_scope_date(date: str, timestamp: str, service: str, *, where: str) -> None:
    if date == timestamp[:8]:
        return
    if service == "s3":
        message = f'Invalid credential date "{date}". This date is not the same as X-Amz-Date: "{timestamp[:8]}".'
        if where == "header":
            raise AuthorizationHeaderMalformed(f"The authorization header is malformed; {message}")
        raise AuthorizationQueryParametersError(message)
    raise SignatureDoesNotMatch("Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date "
                                f"from HTTP: '{date}' != '{timestamp[:8]}', from '{timestamp}'.")


def _parse_expires(value: str | None, s3: bool) -> int | None:
    if value is None or not s3:
        return int(value) if value is not None and value.isdigit() else None
    try:
        expires = int(value)
    except ValueError:
        raise AuthorizationQueryParametersError("X-Amz-Expires should be a number") from None
    if expires < 0:
        raise AuthorizationQueryParametersError("X-Amz-Expires must be non-negative")
    if expires > MAX_PRESIGNED_EXPIRES:
        raise AuthorizationQueryParametersError(
            "X-Amz-Expires must be less than a week (in seconds); that is, the given X-Amz-Expires must be less "
            "than 604800 seconds")
    return expires


def _signed_headers(value: str) -> tuple[str, ...]:
    return tuple(name.strip().lower() for name in value.split(";") if name.strip())


def _check_signed_headers(request: HttpRequest, signed_headers: tuple[str, ...], s3: bool, *,
                          presigned: bool) -> None:
    """``host`` must be signed; S3 also wants every ``x-amz-*`` header it receives signed."""
    if not s3:
        if "host" not in signed_headers and ":authority" not in signed_headers:
            raise SignatureDoesNotMatch(_HOST_NOT_SIGNED)
        return
    signed = set(signed_headers)
    unsigned = [] if "host" in signed else ["host"]
    unsigned += [name for name in request.headers
                 if name.startswith("x-amz-") and name not in signed
                 and not (presigned and name == "x-amz-content-sha256")]
    if unsigned:
        raise AccessDenied(_S3_NOT_SIGNED, HeadersNotSigned=", ".join(unsigned))


def _check_s3_payload_hash(payload_hash: str | None) -> None:
    if payload_hash is None:
        raise InvalidRequest("Missing required header for this request: x-amz-content-sha256")
    if payload_hash in PAYLOAD_TOKENS or is_sha256_hex(payload_hash):
        return
    if payload_hash in _STREAMING_ECDSA:
        raise InvalidRequest(_S3_ONLY_V4)
    raise InvalidArgument(_S3_BAD_PAYLOAD_HASH, ArgumentName="x-amz-content-sha256", ArgumentValue=payload_hash)


def is_sha256_hex(value: str) -> bool:
    return _SHA256_HEX.fullmatch(value) is not None


def _parse_amz_date(value: str) -> dt.datetime | None:
    """Parse the ISO 8601 basic form ``20130524T000000Z`` (strptime is ten times slower)."""
    if not _AMZ_DATE.fullmatch(value):
        return None
    try:
        return dt.datetime(int(value[0:4]), int(value[4:6]), int(value[6:8]), int(value[9:11]),
                           int(value[11:13]), int(value[13:15]), tzinfo=dt.UTC)
    except ValueError:
        return None


def _parse_http_date(value: str) -> dt.datetime | None:
    """Parse an RFC 7231 ``Date`` header (``-0000``, which Python leaves naive, is UTC too)."""
    try:
        parsed = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


# --- verification ------------------------------------------------------------------------------------


def verify(request: HttpRequest, info: SignatureInfo, secret_access_key: str, *, now: dt.datetime,
           service: str = "") -> SigningContext:
    """Check the request's signature and time against the signer's secret.

    Raises ``SignatureDoesNotMatch`` (403) with ``StringToSign``, ``CanonicalRequest``,
    ``SignatureProvided`` and ``AWSAccessKeyId`` in ``extra``; for a request signed
    more than 15 minutes away from ``now``, S3's ``RequestTimeTooSkewed`` or the other
    services' "Signature expired" / "Signature not yet current"; for an S3 presigned URL
    past ``X-Amz-Expires``, ``AccessDenied`` "Request has expired". Like AWS, S3 checks
    the signature before the time and the other services the time first. Returns what
    an aws-chunked body needs to verify its chunk signatures.
    """
    s3 = service == "s3"
    if not s3:
        _check_skew_coral(info, now)
    canonical = canonical_request(request, info, service=service)
    to_sign = string_to_sign(info, canonical)
    key = signing_key(secret_access_key, info.date, info.region, info.service)
    expected = sign(key, to_sign)
    provided = info.signature.lower()
    if not hmac.compare_digest(expected, provided if _SIGNATURE_HEX.fullmatch(provided) else ""):
        raise signature_mismatch(info.access_key_id, info.signature, to_sign, canonical, s3=s3)
    if s3:
        _check_time_s3(info, now)
    return SigningContext(key=key, timestamp=info.timestamp, scope=info.scope, seed_signature=expected,
                          access_key_id=info.access_key_id)


def signature_mismatch(access_key_id: str, provided: str, to_sign: str, canonical: str | None, *,
                       s3: bool) -> ServiceError:
    """The ``SignatureDoesNotMatch`` error with what the server signed, so a client can compare."""
    extra = {"AWSAccessKeyId": access_key_id, "StringToSign": to_sign, "SignatureProvided": provided}
    if s3:
        extra["StringToSignBytes"] = _spaced_hex(to_sign)
    if canonical is not None:
        extra["CanonicalRequest"] = canonical
        if s3:
            extra["CanonicalRequestBytes"] = _spaced_hex(canonical)
    return SignatureDoesNotMatch(_MISMATCH_S3 if s3 else _MISMATCH, **extra)


def _spaced_hex(text: str) -> str:
    return text.encode("utf-8", "surrogateescape").hex(" ")


def _check_skew_coral(info: SignatureInfo, now: dt.datetime) -> None:
    """The 15-minute window of the non-S3 services (which ignore ``X-Amz-Expires``)."""
    stamp = _iso_basic(now)
    if info.amz_date < now - MAX_SKEW:
        raise SignatureDoesNotMatch(f"Signature expired: {info.timestamp} is now earlier than "
                                    f"{_iso_basic(now - MAX_SKEW)} ({stamp} - 15 min.)")
    if info.amz_date > now + MAX_SKEW:
        raise SignatureDoesNotMatch(f"Signature not yet current: {info.timestamp} is still later than "
                                    f"{_iso_basic(now + MAX_SKEW)} ({stamp} + 15 min.)")


def _check_time_s3(info: SignatureInfo, now: dt.datetime) -> None:
    server_time = _iso_extended(now)
    if not info.presigned:
        if abs(now - info.amz_date) > MAX_SKEW:
            raise RequestTimeTooSkewed(
                "The difference between the request time and the current time is too large.",
                RequestTime=info.timestamp, ServerTime=server_time,
                MaxAllowedSkewMilliseconds=str(int(MAX_SKEW.total_seconds() * 1000)))
        return
    if info.amz_date > now + MAX_SKEW:
        raise AccessDenied("Request is not yet valid", **{"X-Amz-Date": info.timestamp}, ServerTime=server_time)
    expires = info.expires or 0
    expiry = info.amz_date + dt.timedelta(seconds=expires)
    if expires == 0 or now > expiry:
        raise AccessDenied("Request has expired", **{"X-Amz-Expires": str(expires)}, Expires=_iso_extended(expiry),
                           ServerTime=server_time)


def _iso_basic(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%SZ")


def _iso_extended(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


# --- the canonical request ---------------------------------------------------------------------------


def string_to_sign(info: SignatureInfo, canonical: str) -> str:
    digest = hashlib.sha256(canonical.encode("utf-8", "surrogateescape")).hexdigest()
    return f"{ALGORITHM}\n{info.timestamp}\n{info.scope}\n{digest}"


def canonical_request(request: HttpRequest, info: SignatureInfo, *, service: str = "") -> str:
    """The canonical request AWS signs, as text (bytes outside UTF-8 kept as surrogate escapes)."""
    s3 = service == "s3"
    headers = request.headers
    canonical_headers = "".join(f"{name}:{canonical_header_value(headers.get(name, ''))}\n"
                                for name in info.signed_headers)
    return "\n".join((
        request.method.upper(),
        canonical_uri(request.path, s3=s3),
        canonical_query_string(raw_query(request), drop_signature=info.presigned),
        canonical_headers,
        ";".join(info.signed_headers),
        _payload_hash(request, info, s3),
    ))


def _payload_hash(request: HttpRequest, info: SignatureInfo, s3: bool) -> str:
    """S3 signs the hash it is told (and checks the body against it while streaming); others hash the body."""
    if s3:
        return info.payload_hash or UNSIGNED_PAYLOAD
    return hashlib.sha256(request.body_bytes()).hexdigest()
