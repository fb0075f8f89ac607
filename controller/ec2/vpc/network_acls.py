"""Network ACLs: Create/Delete/Describe, numbered entries, and subnet association replacement.

Each subnet is associated with exactly one ACL (its VPC's default one until replaced).
Entries are numbered 1..32766 per direction and evaluated lowest first; the catch-all
deny (``*``, shown as rule 32767, and 32768 for IPv6 in an IPv6 VPC) is implicit: it is
listed by Describe but never stored, so it can be neither replaced nor deleted.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, select, update

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    InvalidNetworkAclEntryNotFound,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    NetworkAclEntryAlreadyExists,
    has_dependencies,
    invalid_value,
)
from controller.ec2.ids import NETWORK_ACL, NETWORK_ACL_ASSOCIATION, VPC
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc import cidrs, provision, state

MIN_RULE, MAX_RULE = 1, 32766
CATCH_ALL_IPV4, CATCH_ALL_IPV6 = 32767, 32768
PROTOCOL_NUMBERS = {"all": "-1", "-1": "-1", "tcp": "6", "udp": "17", "icmp": "1", "icmpv6": "58"}
PORTED, ICMP = ("6", "17"), ("1", "58")


def normalize_protocol(value: str | None) -> str:
    """A NACL protocol as EC2 stores it: ``-1`` or a protocol number (names are accepted)."""
    text = (value or "").strip().lower()
    if text in PROTOCOL_NUMBERS:
        return PROTOCOL_NUMBERS[text]
    if text.isdigit() and 0 <= int(text) <= 255:
        return str(int(text))
    raise invalid_value(value, "protocol", "Unknown protocol.")


def _entry_values(params: Params) -> dict[str, Any]:
    """The stored columns of a Create/ReplaceNetworkAclEntry request, checked as EC2 does."""
    rule_number = params.get("RuleNumber")
    if rule_number is None or not MIN_RULE <= rule_number <= MAX_RULE:
        raise invalid_value(rule_number, "ruleNumber", f"Rule numbers must be between {MIN_RULE} and {MAX_RULE}.")
    action = (params.get("RuleAction") or "").lower()
    if action not in ("allow", "deny"):
        raise invalid_value(params.get("RuleAction"), "ruleAction", "Valid values are allow and deny.")
    protocol = normalize_protocol(params.get("Protocol"))
    cidr, ipv6 = params.get("CidrBlock"), params.get("Ipv6CidrBlock")
    if cidr and ipv6:
        raise InvalidParameterCombination("The parameter cidrBlock cannot be used with the parameter ipv6CidrBlock")
    if not cidr and not ipv6:
        raise MissingParameter("The request must contain the parameter cidrBlock or ipv6CidrBlock")
    values: dict[str, Any] = {
        "rule_number": rule_number, "egress": bool(params.get("Egress")), "protocol": protocol,
        "rule_action": action, "cidr_block": str(cidrs.ipv4_network(cidr)) if cidr else None,
        "ipv6_cidr_block": str(cidrs.ipv6_network(ipv6)) if ipv6 else None,
        "port_from": None, "port_to": None, "icmp_type": None, "icmp_code": None}
    if protocol in PORTED:
        ports = params.get("PortRange") or {}
        low, high = ports.get("From"), ports.get("To")
        if low is None or high is None:
            raise MissingParameter("The request must contain the parameter portRange")
        if not 0 <= low <= high <= 65535:
            raise InvalidParameterValue(f"Invalid port range {low}-{high}: ports must be 0-65535 and From <= To.")
        values.update(port_from=low, port_to=high)
    elif protocol in ICMP:
        icmp = params.get("IcmpTypeCode")
        if icmp is None:
            raise MissingParameter("The request must contain the parameter icmpTypeCode")
        icmp_type = -1 if icmp.get("Type") is None else icmp["Type"]
        icmp_code = -1 if icmp.get("Code") is None else icmp["Code"]
        if not -1 <= icmp_type <= 255 or not -1 <= icmp_code <= 255:
            raise InvalidParameterValue(f"Invalid ICMP type {icmp_type} and code {icmp_code}.")
        values.update(icmp_type=icmp_type, icmp_code=icmp_code)
    return values


def entry_output(row: RowMapping | dict[str, Any]) -> Params:
    item: Params = {"RuleNumber": row["rule_number"], "Egress": row["egress"], "Protocol": row["protocol"],
                    "RuleAction": row["rule_action"]}
    if row["cidr_block"]:
        item["CidrBlock"] = row["cidr_block"]
    if row["ipv6_cidr_block"]:
        item["Ipv6CidrBlock"] = row["ipv6_cidr_block"]
    if row["port_from"] is not None:
        item["PortRange"] = {"From": row["port_from"], "To": row["port_to"]}
    if row["icmp_type"] is not None:
        item["IcmpTypeCode"] = {"Type": row["icmp_type"], "Code": row["icmp_code"]}
    return item


def _catch_all(egress: bool, ipv6: bool) -> Params:
    entry: Params = {"RuleNumber": CATCH_ALL_IPV6 if ipv6 else CATCH_ALL_IPV4, "Egress": egress, "Protocol": "-1",
                     "RuleAction": "deny"}
    entry["Ipv6CidrBlock" if ipv6 else "CidrBlock"] = provision.ALL_IPV6 if ipv6 else provision.ALL_IPV4
    return entry


def acl_outputs(conn: Connection, account: str, acls: Sequence[RowMapping]) -> list[Params]:
    acl_ids = [a["network_acl_id"] for a in acls]
    entries_table, assoc = state.network_acl_entries, state.network_acl_associations
    entries: dict[str, list[Params]] = {a: [] for a in acl_ids}
    for row in conn.execute(select(entries_table).where(entries_table.c.network_acl_id.in_(acl_ids))
                            .order_by(entries_table.c.egress.desc(), entries_table.c.rule_number)).mappings():
        entries[row["network_acl_id"]].append(entry_output(row))
    associations: dict[str, list[Params]] = {a: [] for a in acl_ids}
    for row in conn.execute(select(assoc).where(assoc.c.network_acl_id.in_(acl_ids))).mappings():
        associations[row["network_acl_id"]].append({"NetworkAclAssociationId": row["association_id"],
                                                    "NetworkAclId": row["network_acl_id"],
                                                    "SubnetId": row["subnet_id"]})
    ipv6_vpcs = {r[0] for r in conn.execute(select(state.vpcs.c.vpc_id).where(
        state.vpcs.c.vpc_id.in_({a["vpc_id"] for a in acls}), state.vpcs.c.ipv6_cidr_block.is_not(None)))}
    tags = tags_of(conn, account, acl_ids)
    items = []
    for acl in acls:
        acl_entries = entries[acl["network_acl_id"]]
        for egress in (True, False):
            acl_entries.append(_catch_all(egress, False))
            if acl["vpc_id"] in ipv6_vpcs:
                acl_entries.append(_catch_all(egress, True))
        acl_entries.sort(key=lambda e: (not e["Egress"], e["RuleNumber"]))
        items.append({"NetworkAclId": acl["network_acl_id"], "VpcId": acl["vpc_id"], "OwnerId": acl["account_id"],
                      "IsDefault": acl["is_default"], "Entries": acl_entries,
                      "Associations": associations[acl["network_acl_id"]], "Tags": tags[acl["network_acl_id"]]})
    return items


def _entries(field: str, sub: str | None = None) -> Any:
    if sub is None:
        return lambda a: [e.get(field) for e in a["Entries"]]
    return lambda a: [e.get(field, {}).get(sub) for e in a["Entries"]]


#: API_DescribeNetworkAcls.html
ACL_FILTERS = {
    "network-acl-id": lambda a: a["NetworkAclId"], "vpc-id": lambda a: a["VpcId"], "owner-id": lambda a: a["OwnerId"],
    "default": lambda a: a["IsDefault"],
    "association.association-id": lambda a: [x["NetworkAclAssociationId"] for x in a["Associations"]],
    "association.network-acl-id": lambda a: [x["NetworkAclId"] for x in a["Associations"]],
    "association.subnet-id": lambda a: [x["SubnetId"] for x in a["Associations"]],
    "entry.cidr": _entries("CidrBlock"), "entry.ipv6-cidr": _entries("Ipv6CidrBlock"),
    "entry.egress": _entries("Egress"), "entry.protocol": _entries("Protocol"),
    "entry.rule-action": _entries("RuleAction"), "entry.rule-number": _entries("RuleNumber"),
    "entry.port-range.from": _entries("PortRange", "From"), "entry.port-range.to": _entries("PortRange", "To"),
    "entry.icmp.type": _entries("IcmpTypeCode", "Type"), "entry.icmp.code": _entries("IcmpTypeCode", "Code"),
}


@vpc_operation("CreateNetworkAcl", resources=arns((NETWORK_ACL, NEW), (VPC, "VpcId")))
def create_network_acl(ctx: RequestContext, params: Params) -> Params:
    with state.write(ctx.cloud.db) as conn:
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        acl_id = provision.create_network_acl(conn, ctx.account_id, vpc, is_default=False)
        tag_new_resource(conn, ctx.account_id, NETWORK_ACL, acl_id, params.get("TagSpecifications"))
        output = acl_outputs(conn, ctx.account_id, [lookups.fetch(conn, NETWORK_ACL, acl_id, ctx.account_id)])[0]
    ctx.audit_resources.append(NETWORK_ACL.arn(ctx, acl_id))
    result: Params = {"NetworkAcl": output}
    return result


@vpc_operation("DeleteNetworkAcl", resources=arns((NETWORK_ACL, "NetworkAclId")))
def delete_network_acl(ctx: RequestContext, params: Params) -> Params:
    with state.write(ctx.cloud.db) as conn:
        acl = lookups.fetch(conn, NETWORK_ACL, params.get("NetworkAclId"), ctx.account_id)
        acl_id = acl["network_acl_id"]
        if acl["is_default"]:
            raise InvalidParameterValue(f"cannot delete default network ACL {acl_id}")
        assoc = state.network_acl_associations
        if conn.execute(select(func.count()).select_from(assoc).where(assoc.c.network_acl_id == acl_id)).scalar_one():
            raise has_dependencies("networkAcl", acl_id)
        conn.execute(delete(state.network_acl_entries).where(state.network_acl_entries.c.network_acl_id == acl_id))
        conn.execute(delete(state.network_acls).where(state.network_acls.c.network_acl_id == acl_id))
        drop_tags(conn, [acl_id])
    return {}


@vpc_operation("DescribeNetworkAcls")
def describe_network_acls(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(state.network_acls).where(state.network_acls.c.account_id == ctx.account_id)
                            ).mappings().all()
        items = acl_outputs(conn, ctx.account_id, rows)
    listed, token = describe(items, params, key="NetworkAclId", ids_param="NetworkAclIds", kind=NETWORK_ACL,
                             fields=ACL_FILTERS, page_limits=(5, 1000))
    return listing("NetworkAcls", listed, token)


def _entry_exists(conn: Connection, acl_id: str, egress: bool, rule_number: int) -> bool:
    entries = state.network_acl_entries
    return conn.execute(select(entries.c.rule_number).where(
        entries.c.network_acl_id == acl_id, entries.c.egress == egress, entries.c.rule_number == rule_number)
    ).first() is not None


@vpc_operation("CreateNetworkAclEntry", resources=arns((NETWORK_ACL, "NetworkAclId")))
def create_network_acl_entry(ctx: RequestContext, params: Params) -> Params:
    values = _entry_values(params)
    with state.write(ctx.cloud.db) as conn:
        acl = lookups.fetch(conn, NETWORK_ACL, params.get("NetworkAclId"), ctx.account_id)
        if _entry_exists(conn, acl["network_acl_id"], values["egress"], values["rule_number"]):
            raise NetworkAclEntryAlreadyExists(f"The network acl entry identified by {values['rule_number']} "
                                               "already exists.")
        conn.execute(state.network_acl_entries.insert().values(network_acl_id=acl["network_acl_id"], **values))
    return {}


@vpc_operation("ReplaceNetworkAclEntry", resources=arns((NETWORK_ACL, "NetworkAclId")))
def replace_network_acl_entry(ctx: RequestContext, params: Params) -> Params:
    values = _entry_values(params)
    entries = state.network_acl_entries
    with state.write(ctx.cloud.db) as conn:
        acl = lookups.fetch(conn, NETWORK_ACL, params.get("NetworkAclId"), ctx.account_id)
        if not _entry_exists(conn, acl["network_acl_id"], values["egress"], values["rule_number"]):
            raise InvalidNetworkAclEntryNotFound(f"The network acl entry identified by {values['rule_number']} "
                                                 "does not exist.")
        conn.execute(update(entries).where(entries.c.network_acl_id == acl["network_acl_id"],
                                           entries.c.egress == values["egress"],
                                           entries.c.rule_number == values["rule_number"]).values(values))
    return {}


@vpc_operation("DeleteNetworkAclEntry", resources=arns((NETWORK_ACL, "NetworkAclId")))
def delete_network_acl_entry(ctx: RequestContext, params: Params) -> Params:
    entries = state.network_acl_entries
    rule_number, egress = params.get("RuleNumber"), bool(params.get("Egress"))
    # The catch-all entries (32767, 32768) are shown, so a request may name them: they are not found below.
    if rule_number is None or not MIN_RULE <= rule_number <= CATCH_ALL_IPV6:
        raise invalid_value(rule_number, "ruleNumber", f"Rule numbers must be between {MIN_RULE} and {MAX_RULE}.")
    with state.write(ctx.cloud.db) as conn:
        acl = lookups.fetch(conn, NETWORK_ACL, params.get("NetworkAclId"), ctx.account_id)
        if not _entry_exists(conn, acl["network_acl_id"], egress, rule_number):
            raise InvalidNetworkAclEntryNotFound(f"The network acl entry identified by {rule_number} does not "
                                                 "exist.")
        conn.execute(delete(entries).where(entries.c.network_acl_id == acl["network_acl_id"],
                                           entries.c.egress == egress, entries.c.rule_number == rule_number))
    return {}


@vpc_operation("ReplaceNetworkAclAssociation", resources=arns((NETWORK_ACL, "NetworkAclId")))
def replace_network_acl_association(ctx: RequestContext, params: Params) -> Params:
    """Move a subnet to another ACL of its VPC; the association gets a new id."""
    assoc, subnets = state.network_acl_associations, state.subnets
    with state.write(ctx.cloud.db) as conn:
        association_id = params.get("AssociationId") or ""
        association = conn.execute(select(assoc, subnets.c.vpc_id).join(subnets, subnets.c.subnet_id == assoc.c.subnet_id)
                                   .where(assoc.c.association_id == association_id,
                                          subnets.c.account_id == ctx.account_id)).mappings().first()
        if association is None:
            raise NETWORK_ACL_ASSOCIATION.missing([association_id])
        acl = lookups.fetch(conn, NETWORK_ACL, params.get("NetworkAclId"), ctx.account_id)
        if acl["vpc_id"] != association["vpc_id"]:
            raise InvalidParameterValue(f"Network ACL {acl['network_acl_id']} and subnet {association['subnet_id']} "
                                        "belong to different networks")
        new_id = NETWORK_ACL_ASSOCIATION.new_id()
        conn.execute(update(assoc).where(assoc.c.association_id == association_id).values(
            association_id=new_id, network_acl_id=acl["network_acl_id"]))
    return {"NewAssociationId": new_id}
