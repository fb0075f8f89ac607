"""Security groups: Create/Describe/Delete, Authorize/Revoke Ingress/Egress, the rule API.

A rule may name another group as its peer: one of the caller's groups in the same VPC,
or a group (of any account) in a VPC peered with it by an active connection. A group
that interfaces use or that another group's rules reference cannot be deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, delete, func, or_, select, update

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    CannotDelete,
    DependencyViolation,
    InvalidGroupDuplicate,
    InvalidGroupNotFound,
    InvalidGroupReserved,
    InvalidParameterValue,
    InvalidPermissionDuplicate,
    InvalidPermissionNotFound,
    MissingParameter,
    RulesPerSecurityGroupLimitExceeded,
    SecurityGroupLimitExceeded,
    VpcIdNotSpecified,
)
from controller.ec2.ids import PREFIX_LIST, SECURITY_GROUP, SECURITY_GROUP_RULE, VPC
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc import provision, state, timed_states
from controller.ec2.vpc.endpoint_services import managed_prefix_lists
from controller.ec2.vpc.sg_rules import (
    RuleSpec,
    describe_rule,
    ip_permissions,
    parse_permissions,
    permission_of,
    spec_of,
)
from controller.state import utcnow

MAX_NAME_LENGTH = 255


def _permission_filters(prefix: str, key: str) -> dict[str, Any]:
    def values(field: str, sub: str | None = None) -> Any:
        if sub is None:
            return lambda g: [p.get(field) for p in g[key]]
        return lambda g: [item.get(sub) for p in g[key] for item in p[field]]

    return {
        f"{prefix}ip-permission.protocol": values("IpProtocol"),
        f"{prefix}ip-permission.from-port": values("FromPort"), f"{prefix}ip-permission.to-port": values("ToPort"),
        f"{prefix}ip-permission.cidr": values("IpRanges", "CidrIp"),
        f"{prefix}ip-permission.ipv6-cidr": values("Ipv6Ranges", "CidrIpv6"),
        f"{prefix}ip-permission.prefix-list-id": values("PrefixListIds", "PrefixListId"),
        f"{prefix}ip-permission.group-id": values("UserIdGroupPairs", "GroupId"),
        f"{prefix}ip-permission.group-name": values("UserIdGroupPairs", "GroupName"),
        f"{prefix}ip-permission.user-id": values("UserIdGroupPairs", "UserId"),
    }


#: API_DescribeSecurityGroups.html
GROUP_FILTERS = {
    "group-id": lambda g: g["GroupId"], "group-name": lambda g: g["GroupName"], "vpc-id": lambda g: g["VpcId"],
    "description": lambda g: g["Description"], "owner-id": lambda g: g["OwnerId"],
    **_permission_filters("", "IpPermissions"), **_permission_filters("egress.", "IpPermissionsEgress"),
}


# --- output -------------------------------------------------------------------------------------------------------


def group_outputs(ctx: RequestContext, conn: Connection, groups: Sequence[RowMapping]) -> list[Params]:
    group_ids = [g["group_id"] for g in groups]
    rules = state.security_group_rules
    by_group: dict[str, list[RowMapping]] = {g: [] for g in group_ids}
    for row in conn.execute(select(rules).where(rules.c.group_id.in_(group_ids)).order_by(rules.c.created_seq)
                            ).mappings():
        by_group[row["group_id"]].append(row)
    tags = tags_of(conn, ctx.account_id, group_ids)
    return [{"GroupId": g["group_id"], "GroupName": g["group_name"], "Description": g["description"],
             "VpcId": g["vpc_id"], "OwnerId": g["account_id"],
             "SecurityGroupArn": SECURITY_GROUP.arn(ctx, g["group_id"], g["account_id"]),
             "IpPermissions": ip_permissions(r for r in by_group[g["group_id"]] if not r["is_egress"]),
             "IpPermissionsEgress": ip_permissions(r for r in by_group[g["group_id"]] if r["is_egress"]),
             "Tags": tags[g["group_id"]]} for g in groups]


def rule_outputs(ctx: RequestContext, conn: Connection, rows: Sequence[RowMapping], owner: dict[str, str]) -> list[Params]:
    tags = tags_of(conn, ctx.account_id, [r["rule_id"] for r in rows])
    items = []
    for row in rows:
        item: Params = {"SecurityGroupRuleId": row["rule_id"], "GroupId": row["group_id"],
                        "GroupOwnerId": owner[row["group_id"]], "IsEgress": row["is_egress"],
                        "IpProtocol": row["ip_protocol"], "FromPort": row["from_port"], "ToPort": row["to_port"],
                        "Tags": tags[row["rule_id"]],
                        "SecurityGroupRuleArn": SECURITY_GROUP_RULE.arn(ctx, row["rule_id"], owner[row["group_id"]])}
        if row["cidr_ipv4"]:
            item["CidrIpv4"] = row["cidr_ipv4"]
        elif row["cidr_ipv6"]:
            item["CidrIpv6"] = row["cidr_ipv6"]
        elif row["prefix_list_id"]:
            item["PrefixListId"] = row["prefix_list_id"]
        else:
            item["ReferencedGroupInfo"] = {"GroupId": row["referenced_group_id"],
                                           "UserId": row["referenced_account_id"]}
        if row["description"]:
            item["Description"] = row["description"]
        items.append(item)
    return items


# --- groups -------------------------------------------------------------------------------------------------------


def _check_name(name: str | None, description: str | None) -> None:
    if not name:
        raise MissingParameter("The request must contain the parameter groupName")
    if not description:  # AWS treats an empty description as a missing one
        raise MissingParameter("The request must contain the parameter groupDescription")
    if len(name) > MAX_NAME_LENGTH or not name.isascii():
        raise InvalidParameterValue(f"Value ({name}) for parameter groupName is invalid. Character sets beyond ASCII "
                                    f"are not supported and the name is at most {MAX_NAME_LENGTH} characters.")
    if name.lower().startswith("sg-"):
        raise InvalidParameterValue("Group names may not be in the format sg-*")
    if name == provision.DEFAULT_GROUP_NAME:
        raise InvalidGroupReserved(f"The security group '{name}' is reserved")
    if len(description) > MAX_NAME_LENGTH or not description.isascii():
        raise InvalidParameterValue("Value for parameter groupDescription is invalid. Character sets beyond ASCII are "
                                    f"not supported and the description is at most {MAX_NAME_LENGTH} characters.")


@vpc_operation("CreateSecurityGroup", resources=arns((SECURITY_GROUP, NEW), (VPC, "VpcId")))
def create_security_group(ctx: RequestContext, params: Params) -> Params:
    name, description = params.get("GroupName"), params.get("Description")
    _check_name(name, description)
    groups = state.security_groups
    with state.write(ctx.cloud.db) as conn:
        if params.get("VpcId"):
            vpc = lookups.vpc(conn, params["VpcId"], ctx.account_id)
        else:
            vpc = lookups.default_vpc(conn, ctx.account_id)
            if vpc is None:
                raise VpcIdNotSpecified("No default VPC for this user")
        vpc_id = vpc["vpc_id"]
        if conn.execute(select(groups.c.group_id).where(groups.c.vpc_id == vpc_id, groups.c.group_name == name)).first():
            raise InvalidGroupDuplicate(f"The security group '{name}' already exists for VPC '{vpc_id}'")
        count = conn.execute(select(func.count()).select_from(groups).where(groups.c.vpc_id == vpc_id)).scalar_one()
        if count >= ctx.cloud.config.security_groups_per_vpc:
            raise SecurityGroupLimitExceeded("The maximum number of security groups has been reached.")
        group_id = provision.create_security_group(conn, ctx.account_id, vpc, name or "", description or "")
        new_tags = tag_new_resource(conn, ctx.account_id, SECURITY_GROUP, group_id, params.get("TagSpecifications"))
    arn = SECURITY_GROUP.arn(ctx, group_id)
    ctx.audit_resources.append(arn)
    return {"GroupId": group_id, "Tags": new_tags, "SecurityGroupArn": arn}


def _group(conn: Connection, ctx: RequestContext, params: Params) -> RowMapping:
    """The group named by GroupId, or by GroupName in the caller's default VPC (as EC2 resolves names)."""
    if params.get("GroupId"):
        return lookups.fetch(conn, SECURITY_GROUP, params["GroupId"], ctx.account_id)
    name = params.get("GroupName")
    if not name:
        raise MissingParameter("The request must contain the parameter groupId or groupName")
    vpc = lookups.default_vpc(conn, ctx.account_id)
    groups = state.security_groups
    row = None if vpc is None else conn.execute(select(groups).where(
        groups.c.vpc_id == vpc["vpc_id"], groups.c.group_name == name)).mappings().first()
    if row is None:
        raise InvalidGroupNotFound(f"The security group '{name}' does not exist in default VPC "
                                   f"'{vpc['vpc_id'] if vpc else 'none'}'")
    return row


@vpc_operation("DeleteSecurityGroup", resources=arns((SECURITY_GROUP, "GroupId")))
def delete_security_group(ctx: RequestContext, params: Params) -> Params:
    rules, members = state.security_group_rules, state.interface_groups
    with state.write(ctx.cloud.db) as conn:
        group = _group(conn, ctx, params)
        group_id = group["group_id"]
        if group["is_default"]:
            raise CannotDelete(f'the specified group: "{group_id}" name: "default" cannot be deleted by a user')
        used = conn.execute(select(func.count()).select_from(members).where(members.c.group_id == group_id)
                            ).scalar_one()
        referenced = conn.execute(select(func.count()).select_from(rules).where(
            rules.c.referenced_group_id == group_id, rules.c.group_id != group_id)).scalar_one()
        if used or referenced:
            raise DependencyViolation(f"resource {group_id} has a dependent object")
        rule_ids = [r[0] for r in conn.execute(select(rules.c.rule_id).where(rules.c.group_id == group_id))]
        conn.execute(delete(rules).where(rules.c.group_id == group_id))
        conn.execute(delete(state.security_groups).where(state.security_groups.c.group_id == group_id))
        drop_tags(conn, [group_id, *rule_ids])
    return {"Return": True, "GroupId": group_id}


@vpc_operation("DescribeSecurityGroups")
def describe_security_groups(ctx: RequestContext, params: Params) -> Params:
    groups = state.security_groups
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(groups).where(groups.c.account_id == ctx.account_id)).mappings().all()
        names = params.get("GroupNames") or []
        if names:
            wanted = {_group(conn, ctx, {"GroupName": name})["group_id"] for name in names}
            rows = [r for r in rows if r["group_id"] in wanted]
        items = group_outputs(ctx, conn, rows)
    listed, token = describe(items, params, key="GroupId", ids_param="GroupIds", kind=SECURITY_GROUP,
                             fields=GROUP_FILTERS, page_limits=(5, 1000))
    return listing("SecurityGroups", listed, token)


# --- rules ----------------------------------------------------------------------------------------------------------


def _resolve_peers(conn: Connection, ctx: RequestContext, group: RowMapping, rules: list[RuleSpec]) -> list[RuleSpec]:
    """Referenced groups and prefix lists checked (and group names resolved) for ``group``."""
    resolved = []
    for rule in rules:
        if rule.prefix_list_id and rule.prefix_list_id not in managed_prefix_lists(ctx.cloud.config):
            lookups.fetch(conn, PREFIX_LIST, rule.prefix_list_id, ctx.account_id)
        if rule.group_id or rule.group_name:
            peer = _referenced_group(conn, ctx, group, rule)
            rule = RuleSpec(rule.protocol, rule.from_port, rule.to_port, group_id=peer["group_id"],
                            group_account=peer["account_id"], description=rule.description)
        resolved.append(rule)
    return resolved


def _referenced_group(conn: Connection, ctx: RequestContext, group: RowMapping, rule: RuleSpec) -> RowMapping:
    groups = state.security_groups
    if rule.group_id:
        peer = lookups.find(conn, SECURITY_GROUP, rule.group_id)
        wanted = rule.group_id
    else:
        peer = conn.execute(select(groups).where(groups.c.vpc_id == group["vpc_id"],
                                                 groups.c.group_name == rule.group_name)).mappings().first()
        wanted = rule.group_name or ""
    if peer is None or (peer["account_id"] != ctx.account_id and peer["account_id"] != rule.group_account):
        if not rule.group_id:
            raise InvalidGroupNotFound(f"The security group '{wanted}' does not exist in VPC '{group['vpc_id']}'")
        raise SECURITY_GROUP.missing([wanted])
    if peer["vpc_id"] != group["vpc_id"] and not _peered(conn, group["vpc_id"], peer["vpc_id"]):
        if peer["account_id"] != ctx.account_id:
            raise SECURITY_GROUP.missing([wanted])
        raise InvalidGroupNotFound("You have specified two resources that belong to different networks.")
    return peer


def _peered(conn: Connection, vpc_a: str, vpc_b: str) -> bool:
    pcx = state.peering_connections
    rows = conn.execute(select(pcx).where(or_(
        and_(pcx.c.requester_vpc_id == vpc_a, pcx.c.accepter_vpc_id == vpc_b),
        and_(pcx.c.requester_vpc_id == vpc_b, pcx.c.accepter_vpc_id == vpc_a)))).mappings()
    now = utcnow()
    return any(timed_states.peering_status(r, now) == "active" for r in rows)


def _existing(conn: Connection, group_id: str, egress: bool) -> list[RowMapping]:
    rules = state.security_group_rules
    return list(conn.execute(select(rules).where(rules.c.group_id == group_id, rules.c.is_egress == egress)
                             .order_by(rules.c.created_seq)).mappings())


def _authorize(ctx: RequestContext, params: Params, egress: bool) -> Params:
    rules_table = state.security_group_rules
    requested = parse_permissions(params, ctx.account_id)  # the request's own mistakes come before lookups
    with state.write(ctx.cloud.db) as conn:
        group = _group(conn, ctx, params)
        wanted = _resolve_peers(conn, ctx, group, requested)
        existing = _existing(conn, group["group_id"], egress)
        seen = {spec_of(r).identity() for r in existing}
        for rule in wanted:
            if rule.identity() in seen:
                raise InvalidPermissionDuplicate(f'the specified rule "{describe_rule(rule)}" already exists')
            seen.add(rule.identity())
        if len(existing) + len(wanted) > ctx.cloud.config.rules_per_security_group:
            raise RulesPerSecurityGroupLimitExceeded("The maximum number of rules per security group has been "
                                                     "reached.")
        new_ids = []
        for rule in wanted:
            rule_id = provision.add_group_rule(
                conn, group["group_id"], is_egress=egress, protocol=rule.protocol, from_port=rule.from_port,
                to_port=rule.to_port, description=rule.description, cidr_ipv4=rule.cidr_ipv4,
                cidr_ipv6=rule.cidr_ipv6, prefix_list_id=rule.prefix_list_id, referenced_group_id=rule.group_id,
                referenced_account_id=rule.group_account if rule.group_id else None)
            tag_new_resource(conn, ctx.account_id, SECURITY_GROUP_RULE, rule_id, params.get("TagSpecifications"))
            new_ids.append(rule_id)
        rows = conn.execute(select(rules_table).where(rules_table.c.rule_id.in_(new_ids))
                            .order_by(rules_table.c.created_seq)).mappings().all()
        output = rule_outputs(ctx, conn, rows, {group["group_id"]: group["account_id"]})
    return {"Return": True, "SecurityGroupRules": output}


def _revoke(ctx: RequestContext, params: Params, egress: bool) -> Params:
    rules_table = state.security_group_rules
    requested = None if params.get("SecurityGroupRuleIds") else parse_permissions(params, ctx.account_id)
    with state.write(ctx.cloud.db) as conn:
        group = _group(conn, ctx, params)
        existing = _existing(conn, group["group_id"], egress)
        unknown: list[RuleSpec] = []
        if params.get("SecurityGroupRuleIds"):
            by_id = {r["rule_id"]: r for r in existing}
            missing = [i for i in params["SecurityGroupRuleIds"] if i not in by_id]
            if missing:
                raise SECURITY_GROUP_RULE.missing(missing)
            doomed = [by_id[i] for i in params["SecurityGroupRuleIds"]]
        else:
            wanted = _resolve_peers(conn, ctx, group, requested or [])
            by_identity = {spec_of(r).identity(): r for r in existing}
            doomed = [by_identity[w.identity()] for w in wanted if w.identity() in by_identity]
            unknown = [w for w in wanted if w.identity() not in by_identity]
            if not doomed:
                raise InvalidPermissionNotFound("The specified rule does not exist in this security group.")
        doomed_ids = [r["rule_id"] for r in doomed]
        conn.execute(delete(rules_table).where(rules_table.c.rule_id.in_(doomed_ids)))
        drop_tags(conn, doomed_ids)
    revoked = []
    for row in doomed:
        item: Params = {"SecurityGroupRuleId": row["rule_id"], "GroupId": row["group_id"], "IsEgress": egress,
                        "IpProtocol": row["ip_protocol"], "FromPort": row["from_port"], "ToPort": row["to_port"]}
        for column, member in (("cidr_ipv4", "CidrIpv4"), ("cidr_ipv6", "CidrIpv6"),
                               ("prefix_list_id", "PrefixListId"), ("referenced_group_id", "ReferencedGroupId"),
                               ("description", "Description")):
            if row[column]:
                item[member] = row[column]
        revoked.append(item)
    result: Params = {"Return": True, "RevokedSecurityGroupRules": revoked}
    if unknown:
        result["UnknownIpPermissions"] = [permission_of(u) for u in unknown]
    return result


@vpc_operation("AuthorizeSecurityGroupIngress", resources=arns((SECURITY_GROUP, "GroupId")))
def authorize_security_group_ingress(ctx: RequestContext, params: Params) -> Params:
    return _authorize(ctx, params, egress=False)


@vpc_operation("AuthorizeSecurityGroupEgress", resources=arns((SECURITY_GROUP, "GroupId")))
def authorize_security_group_egress(ctx: RequestContext, params: Params) -> Params:
    return _authorize(ctx, params, egress=True)


@vpc_operation("RevokeSecurityGroupIngress", resources=arns((SECURITY_GROUP, "GroupId")))
def revoke_security_group_ingress(ctx: RequestContext, params: Params) -> Params:
    return _revoke(ctx, params, egress=False)


@vpc_operation("RevokeSecurityGroupEgress", resources=arns((SECURITY_GROUP, "GroupId")))
def revoke_security_group_egress(ctx: RequestContext, params: Params) -> Params:
    return _revoke(ctx, params, egress=True)


#: API_DescribeSecurityGroupRules.html (and ``is-egress``, ``ip-protocol``).
RULE_FILTERS = {
    "group-id": lambda r: r["GroupId"], "security-group-rule-id": lambda r: r["SecurityGroupRuleId"],
    "is-egress": lambda r: r["IsEgress"], "ip-protocol": lambda r: r["IpProtocol"],
}


@vpc_operation("DescribeSecurityGroupRules")
def describe_security_group_rules(ctx: RequestContext, params: Params) -> Params:
    groups, rules = state.security_groups, state.security_group_rules
    with ctx.cloud.db.read() as conn:
        owned = dict(conn.execute(select(groups.c.group_id, groups.c.account_id)
                                  .where(groups.c.account_id == ctx.account_id)).all())
        rows = conn.execute(select(rules).where(rules.c.group_id.in_(list(owned)))).mappings().all()
        items = rule_outputs(ctx, conn, rows, owned)
    listed, token = describe(items, params, key="SecurityGroupRuleId", ids_param="SecurityGroupRuleIds",
                             kind=SECURITY_GROUP_RULE, fields=RULE_FILTERS, page_limits=(5, 1000))
    return listing("SecurityGroupRules", listed, token)


@vpc_operation("ModifySecurityGroupRules", resources=arns((SECURITY_GROUP, "GroupId")))
def modify_security_group_rules(ctx: RequestContext, params: Params) -> Params:
    """Rewrite rules in place (they keep their ids), refusing a result that duplicates another rule."""
    rules_table = state.security_group_rules
    with state.write(ctx.cloud.db) as conn:
        group = lookups.fetch(conn, SECURITY_GROUP, params.get("GroupId"), ctx.account_id)
        rows = {r["rule_id"]: r for r in conn.execute(select(rules_table).where(
            rules_table.c.group_id == group["group_id"])).mappings()}
        for change in params.get("SecurityGroupRules") or []:
            rule_id = change.get("SecurityGroupRuleId") or ""
            if rule_id not in rows:
                raise SECURITY_GROUP_RULE.missing([rule_id])
            row = rows[rule_id]
            rule = _rule_from_request(conn, ctx, group, change.get("SecurityGroupRule") or {})
            others = {spec_of(r).identity() for r in rows.values()
                      if r["rule_id"] != rule_id and r["is_egress"] == row["is_egress"]}
            if rule.identity() in others:
                raise InvalidPermissionDuplicate(f'the specified rule "{describe_rule(rule)}" already exists')
            values = dict(ip_protocol=rule.protocol, from_port=rule.from_port, to_port=rule.to_port,
                          cidr_ipv4=rule.cidr_ipv4, cidr_ipv6=rule.cidr_ipv6, prefix_list_id=rule.prefix_list_id,
                          referenced_group_id=rule.group_id,
                          referenced_account_id=rule.group_account if rule.group_id else None,
                          description=rule.description)
            conn.execute(update(rules_table).where(rules_table.c.rule_id == rule_id).values(values))
            rows[rule_id] = {**row, **values}
    return {"Return": True}


def _update_descriptions(ctx: RequestContext, params: Params, egress: bool) -> Params:
    """Set each named rule's description (none given clears it), by IpPermissions or by rule id; every
    rule named must exist, or nothing changes (API_UpdateSecurityGroupRuleDescriptionsIngress)."""
    by_rule_id = params.get("SecurityGroupRuleDescriptions") or []
    if not by_rule_id and not params.get("IpPermissions"):
        raise MissingParameter("The request must contain the parameter ipPermissions or "
                               "securityGroupRuleDescriptions")
    rules_table = state.security_group_rules
    requested = [] if by_rule_id else parse_permissions(params, ctx.account_id)
    with state.write(ctx.cloud.db) as conn:
        group = _group(conn, ctx, params)
        existing = _existing(conn, group["group_id"], egress)
        changes: dict[str, str | None] = {}
        if by_rule_id:
            known = {r["rule_id"] for r in existing}
            missing = [d.get("SecurityGroupRuleId") or "" for d in by_rule_id if d.get("SecurityGroupRuleId") not in known]
            if missing:
                raise SECURITY_GROUP_RULE.missing(missing)
            changes = {d["SecurityGroupRuleId"]: d.get("Description") or None for d in by_rule_id}
        else:
            by_identity = {spec_of(r).identity(): r["rule_id"] for r in existing}
            for rule in _resolve_peers(conn, ctx, group, requested):
                if rule.identity() not in by_identity:
                    raise InvalidPermissionNotFound(f'The specified rule "{describe_rule(rule)}" does not exist in '
                                                    "this security group.")
                changes[by_identity[rule.identity()]] = rule.description or None
        for rule_id, description in changes.items():
            conn.execute(update(rules_table).where(rules_table.c.rule_id == rule_id).values(description=description))
    return {"Return": True}


@vpc_operation("UpdateSecurityGroupRuleDescriptionsIngress", resources=arns((SECURITY_GROUP, "GroupId")))
def update_security_group_rule_descriptions_ingress(ctx: RequestContext, params: Params) -> Params:
    return _update_descriptions(ctx, params, egress=False)


@vpc_operation("UpdateSecurityGroupRuleDescriptionsEgress", resources=arns((SECURITY_GROUP, "GroupId")))
def update_security_group_rule_descriptions_egress(ctx: RequestContext, params: Params) -> Params:
    return _update_descriptions(ctx, params, egress=True)


def _rule_from_request(conn: Connection, ctx: RequestContext, group: RowMapping, request: Params) -> RuleSpec:
    """A SecurityGroupRuleRequest (one peer) as a checked RuleSpec."""
    permission: Params = {"IpProtocol": request.get("IpProtocol"), "FromPort": request.get("FromPort"),
                          "ToPort": request.get("ToPort")}
    described = {"Description": request["Description"]} if request.get("Description") else {}
    if request.get("CidrIpv4"):
        permission["IpRanges"] = [{"CidrIp": request["CidrIpv4"], **described}]
    elif request.get("CidrIpv6"):
        permission["Ipv6Ranges"] = [{"CidrIpv6": request["CidrIpv6"], **described}]
    elif request.get("PrefixListId"):
        permission["PrefixListIds"] = [{"PrefixListId": request["PrefixListId"], **described}]
    elif request.get("ReferencedGroupId"):
        permission["UserIdGroupPairs"] = [{"GroupId": request["ReferencedGroupId"], **described}]
    specs = _resolve_peers(conn, ctx, group, parse_permissions({"IpPermissions": [permission]}, ctx.account_id))
    return specs[0]
