"""Customer-managed prefix lists: named sets of CIDRs that security group rules and routes refer to.

A list has an address family, a maximum size and a version that every modification bumps
(ModifyManagedPrefixList must name the current version when it changes entries, so two
writers cannot overwrite each other). A list that a rule or route still uses cannot be
deleted.
"""

from __future__ import annotations

from sqlalchemy import RowMapping, delete, func, select, update

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing, page
from controller.ec2.errors import (
    DependencyViolation,
    InvalidParameterValue,
    MissingParameter,
    PrefixListVersionMismatch,
    invalid_value,
)
from controller.ec2.ids import PREFIX_LIST
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc import cidrs, endpoint_services, state
from controller.state import utcnow

FAMILIES = {"IPv4": 4, "IPv6": 6}
MAX_ENTRIES_LIMIT = 1000


def list_output(ctx: RequestContext, row: RowMapping, tags: list[dict[str, str]],
                list_state: str | None = None) -> Params:
    return {"PrefixListId": row["prefix_list_id"], "AddressFamily": row["address_family"],
            "State": list_state or ("create-complete" if row["version"] == 1 else "modify-complete"),
            "PrefixListArn": PREFIX_LIST.arn(ctx, row["prefix_list_id"], row["account_id"]),
            "PrefixListName": row["name"], "MaxEntries": row["max_entries"], "Version": row["version"],
            "Tags": tags, "OwnerId": row["account_id"]}


def _checked_entries(entries: list[Params], family: str) -> list[tuple[str, str | None]]:
    checked = []
    for entry in entries:
        cidr = cidrs.any_network(entry.get("Cidr") or "", "cidr")
        if cidr.version != FAMILIES[family]:
            raise InvalidParameterValue(f"The CIDR {entry['Cidr']} does not match the prefix list's address family "
                                        f"{family}.")
        checked.append((str(cidr), entry.get("Description")))
    return checked


def _check_size(count: int, max_entries: int) -> None:
    if count > max_entries:
        raise InvalidParameterValue(f"The prefix list would have {count} entries; its maximum is {max_entries}.")


@vpc_operation("CreateManagedPrefixList", resources=arns((PREFIX_LIST, NEW)))
def create_managed_prefix_list(ctx: RequestContext, params: Params) -> Params:
    name, family, max_entries = params.get("PrefixListName"), params.get("AddressFamily"), params.get("MaxEntries")
    if not name:
        raise MissingParameter("The request must contain the parameter prefixListName")
    if family not in FAMILIES:
        raise invalid_value(family, "addressFamily", "Valid values are IPv4 and IPv6.")
    if max_entries is None or not 1 <= max_entries <= MAX_ENTRIES_LIMIT:
        raise invalid_value(max_entries, "maxEntries", f"It must be between 1 and {MAX_ENTRIES_LIMIT}.")
    entries = _checked_entries(params.get("Entries") or [], family)
    _check_size(len({c for c, _ in entries}), max_entries)
    with state.write(ctx.cloud.db) as conn:
        list_id = PREFIX_LIST.new_id()
        conn.execute(state.prefix_lists.insert().values(prefix_list_id=list_id, account_id=ctx.account_id, name=name,
                                                        address_family=family, max_entries=max_entries, version=1,
                                                        created_at=utcnow()))
        for cidr, description in dict(entries).items():
            conn.execute(state.prefix_list_entries.insert().values(prefix_list_id=list_id, cidr=cidr,
                                                                   description=description))
        new_tags = tag_new_resource(conn, ctx.account_id, PREFIX_LIST, list_id, params.get("TagSpecifications"))
        row = lookups.fetch(conn, PREFIX_LIST, list_id, ctx.account_id)
    ctx.audit_resources.append(PREFIX_LIST.arn(ctx, list_id))
    return {"PrefixList": list_output(ctx, row, new_tags, "create-complete")}


@vpc_operation("ModifyManagedPrefixList", resources=arns((PREFIX_LIST, "PrefixListId")))
def modify_managed_prefix_list(ctx: RequestContext, params: Params) -> Params:
    adds, removes = params.get("AddEntries") or [], params.get("RemoveEntries") or []
    table, entries = state.prefix_lists, state.prefix_list_entries
    with state.write(ctx.cloud.db) as conn:
        row = lookups.fetch(conn, PREFIX_LIST, params.get("PrefixListId"), ctx.account_id)
        list_id = row["prefix_list_id"]
        if (adds or removes) and params.get("CurrentVersion") != row["version"]:
            raise PrefixListVersionMismatch(f"The prefix list {list_id} has version {row['version']}, not "
                                            f"{params.get('CurrentVersion')}.")
        current = dict(conn.execute(select(entries.c.cidr, entries.c.description)
                                    .where(entries.c.prefix_list_id == list_id)).all())
        for entry in removes:
            cidr = str(cidrs.any_network(entry.get("Cidr") or "", "cidr"))
            if cidr not in current:
                raise InvalidParameterValue(f"The CIDR {cidr} is not an entry of prefix list {list_id}.")
            del current[cidr]
        current.update(_checked_entries(adds, row["address_family"]))
        max_entries = params.get("MaxEntries") or row["max_entries"]
        _check_size(len(current), max_entries)
        conn.execute(delete(entries).where(entries.c.prefix_list_id == list_id))
        for cidr, description in current.items():
            conn.execute(entries.insert().values(prefix_list_id=list_id, cidr=cidr, description=description))
        conn.execute(update(table).where(table.c.prefix_list_id == list_id).values(
            name=params.get("PrefixListName") or row["name"], max_entries=max_entries,
            version=row["version"] + (1 if adds or removes else 0)))
        updated = lookups.fetch(conn, PREFIX_LIST, list_id, ctx.account_id)
        tags = tags_of(conn, ctx.account_id, [list_id])[list_id]
    return {"PrefixList": list_output(ctx, updated, tags, "modify-complete")}


@vpc_operation("DeleteManagedPrefixList", resources=arns((PREFIX_LIST, "PrefixListId")))
def delete_managed_prefix_list(ctx: RequestContext, params: Params) -> Params:
    with state.write(ctx.cloud.db) as conn:
        row = lookups.fetch(conn, PREFIX_LIST, params.get("PrefixListId"), ctx.account_id)
        list_id = row["prefix_list_id"]
        rules, routes = state.security_group_rules, state.routes
        in_use = conn.execute(select(func.count()).select_from(rules).where(rules.c.prefix_list_id == list_id)
                              ).scalar_one() + conn.execute(select(func.count()).select_from(routes).where(
                                  routes.c.destination == list_id)).scalar_one()
        if in_use:
            raise DependencyViolation(f"The prefix list {list_id} is referenced by security group rules or routes.")
        tags = tags_of(conn, ctx.account_id, [list_id])[list_id]
        conn.execute(delete(state.prefix_list_entries).where(state.prefix_list_entries.c.prefix_list_id == list_id))
        conn.execute(delete(state.prefix_lists).where(state.prefix_lists.c.prefix_list_id == list_id))
        drop_tags(conn, [list_id])
    return {"PrefixList": list_output(ctx, row, tags, "delete-complete")}


#: API_DescribeManagedPrefixLists.html
PREFIX_LIST_FILTERS = {"prefix-list-id": "PrefixListId", "prefix-list-name": "PrefixListName", "owner-id": "OwnerId"}


@vpc_operation("DescribeManagedPrefixLists")
def describe_managed_prefix_lists(ctx: RequestContext, params: Params) -> Params:
    table = state.prefix_lists
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings().all()
        tags = tags_of(conn, ctx.account_id, [r["prefix_list_id"] for r in rows])
    items = [list_output(ctx, r, tags[r["prefix_list_id"]]) for r in rows]
    items += endpoint_services.managed_prefix_list_outputs(ctx.cloud.config)  # AWS's own (the S3 one)
    listed, token = describe(items, params, key="PrefixListId", ids_param="PrefixListIds", kind=PREFIX_LIST,
                             page_limits=(1, 100), fields=PREFIX_LIST_FILTERS)
    return listing("PrefixLists", listed, token)


@vpc_operation("GetManagedPrefixListEntries", resources=arns((PREFIX_LIST, "PrefixListId")))
def get_managed_prefix_list_entries(ctx: RequestContext, params: Params) -> Params:
    table = state.prefix_list_entries
    managed = endpoint_services.managed_prefix_lists(ctx.cloud.config).get(params.get("PrefixListId") or "")
    if managed is not None:  # an AWS-managed list: its entries, whatever the version asked
        return listing("Entries", *page([{"Cidr": cidr} for cidr in managed], params, "Cidr", (1, 100)))
    with ctx.cloud.db.read() as conn:
        row = lookups.fetch(conn, PREFIX_LIST, params.get("PrefixListId"), ctx.account_id)
        target = params.get("TargetVersion")
        if target is not None and target != row["version"]:
            raise InvalidParameterValue(f"Only the current version {row['version']} of {row['prefix_list_id']} is "
                                        "kept.")
        items = [{"Cidr": cidr, **({"Description": description} if description else {})}
                 for cidr, description in conn.execute(select(table.c.cidr, table.c.description).where(
                     table.c.prefix_list_id == row["prefix_list_id"]).order_by(table.c.cidr))]
    listed, token = page(items, params, "Cidr", (1, 100))
    return listing("Entries", listed, token)
