"""DescribeScalingActivities: the launches, terminations and replacements of a group, newest first.

https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_DescribeScalingActivities.html
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from controller.api import RequestContext
from controller.autoscaling import records, state
from controller.autoscaling.errors import ValidationError
from controller.autoscaling.service import api


@api.operation("DescribeScalingActivities", resources=records.group_resources)
def describe_scaling_activities(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    table = state.activities
    ids = params.get("ActivityIds") or []
    if len(ids) > 50:
        raise ValidationError("The number of activity ids must not exceed 50")
    name = params.get("AutoScalingGroupName")
    query = select(table).where(table.c.account_id == ctx.account_id, table.c.region == ctx.region)
    with ctx.cloud.db.read() as conn:
        live = {group.arn for group in records.all_groups(conn)}
        if name:
            query = query.where(table.c.group_name == name)
        if ids:
            query = query.where(table.c.activity_id.in_(ids))
        rows = list(conn.execute(query.order_by(table.c.seq.desc())).mappings())
    if not params.get("IncludeDeletedGroups"):
        rows = [row for row in rows if row["group_arn"] in live]
    chunk, token = records.page(rows, params, default=100, limit=100)
    out: dict[str, Any] = {"Activities": [records.activity_output(row, row["group_arn"] if row["group_arn"] in live
                                                                  else None) for row in chunk]}
    if token:
        out["NextToken"] = token
    return out
