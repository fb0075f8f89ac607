"""What a group launches from: a launch configuration, a launch template, or a mixed instances policy; and the
RunInstances request one launch makes.

Templates are EC2's: they are looked up (and their names turned into ids) through EC2's own
DescribeLaunchTemplates as the service-linked role, and RunInstances resolves ``$Latest``/``$Default`` itself.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any

from controller.autoscaling import calls, launch_configs
from controller.autoscaling.errors import ValidationError, no_launch_configuration

_ONE_SOURCE = ("Valid requests must contain either LaunchTemplate, LaunchConfigurationName, InstanceId or "
               "MixedInstancesPolicy parameter.")


def resolve_template(cloud: Any, account_id: str, spec: dict[str, Any]) -> dict[str, Any]:
    """{LaunchTemplateId, LaunchTemplateName, Version} of an existing template; ValidationError otherwise."""
    template_id, name = spec.get("LaunchTemplateId"), spec.get("LaunchTemplateName")
    if bool(template_id) == bool(name):
        raise ValidationError("Valid requests must contain either launchTemplateId or LaunchTemplateName")
    query = {"LaunchTemplateIds": [template_id]} if template_id else {"LaunchTemplateNames": [name]}
    try:
        found = calls.as_role(cloud, account_id, "ec2", "DescribeLaunchTemplates", query)["LaunchTemplates"]
    except calls.ServiceCallError:
        found = []
    if not found:
        what = f"id {template_id}" if template_id else f"name {name}"
        raise ValidationError(f"You must use a valid fully-formed launch template. The specified launch template, "
                              f"with template {what}, does not exist.")
    version = str(spec.get("Version") or "$Default")
    if version not in ("$Latest", "$Default") and (
            not version.isdigit() or not 1 <= int(version) <= found[0]["LatestVersionNumber"]):
        raise ValidationError(f"You must use a valid fully-formed launch template. The specified launch "
                              f"template version {version} for launch template "
                              f"{found[0]['LaunchTemplateId']} does not exist.")
    return {"LaunchTemplateId": found[0]["LaunchTemplateId"], "LaunchTemplateName": found[0]["LaunchTemplateName"],
            "Version": version}


def check_source(cloud: Any, account_id: str, region: str, params: dict[str, Any], *, required: bool) -> dict[str, Any]:
    """The launch source members of a Create/UpdateAutoScalingGroup request, checked and normalized:
    {} when none is given (Update), ValidationError when several are (or none on Create)."""
    given = [key for key in ("LaunchConfigurationName", "LaunchTemplate", "MixedInstancesPolicy")
             if params.get(key)]
    if len(given) > 1 or (required and not given and not params.get("InstanceId")):
        raise ValidationError(_ONE_SOURCE)
    if not given:
        return {}
    if given[0] == "LaunchConfigurationName":
        name = params["LaunchConfigurationName"]
        with cloud.db.read() as conn:
            if launch_configs.find(conn, account_id, region, name) is None:
                raise no_launch_configuration(name)
        return {"LaunchConfigurationName": name}
    if given[0] == "LaunchTemplate":
        return {"LaunchTemplate": resolve_template(cloud, account_id, params["LaunchTemplate"])}
    policy = params["MixedInstancesPolicy"]
    template = dict(policy.get("LaunchTemplate") or {})
    spec = template.get("LaunchTemplateSpecification")
    if not spec:
        raise ValidationError("A launch template must be specified in the mixed instances policy.")
    template["LaunchTemplateSpecification"] = resolve_template(cloud, account_id, spec)
    template["Overrides"] = list(template.get("Overrides") or [])
    distribution = {"OnDemandAllocationStrategy": "prioritized", "OnDemandBaseCapacity": 0,
                    "OnDemandPercentageAboveBaseCapacity": 100, "SpotAllocationStrategy": "lowest-price",
                    "SpotInstancePools": 2, "SpotMaxPrice": "", **(policy.get("InstancesDistribution") or {})}
    percent = distribution["OnDemandPercentageAboveBaseCapacity"]
    if not 0 <= percent <= 100:
        raise ValidationError("OnDemandPercentageAboveBaseCapacity must be between 0 and 100")
    if distribution["SpotAllocationStrategy"] != "lowest-price":
        distribution.pop("SpotInstancePools", None)
    return {"MixedInstancesPolicy": {"LaunchTemplate": template, "InstancesDistribution": distribution}}


def _user_data(value: str) -> str:
    """RunInstances wants base64; launch configurations keep what they were given (plain text or base64)."""
    try:
        base64.b64decode(value, validate=True)
        return value
    except (binascii.Error, ValueError):
        return base64.b64encode(value.encode()).decode()


def from_configuration(lc: dict[str, Any], subnet_id: str) -> dict[str, Any]:
    """RunInstances' parameters for one instance of a launch configuration."""
    request: dict[str, Any] = {"ImageId": lc["ImageId"], "InstanceType": lc["InstanceType"]}
    if lc.get("KeyName"):
        request["KeyName"] = lc["KeyName"]
    if lc.get("UserData"):
        request["UserData"] = _user_data(lc["UserData"])
    if lc.get("IamInstanceProfile"):
        profile = lc["IamInstanceProfile"]
        request["IamInstanceProfile"] = {"Arn": profile} if profile.startswith("arn:") else {"Name": profile}
    if lc.get("BlockDeviceMappings"):
        request["BlockDeviceMappings"] = lc["BlockDeviceMappings"]
    if lc.get("InstanceMonitoring") is not None:
        request["Monitoring"] = {"Enabled": bool(lc["InstanceMonitoring"].get("Enabled"))}
    if lc.get("EbsOptimized"):
        request["EbsOptimized"] = True
    if lc.get("MetadataOptions"):
        request["MetadataOptions"] = lc["MetadataOptions"]
    if lc.get("PlacementTenancy"):
        request["Placement"] = {"Tenancy": lc["PlacementTenancy"]}
    if lc.get("SpotPrice"):
        request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {"MaxPrice": lc["SpotPrice"]}}
    groups = lc.get("SecurityGroups") or []
    ids = [group for group in groups if group.startswith("sg-")]
    if lc.get("AssociatePublicIpAddress") is not None:
        interface: dict[str, Any] = {"DeviceIndex": 0, "SubnetId": subnet_id,
                                     "AssociatePublicIpAddress": bool(lc["AssociatePublicIpAddress"])}
        if ids:
            interface["Groups"] = ids
        request["NetworkInterfaces"] = [interface]
    else:
        request["SubnetId"] = subnet_id
        if ids:
            request["SecurityGroupIds"] = ids
        if len(ids) < len(groups):
            request["SecurityGroups"] = [group for group in groups if not group.startswith("sg-")]
    return request


def from_template(template: dict[str, Any], subnet_id: str, instance_type: str | None = None,
                  spot: bool = False, max_price: str = "") -> dict[str, Any]:
    """RunInstances' parameters for one instance of a template (with a mixed policy's type and market)."""
    request: dict[str, Any] = {"LaunchTemplate": {"LaunchTemplateId": template["LaunchTemplateId"],
                                                  "Version": template.get("Version") or "$Default"},
                               "SubnetId": subnet_id}
    if instance_type:
        request["InstanceType"] = instance_type
    if spot:
        options: dict[str, Any] = {"SpotInstanceType": "one-time"}
        if max_price:
            options["MaxPrice"] = max_price
        request["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": options}
    return request
