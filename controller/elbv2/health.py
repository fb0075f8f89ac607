"""A target's health as DescribeTargetHealth shows it, from its registration and the nodes' reports (pure).

The contract's rule: healthy when any node checking it reports healthy; otherwise the latest report;
with no report yet, ``initial`` (``Elb.InitialHealthChecking``). Before that come AWS's states that need
no report: ``draining`` while a deregistration delay runs, ``unused`` when the target is not registered
or no load balancer forwards to its group.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Report:
    state: str
    reason: str | None
    description: str | None
    reported_at: float


@dataclass(frozen=True)
class Health:
    state: str
    reason: str | None = None
    description: str | None = None

    def output(self) -> dict[str, str]:
        found = {"State": self.state}
        if self.reason:
            found["Reason"] = self.reason
        if self.description:
            found["Description"] = self.description
        return found


NOT_REGISTERED = Health("unused", "Target.NotRegistered", "Target is not registered to the target group")
NOT_IN_USE = Health("unused", "Target.NotInUse", "Target group is not configured to receive traffic from the load "
                                                 "balancer")
DRAINING = Health("draining", "Target.DeregistrationInProgress", "Target deregistration is in progress")
INITIAL = Health("initial", "Elb.InitialHealthChecking", "Initial health checks in progress")
_DESCRIPTIONS = {"Target.FailedHealthChecks": "Health checks failed",
                 "Target.ResponseCodeMismatch": "Health checks failed with these codes",
                 "Target.Timeout": "Request timed out",
                 "Elb.InitialHealthChecking": "Initial health checks in progress"}


def is_draining(draining_until: dt.datetime | None, now: dt.datetime) -> bool:
    return draining_until is not None and draining_until > now


def is_gone(draining_until: dt.datetime | None, now: dt.datetime) -> bool:
    """A deregistered target whose delay has passed: it no longer exists for anyone."""
    return draining_until is not None and draining_until <= now


def target_health(registered: bool, draining_until: dt.datetime | None, now: dt.datetime, in_use: bool,
                  reports: Sequence[Report]) -> Health:
    if not registered or is_gone(draining_until, now):
        return NOT_REGISTERED
    if is_draining(draining_until, now):
        return DRAINING
    if not in_use:
        return NOT_IN_USE
    if not reports:
        return INITIAL
    if any(r.state == "healthy" for r in reports):
        return Health("healthy")
    latest = max(reports, key=lambda r: r.reported_at)
    if latest.state == "initial":
        return INITIAL
    state = latest.state if latest.state in ("unhealthy", "unavailable", "draining") else "unhealthy"
    if state == "draining":  # the agent drains what the controller listed as draining: no longer so
        return INITIAL
    reason = latest.reason or ("Target.FailedHealthChecks" if state == "unhealthy" else None)
    return Health(state, reason, latest.description or _DESCRIPTIONS.get(reason or ""))
