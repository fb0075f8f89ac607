"""The account's Session Manager preferences, as the controller sends them with a shell session.

They are the ``inputs`` of the account's ``SSM-SessionManagerRunShell`` document (AWS's "Session document
schema"): where to log the session (S3, CloudWatch Logs), how long it may be idle or last, the user to run the
shell as and commands to run first. The controller passes them as written, so this reading is forgiving, as
AWS's agent is: a missing or malformed value means the default, never a refused session.

Timeouts are minutes. The agent also takes fractional minutes ("0.05"), which AWS does not, and
``CLOUDLET_SSM_SECONDS_PER_MINUTE`` (default 60) sets how long such a minute is: the controller, like AWS,
only stores whole minutes, so end-to-end tests shorten the minute to see a timeout in seconds.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

SECONDS_PER_MINUTE_VARIABLE = "CLOUDLET_SSM_SECONDS_PER_MINUTE"
#: AWS's default idleSessionTimeout, in minutes.
DEFAULT_IDLE_MINUTES = 20.0


def seconds_per_minute() -> float:
    """60, unless a test shortened the minute (see the module's docstring)."""
    try:
        seconds = float(os.environ.get(SECONDS_PER_MINUTE_VARIABLE) or 60)
    except ValueError:
        return 60.0
    return seconds if seconds > 0 else 60.0


def minutes(value: Any) -> float | None:
    """A positive number of minutes written as a number or as text ("20", "0.05"); None otherwise."""
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except ValueError:
        return None
    return number if number > 0 and number != float("inf") else None


def flag(value: Any) -> bool:
    """A boolean preference: JSON true, or the text "true" (the console once wrote them as text)."""
    return value is True or (isinstance(value, str) and value.strip().lower() == "true")


def text(value: Any) -> str:
    return value.strip() if isinstance(value, str) else ""


@dataclass(frozen=True)
class SessionPreferences:
    """What a shell session applies; built by :meth:`from_inputs`, the defaults being a session without
    preferences (no logging, 20 idle minutes, no time limit, the agent's own user, no profile)."""

    s3_bucket: str = ""
    s3_key_prefix: str = ""
    log_group: str = ""
    cloudwatch_streaming: bool = False
    idle_seconds: float = DEFAULT_IDLE_MINUTES * 60
    max_seconds: float | None = None
    run_as_enabled: bool = False
    run_as_user: str = ""
    shell_profile: str = ""

    @classmethod
    def from_inputs(cls, inputs: Any) -> SessionPreferences:
        if not isinstance(inputs, dict):
            return cls()
        minute = seconds_per_minute()
        idle = minutes(inputs.get("idleSessionTimeout")) or DEFAULT_IDLE_MINUTES
        longest = minutes(inputs.get("maxSessionDuration"))
        profile = inputs.get("shellProfile")
        linux = profile.get("linux") if isinstance(profile, dict) else None
        return cls(
            s3_bucket=text(inputs.get("s3BucketName")), s3_key_prefix=text(inputs.get("s3KeyPrefix")),
            log_group=text(inputs.get("cloudWatchLogGroupName")),
            cloudwatch_streaming=flag(inputs.get("cloudWatchStreamingEnabled")),
            idle_seconds=idle * minute, max_seconds=longest * minute if longest is not None else None,
            run_as_enabled=flag(inputs.get("runAsEnabled")), run_as_user=text(inputs.get("runAsDefaultUser")),
            shell_profile=linux if isinstance(linux, str) and linux.strip() else "")

    @property
    def logs_anywhere(self) -> bool:
        """Whether the session's transcript must be kept at all."""
        return bool(self.s3_bucket or self.log_group)

    def s3_key(self, session_id: str) -> str:
        """``<s3KeyPrefix>/<SessionId>.log`` (no prefix: ``<SessionId>.log``), as AWS's agent names it."""
        prefix = self.s3_key_prefix.strip("/")
        return f"{prefix}/{session_id}.log" if prefix else f"{session_id}.log"
