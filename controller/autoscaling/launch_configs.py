"""Launch configurations: Create, Describe and Delete (immutable, as on AWS).

https://docs.aws.amazon.com/autoscaling/ec2/APIReference/API_CreateLaunchConfiguration.html
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import delete, insert, select

from controller.api import RequestContext
from controller.autoscaling import linked_role, records, state
from controller.autoscaling.calls import ServiceCallError, describe_instances
from controller.autoscaling.errors import (
    AlreadyExists,
    ResourceInUse,
    ValidationError,
    no_launch_configuration,
)
from controller.autoscaling.service import api

#: What CreateLaunchConfiguration copies from the instance when InstanceId is given and ImageId is not.
_STORED = ("ImageId", "KeyName", "SecurityGroups", "ClassicLinkVPCId", "ClassicLinkVPCSecurityGroups", "UserData",
           "InstanceType", "KernelId", "RamdiskId", "BlockDeviceMappings", "InstanceMonitoring", "SpotPrice",
           "IamInstanceProfile", "EbsOptimized", "AssociatePublicIpAddress", "PlacementTenancy", "MetadataOptions")


def lc_arn(ctx: RequestContext, name: str) -> str:
    return (f"arn:{ctx.cloud.config.partition}:autoscaling:{ctx.region}:{ctx.account_id}:launchConfiguration:"
            f"{uuid.uuid4()}:launchConfigurationName/{name}")


def find(conn: Any, account_id: str, region: str, name: str) -> dict[str, Any] | None:
    row = conn.execute(select(state.launch_configurations.c.document).where(
        state.launch_configurations.c.account_id == account_id, state.launch_configurations.c.region == region,
        state.launch_configurations.c.name == name)).first()
    return row[0] if row else None


def _from_instance(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The members an instance gives a launch configuration made from it (InstanceId without ImageId)."""
    try:
        found = describe_instances(ctx.cloud, ctx.account_id, [params["InstanceId"]])
    except ServiceCallError:
        found = {}
    instance = found.get(params["InstanceId"])
    if instance is None:
        raise ValidationError(f"Invalid instance id: {params['InstanceId']}")
    out: dict[str, Any] = {"ImageId": instance["ImageId"], "InstanceType": instance["InstanceType"],
                           "SecurityGroups": [group["GroupId"] for group in instance.get("SecurityGroups", [])]}
    if instance.get("KeyName"):
        out["KeyName"] = instance["KeyName"]
    return out


@api.operation("CreateLaunchConfiguration")
def create_launch_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with linked_role.provisional(ctx.cloud, ctx.account_id):
        return _create(ctx, params)


def _create(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["LaunchConfigurationName"]
    given = {key: params[key] for key in _STORED if params.get(key) not in (None, "")}
    if params.get("InstanceId"):
        given = {**_from_instance(ctx, params), **given}
    if not given.get("ImageId"):
        raise ValidationError("Valid requests must contain either the InstanceID parameter or both the ImageId "
                              "and InstanceType parameters.")
    if not given.get("InstanceType"):
        raise ValidationError("Valid requests must contain either the InstanceID parameter or both the ImageId "
                              "and InstanceType parameters.")
    created = records.now()
    arn = lc_arn(ctx, name)
    document = {"LaunchConfigurationName": name, "LaunchConfigurationARN": arn, "SecurityGroups": [],
                "ClassicLinkVPCSecurityGroups": [], "KernelId": "", "RamdiskId": "", "KeyName": "", "UserData": "",
                "BlockDeviceMappings": [], "InstanceMonitoring": {"Enabled": True}, "EbsOptimized": False,
                **given, "CreatedTime": records.iso(created)}
    with ctx.cloud.db.begin() as conn:
        if find(conn, ctx.account_id, ctx.region, name) is not None:
            raise AlreadyExists(f"Launch Configuration by this name already exists - A launch configuration "
                                f"already exists with the name {name}")
        conn.execute(insert(state.launch_configurations).values(
            arn=arn, account_id=ctx.account_id, region=ctx.region, name=name, document=document,
            created_at=created))
    ctx.audit_resources.append(arn)
    return {}


def output(document: dict[str, Any]) -> dict[str, Any]:
    return {**document, "CreatedTime": records.timestamp(
        records.dt.datetime.fromisoformat(document["CreatedTime"]).timestamp())}


@api.operation("DescribeLaunchConfigurations")
def describe_launch_configurations(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    names = params.get("LaunchConfigurationNames") or []
    table = state.launch_configurations
    query = select(table.c.document).where(table.c.account_id == ctx.account_id, table.c.region == ctx.region)
    if names:
        query = query.where(table.c.name.in_(names))
    with ctx.cloud.db.read() as conn:
        documents = [row[0] for row in conn.execute(query.order_by(table.c.name))]
    chunk, token = records.page(documents, params)
    out: dict[str, Any] = {"LaunchConfigurations": [output(document) for document in chunk]}
    if token:
        out["NextToken"] = token
    return out


@api.operation("DeleteLaunchConfiguration")
def delete_launch_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    name = params["LaunchConfigurationName"]
    with ctx.cloud.db.begin() as conn:
        if find(conn, ctx.account_id, ctx.region, name) is None:
            raise no_launch_configuration(name)
        for group in records.all_groups(conn):
            if group.account_id == ctx.account_id and group.region == ctx.region and \
                    group.document.get("LaunchConfigurationName") == name:
                raise ResourceInUse(f"Cannot delete launch configuration {name} because it is attached to "
                                    f"AutoScalingGroup {group.name}")
        conn.execute(delete(state.launch_configurations).where(
            state.launch_configurations.c.account_id == ctx.account_id,
            state.launch_configurations.c.region == ctx.region, state.launch_configurations.c.name == name))
    return {}
