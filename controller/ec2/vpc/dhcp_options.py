"""DHCP options sets: CreateDhcpOptions, DescribeDhcpOptions, DeleteDhcpOptions, AssociateDhcpOptions.

A set is immutable, as in EC2; a VPC uses at most one (``default`` means none: Cloudlet then hands out the
region's domain and the Amazon-provided resolver, which is what AWS's default set says). What the instances
get is :func:`dhcp_for_vpc`: the set's ``domain-name`` and ``domain-name-servers``, where
``AmazonProvidedDNS`` stands for the VPC's base+2 address (dropped while ``enableDnsSupport`` is off).
The other keys are kept and shown but not handed out by the agent's DHCP server.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Column, Connection, String, Table, delete, insert, select

from agent.contract import cidr
from controller.api import Params, RequestContext
from controller.ec2.describe import describe, listing
from controller.ec2.errors import has_dependencies, invalid_value, require
from controller.ec2.ids import DHCP_OPTIONS, VPC
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, owned_by_account, register_taggable, tag_new_resource, tags_of
from controller.ec2.vpc import state
from controller.ec2.vpc.eni_records import internal_domain
from controller.state import JsonText, metadata

AMAZON_DNS = "AmazonProvidedDNS"
KEYS = ("domain-name", "domain-name-servers", "ntp-servers", "netbios-name-servers", "netbios-node-type",
        "ipv6-address-preferred-lease-time")

dhcp_options = Table(
    "ec2_dhcp_options", metadata,
    Column("dhcp_options_id", String(40), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("configurations", JsonText, nullable=False),  # [{"Key": ..., "Values": [...]}], as given
)

#: A VPC's set; no row (or a row of a deleted VPC, which nobody reads) is ``default``.
vpc_dhcp_options = Table(
    "ec2_vpc_dhcp_options", metadata,
    Column("vpc_id", String(40), primary_key=True),
    Column("dhcp_options_id", String(40), nullable=False, index=True),
)

register_taggable(DHCP_OPTIONS, owned_by_account(dhcp_options, "dhcp_options_id"))


def check_configurations(items: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The configurations as EC2 accepts them (known keys, each once, values of the right shape)."""
    seen: dict[str, list[str]] = {}
    for item in items:
        key, values = item.get("Key") or "", [str(v) for v in item.get("Values") or []]
        if key not in KEYS:
            raise invalid_value(key, "key", "Unrecognized option name.")
        if key in seen:
            raise invalid_value(key, "key", "Option name specified more than once.")
        if not values:
            raise invalid_value("", f"{key} value", "The option requires a value.")
        if key in ("domain-name-servers", "ntp-servers", "netbios-name-servers"):
            if len(values) > 4:
                raise invalid_value(",".join(values), key, "At most four servers may be given.")
            for value in values:
                if not (key == "domain-name-servers" and value == AMAZON_DNS) and not _is_ip(value):
                    raise invalid_value(value, key, "It must be an IP address.")
        elif key == "netbios-node-type" and values not in (["1"], ["2"], ["4"], ["8"]):
            raise invalid_value(",".join(values), key, "It must be one of 1, 2, 4 or 8.")
        elif key == "ipv6-address-preferred-lease-time" and (
                len(values) != 1 or not values[0].isdigit() or not 140 <= int(values[0]) <= 2147483647):
            raise invalid_value(",".join(values), key, "It must be between 140 and 2147483647 seconds.")
        elif key == "domain-name" and len(values) != 1:
            raise invalid_value(",".join(values), key, "Give one value (domains separated by spaces).")
        seen[key] = values
    return [{"Key": key, "Values": values} for key, values in seen.items()]


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def dhcp_for_vpc(vpc: Mapping[str, Any], configurations: Sequence[Mapping[str, Any]] | None,
                 region: str) -> tuple[str, list[str]]:
    """(domain name, name servers) the VPC's DHCP hands out (pure). ``configurations`` None: no set."""
    amazon = [cidr.dns_address(vpc["cidr_block"])] if vpc["enable_dns_support"] else []
    if configurations is None:
        return internal_domain(region), amazon
    options = {item["Key"]: item["Values"] for item in configurations}
    servers: list[str] = []
    for server in options.get("domain-name-servers", []):
        servers += amazon if server == AMAZON_DNS else [server]
    return " ".join(options.get("domain-name", [])), list(dict.fromkeys(servers))


def vpc_sets(conn: Connection) -> dict[str, list[dict[str, Any]]]:
    """Each VPC's set's configurations, for VPCs that use one."""
    rows = conn.execute(select(vpc_dhcp_options.c.vpc_id, dhcp_options.c.configurations).join(
        dhcp_options, dhcp_options.c.dhcp_options_id == vpc_dhcp_options.c.dhcp_options_id))
    return {vpc_id: configurations for vpc_id, configurations in rows}


def associations(conn: Connection, vpc_ids: Sequence[str]) -> dict[str, str]:
    """VPC id -> its set's id (VPCs without one are absent: ``default``)."""
    rows = conn.execute(select(vpc_dhcp_options).where(vpc_dhcp_options.c.vpc_id.in_(list(vpc_ids))))
    return {vpc_id: dhcp_options_id for vpc_id, dhcp_options_id in rows}


def _output(row: Mapping[str, Any], tags: list[dict[str, str]]) -> Params:
    return {"DhcpOptionsId": row["dhcp_options_id"], "OwnerId": row["account_id"], "Tags": tags,
            "DhcpConfigurations": [{"Key": item["Key"], "Values": [{"Value": v} for v in item["Values"]]}
                                   for item in row["configurations"]]}


#: API_DescribeDhcpOptions.html (the tag filters are the generic ones).
FILTERS = {"dhcp-options-id": "DhcpOptionsId", "owner-id": "OwnerId", "key": "DhcpConfigurations[].Key",
           "value": "DhcpConfigurations[].Values[].Value"}


def _fetch(conn: Connection, dhcp_options_id: str | None, account: str) -> Mapping[str, Any]:
    row = conn.execute(select(dhcp_options).where(dhcp_options.c.dhcp_options_id == (dhcp_options_id or ""),
                                                  dhcp_options.c.account_id == account)).mappings().first()
    if row is None:
        raise DHCP_OPTIONS.missing([dhcp_options_id or ""])
    return row


@vpc_operation("CreateDhcpOptions", resources=arns((DHCP_OPTIONS, NEW)))
def create_dhcp_options(ctx: RequestContext, params: Params) -> Params:
    require(params, "DhcpConfigurations")
    configurations = check_configurations(params["DhcpConfigurations"])
    row = {"dhcp_options_id": DHCP_OPTIONS.new_id(), "account_id": ctx.account_id, "configurations": configurations}
    with state.write(ctx.cloud.db) as conn:
        conn.execute(insert(dhcp_options).values(**row))
        tags = tag_new_resource(conn, ctx.account_id, DHCP_OPTIONS, row["dhcp_options_id"],
                                params.get("TagSpecifications"))
    ctx.audit_resources.append(DHCP_OPTIONS.arn(ctx, row["dhcp_options_id"]))
    return {"DhcpOptions": _output(row, tags)}


@vpc_operation("DescribeDhcpOptions")
def describe_dhcp_options(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(dhcp_options).where(dhcp_options.c.account_id == ctx.account_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["dhcp_options_id"] for r in rows])
    items = [_output(r, tags[r["dhcp_options_id"]]) for r in rows]
    listed, token = describe(items, params, key="DhcpOptionsId", ids_param="DhcpOptionsIds", kind=DHCP_OPTIONS,
                             fields=FILTERS, page_limits=(5, 1000))
    return listing("DhcpOptions", listed, token)


@vpc_operation("DeleteDhcpOptions", resources=arns((DHCP_OPTIONS, "DhcpOptionsId")))
def delete_dhcp_options(ctx: RequestContext, params: Params) -> Params:
    require(params, "DhcpOptionsId")
    with state.write(ctx.cloud.db) as conn:
        row = _fetch(conn, params["DhcpOptionsId"], ctx.account_id)
        used = conn.execute(select(vpc_dhcp_options.c.vpc_id).join(
            state.vpcs, state.vpcs.c.vpc_id == vpc_dhcp_options.c.vpc_id).where(
            vpc_dhcp_options.c.dhcp_options_id == row["dhcp_options_id"])).first()
        if used is not None:
            raise has_dependencies("dhcpOptions", row["dhcp_options_id"])
        conn.execute(delete(vpc_dhcp_options).where(vpc_dhcp_options.c.dhcp_options_id == row["dhcp_options_id"]))
        conn.execute(delete(dhcp_options).where(dhcp_options.c.dhcp_options_id == row["dhcp_options_id"]))
        drop_tags(conn, [row["dhcp_options_id"]])
    return {}


@vpc_operation("AssociateDhcpOptions", resources=arns((DHCP_OPTIONS, "DhcpOptionsId"), (VPC, "VpcId")))
def associate_dhcp_options(ctx: RequestContext, params: Params) -> Params:
    """Point the VPC at a set (``default``: none). Instances pick it up when they renew their lease."""
    require(params, "DhcpOptionsId", "VpcId")
    with state.write(ctx.cloud.db) as conn:
        vpc = conn.execute(select(state.vpcs).where(state.vpcs.c.vpc_id == params["VpcId"],
                                                    state.vpcs.c.account_id == ctx.account_id)).mappings().first()
        if vpc is None:
            raise VPC.missing([params["VpcId"]])
        conn.execute(delete(vpc_dhcp_options).where(vpc_dhcp_options.c.vpc_id == vpc["vpc_id"]))
        if params["DhcpOptionsId"] != "default":
            row = _fetch(conn, params["DhcpOptionsId"], ctx.account_id)
            conn.execute(insert(vpc_dhcp_options).values(vpc_id=vpc["vpc_id"], dhcp_options_id=row["dhcp_options_id"]))
    return {}
