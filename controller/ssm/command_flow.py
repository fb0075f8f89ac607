"""Pure: Run Command's rules, as the Systems Manager user guide's "Understanding command statuses" and "Using
concurrency and error controls" give them.

- ``MaxConcurrency`` (default 50) and ``MaxErrors`` (default 0) are a count or a percentage of the targets. At
  most MaxConcurrency invocations run at once; once more than MaxErrors have failed, no further target is sent
  the command (those invocations end ``Cancelled``).
- An invocation ends ``Success``, ``Failed``, ``TimedOut`` (``Execution Timed Out`` on the machine, or
  ``Delivery Timed Out`` when no agent took it before the command's ``ExpiresAfter``) or ``Cancelled``.
- A finished command is ``Success`` unless more than MaxErrors invocations failed or timed out in execution
  (``Failed``), or more than MaxErrors were never delivered (``TimedOut``, ``Delivery Timed Out``); a cancelled
  one is ``Cancelled`` (``Cancelling`` while invocations still run).
"""

from __future__ import annotations

import math
import re
from collections.abc import Sequence
from dataclasses import dataclass

TERMINAL = ("Success", "Failed", "TimedOut", "Cancelled")
#: Agents' terminal DocumentStatus values and the StatusDetails AWS shows for them.
REPLY_DETAILS = {"Success": "Success", "Failed": "Failed", "TimedOut": "Execution Timed Out",
                 "Cancelled": "Cancelled"}
DELIVERY_TIMED_OUT = "Delivery Timed Out"
_THRESHOLD = re.compile(r"^([1-9][0-9]*|[1-9][0-9]?%|100%|0)$")


def valid_threshold(value: str) -> bool:
    """A MaxConcurrency/MaxErrors value: a count (MaxErrors may be 0) or a percentage of 1-100."""
    return bool(_THRESHOLD.match(value))


def threshold(value: str, targets: int, *, at_least_one: bool) -> int:
    """The count a MaxConcurrency (``at_least_one``) or MaxErrors value means for ``targets`` targets."""
    if value.endswith("%"):
        share = int(value[:-1]) * targets / 100
        count = math.ceil(share) if at_least_one else math.floor(share)
    else:
        count = int(value)
    return max(count, 1) if at_least_one else count


@dataclass(frozen=True)
class Tally:
    """What a command's invocations add up to."""

    target_count: int
    completed: int
    errors: int
    delivery_timed_out: int
    running: int        # released to an agent and not finished
    unreleased: int     # waiting for the concurrency limit
    started: bool       # any invocation past Pending


def tally(invocations: Sequence[tuple[str, str, bool]]) -> Tally:
    """``invocations``: (status, status details, released) for each target."""
    completed = errors = delivery_timed_out = running = unreleased = 0
    started = False
    for status, details, released in invocations:
        if status in TERMINAL:
            completed += 1
            errors += status == "Failed" or details == "Execution Timed Out"
            delivery_timed_out += details == DELIVERY_TIMED_OUT
        elif released:
            running += 1
        else:
            unreleased += 1
        started |= status != "Pending"
    return Tally(len(invocations), completed, errors, delivery_timed_out, running, unreleased, started)


def to_release(counts: Tally, max_concurrency: int, max_errors: int) -> int:
    """How many waiting targets may be sent the command now (none once the error threshold is passed)."""
    if counts.errors > max_errors:
        return 0
    return max(0, min(counts.unreleased, max_concurrency - counts.running))


def command_status(counts: Tally, max_errors: int, cancelled: bool) -> tuple[str, str]:
    """(Status, StatusDetails) of the command."""
    finished = counts.completed == counts.target_count
    if cancelled:
        return ("Cancelled", "Cancelled") if finished else ("Cancelling", "Cancelling")
    if not finished:
        return ("InProgress", "In Progress") if counts.started or counts.completed else ("Pending", "Pending")
    if counts.delivery_timed_out > max_errors:
        return "TimedOut", DELIVERY_TIMED_OUT
    if counts.errors > max_errors:
        return "Failed", "Failed"
    return "Success", "Success"


def reply_outcome(document_status: str) -> tuple[str, str] | None:
    """(Status, StatusDetails) an agent's reply moves its invocation to; None for an unknown status."""
    if document_status == "InProgress":
        return "InProgress", "In Progress"
    if document_status in REPLY_DETAILS:
        return document_status, REPLY_DETAILS[document_status]
    return None
