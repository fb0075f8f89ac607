"""DescribeInstanceInformation: the account's managed instances, as their agents last reported them.

An instance is ``Online`` while its agent has called in (a ping or a poll for messages) within the last
:data:`PING_GRACE_SECONDS`, and ``ConnectionLost`` after. Both filter forms work: the older
``InstanceInformationFilterList`` and ``Filters``, which adds ``tag:<key>`` and ``tag-key`` (an EC2 instance's
tags are EC2's, a hybrid machine's Systems Manager's). Pages follow the instance id.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any

from sqlalchemy import Connection, RowMapping, select

from controller.api import Params, RequestContext
from controller.ec2.vpc.state import tags as ec2_tags
from controller.errors import error
from controller.ssm import names
from controller.ssm.fleet_state import managed_instances
from controller.ssm.service import api

InvalidFilterKey = error("InvalidFilterKey")
InvalidInstanceInformationFilterValue = error("InvalidInstanceInformationFilterValue")

#: Agents ping every minute and poll for messages every 20 seconds; five minutes of silence means lost.
PING_GRACE_SECONDS = 300
_FILTER_FIELDS: dict[str, Callable[[RowMapping, float], str | None]] = {
    "InstanceIds": lambda row, now: row["instance_id"],
    "AgentVersion": lambda row, now: row["agent_version"],
    "PingStatus": lambda row, now: ping_status(row, now),
    "PlatformTypes": lambda row, now: row["platform_type"],
    "ActivationIds": lambda row, now: row["activation_id"],
    "IamRole": lambda row, now: row["iam_role"],
    "ResourceType": lambda row, now: row["resource_type"],
}


def ping_status(row: RowMapping, now: float) -> str:
    last = row["last_ping_at"]
    return "Online" if last is not None and now - last <= PING_GRACE_SECONDS else "ConnectionLost"


def account_instances(conn: Connection, ctx: RequestContext) -> list[RowMapping]:
    return list(conn.execute(select(managed_instances).where(
        managed_instances.c.account_id == ctx.account_id, managed_instances.c.region == ctx.region)
        .order_by(managed_instances.c.instance_id)).mappings())


def instance_tags(conn: Connection, account_id: str, rows: Iterable[RowMapping]) -> dict[str, dict[str, str]]:
    """Each instance's tags: a hybrid machine's own, an EC2 instance's from EC2."""
    rows = list(rows)
    found = {row["instance_id"]: dict(row["tags"]) for row in rows}
    ec2_ids = [row["instance_id"] for row in rows if row["resource_type"] == "EC2Instance"]
    if ec2_ids:
        for resource_id, key, value in conn.execute(select(ec2_tags.c.resource_id, ec2_tags.c.key, ec2_tags.c.value)
                                                    .where(ec2_tags.c.account_id == account_id,
                                                           ec2_tags.c.resource_id.in_(ec2_ids))):
            found[resource_id][key] = value
    return found


def _filters(params: Params) -> list[tuple[str, list[str]]]:
    chosen = [(item["key"], item["valueSet"]) for item in params.get("InstanceInformationFilterList", [])]
    chosen += [(item["Key"], item["Values"]) for item in params.get("Filters", [])]
    for key, values in chosen:
        if key not in _FILTER_FIELDS and key != "tag-key" and not key.startswith("tag:"):
            raise InvalidFilterKey(f"The filter key {key} is not valid.")
        if not values:
            raise InvalidInstanceInformationFilterValue(f"The filter {key} needs at least one value.")
    return chosen


def _matches(row: RowMapping, tags: dict[str, str], chosen: list[tuple[str, list[str]]], now: float) -> bool:
    for key, values in chosen:
        if key == "tag-key":
            ok = any(value in tags for value in values)
        elif key.startswith("tag:"):
            ok = tags.get(key[4:]) in values
        else:
            ok = _FILTER_FIELDS[key](row, now) in values
        if not ok:
            return False
    return True


def information(row: RowMapping, now: float) -> Params:
    ec2 = row["resource_type"] == "EC2Instance"
    item: dict[str, Any] = {
        "InstanceId": row["instance_id"], "PingStatus": ping_status(row, now), "ResourceType": row["resource_type"],
        "RegistrationDate": row["registered_at"], "IsLatestVersion": True,
        "SourceId": row["instance_id"], "SourceType": "AWS::EC2::Instance" if ec2 else "AWS::SSM::ManagedInstance"}
    optional = {"LastPingDateTime": row["last_ping_at"], "AgentVersion": row["agent_version"],
                "PlatformType": row["platform_type"], "PlatformName": row["platform_name"],
                "PlatformVersion": row["platform_version"], "ActivationId": row["activation_id"],
                "IamRole": row["iam_role"], "Name": row["name"], "IPAddress": row["ip_address"],
                "ComputerName": row["computer_name"]}
    item.update({key: value for key, value in optional.items() if value is not None})
    return item


@api.operation("DescribeInstanceInformation")
def describe_instance_information(ctx: RequestContext, params: Params) -> Params:
    if params.get("InstanceInformationFilterList") and params.get("Filters"):
        raise names.ValidationException("You can use either InstanceInformationFilterList or Filters in a single "
                                        "request.")
    chosen = _filters(params)
    size = names.check_max_results(params.get("MaxResults"), 50)
    after = names.decode_token(params.get("NextToken"))
    now = time.time()
    with ctx.cloud.db.read() as conn:
        rows = [row for row in account_instances(conn, ctx) if after is None or row["instance_id"] > after]
        tags = instance_tags(conn, ctx.account_id, rows) if any(key.startswith("tag") for key, _ in chosen) else {}
    matched = [row for row in rows if _matches(row, tags.get(row["instance_id"], {}), chosen, now)]
    output: Params = {"InstanceInformationList": [information(row, now) for row in matched[:size]]}
    if len(matched) > size:
        output["NextToken"] = names.encode_token(matched[size - 1]["instance_id"])
    return output
