"""Who a console request is: the session cookie, and the principal its temporary credentials resolve to.

The principal comes from the credential store exactly as a SigV4 call's does (:meth:`CredentialStore.resolve`,
then the key's status, expiry and session token), so a session whose credentials were deleted, deactivated
or expired signs no one in, whatever the session row says; and every call the console makes runs as that
principal through ``service_calls`` (see :mod:`controller.console.calls`).
"""

from __future__ import annotations

import datetime as dt
import json
import time
from typing import Any

from flask import Response

from controller.api import Principal
from controller.auth.secrets import SecretBox, SecretDecryptionError
from controller.console import PATH
from controller.console.state import StoredSession

#: The session cookie; its Path keeps it off every request that is not the console's (AWS calls included).
COOKIE = "cloudlet_console"
#: The sign-in form's double-submit token: no session exists yet to hold a CSRF token.
SIGNIN_COOKIE = "cloudlet_console_signin"
#: How long the MFA step of a sign-in may take after the password step.
MFA_STEP_SECONDS = 300


def principal_of(cloud: Any, session: StoredSession, now: dt.datetime) -> Principal | None:
    """The principal of the session's sign-in credentials, or None when they no longer authenticate."""
    return key_principal(cloud, session.signed_in.access_key_id, session.signed_in.session_token, now)


def key_principal(cloud: Any, access_key_id: str, session_token: str, now: dt.datetime) -> Principal | None:
    """The principal of temporary credentials (sign-in's or a switched role's), or None when they no longer
    authenticate: deleted, deactivated, expired, or their token does not match."""
    credential = cloud.credentials.resolve(access_key_id)
    if credential is None or credential.status != "Active" or credential.is_expired(now):
        return None
    if not credential.token_matches(session_token):
        return None
    return credential.principal


def set_cookie(response: Response, name: str, value: str, *, expires: dt.datetime | None,
               secure: bool) -> None:
    """A console cookie: never readable by scripts, never sent by another site, only to the console."""
    response.set_cookie(name, value, expires=expires, path=PATH, secure=secure, httponly=True,
                        samesite="Strict")


def clear_cookie(response: Response, name: str, *, secure: bool) -> None:
    response.delete_cookie(name, path=PATH, secure=secure, httponly=True, samesite="Strict")


def pending_step(box: SecretBox, account: str, user_name: str, password: str) -> str:
    """What the MFA page carries between the password step and the code step: the first step's answers,
    encrypted with the cloud's key (opaque to the browser, useless after :data:`MFA_STEP_SECONDS`)."""
    return box.encrypt(json.dumps({"account": account, "user": user_name, "password": password,
                                   "at": time.time()}))


def open_pending_step(box: SecretBox, token: str) -> tuple[str, str, str] | None:
    """(account, user name, password) of a :func:`pending_step` token still in time; None otherwise."""
    try:
        step = json.loads(box.decrypt(token))
    except (SecretDecryptionError, ValueError):
        return None
    if not isinstance(step, dict) or time.time() - float(step.get("at", 0)) > MFA_STEP_SECONDS:
        return None
    return str(step["account"]), str(step["user"]), str(step["password"])
