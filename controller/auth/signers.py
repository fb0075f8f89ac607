"""Who signed a SigV4 request: the checks every signed call passes, whichever edge received it.

The API gateway (``controller/gateway.py``) and API Gateway's AWS_IAM methods (the execute-api data plane)
both resolve the access key to an active credential, then check the signature, the session's expiry and its
token, in that order and with the service's own errors (:mod:`controller.auth.errors`).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from controller.auth import errors, sigv4
from controller.auth.store import Credential
from controller.protocol.http import HttpRequest


def active_credential(cloud: Any, info: sigv4.SignatureInfo, service: str) -> Credential:
    """The credential of the request's access key, or the service's unknown-key error."""
    credential = cloud.credentials.resolve(info.access_key_id)
    if credential is None or credential.status != "Active":
        raise errors.unknown_key(service, info.access_key_id)
    return credential


def check_signature(credential: Credential, request: HttpRequest, info: sigv4.SignatureInfo, *,
                    now: dt.datetime, service: str, signing_name: str) -> sigv4.SigningContext:
    """The request's signing context once its signature, its session's expiry and token hold."""
    signing = sigv4.verify(request, info, credential.secret_access_key, now=now, service=signing_name)
    if credential.is_expired(now):
        raise errors.expired_token(service)
    if not credential.token_matches(info.security_token):
        raise errors.unknown_key(service, info.access_key_id)
    return signing
