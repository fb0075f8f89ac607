"""USER_SRP_AUTH and its PASSWORD_VERIFIER challenge: the sign-in AWS's SDKs and Amplify use by default.

InitiateAuth gets the client's SRP_A and answers the user's salt, the server's SRP_B and a SECRET_BLOCK;
the client proves the password with PASSWORD_CLAIM_SIGNATURE over that block and its timestamp. The server
half of the exchange (b, A, B) lives in a 3-minute challenge session; the SECRET_BLOCK carries that
session's handle, because clients such as pycognito answer the challenge without sending ``Session``.
A block is good for one answer.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import hmac
from typing import Any

from controller.cognito_idp import auth, errors, srp
from controller.cognito_idp.auth import AuthCall
from controller.cognito_idp.password_flows import user_for
from controller.cognito_idp.users import find_user

CHALLENGE = "PASSWORD_VERIFIER"
#: How far the client's TIMESTAMP may stray from the server's clock.
CLOCK_SKEW = dt.timedelta(minutes=15)


def user_srp_auth(call: AuthCall) -> dict[str, Any]:
    name, big_a_hex = call.parameters.get("USERNAME"), call.parameters.get("SRP_A")
    if not name:
        raise errors.InvalidParameterException("Missing required parameter USERNAME")
    if not big_a_hex:
        raise errors.InvalidParameterException("Missing required parameter SRP_A")
    big_a = srp.valid_client_value(big_a_hex)
    if big_a is None:
        raise errors.InvalidParameterException("SRP_A is not a valid SRP value.")
    user = user_for(call, name)
    auth.check_secret(call, name, user["username"])
    if not user["srp_verifier"]:  # a password set before SRP existed here: it must be set again
        raise errors.bad_credentials()
    b, big_b = srp.server_ephemeral(user["srp_verifier"])
    session = auth.new_session(call.ctx.cloud, call.pool["Id"], user["username"], CHALLENGE,
                               {"b": f"{b:x}", "A": f"{big_a:x}", "B": f"{big_b:x}"})
    return {"ChallengeName": CHALLENGE, "Session": session, "ChallengeParameters": {
        "SALT": user["srp_salt"], "SRP_B": f"{big_b:x}", "USERNAME": user["username"],
        "USER_ID_FOR_SRP": user["username"], "SECRET_BLOCK": base64.b64encode(session.encode()).decode()}}


def password_verifier(call: AuthCall) -> dict[str, Any]:
    given = {name: call.parameters.get(name) for name in
             ("PASSWORD_CLAIM_SIGNATURE", "PASSWORD_CLAIM_SECRET_BLOCK", "TIMESTAMP", "USERNAME")}
    for name, value in given.items():
        if not value:
            raise errors.InvalidParameterException(f"Missing required parameter {name}")
    try:
        block = base64.b64decode(given["PASSWORD_CLAIM_SECRET_BLOCK"], validate=True)
        handle = block.decode()
    except (binascii.Error, UnicodeDecodeError):
        raise errors.bad_session() from None
    session = call.session or auth.open_session(call.ctx.cloud, handle, CHALLENGE)
    if call.session is not None and call.session.get("token") != handle:
        raise errors.bad_session()
    if session["pool_id"] != call.pool["Id"]:
        raise errors.bad_session()
    auth.end_session(call.ctx.cloud, handle)  # one answer per block, right or wrong
    with call.ctx.cloud.db.read() as conn:
        user = find_user(conn, call.pool["Id"], session["username"])
    if user is None or not user["srp_verifier"]:
        raise errors.bad_credentials()
    auth.check_secret(call, given["USERNAME"], user["username"])
    if not _fresh(given["TIMESTAMP"]):
        raise errors.NotAuthorizedException("Incorrect username or password.")
    key = srp.session_key(int(session["A"], 16), int(session["B"], 16), int(session["b"], 16), user["srp_verifier"])
    expected = srp.claim_signature(key, call.pool["Id"], user["username"], block, given["TIMESTAMP"])
    if not hmac.compare_digest(expected, given["PASSWORD_CLAIM_SIGNATURE"]):
        raise errors.bad_credentials()
    return auth.finish(call, user)


def _fresh(timestamp: str) -> bool:
    """Whether TIMESTAMP ("Sat Dec 5 03:04:05 UTC 2026", as the clients format it) is near the server's now."""
    try:
        stamp = dt.datetime.strptime(timestamp, "%a %b %d %H:%M:%S UTC %Y").replace(tzinfo=dt.UTC)
    except ValueError:
        return False
    return abs(dt.datetime.now(dt.UTC) - stamp) <= CLOCK_SKEW


auth.FLOWS["USER_SRP_AUTH"] = user_srp_auth
auth.CHALLENGES[CHALLENGE] = password_verifier
