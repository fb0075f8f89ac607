"""Spot instance requests: DescribeSpotInstanceRequests, CancelSpotInstanceRequests and RequestSpotInstances.

Requests are made by spot launches (:mod:`controller.ec2.instances.spot`). RequestSpotInstances is RunInstances
on the spot market with the request's launch specification: on a private cloud spare capacity is there or it
is not, so a request is fulfilled at once or refused with the capacity error, never left open. Cancelling a
request leaves its instance running, as on AWS.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from controller.api import Params, RequestContext
from controller.ec2.describe import describe, listing
from controller.ec2.errors import InvalidParameterValue, require
from controller.ec2.ids import SPOT_REQUEST
from controller.ec2.instances import run_instances
from controller.ec2.instances import state as instance_state
from controller.ec2.operation import arns, vpc_operation
from controller.ec2.regions import zone_ids
from controller.ec2.tags import owned_by_account, register_taggable, tags_of
from controller.ec2.vpc.state import write
from controller.state import utcnow

register_taggable(SPOT_REQUEST, owned_by_account(instance_state.spot_requests, "spot_instance_request_id"))

#: API_DescribeSpotInstanceRequests.html
FILTERS = {
    "availability-zone-group": "AvailabilityZoneGroup", "create-time": "CreateTime", "fault-code": "Fault.Code",
    "fault-message": "Fault.Message", "instance-id": "InstanceId", "launch-group": "LaunchGroup",
    "launch.block-device-mapping.delete-on-termination":
        "LaunchSpecification.BlockDeviceMappings[].Ebs.DeleteOnTermination",
    "launch.block-device-mapping.device-name": "LaunchSpecification.BlockDeviceMappings[].DeviceName",
    "launch.block-device-mapping.snapshot-id": "LaunchSpecification.BlockDeviceMappings[].Ebs.SnapshotId",
    "launch.block-device-mapping.volume-size": "LaunchSpecification.BlockDeviceMappings[].Ebs.VolumeSize",
    "launch.block-device-mapping.volume-type": "LaunchSpecification.BlockDeviceMappings[].Ebs.VolumeType",
    "launch.group-id": "LaunchSpecification.SecurityGroups[].GroupId",
    "launch.group-name": "LaunchSpecification.SecurityGroups[].GroupName",
    "launch.image-id": "LaunchSpecification.ImageId", "launch.instance-type": "LaunchSpecification.InstanceType",
    "launch.kernel-id": "LaunchSpecification.KernelId", "launch.key-name": "LaunchSpecification.KeyName",
    "launch.monitoring-enabled": "LaunchSpecification.Monitoring.Enabled",
    "launch.ramdisk-id": "LaunchSpecification.RamdiskId",
    "launched-availability-zone": "LaunchedAvailabilityZone",
    "launched-availability-zone-id": "LaunchedAvailabilityZoneId",
    "network-interface.addresses.primary": "LaunchSpecification.NetworkInterfaces[].PrivateIpAddresses[].Primary",
    "network-interface.delete-on-termination": "LaunchSpecification.NetworkInterfaces[].DeleteOnTermination",
    "network-interface.description": "LaunchSpecification.NetworkInterfaces[].Description",
    "network-interface.device-index": "LaunchSpecification.NetworkInterfaces[].DeviceIndex",
    "network-interface.group-id": "LaunchSpecification.NetworkInterfaces[].Groups[]",
    "network-interface.network-interface-id": "LaunchSpecification.NetworkInterfaces[].NetworkInterfaceId",
    "network-interface.private-ip-address": "LaunchSpecification.NetworkInterfaces[].PrivateIpAddress",
    "network-interface.subnet-id": "LaunchSpecification.NetworkInterfaces[].SubnetId",
    "product-description": "ProductDescription", "spot-instance-request-id": "SpotInstanceRequestId",
    "spot-price": "SpotPrice", "state": "State", "status-code": "Status.Code", "status-message": "Status.Message",
    "type": "Type", "valid-from": "ValidFrom", "valid-until": "ValidUntil",
}
#: Launch specification members RunInstances takes under the same name.
_SAME_NAMES = ("ImageId", "InstanceType", "KeyName", "UserData", "SubnetId", "EbsOptimized", "Monitoring",
               "IamInstanceProfile", "BlockDeviceMappings", "NetworkInterfaces", "KernelId", "RamdiskId")


def _item(row: Any, tags: list[dict[str, str]], zone_ids: dict[str, str]) -> Params:
    item: Params = {
        "SpotInstanceRequestId": row["spot_instance_request_id"], "State": row["state"], "Type": row["request_type"],
        "Status": {"Code": row["status_code"], "Message": row["status_message"],
                   "UpdateTime": row["status_updated_at"]},
        "CreateTime": row["created_at"], "LaunchSpecification": row["launch_specification"],
        "InstanceInterruptionBehavior": row["interruption_behavior"], "ProductDescription": "Linux/UNIX",
        "LaunchedAvailabilityZone": row["availability_zone"],
        "LaunchedAvailabilityZoneId": zone_ids.get(row["availability_zone"] or "", ""), "Tags": tags}
    for member, column in (("InstanceId", "instance_id"), ("SpotPrice", "max_price"), ("ValidUntil", "valid_until")):
        if row[column] is not None:
            item[member] = row[column]
    return item


@vpc_operation("DescribeSpotInstanceRequests", resources=arns((SPOT_REQUEST, "SpotInstanceRequestIds")))
def describe_spot_instance_requests(ctx: RequestContext, params: Params) -> Params:
    table = instance_state.spot_requests
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["spot_instance_request_id"] for r in rows])
    ids = zone_ids(ctx.cloud.config)
    items = [_item(row, tags[row["spot_instance_request_id"]], ids) for row in rows]
    listed, token = describe(items, params, key="SpotInstanceRequestId", ids_param="SpotInstanceRequestIds",
                             kind=SPOT_REQUEST, fields=FILTERS, page_limits=(5, 1000))
    return listing("SpotInstanceRequests", listed, token)


@vpc_operation("CancelSpotInstanceRequests", resources=arns((SPOT_REQUEST, "SpotInstanceRequestIds")))
def cancel_spot_instance_requests(ctx: RequestContext, params: Params) -> Params:
    require(params, "SpotInstanceRequestIds")
    wanted = list(dict.fromkeys(params["SpotInstanceRequestIds"]))
    table = instance_state.spot_requests
    now = utcnow()
    cancelled = []
    with write(ctx.cloud.db) as conn:
        rows = {r["spot_instance_request_id"]: r for r in conn.execute(select(table).where(
            table.c.account_id == ctx.account_id, table.c.spot_instance_request_id.in_(wanted))).mappings()}
        missing = [r for r in wanted if r not in rows]
        if missing:
            raise SPOT_REQUEST.missing(missing)
        for request_id in wanted:
            row = rows[request_id]
            if row["state"] in ("open", "active", "disabled"):
                code = "request-canceled-and-instance-running" if row["instance_id"] else "canceled-before-fulfillment"
                conn.execute(update(table).where(table.c.spot_instance_request_id == request_id).values(
                    state="cancelled", status_code=code, status_updated_at=now,
                    status_message="Your spot request is canceled, but your instance is still running."
                    if row["instance_id"] else "You canceled your spot request before it was fulfilled."))
                cancelled.append({"SpotInstanceRequestId": request_id, "State": "cancelled"})
            else:
                cancelled.append({"SpotInstanceRequestId": request_id, "State": row["state"]})
    return {"CancelledSpotInstanceRequests": cancelled}


@vpc_operation("RequestSpotInstances", resources=arns())
def request_spot_instances(ctx: RequestContext, params: Params) -> Params:
    spec = params.get("LaunchSpecification")
    if not spec:
        raise InvalidParameterValue("A launch specification is required: set LaunchSpecification.")
    count = params.get("InstanceCount", 1)
    if count < 1:
        raise InvalidParameterValue(f"Invalid value '{count}' for InstanceCount: at least 1.")
    launch: Params = {name: spec[name] for name in _SAME_NAMES if spec.get(name) is not None}
    if spec.get("SecurityGroupIds"):
        launch["SecurityGroupIds"] = spec["SecurityGroupIds"]
    if spec.get("SecurityGroups"):
        launch["SecurityGroups"] = spec["SecurityGroups"]
    if spec.get("Placement"):
        launch["Placement"] = {k: v for k, v in spec["Placement"].items() if k in ("AvailabilityZone", "GroupName")}
    if isinstance(launch.get("Monitoring"), dict):
        launch["Monitoring"] = {"Enabled": bool(launch["Monitoring"].get("Enabled"))}
    options = {"SpotInstanceType": params.get("Type") or "one-time",
               "InstanceInterruptionBehavior": params.get("InstanceInterruptionBehavior") or "terminate"}
    if params.get("SpotPrice"):
        options["MaxPrice"] = params["SpotPrice"]
    if params.get("ValidUntil"):
        options["ValidUntil"] = params["ValidUntil"]
    launch.update(MinCount=count, MaxCount=count, InstanceMarketOptions={"MarketType": "spot", "SpotOptions": options})
    if params.get("ClientToken"):
        launch["ClientToken"] = params["ClientToken"]
    reservation = run_instances.run_instances(ctx, launch)
    instance_ids = [i["InstanceId"] for i in reservation["Instances"]]
    table = instance_state.spot_requests
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.instance_id.in_(instance_ids))
                            .order_by(table.c.spot_instance_request_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["spot_instance_request_id"] for r in rows])
    ids = zone_ids(ctx.cloud.config)
    return {"SpotInstanceRequests": [_item(row, tags[row["spot_instance_request_id"]], ids) for row in rows]}
