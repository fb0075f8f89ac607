"""The reconciler: one thread per cloud that makes every group's instances match what the group asks for.

It wakes when a group, its instances or a timer changed (``state.CHANGED_TOPIC``) and every few seconds, and per
group: runs due scheduled actions, reads its instances' health from EC2 (and ELB when the group asks for it),
moves instances through their lifecycle states (hooks included), launches to reach the desired capacity,
terminates the surplus by the termination policies, and replaces unhealthy instances. All of its calls to EC2
and ELB go through the cloud's gateway as the service-linked role (``calls.py``).
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from controller.autoscaling import (
    calls,
    capacity,
    hooks,
    launching,
    metrics,
    notifications,
    records,
    refresh,
    scheduled,
    state,
)
from controller.autoscaling.groups import remove_group
from controller.autoscaling.policies import alarm_action, delete_alarms
from controller.autoscaling.records import COUNTED, Group
from controller.cloudwatch import ingest
from controller.ec2.instances import state as instance_state

log = logging.getLogger(__name__)
#: How often the reconciler looks without being woken (health checks, hook and schedule timers).
INTERVAL = 3.0
#: How often a settled group's instances are health checked (each check is a DescribeInstances through the
#: gateway, in the audit trail); a group with launching instances is checked every round.
HEALTH_INTERVAL = 10.0
#: How long a group waits after a failed launch before trying again.
LAUNCH_BACKOFF = 10.0
#: Launches and terminations one group gets per round (the rest come next round).
BATCH = 10
_GONE = ("shutting-down", "terminated", "stopping", "stopped")


class Reconciler:
    """The one reconciler of a cloud (``on_start`` makes it, ``on_stop`` stops it)."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self._wake = threading.Event()
        self._stopping = False
        #: Set when EC2 announced an instance state change: the next round health checks every group at once.
        self._states_changed = False
        self._backoff: dict[str, float] = {}
        #: group ARN -> when its instances' health was last read
        self._checked: dict[str, float] = {}
        #: instance id -> (EC2 | ELB, the EC2 state) of instances found unhealthy, for the termination's Cause
        self._health_cause: dict[str, tuple[str, str]] = {}
        self._thread = threading.Thread(target=self._run, name="autoscaling-reconciler", daemon=True)
        #: AWS/AutoScaling group metrics, for the groups that enabled them (controller/autoscaling/metrics.py).
        self._metrics = ingest.Publisher(cloud, metrics.publish, "autoscaling-metrics")

    def start(self) -> None:
        self.cloud.db.subscribe(state.CHANGED_TOPIC, self._wake.set)
        self.cloud.db.subscribe(instance_state.STATES_TOPIC, self._instance_states_changed)
        # a controller taking over health checks every group at once: the old leader's checks are lost with it
        self.cloud.leadership.on_elected(self._instance_states_changed)
        self._thread.start()
        self._metrics.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)
        self._metrics.stop()

    def wake(self) -> None:
        self._wake.set()

    def _instance_states_changed(self) -> None:
        """An instance came up, stopped or went away: a group's instance goes InService, or a terminated one is
        found unhealthy and replaced, this round rather than after ``INTERVAL`` or ``HEALTH_INTERVAL``."""
        self._states_changed = True
        self._wake.set()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            if not self.cloud.leadership.leading:  # one controller reconciles (controller/state/leadership.py)
                self._wake.wait(INTERVAL)
                continue
            states_changed, self._states_changed = self._states_changed, False
            try:
                self.reconcile_all(check_health=states_changed)
            except Exception:
                log.exception("Auto Scaling reconcile round failed")
            self._wake.wait(INTERVAL)

    def reconcile_all(self, *, check_health: bool = False) -> None:
        """One round over every group; ``check_health`` health checks each now, not on its own schedule."""
        with self.cloud.db.read() as conn:
            groups = records.all_groups(conn)
        for group in groups:
            if self._stopping:
                return
            try:
                self.reconcile(group, check_health=check_health)
            except Exception:
                log.exception("reconciling Auto Scaling group %s failed", group.name)

    # -- one group ------------------------------------------------------------------------------------------
    def reconcile(self, group: Group, *, check_health: bool = False) -> None:
        cloud = self.cloud
        if scheduled.run_due(cloud, group):
            with cloud.db.read() as conn:
                fresh = records.group_by_arn(conn, group.arn)
            if fresh is None:
                return
            group = fresh
        with cloud.db.read() as conn:
            rows = records.group_instances(conn, group.arn)
        launching_now = any(row["lifecycle_state"] == "Pending" for row in rows)
        if rows and (launching_now or check_health
                     or records.now() - self._checked.get(group.arn, 0.0) >= HEALTH_INTERVAL):
            self._checked[group.arn] = records.now()
            self._check_health(group, rows)
        self._advance(group)
        with cloud.db.read() as conn:
            rows = records.group_instances(conn, group.arn)
            fresh = records.group_by_arn(conn, group.arn)
        if fresh is None:
            return
        group = fresh
        if group.status:
            self._delete(group, rows)
            return
        self._replace_unhealthy(group, rows)
        refresh.advance(cloud, group)
        self._scale(group)
        self._advance(group)

    def _check_health(self, group: Group, rows: list[Any]) -> None:
        """Mark instances Unhealthy that EC2 reports gone or impaired, or (HealthCheckType ELB) a target group
        reports unhealthy; a grace period after launch spares status checks, never a terminated instance."""
        now = records.now()
        ids = [row["instance_id"] for row in rows]
        seen = calls.describe_instances(self.cloud, group.account_id, ids)
        grace = float(group.document.get("HealthCheckGracePeriod") or 0)
        settled = [row["instance_id"] for row in rows
                   if row["lifecycle_state"] == "InService" and now - row["launched_at"] >= grace]
        impaired = calls.impaired_instances(self.cloud, group.account_id, settled)
        unhealthy_targets: set[str] = set()
        if group.document.get("HealthCheckType") == "ELB" and settled:
            unhealthy_targets = calls.unhealthy_targets(self.cloud, group.account_id,
                                                        group.document.get("TargetGroupARNs") or [])
        rebalancing: set[str] = set()
        if group.document.get("CapacityRebalance"):
            rebalancing = calls.rebalance_recommended(self.cloud, group.account_id,
                                                      [row["instance_id"] for row in rows if row["spot"]])
        updates: dict[str, dict[str, Any]] = {}
        for row in rows:
            instance = seen.get(row["instance_id"])
            ec2_state = instance["State"]["Name"] if instance else "terminated"
            if row["lifecycle_state"] in records.LEAVING:
                continue
            if row["health_status"] == "Healthy" and (
                    ec2_state in _GONE or row["instance_id"] in impaired
                    or (row["instance_id"] in unhealthy_targets and row["instance_id"] in settled)):
                reason = "ELB" if row["instance_id"] in unhealthy_targets else "EC2"
                updates[row["instance_id"]] = {"health_status": "Unhealthy", "_why": reason, "_state": ec2_state}
            elif row["health_status"] == "Healthy" and row["instance_id"] in rebalancing:
                # Capacity Rebalancing: replace a spot instance EC2 is about to take back, before it does
                updates[row["instance_id"]] = {"health_status": "Unhealthy", "_why": "REBALANCE", "_state": ec2_state}
            elif row["lifecycle_state"] == "Pending" and ec2_state == "running":
                updates[row["instance_id"]] = {"_launched": True}
        if not updates:
            return
        notices: list[dict[str, Any]] = []
        with self.cloud.db.begin() as conn:
            for instance_id, values in updates.items():
                row = next(row for row in rows if row["instance_id"] == instance_id)
                if values.get("_launched"):
                    waiting = hooks.enter_wait(conn, group, row, hooks.LAUNCHING)
                    if waiting is None:
                        records.set_instance(conn, instance_id, lifecycle_state="Pending:Proceed")
                    else:
                        notices += waiting
                    continue
                why = values["_why"]
                records.set_instance(conn, instance_id, health_status="Unhealthy")
                records.changed(conn)
                self._health_cause[instance_id] = (why, values["_state"])
        if notices:
            hooks.notify(self.cloud, notices)

    def _replace_unhealthy(self, group: Group, rows: list[Any]) -> None:
        if group.suspended("ReplaceUnhealthy"):
            return
        sick = [row for row in rows if row["health_status"] == "Unhealthy" and row["lifecycle_state"] in COUNTED]
        if not sick:
            return
        now = records.iso(records.now())
        with self.cloud.db.begin() as conn:
            for row in sick:
                why, ec2_state = self._health_cause.pop(row["instance_id"], ("EC2", "terminated"))
                if why == "ELB":
                    detail = "an ELB health check"
                elif why == "REBALANCE":
                    detail = "an EC2 instance rebalance recommendation"
                elif ec2_state in _GONE:
                    detail = "an EC2 health check indicating it has been terminated or stopped"
                else:
                    detail = "an EC2 health check indicating it has been impaired"
                launching.begin_termination(conn, group, row, f"At {now} an instance was taken out of service in "
                                            f"response to {detail}.")

    def _scale(self, group: Group) -> None:
        """Launch or terminate to reach the desired capacity (the Launch and Terminate processes may be off)."""
        with self.cloud.db.read() as conn:     # one snapshot: the group's settings and instances agree
            rows = records.group_instances(conn, group.arn)
            fresh = records.group_by_arn(conn, group.arn)
        if fresh is None or fresh.status:
            return
        group = fresh
        counted = [row for row in rows if row["lifecycle_state"] in COUNTED and row["health_status"] == "Healthy"]
        members = [records.member(row) for row in counted]
        desired = group.desired
        now = records.now()
        if len(counted) < desired and not group.suspended("Launch") and self._backoff.get(group.arn, 0) <= now:
            before = len(counted)
            for _ in range(min(BATCH, desired - before)):
                after = len(members) + 1
                cause = (f"{group.pending_cause}  At {records.iso(records.now())} an instance was started in "
                         f"response to a difference between desired and actual capacity, increasing the capacity "
                         f"from {len(members)} to {after}.").strip()
                try:
                    instance_id = launching.launch(self.cloud, group, members, cause)
                except launching.LaunchFailed:
                    self._backoff[group.arn] = now + LAUNCH_BACKOFF
                    return
                with self.cloud.db.read() as conn:
                    row = conn.execute(state.instances.select().where(
                        state.instances.c.instance_id == instance_id)).mappings().first()
                members.append(records.member(row))
            return
        if len(counted) == desired and self._rebalance_due(group, rows, members):
            cause = (f"At {records.iso(now)} an instance was launched to aid in balancing the group's zones.")
            try:
                launching.launch(self.cloud, group, members, cause)
            except launching.LaunchFailed:
                self._backoff[group.arn] = now + LAUNCH_BACKOFF
            return
        if len(counted) > desired and not group.suspended("Terminate"):
            distribution = (group.mixed or {}).get("InstancesDistribution") or {}
            victims = capacity.choose_victims(
                members, min(BATCH, len(counted) - desired), group.zones,
                group.document.get("TerminationPolicies") or ["Default"], current=records.current_source(group), now=now,
                base=distribution.get("OnDemandBaseCapacity") if group.mixed else None,
                percent_above_base=distribution.get("OnDemandPercentageAboveBaseCapacity") if group.mixed else None)
            with self.cloud.db.begin() as conn:
                size = len(counted)
                for victim in victims:
                    row = next(row for row in counted if row["instance_id"] == victim)
                    at = records.iso(records.now())
                    cause = (f"{group.pending_cause}  At {at} an instance was taken out of service in response to a "
                             f"difference between desired and actual capacity, shrinking the capacity from {size} "
                             f"to {size - 1}.  At {at} instance {victim} was selected for termination.").strip()
                    launching.begin_termination(conn, group, row, cause)
                    size -= 1

    def _rebalance_due(self, group: Group, rows: list[Any], members: list[capacity.Member]) -> bool:
        """Whether the settled group should launch one more instance to even out its zones (AZRebalance:
        the surplus is then terminated from the most crowded zone, or from a zone the group left)."""
        if not members or any(group.suspended(name) for name in ("AZRebalance", "Launch", "Terminate")):
            return False
        if self._backoff.get(group.arn, 0) > records.now():
            return False
        if any(row["lifecycle_state"] != "InService" for row in rows):
            return False
        if any(member.protected for member in members):
            return False    # protected instances cannot be the surplus: never launch what cannot settle
        zones = [zone for zone in group.document.get("_zone_order") or group.zones if zone in group.subnets]
        if any(member.zone not in zones for member in members):
            return True
        return capacity.zones_to_rebalance(zones, members) is not None

    def _advance(self, group: Group) -> None:
        """Move instances along their lifecycle: hooks' waits, Proceed states, terminations."""
        with self.cloud.db.read() as conn:
            rows = [row for row in records.group_instances(conn, group.arn)
                    if row["lifecycle_state"] not in ("Pending", "InService", "Standby")]
        if not rows:
            return      # nothing moving: no write transaction
        now = records.now()
        notices: list[dict[str, Any]] = []
        to_terminate = []
        to_register = []
        with self.cloud.db.begin() as conn:
            for row in rows:
                current = row["lifecycle_state"]
                if current in ("Pending:Wait", "Terminating:Wait"):
                    outcome = hooks.wait_outcome(row["hooks"] or {}, now)
                    if outcome is None:
                        continue
                    if current == "Pending:Wait" and outcome == "ABANDON":
                        records.finish_activity(conn, row["activity_id"], "Cancelled",
                                                "Instance failed to complete user's Lifecycle Action: Lifecycle "
                                                "Action with token was abandoned: Lifecycle Action Completed with "
                                                "ABANDON Result")
                        records.set_instance(conn, row["instance_id"], lifecycle_state="Terminating:Proceed",
                                             hooks={}, activity_id=records.start_activity(
                                                 conn, group, f"Terminating EC2 instance: {row['instance_id']}",
                                                 f"At {records.iso(now)} an instance was taken out of service as its "
                                                 "launching lifecycle action was abandoned."))
                        to_terminate.append(row["instance_id"])
                        continue
                    current = "Pending:Proceed" if current == "Pending:Wait" else "Terminating:Proceed"
                    records.set_instance(conn, row["instance_id"], lifecycle_state=current, hooks={})
                if current == "Pending:Proceed":
                    to_register.append(row)
                elif current == "Terminating":
                    waiting = None if group.status else hooks.enter_wait(conn, group, row, hooks.TERMINATING)
                    if waiting is None:
                        records.set_instance(conn, row["instance_id"], lifecycle_state="Terminating:Proceed")
                        to_terminate.append(row["instance_id"])
                    else:
                        notices += waiting
                elif current == "Terminating:Proceed":
                    to_terminate.append(row["instance_id"])
        if notices:
            hooks.notify(self.cloud, notices)
        for row in to_register:
            self._put_in_service(group, row)
        if to_terminate:
            with self.cloud.db.read() as conn:
                fresh = [row for row in records.group_instances(conn, group.arn) if row["instance_id"] in to_terminate]
            for row in fresh:
                launching.terminate_now(self.cloud, group, row)

    def _put_in_service(self, group: Group, row: Any) -> None:
        target_groups = group.document.get("TargetGroupARNs") or []
        registered = False
        if target_groups:
            try:
                calls.register_targets(self.cloud, group.account_id, target_groups, [row["instance_id"]],
                                       register=True)
                registered = calls.available(self.cloud, "elbv2", "RegisterTargets")
            except calls.ServiceCallError as failure:
                log.warning("registering %s with %s failed: %s", row["instance_id"], target_groups, failure)
        with self.cloud.db.begin() as conn:
            records.set_instance(conn, row["instance_id"], lifecycle_state="InService", registered=registered)
            records.finish_activity(conn, row["activity_id"])
        notifications.announce(self.cloud, group, "autoscaling:EC2_INSTANCE_LAUNCH", row["activity_id"],
                               row["instance_id"])

    def _delete(self, group: Group, rows: list[Any]) -> None:
        """ForceDelete: every instance goes at once (no hooks), then the group."""
        at = records.iso(records.now())
        with self.cloud.db.begin() as conn:
            for row in rows:
                if row["lifecycle_state"] not in ("Terminating:Proceed",):
                    launching.begin_termination(conn, group, row, f"At {at} an instance was taken out of service "
                                                "in response to a user request to delete the group.")
        with self.cloud.db.read() as conn:
            rows = records.group_instances(conn, group.arn)
        for row in rows:
            launching.terminate_now(self.cloud, group, row)
        with self.cloud.db.read() as conn:
            if records.group_instances(conn, group.arn):
                return
        with self.cloud.db.begin() as conn:
            current = records.group_by_arn(conn, group.arn)
            alarms = remove_group(conn, current) if current else []
        delete_alarms(self.cloud, group.account_id, alarms)


def start(cloud: Any) -> None:
    if cloud.autoscaling_reconciler is not None:
        return
    reconciler = Reconciler(cloud)
    cloud.autoscaling_reconciler = reconciler
    cloud.alarm_action_handlers["autoscaling"] = alarm_action
    reconciler.start()


def stop(cloud: Any) -> None:
    reconciler = cloud.autoscaling_reconciler
    if reconciler is not None:
        reconciler.stop()
        cloud.autoscaling_reconciler = None
