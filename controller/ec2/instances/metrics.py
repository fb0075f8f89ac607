"""EC2's per-instance CloudWatch metrics (``AWS/EC2``), from what the agents measure on their hosts.

Each compute agent posts, every few seconds, what its running instances did since its last sample
(``agent.compute.metrics``: CPU percentage, bytes and packets in and out, disk bytes and operations).
:func:`datums` (pure) turns one report into CloudWatch datapoints per account: every metric under the
``InstanceId`` dimension, and again under ``AutoScalingGroupName`` for an instance of a group, which is what
Auto Scaling's ASGAverageCPUUtilization target tracking reads (the average over the group's datapoints).
``StatusCheckFailed`` is 0 for an instance the hypervisor runs. The report only counts for instances the
controller places on that host, so a host cannot write metrics for another host's instances.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import select

from agent.contract.reports import MetricsReport
from controller.cloudwatch import ingest
from controller.cloudwatch.ingest import Datum
from controller.ec2 import tags
from controller.ec2.instances import state

NAMESPACE = "AWS/EC2"
GROUP_TAG = "aws:autoscaling:groupName"
UNITS = {
    "CPUUtilization": "Percent", "NetworkIn": "Bytes", "NetworkOut": "Bytes", "NetworkPacketsIn": "Count",
    "NetworkPacketsOut": "Count", "DiskReadBytes": "Bytes", "DiskWriteBytes": "Bytes", "DiskReadOps": "Count",
    "DiskWriteOps": "Count",
}
#: The agents sample every few seconds: the datapoints are high-resolution, so alarms may use 10-second periods.
HIGH_RESOLUTION = 1
STATUS_CHECKS = ("StatusCheckFailed", "StatusCheckFailed_Instance", "StatusCheckFailed_System")


def datums(when: dt.datetime, figures: dict[str, dict[str, float]], owners: dict[str, str],
           groups: dict[str, str]) -> dict[str, list[Datum]]:
    """CloudWatch datapoints per account (pure): ``owners`` maps the instances this host runs to their
    accounts (others are ignored), ``groups`` an instance to its Auto Scaling group."""
    found: dict[str, list[Datum]] = {}
    for instance_id, metrics in figures.items():
        account = owners.get(instance_id)
        if account is None:
            continue
        values = {**metrics, **dict.fromkeys(STATUS_CHECKS, 0.0)}
        scopes = [(("InstanceId", instance_id),)]
        if instance_id in groups:
            scopes.append((("AutoScalingGroupName", groups[instance_id]),))
        found.setdefault(account, []).extend(
            Datum(metric_name=name, dimensions=scope, timestamp=when, value=value, unit=UNITS.get(name, "Count"),
                  storage_resolution=HIGH_RESOLUTION)
            for name, value in values.items() for scope in scopes)
    return found


def publish(cloud: Any, host_id: str, report: MetricsReport) -> int:
    """Store one host's report; the number of instances it counted for."""
    when = report.when()
    figures = {item.instance_id: item.metrics for item in report.instances}
    table = state.instances
    with cloud.db.read() as conn:
        rows = conn.execute(select(table.c.instance_id, table.c.account_id)
                            .where(table.c.host_id == host_id, table.c.instance_id.in_(list(figures)))).all()
        owners = {instance_id: account for instance_id, account in rows}
        groups = {}
        for account in set(owners.values()):
            mine = [i for i, a in owners.items() if a == account]
            for instance_id, tag_list in tags.tags_of(conn, account, mine).items():
                group = next((t["Value"] for t in tag_list if t["Key"] == GROUP_TAG), None)
                if group is not None:
                    groups[instance_id] = group
    for account, found in datums(when, figures, owners, groups).items():
        ingest.put(cloud, account, cloud.config.region, NAMESPACE, found)
    return len(owners)
