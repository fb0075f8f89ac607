"""Cloudlet's Systems Manager agent: Run Command and Session Manager through the controller's SSM APIs.

It mirrors AWS's amazon-ssm-agent so a machine managed by Cloudlet behaves like one managed by AWS: it only
connects out (an instance behind NAT or a firewall stays reachable), pings UpdateInstanceInformation,
long-polls ec2messages GetMessages, answers every command with SendReply and serves interactive sessions
over a websocket, applying the account's session preferences (transcripts to S3 and CloudWatch Logs, idle
and maximum durations, the RunAs user, a shell profile). Credentials come from the instance profile (IMDSv2) on an EC2 instance, or from a hybrid
activation (``register``) on any Linux box. Standard library only, so it can be copied onto any machine that
has python3 and openssl.

The names every module shares live here; this module imports none of its submodules, so any of them can be
imported on its own.
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime

AGENT_NAME = "cloudlet-ssm-agent"
AGENT_VERSION = "1.2.0"


def log(event: str) -> None:
    """One line per event on stderr: journald (or whoever runs us) adds the timestamp and keeps it."""
    print(f"{AGENT_NAME}: {event}", file=sys.stderr, flush=True)


def iso_now() -> str:
    """UTC time the way AWS prints it in command results (milliseconds, ``Z``)."""
    return datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
