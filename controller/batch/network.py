"""What a managed compute environment needs from EC2: its subnets, security groups and launch template.

Read straight from the EC2/VPC tables, as elbv2 does, because a reference to another account's or a deleted
resource must look the same as an unknown one. The same check runs at create/update (a refusal) and on
every read (a compute environment whose network went away is INVALID, with AWS's CLIENT_ERROR reason).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select

from controller.ec2 import ids, lookups
from controller.ec2.launch_templates import state as lt_state


def _owned(conn: Connection, kind: ids.Kind, resource_id: Any, account_id: str) -> Any:
    if not isinstance(resource_id, str) or not kind.well_formed(resource_id):
        return None
    row = lookups.find(conn, kind, resource_id)
    return row if row is not None and row["account_id"] == account_id else None


def _launch_template(conn: Connection, spec: dict[str, Any], account_id: str) -> str | None:
    table = lt_state.launch_templates
    template_id, name = spec.get("launchTemplateId"), spec.get("launchTemplateName")
    if bool(template_id) == bool(name):
        return "You must specify either launchTemplateId or launchTemplateName, but not both."
    column = table.c.launch_template_id if template_id else table.c.name
    row = conn.execute(select(table.c.launch_template_id).where(
        column == (template_id or name), table.c.account_id == account_id)).first()
    if row is None:
        return f"Launch template {template_id or name} does not exist"
    return None


def problem(conn: Connection, account_id: str, resources: dict[str, Any]) -> str | None:
    """Why these compute resources cannot be used (the first missing thing), or None when all is there."""
    vpcs: set[str] = set()
    for subnet_id in resources.get("subnets") or []:
        row = _owned(conn, ids.SUBNET, subnet_id, account_id)
        if row is None:
            return f"The subnet ID '{subnet_id}' does not exist"
        vpcs.add(row["vpc_id"])
    if len(vpcs) > 1:
        return "The subnets of a compute environment must all be in the same VPC"
    for group_id in resources.get("securityGroupIds") or []:
        row = _owned(conn, ids.SECURITY_GROUP, group_id, account_id)
        if row is None:
            return f"The security group '{group_id}' does not exist"
        if vpcs and row["vpc_id"] not in vpcs:
            return f"The security group '{group_id}' is not in the VPC of the compute environment's subnets"
    template = resources.get("launchTemplate")
    if template:
        return _launch_template(conn, template, account_id)
    return None
