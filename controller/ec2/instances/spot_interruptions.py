"""Carrying out spot interruptions at their deadlines (see :mod:`controller.ec2.instances.spot`).

:func:`interrupt_due` stops or terminates each noticed spot instance whose two minutes are up, through the same
state changes as StopInstances and TerminateInstances, and closes (or disables) its request;
:class:`SpotInterrupter` is EC2's background worker that calls it, one per cloud.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from typing import Any

from sqlalchemy import select, update

from controller.ec2.instances import actions, lifecycle, spot
from controller.ec2.instances import state as instance_state
from controller.ec2.vpc.state import write
from controller.state import utcnow

log = logging.getLogger("cloudlet.ec2.spot")

REASONS = {"terminate": ("Server.SpotInstanceTermination", "Server.SpotInstanceTermination: Spot instance "
                         "termination"),
           "stop": ("Server.SpotInstanceShutdown", "Server.SpotInstanceShutdown: Spot instance shutdown")}


def interrupt_due(cloud: Any, now: dt.datetime | None = None) -> list[str]:
    """Stop or terminate every noticed spot instance whose deadline has passed; their ids."""
    now = now or utcnow()
    table, instances = instance_state.spot_requests, instance_state.instances
    done: list[str] = []
    if not _anything_to_do(cloud, now):  # a read: a write would wake every agent
        return done
    with write(cloud.db) as conn:
        due = conn.execute(select(table).where(table.c.interrupt_at <= now, table.c.state == "active")
                           ).mappings().all()
        for request in due:
            row = conn.execute(select(instances).where(instances.c.instance_id == request["instance_id"])
                               ).mappings().first()
            behaviour = "stop" if request["interruption_behavior"] == "stop" else "terminate"
            new_state, code, message = spot.INTERRUPTED[behaviour]
            if row is not None and row["state"] in (lifecycle.PENDING, lifecycle.RUNNING):
                target = lifecycle.STOPPING if behaviour == "stop" and row["root_device_type"] == "ebs" \
                    else lifecycle.SHUTTING_DOWN
                reason = REASONS["stop" if target == lifecycle.STOPPING else "terminate"]
                actions.change_state(conn, cloud, row, lifecycle.Transition(
                    target, reason, f"Service initiated ({spot.iso(now)})"), now)
                done.append(row["instance_id"])
            conn.execute(update(table).where(table.c.spot_instance_request_id == request["spot_instance_request_id"])
                         .values(state=new_state, status_code=code, status_message=message, status_updated_at=now))
        _close_terminated_by_user(conn, now)
    return done


def _anything_to_do(cloud: Any, now: dt.datetime) -> bool:
    table = instance_state.spot_requests
    with cloud.db.read() as conn:
        return conn.execute(select(table.c.spot_instance_request_id).where(
            table.c.state == "active", (table.c.interrupt_at <= now) | table.c.instance_id.in_(_ended())).limit(1)
        ).first() is not None


def _ended() -> Any:
    instances = instance_state.instances
    return select(instances.c.instance_id).where(instances.c.state.in_((lifecycle.SHUTTING_DOWN,
                                                                         lifecycle.TERMINATED)))


def _close_terminated_by_user(conn: Any, now: dt.datetime) -> None:
    """A one-time request whose instance its owner terminated is closed, as on AWS."""
    table = instance_state.spot_requests
    conn.execute(update(table).where(table.c.state == "active", table.c.interrupt_at.is_(None),
                                     table.c.instance_id.in_(_ended())).values(
        state="closed", status_code="instance-terminated-by-user", status_updated_at=now,
        status_message="Spot Instance terminated due to user-initiated termination."))


class SpotInterrupter:
    """EC2's background worker that carries out interruptions at their deadlines (one per cloud)."""

    #: The longest sleep: a notice given by another process is seen within this.
    CHECK_SECONDS = 1.0

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="ec2-spot-interrupter", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        while not self._stop.wait(self.CHECK_SECONDS):
            if not self.cloud.leadership.leading:  # one controller interrupts (controller/state/leadership.py)
                continue
            try:
                interrupt_due(self.cloud)
            except Exception:  # the worker must outlive a bad moment of the database
                log.exception("spot interruption pass failed; retrying")


def start(cloud: Any) -> None:
    cloud.spot_interrupter = SpotInterrupter(cloud)
    cloud.spot_interrupter.start()


def stop(cloud: Any) -> None:
    if cloud.spot_interrupter is not None:
        cloud.spot_interrupter.stop()
        cloud.spot_interrupter = None
