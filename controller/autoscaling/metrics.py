"""Auto Scaling group metrics (``AWS/AutoScaling``): what EnableMetricsCollection turns on, every minute.

For each group with metrics enabled, :func:`group_datums` (pure) counts its instances by lifecycle state
(``Pending:Wait`` is pending, ``Terminating:Proceed`` terminating...) and reports the enabled ones of
GroupMinSize/MaxSize/DesiredCapacity and the Group*Instances/Group*Capacity pairs (every instance weighs
one) under the dimension ``AutoScalingGroupName``. Warm pools do not exist here, so their metrics are never
reported. The reconciler starts and stops the :class:`~controller.cloudwatch.ingest.Publisher`.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from controller.autoscaling import records
from controller.autoscaling.records import Group
from controller.cloudwatch import ingest
from controller.cloudwatch.ingest import Datum

NAMESPACE = "AWS/AutoScaling"
#: Lifecycle states by the family the metrics count them in.
_FAMILIES = {"Pending": "Pending", "Pending:Wait": "Pending", "Pending:Proceed": "Pending", "InService": "InService",
             "Standby": "Standby", "EnteringStandby": "Standby", "Terminating": "Terminating",
             "Terminating:Wait": "Terminating", "Terminating:Proceed": "Terminating"}


def group_datums(group: Group, lifecycle_states: Iterable[str], at: datetime) -> list[Datum]:
    """The enabled metrics of one group, given its instances' lifecycle states (pure)."""
    enabled = {item["Metric"] for item in group.document.get("EnabledMetrics") or []}
    if not enabled:
        return []
    counts = dict.fromkeys(("Pending", "InService", "Standby", "Terminating"), 0)
    for state in lifecycle_states:
        family = _FAMILIES.get(state)
        if family is not None:
            counts[family] += 1
    values = {"GroupMinSize": group.document["MinSize"], "GroupMaxSize": group.document["MaxSize"],
              "GroupDesiredCapacity": group.desired}
    for family, count in [*counts.items(), ("Total", sum(counts.values()))]:
        values[f"Group{family}Instances"] = count
        values[f"Group{family}Capacity"] = count
    dimensions = (("AutoScalingGroupName", group.name),)
    return [Datum(metric_name=name, dimensions=dimensions, timestamp=at, value=float(value), unit="None")
            for name, value in values.items() if name in enabled]


def publish(cloud: Any, now: datetime) -> None:
    """Publish every group's enabled metrics at ``now`` (the publisher calls it; tests call it directly), in
    the controller that leads the background workers only (controller/state/leadership.py)."""
    if not cloud.leadership.leading:
        return
    with cloud.db.read() as conn:
        found = [(group, [row["lifecycle_state"] for row in records.group_instances(conn, group.arn)])
                 for group in records.all_groups(conn) if group.document.get("EnabledMetrics")]
    for group, states in found:
        datums = group_datums(group, states, now)
        if datums:
            ingest.put(cloud, group.account_id, group.region, NAMESPACE, datums)
