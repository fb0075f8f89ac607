"""TOTP steps, code matching, replay and drift, and the enrolment QR code (controller/iam/mfa_codes.py)."""

from __future__ import annotations

import base64
import datetime as dt
import struct
from urllib.parse import parse_qs, urlparse

import pyotp

from controller.iam import mfa_codes

# RFC 6238 appendix B: the SHA-1 seed is the ASCII "12345678901234567890"; 8-digit codes are given,
# whose last 6 digits are the 6-digit codes.
RFC_SEED = base64.b32encode(b"12345678901234567890").decode()
RFC_VECTORS = {59: "94287082", 1111111109: "07081804", 1234567890: "89005924", 2000000000: "69279037"}


def test_codes_follow_rfc_6238() -> None:
    for seconds, code in RFC_VECTORS.items():
        step = mfa_codes.time_step(dt.datetime.fromtimestamp(seconds, dt.UTC))
        assert mfa_codes.code_at_step(RFC_SEED, step) == code[-6:]


def test_new_seeds_are_64_base32_characters_and_differ() -> None:
    first, second = mfa_codes.new_seed(), mfa_codes.new_seed()
    assert first != second and len(first) == 64
    assert len(base64.b32decode(first)) == mfa_codes.SEED_BYTES


def test_a_code_matches_its_step_within_the_tolerance_only() -> None:
    seed, now = mfa_codes.new_seed(), 1_000_000
    for offset in (-1, 0, 1):
        code = mfa_codes.code_at_step(seed, now + offset)
        assert mfa_codes.matching_step(seed, code, now) == now + offset
    for offset in (-3, -2, 2, 3):
        assert mfa_codes.matching_step(seed, mfa_codes.code_at_step(seed, now + offset), now) is None
    window_codes = {mfa_codes.code_at_step(seed, now + offset) for offset in (-1, 0, 1)}
    wrong = next(f"{n:06d}" for n in range(1_000_000) if f"{n:06d}" not in window_codes)
    assert mfa_codes.matching_step(seed, wrong, now) is None


def test_a_used_step_is_refused() -> None:
    seed, now = mfa_codes.new_seed(), 2_000_000
    code = mfa_codes.code_at_step(seed, now)
    assert mfa_codes.matching_step(seed, code, now, after=now - 1) == now
    assert mfa_codes.matching_step(seed, code, now, after=now) is None
    older = mfa_codes.code_at_step(seed, now - 1)
    assert mfa_codes.matching_step(seed, older, now, after=now) is None


def test_drift_moves_the_accepted_window() -> None:
    seed, now = mfa_codes.new_seed(), 3_000_000
    ahead = mfa_codes.code_at_step(seed, now + 5)
    assert mfa_codes.matching_step(seed, ahead, now) is None
    assert mfa_codes.matching_step(seed, ahead, now, drift=5) == now + 5


def test_consecutive_codes_give_the_second_step() -> None:
    seed, now = mfa_codes.new_seed(), 4_000_000
    code = lambda step: mfa_codes.code_at_step(seed, step)  # noqa: E731
    assert mfa_codes.consecutive_step(seed, code(now - 1), code(now), now) == now
    assert mfa_codes.consecutive_step(seed, code(now), code(now + 1), now) == now + 1
    assert mfa_codes.consecutive_step(seed, code(now + 1), code(now + 2), now) is None  # too far ahead
    assert mfa_codes.consecutive_step(seed, code(now), code(now), now) is None  # not consecutive
    assert mfa_codes.consecutive_step(seed, code(now + 1), code(now), now) is None  # wrong order
    assert mfa_codes.consecutive_step(seed, code(now - 1), code(now), now, after=now - 1) is None  # spent
    far = now + 15
    assert mfa_codes.consecutive_step(seed, code(far), code(far + 1), now) is None
    assert mfa_codes.consecutive_step(seed, code(far), code(far + 1), now,
                                      window=mfa_codes.RESYNC_WINDOW_STEPS) == far + 1


def test_codes_are_what_authenticator_apps_compute() -> None:
    seed = mfa_codes.new_seed()
    moment = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert mfa_codes.code_at_step(seed, mfa_codes.time_step(moment)) == pyotp.TOTP(seed).at(moment)


def test_provisioning_uri_names_the_device_and_carries_the_seed() -> None:
    seed = mfa_codes.new_seed()
    uri = urlparse(mfa_codes.provisioning_uri(seed, "alice phone", "123456789012"))
    assert (uri.scheme, uri.netloc) == ("otpauth", "totp")
    assert uri.path == "/Cloudlet:alice%20phone@123456789012"
    assert parse_qs(uri.query) == {"secret": [seed], "issuer": ["Cloudlet"]}
    parsed = pyotp.parse_uri(mfa_codes.provisioning_uri(seed, "alice", "123456789012"))
    assert parsed.secret == seed and parsed.issuer == "Cloudlet"


def test_qr_code_is_a_png_with_a_square_image() -> None:
    png = mfa_codes.qr_code_png(mfa_codes.provisioning_uri(mfa_codes.new_seed(), "alice", "123456789012"))
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width == height and 100 <= width <= 1000
