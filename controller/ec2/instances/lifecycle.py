"""The instance state machine, pure: AWS's states, which calls may move them, and what agent reports mean.

::

    pending --(agent: domain running)--> running --StopInstances--> stopping --(agent: off)--> stopped
       ^                                    |                                                      |
       +------------StartInstances---------------------------------------------------------------+
    any but terminated --TerminateInstances--> shutting-down --(agent: domain gone)--> terminated

The controller owns the desired state and the agent the real one; the two meet here. API calls change
the state at once (``stopping``, ``shutting-down``...) and the agent's reports complete the transition
once the host has done it. What the agent must do follows from the state alone (:func:`wanted`).
A guest that powers itself off is stopped, or terminated when its shutdown behaviour says so, as in EC2.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from controller.errors import error

PENDING, RUNNING, SHUTTING_DOWN, TERMINATED, STOPPING, STOPPED = (
    "pending", "running", "shutting-down", "terminated", "stopping", "stopped")
#: AWS's state codes (the low byte of InstanceState.Code).
CODES = {PENDING: 0, RUNNING: 16, SHUTTING_DOWN: 32, TERMINATED: 48, STOPPING: 64, STOPPED: 80}
#: States whose instance holds capacity on its host.
HOLDS_CAPACITY = (PENDING, RUNNING, STOPPING, SHUTTING_DOWN)

IncorrectInstanceState = error("IncorrectInstanceState")
UnsupportedOperation = error("UnsupportedOperation")
OperationNotPermitted = error("OperationNotPermitted")

USER_SHUTDOWN = ("Client.UserInitiatedShutdown", "Client.UserInitiatedShutdown: User initiated shutdown")
GUEST_SHUTDOWN = ("Client.InstanceInitiatedShutdown", "Client.InstanceInitiatedShutdown: Instance initiated shutdown")
LAUNCH_FAILED = ("Server.InternalError", "Server.InternalError: Internal error on launch")
PENDING_REASON = ("pending", "pending")


def wanted(state: str) -> str:
    """What the agent must make of the instance: ``running``, ``stopped`` or ``terminated``."""
    if state in (PENDING, RUNNING):
        return "running"
    if state in (STOPPING, STOPPED):
        return "stopped"
    return "terminated"


@dataclass(frozen=True)
class Transition:
    """A new state with AWS's StateReason and StateTransitionReason (None: keep the current ones)."""

    state: str
    reason: tuple[str, str] | None = None
    transition_reason: str | None = None


def user_initiated(now: dt.datetime) -> str:
    """StateTransitionReason of a change asked through the API: ``User initiated (2024-05-01 10:00:00 GMT)``."""
    return f"User initiated ({now.astimezone(dt.UTC):%Y-%m-%d %H:%M:%S} GMT)"


# --- API calls ------------------------------------------------------------------------------------------------


def start(instance_id: str, state: str, now: dt.datetime) -> Transition:
    if state in (PENDING, RUNNING):
        return Transition(state)
    if state != STOPPED:
        raise IncorrectInstanceState(f"The instance '{instance_id}' is not in a state from which it can be started.")
    return Transition(PENDING, PENDING_REASON, "")


def stop(instance_id: str, state: str, root_device_type: str, now: dt.datetime, *, api_stop_disabled: bool = False
         ) -> Transition:
    if root_device_type != "ebs":
        raise UnsupportedOperation(f"The instance '{instance_id}' does not have an 'ebs' root device type and cannot "
                                   "be stopped.")
    if state in (STOPPING, STOPPED):
        return Transition(state)
    if state not in (PENDING, RUNNING):
        raise IncorrectInstanceState(f"The instance '{instance_id}' is not in a state from which it can be stopped.")
    if api_stop_disabled:
        raise OperationNotPermitted(f"The instance '{instance_id}' may not be stopped. Modify its 'disableApiStop' "
                                    "instance attribute and try again.")
    return Transition(STOPPING, USER_SHUTDOWN, user_initiated(now))


def terminate(instance_id: str, state: str, now: dt.datetime, *, api_termination_disabled: bool = False
              ) -> Transition:
    if state in (SHUTTING_DOWN, TERMINATED):
        return Transition(state)
    if api_termination_disabled:
        raise OperationNotPermitted(f"The instance '{instance_id}' may not be terminated. Modify its "
                                    "'disableApiTermination' instance attribute and try again.")
    return Transition(SHUTTING_DOWN, USER_SHUTDOWN, user_initiated(now))


def check_reboot(instance_id: str, state: str) -> None:
    """RebootInstances needs a running (or booting) instance."""
    if state not in (PENDING, RUNNING):
        raise IncorrectInstanceState(f"The instance '{instance_id}' is not in a state from which it can be "
                                     "rebooted.")


def check_stopped(instance_id: str, state: str) -> None:
    """ModifyInstanceAttribute of the type (and user data, kernel...) needs a stopped instance."""
    if state != STOPPED:
        raise IncorrectInstanceState(f"The instance '{instance_id}' is not in the 'stopped' state.")


# --- agent reports ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Observation:
    """What the agent saw of one instance. ``power`` is the driver's PowerState value, ``absent`` (no
    domain, nothing left on the host) or ``failed`` (it could not create or start the domain: ``error``)."""

    power: str
    stopped_by_guest: bool = False
    error: str = ""
    #: The last StartInstances request (the instance's ``start_serial``) the agent had carried out when it
    #: looked; None from agents that do not say.
    start_serial: int | None = None


def observe(state: str, shutdown_behavior: str, seen: Observation, start_serial: int = 0) -> Transition | None:
    """The transition an agent report completes, or None when the state stands.

    Reports that disagree with the desired state otherwise (a running domain of a stopped instance, a
    missing domain of a running one) change nothing here: the agent converges the host instead.
    """
    power = seen.power
    if state == PENDING:
        if power in ("running", "paused"):
            return Transition(RUNNING, ("", ""))
        if power == "failed":
            return Transition(TERMINATED, LAUNCH_FAILED)
        stale = seen.start_serial is not None and seen.start_serial < start_serial
        if power == "shutoff" and seen.stopped_by_guest and not stale:  # stale: from before StartInstances
            return _guest_shutdown(shutdown_behavior)
        return None
    if state == RUNNING:
        if power == "shutoff" and seen.stopped_by_guest:
            return _guest_shutdown(shutdown_behavior)
        return None
    if state == STOPPING and power in ("shutoff", "absent"):
        return Transition(STOPPED)
    if state == SHUTTING_DOWN and power == "absent":
        return Transition(TERMINATED)
    return None


def _guest_shutdown(shutdown_behavior: str) -> Transition:
    if shutdown_behavior == "terminate":
        return Transition(SHUTTING_DOWN, GUEST_SHUTDOWN, "")
    return Transition(STOPPED, GUEST_SHUTDOWN, "")
