"""GetLaunchTemplateData: an instance's launch parameters as template data, to start a template from.

:func:`template_data` is a pure function of the instance as DescribeInstances shows it and of what only its
row keeps (user data, shutdown behaviour, termination and stop protection); the result is pruned to
ResponseLaunchTemplateData through the model, so only members a template has are answered. The instance's
own tags become the template's instance tags, without AWS's ``aws:`` ones.
"""

from __future__ import annotations

import base64
from typing import Any

from sqlalchemy import RowMapping, select

from controller.api import Params, RequestContext
from controller.ec2.errors import require
from controller.ec2.ids import INSTANCE
from controller.ec2.instances import state as instance_state
from controller.ec2.instances.views import instance_outputs
from controller.ec2.launch_templates.shapes import RESPONSE_DATA, convert, shape
from controller.ec2.operation import arns, vpc_operation


def _interface(nic: Params) -> Params:
    attachment = nic.get("Attachment") or {}
    interface: Params = {
        "DeviceIndex": attachment.get("DeviceIndex", 0), "NetworkInterfaceId": nic.get("NetworkInterfaceId"),
        "SubnetId": nic.get("SubnetId"), "Description": nic.get("Description", ""),
        "Groups": [g["GroupId"] for g in nic.get("Groups") or []],
        "PrivateIpAddress": nic.get("PrivateIpAddress"),
        "PrivateIpAddresses": [{"Primary": a.get("Primary", False), "PrivateIpAddress": a["PrivateIpAddress"]}
                               for a in nic.get("PrivateIpAddresses") or []],
        "Ipv6Addresses": [{"Ipv6Address": a["Ipv6Address"]} for a in nic.get("Ipv6Addresses") or []]}
    if "DeleteOnTermination" in attachment:
        interface["DeleteOnTermination"] = attachment["DeleteOnTermination"]
    return {k: v for k, v in interface.items() if v not in (None, [])}


def template_data(instance: Params, row: RowMapping) -> Params:
    """The instance's parameters as ResponseLaunchTemplateData."""
    options = instance.get("MetadataOptions") or {}
    data: Params = {
        "ImageId": instance["ImageId"], "InstanceType": instance["InstanceType"], "KeyName": instance.get("KeyName"),
        "EbsOptimized": instance.get("EbsOptimized", False),
        "Monitoring": {"Enabled": True} if (instance.get("Monitoring") or {}).get("State") == "enabled" else {},
        "Placement": instance.get("Placement"),
        "NetworkInterfaces": [_interface(nic) for nic in instance.get("NetworkInterfaces") or []],
        "BlockDeviceMappings": [{"DeviceName": m["DeviceName"],
                                 "Ebs": {"DeleteOnTermination": m["Ebs"]["DeleteOnTermination"]}}
                                for m in instance.get("BlockDeviceMappings") or [] if m.get("Ebs")] or None,
        "IamInstanceProfile": {"Arn": instance["IamInstanceProfile"]["Arn"]}
        if instance.get("IamInstanceProfile") else None,
        "DisableApiTermination": bool(row["disable_api_termination"]),
        "DisableApiStop": bool(row["disable_api_stop"]),
        "InstanceInitiatedShutdownBehavior": row["shutdown_behavior"],
        "UserData": base64.b64encode(row["user_data"]).decode() if row["user_data"] else None,
        "MetadataOptions": {k: v for k, v in options.items() if k != "State"} or None,
        "CpuOptions": instance.get("CpuOptions"),
        "CapacityReservationSpecification": instance.get("CapacityReservationSpecification"),
        "HibernationOptions": instance.get("HibernationOptions"), "EnclaveOptions": instance.get("EnclaveOptions"),
        "MaintenanceOptions": instance.get("MaintenanceOptions"),
    }
    tags = [t for t in instance.get("Tags") or [] if not t["Key"].startswith("aws:")]
    if tags:
        data["TagSpecifications"] = [{"ResourceType": "instance", "Tags": tags}]
    response = shape(RESPONSE_DATA)
    return convert({k: v for k, v in data.items() if v is not None}, response, response)


@vpc_operation("GetLaunchTemplateData", resources=arns((INSTANCE, "InstanceId")))
def get_launch_template_data(ctx: RequestContext, params: Params) -> Params:
    require(params, "InstanceId")
    table = instance_state.instances
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(table).where(table.c.instance_id == params["InstanceId"],
                                               table.c.account_id == ctx.account_id)).mappings().first()
        if row is None:
            raise INSTANCE.missing([params["InstanceId"]])
        instance: dict[str, Any] = instance_outputs(conn, ctx.account_id, ctx.region, [row],
                                                    ctx.cloud.config.service_domain)[0]
    return {"LaunchTemplateData": template_data(instance, row)}
