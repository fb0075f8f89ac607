"""STS's rules for temporary credentials: durations, session tags, packed policy size, tokens.

Pure functions, unit-tested without a server. The one setting is the shortest session
allowed: AWS's 900 seconds, lowered for tests through ``CLOUDLET_MIN_SESSION_SECONDS``
so an expiry can be watched without waiting a quarter of an hour. The protocol layer
leaves the duration ranges to these functions (``faults.Rules.service_ranges``).
"""

from __future__ import annotations

import base64
import os
import secrets
from collections.abc import Mapping, Sequence

from controller.errors import error
from controller.iam.policy import policy_size

ValidationError = error("ValidationError", 400)
PackedPolicyTooLarge = error("PackedPolicyTooLarge", 400)
InvalidParameterValue = error("InvalidParameterValue", 400)

AWS_MIN_SESSION_SECONDS = 900
#: Role chaining (a role session assuming a role) caps the new session at one hour.
CHAINED_MAX_SECONDS = 3600
DEFAULT_ROLE_SESSION_SECONDS = 3600
#: GetSessionToken: 12 hours by default, 36 at most; the root user gets one hour at most.
DEFAULT_SESSION_TOKEN_SECONDS = 43200
MAX_SESSION_TOKEN_SECONDS = 129600
ROOT_SESSION_TOKEN_SECONDS = 3600
#: Session policies and tags are packed into the token; this is the space they share.
PACKED_POLICY_BUDGET = 2048
MAX_SESSION_TAGS = 50


def min_session_seconds() -> int:
    """The shortest session duration accepted (``CLOUDLET_MIN_SESSION_SECONDS``, default AWS's 900)."""
    value = os.environ.get("CLOUDLET_MIN_SESSION_SECONDS", "")
    return int(value) if value.strip().isdigit() else AWS_MIN_SESSION_SECONDS


def role_session_seconds(requested: int | None, max_session_duration: int, *, chained: bool) -> int:
    """The duration of an AssumeRole session, or AWS's ValidationError."""
    duration = requested if requested is not None else DEFAULT_ROLE_SESSION_SECONDS
    _check_minimum(duration)
    if chained and duration > CHAINED_MAX_SECONDS:
        raise ValidationError("The requested DurationSeconds exceeds the 1 hour session limit for roles assumed "
                              "by role chaining.")
    if duration > max_session_duration:
        raise ValidationError("The requested DurationSeconds exceeds the MaxSessionDuration set for this role.")
    if requested is None:
        duration = min(duration, max_session_duration)
    return duration


def session_token_seconds(requested: int | None, *, root: bool) -> int:
    """The duration of a GetSessionToken session (the root user's is cut to one hour, as on AWS)."""
    duration = requested if requested is not None else DEFAULT_SESSION_TOKEN_SECONDS
    _check_minimum(duration)
    if duration > MAX_SESSION_TOKEN_SECONDS:
        raise ValidationError(f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
                              f"satisfy constraint: Member must have value less than or equal to "
                              f"{MAX_SESSION_TOKEN_SECONDS}")
    return min(duration, ROOT_SESSION_TOKEN_SECONDS) if root else duration


def _check_minimum(duration: int) -> None:
    minimum = min_session_seconds()
    if duration < minimum:
        raise ValidationError(f"1 validation error detected: Value '{duration}' at 'durationSeconds' failed to "
                              f"satisfy constraint: Member must have value greater than or equal to {minimum}")


def session_tags(tags: Sequence[Mapping[str, str]] | None, inherited: Mapping[str, str],
                 transitive_keys: Sequence[str] | None) -> tuple[dict[str, str], list[str]]:
    """The new session's tags and transitive keys.

    ``inherited`` are the caller's transitive tags (role chaining); a request may not
    set one of those keys again. Tag keys are unique regardless of case.
    """
    result = dict(inherited)
    seen: set[str] = {key.lower() for key in inherited}
    for tag in tags or []:
        key = tag["Key"]
        if key.lower() in seen:
            if key.lower() in {k.lower() for k in inherited}:
                raise InvalidParameterValue(f"One or more of the specified transitive tag keys can't be set "
                                            f"because they conflict with a transitive tag key: {key}")
            raise InvalidParameterValue("Duplicate tag keys found. Please note that Tag keys are case insensitive.")
        seen.add(key.lower())
        result[key] = tag.get("Value", "")
    if len(result) > MAX_SESSION_TAGS:
        raise ValidationError(f"The number of session tags exceeds the maximum of {MAX_SESSION_TAGS}.")
    keys = list(transitive_keys or [])
    requested = {tag["Key"].lower() for tag in tags or []}
    for key in keys:
        if key.lower() not in requested:
            raise InvalidParameterValue(f"The specified transitive tag key {key} must also be a session tag key.")
    return result, list(inherited) + keys


def packed_policy_percent(policy: str | None, policy_arns: Sequence[str], tags: Mapping[str, str]) -> int:
    """How much of the token's packed space the session policy, policy ARNs and tags use (percent)."""
    used = policy_size(policy) if policy else 0
    used += sum(len(arn) for arn in policy_arns)
    used += sum(len(key) + len(value) for key, value in tags.items())
    return (used * 100 + PACKED_POLICY_BUDGET - 1) // PACKED_POLICY_BUDGET


def check_packed_size(percent: int) -> None:
    if percent > 100:
        raise PackedPolicyTooLarge(f"Packed policy consumes {percent}% of allotted space, please use smaller "
                                   "policy for the request.")


def new_session_token() -> str:
    """An opaque session token (its hash is what the credential store keeps)."""
    return "FwoGZXIvYXdzE" + base64.b64encode(secrets.token_bytes(240)).decode()

