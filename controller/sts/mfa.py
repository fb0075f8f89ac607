"""The MFA that GetSessionToken and AssumeRole carry: ``SerialNumber`` + ``TokenCode``, verified.

The serial number must name a virtual MFA device enabled for the calling IAM user, and
the code must be the device's code for the current 30-second step (give or take the
tolerance in ``mfa_codes``) and not one already used. What passes becomes the new
session's ``mfa_authenticated_at``, from which enforcement derives
``aws:MultiFactorAuthPresent`` and ``aws:MultiFactorAuthAge`` on every later call.
Failures are AWS STS's AccessDenied, in its words.
"""

from __future__ import annotations

import datetime as dt

from controller.api import Params, RequestContext
from controller.errors import error
from controller.iam import mfa_codes
from controller.iam.mfa_devices import claim_step, find_device, seed_of

AccessDenied = error("AccessDenied", 403)
ValidationError = error("ValidationError", 400)

UNKNOWN_DEVICE = ("MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial "
                  "number is valid and associated with this user.")
#: AWS's message ends with a space; clients that compare it exactly expect it.
INVALID_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "


def authenticate(ctx: RequestContext, params: Params) -> dt.datetime | None:
    """When the request carries MFA, verify it and return the authentication time; None without MFA.

    Verifying uses up the code's time step, so the same code is refused the next time.
    """
    serial, code = params.get("SerialNumber"), params.get("TokenCode")
    if not serial and not code:
        return None
    if not serial or not code:
        raise ValidationError("SerialNumber and TokenCode must be given together.")
    caller = ctx.principal
    with ctx.cloud.db.begin() as conn:
        device = find_device(conn, caller.account_id, serial)
        if device is None or caller.kind != "user" or device["user_id"] != caller.user_id:
            raise AccessDenied(UNKNOWN_DEVICE)
        step = mfa_codes.matching_step(seed_of(ctx.cloud, device), code, mfa_codes.time_step(ctx.received_at),
                                       drift=device["drift_steps"], after=device["last_step"])
        if step is None or not claim_step(conn, device["serial_number"], step):
            raise AccessDenied(INVALID_CODE)
    return ctx.received_at
