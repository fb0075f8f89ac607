"""Virtual MFA devices' one-time codes (RFC 6238 TOTP) and their enrolment QR code, without state.

A device is a random seed that an authenticator app and IAM share; each 30-second
*time step* has its own 6-digit code. IAM remembers, per device, the last step whose
code it accepted and the device's clock drift in steps (set by ResyncMFADevice);
these functions take them as arguments and return the step a code matched, so the
caller can record it and refuse the same code a second time (replay).

pyotp computes the codes and compares them in constant time; segno draws the QR
code as a PNG in pure Python.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import secrets
from urllib.parse import quote

import pyotp
import segno

STEP_SECONDS = 30
#: Steps either side of the (drift-corrected) current step whose codes are accepted: a code stays
#: valid a little after its 30 seconds, and the device's clock may be a little off, as on AWS.
DRIFT_TOLERANCE_STEPS = 1
#: ResyncMFADevice looks this far either side of now for the two codes (the device has drifted).
RESYNC_WINDOW_STEPS = 20
#: AWS's seeds are 64 Base32 characters: 40 random bytes.
SEED_BYTES = 40
#: The name authenticator apps show above the codes.
ISSUER = "Cloudlet"


def new_seed() -> str:
    """A fresh secret seed in Base32 (what CreateVirtualMFADevice returns as ``Base32StringSeed``)."""
    return base64.b32encode(secrets.token_bytes(SEED_BYTES)).decode("ascii")


def time_step(moment: dt.datetime) -> int:
    """The TOTP counter of ``moment`` (seconds since the epoch, in steps of 30)."""
    return int(moment.timestamp()) // STEP_SECONDS


def code_at_step(seed: str, step: int) -> str:
    return pyotp.TOTP(seed, interval=STEP_SECONDS).generate_otp(step)


def matching_step(seed: str, code: str, now_step: int, *, drift: int = 0, after: int | None = None,
                  window: int = DRIFT_TOLERANCE_STEPS) -> int | None:
    """The step within ``window`` of ``now_step + drift`` whose code is ``code``, later than ``after``.

    None when no such step exists: a wrong code, one too old or too far ahead, or one
    whose step was already used (at or before ``after``).
    """
    center = now_step + drift
    for step in range(center - window, center + window + 1):
        if after is not None and step <= after:
            continue
        if pyotp.utils.strings_equal(code_at_step(seed, step), code):
            return step
    return None


def consecutive_step(seed: str, first: str, second: str, now_step: int, *, after: int | None = None,
                     window: int = DRIFT_TOLERANCE_STEPS) -> int | None:
    """The step of ``second`` when ``first`` and ``second`` are the codes of two consecutive steps.

    EnableMFADevice and ResyncMFADevice prove that the caller holds the seed (and where
    its clock is) with two codes in a row; both steps must lie within ``window`` of
    ``now_step`` and after ``after``.
    """
    for step in range(now_step - window, now_step + window):
        if after is not None and step <= after:
            continue
        if pyotp.utils.strings_equal(code_at_step(seed, step), first) and \
                pyotp.utils.strings_equal(code_at_step(seed, step + 1), second):
            return step + 1
    return None


def provisioning_uri(seed: str, device_name: str, account_id: str) -> str:
    """``otpauth://totp/Cloudlet:NAME@ACCOUNT?secret=...&issuer=Cloudlet``, the URI the QR code holds."""
    label = quote(f"{ISSUER}:{device_name}@{account_id}", safe=":@")
    return f"otpauth://totp/{label}?secret={seed}&issuer={quote(ISSUER)}"


def qr_code_png(uri: str) -> bytes:
    """A PNG of the QR code of ``uri``, as an authenticator app scans it."""
    buffer = io.BytesIO()
    segno.make(uri, error="m", micro=False).save(buffer, kind="png", scale=4, border=4)
    return buffer.getvalue()
