"""Tags on EC2 resources: CreateTags, DeleteTags, DescribeTags and TagSpecifications.

Tags belong to the account that set them (both sides of a peering connection tag it
separately, as in AWS). Every taggable kind registers how to tell which of a list of ids
the caller may tag; other EC2 packages (instances, volumes) register theirs with
:func:`register_taggable` so one CreateTags serves them all.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Connection, Table, and_, delete, or_, select

from controller.api import Params, Principal, RequestContext, ResourceInfo
from controller.ec2 import ids
from controller.ec2.describe import describe, listing
from controller.ec2.errors import InvalidID, InvalidParameterValue, TagLimitExceeded, require
from controller.ec2.ids import Kind
from controller.ec2.operation import vpc_operation
from controller.ec2.service import api
from controller.ec2.vpc import state
from controller.state import upsert

MAX_TAGS_PER_RESOURCE = 50
MAX_KEY_LENGTH, MAX_VALUE_LENGTH = 128, 256
TagList = list[dict[str, str]]

#: (connection, caller's account, candidate ids) -> the ids that exist and the caller may tag
Visible = Callable[[Connection, str, list[str]], set[str]]


@dataclass(frozen=True)
class Taggable:
    kind: Kind
    visible: Visible


_taggables: dict[str, Taggable] = {}


def register_taggable(kind: Kind, visible: Visible) -> None:
    """Make ``kind``'s resources taggable through CreateTags/DeleteTags."""
    _taggables[kind.prefix] = Taggable(kind, visible)


def can_see(conn: Connection, account: str, kind: Kind, resource_id: str) -> bool:
    """Whether ``account`` sees its resource ``resource_id`` of ``kind`` (as CreateTags judges it), for calls
    that name resources of many kinds (a network insights path's source and destination)."""
    return resource_id in _taggables[kind.prefix].visible(conn, account, [resource_id])


def owned_by_account(table: Table, id_column: str) -> Visible:
    """Visibility for resources with an ``account_id`` column: the owner sees them."""

    def visible(conn: Connection, account: str, candidates: list[str]) -> set[str]:
        column = table.c[id_column]
        rows = conn.execute(select(column).where(column.in_(candidates), table.c.account_id == account))
        return {r[0] for r in rows}

    return visible


def _rules_visible(conn: Connection, account: str, candidates: list[str]) -> set[str]:
    rules, groups = state.security_group_rules, state.security_groups
    rows = conn.execute(select(rules.c.rule_id).join(groups, groups.c.group_id == rules.c.group_id)
                        .where(rules.c.rule_id.in_(candidates), groups.c.account_id == account))
    return {r[0] for r in rows}


def _peering_visible(conn: Connection, account: str, candidates: list[str]) -> set[str]:
    pcx = state.peering_connections
    rows = conn.execute(select(pcx.c.vpc_peering_connection_id).where(
        pcx.c.vpc_peering_connection_id.in_(candidates),
        or_(pcx.c.requester_account_id == account, pcx.c.accepter_account_id == account)))
    return {r[0] for r in rows}


for _kind, _table, _column in (
        (ids.VPC, state.vpcs, "vpc_id"), (ids.SUBNET, state.subnets, "subnet_id"),
        (ids.ROUTE_TABLE, state.route_tables, "route_table_id"),
        (ids.INTERNET_GATEWAY, state.internet_gateways, "internet_gateway_id"),
        (ids.EGRESS_ONLY_GATEWAY, state.egress_only_gateways, "egress_only_internet_gateway_id"),
        (ids.NAT_GATEWAY, state.nat_gateways, "nat_gateway_id"), (ids.ELASTIC_IP, state.addresses, "allocation_id"),
        (ids.SECURITY_GROUP, state.security_groups, "group_id"),
        (ids.NETWORK_ACL, state.network_acls, "network_acl_id"),
        (ids.NETWORK_INTERFACE, state.network_interfaces, "network_interface_id"),
        (ids.PREFIX_LIST, state.prefix_lists, "prefix_list_id")):
    register_taggable(_kind, owned_by_account(_table, _column))
register_taggable(ids.SECURITY_GROUP_RULE, _rules_visible)
register_taggable(ids.PEERING, _peering_visible)


# --- the store -------------------------------------------------------------------------------------------


def writes_reserved_tags(principal: Principal) -> bool:
    """Whether the caller is an AWS service acting through its service-linked role (Auto Scaling launching a
    group's instances), the one kind of caller that may write ``aws:`` tag keys (``aws:autoscaling:groupName``)."""
    return principal.kind == "assumed-role" and ":role/aws-service-role/" in principal.role_arn


def check_tags(tags: Iterable[dict], *, reserved_allowed: bool = False) -> TagList:
    """Tags as AWS accepts them: keys 1..128 characters not starting with ``aws:`` (unless ``reserved_allowed``:
    see :func:`writes_reserved_tags`), values up to 256."""
    checked = []
    for tag in tags:
        key, value = tag.get("Key"), tag.get("Value")
        value = "" if value is None else value
        if not key or len(key) > MAX_KEY_LENGTH:
            raise InvalidParameterValue(f"Tag key must be between 1 and {MAX_KEY_LENGTH} characters long")
        if key.lower().startswith("aws:") and not reserved_allowed:
            raise InvalidParameterValue(
                f"Value ( {key} ) for parameter key is invalid. Tag keys starting with 'aws:' are reserved for "
                "internal use")
        if len(value) > MAX_VALUE_LENGTH:
            raise InvalidParameterValue(f"Tag value for key '{key}' must be at most {MAX_VALUE_LENGTH} characters")
        checked.append({"Key": key, "Value": value})
    return checked


def set_tags(conn: Connection, account: str, kind: Kind, resource_id: str, tags: TagList) -> None:
    """Add or overwrite tags on one resource, within AWS's 50-tags limit."""
    if not tags:
        return
    table = state.tags
    existing = {r[0] for r in conn.execute(select(table.c.key).where(
        table.c.account_id == account, table.c.resource_id == resource_id))}
    if len(existing | {t["Key"] for t in tags}) > MAX_TAGS_PER_RESOURCE:
        raise TagLimitExceeded("The maximum number of Tags for a resource has been reached.")
    for tag in tags:
        statement = upsert(table).values(account_id=account, resource_id=resource_id, key=tag["Key"],
                                                value=tag["Value"], resource_type=kind.resource_type)
        conn.execute(statement.on_conflict_do_update(
            index_elements=[table.c.account_id, table.c.resource_id, table.c.key], set_={"value": tag["Value"]}))


def tags_from_specifications(specs: list[dict] | None, kind: Kind, *, reserved_allowed: bool = False) -> TagList:
    """The tags a create call's TagSpecifications give the new ``kind`` resource.

    A specification for another resource type is refused as AWS does, so a typo in
    ResourceType never silently drops the tags.
    """
    found: TagList = []
    for spec in specs or []:
        resource_type = spec.get("ResourceType")
        if resource_type != kind.resource_type:
            raise InvalidParameterValue(f"'{resource_type}' is not a valid taggable resource type for this operation.")
        if not spec.get("Tags"):
            raise InvalidParameterValue("Tag specification must have at least one tag")
        found.extend(check_tags(spec["Tags"], reserved_allowed=reserved_allowed))
    return found


def tag_new_resource(conn: Connection, account: str, kind: Kind, resource_id: str,
                     specs: list[dict] | None, *, reserved_allowed: bool = False) -> TagList:
    """Apply a create call's TagSpecifications; returns the tags for the response."""
    new_tags = tags_from_specifications(specs, kind, reserved_allowed=reserved_allowed)
    set_tags(conn, account, kind, resource_id, new_tags)
    return new_tags


def tags_of(conn: Connection, account: str, resource_ids: Iterable[str]) -> dict[str, TagList]:
    """Each resource's tags as the caller sees them (resources without tags map to ``[]``)."""
    wanted = list(resource_ids)
    found: dict[str, TagList] = {rid: [] for rid in wanted}
    if not wanted:
        return found
    table = state.tags
    for start in range(0, len(wanted), 500):
        chunk = wanted[start:start + 500]
        rows = conn.execute(select(table.c.resource_id, table.c.key, table.c.value)
                            .where(table.c.account_id == account, table.c.resource_id.in_(chunk))
                            .order_by(table.c.resource_id, table.c.key))
        for rid, key, value in rows:
            found[rid].append({"Key": key, "Value": value})
    return found


def drop_tags(conn: Connection, resource_ids: Iterable[str]) -> None:
    """Forget every account's tags of deleted resources."""
    wanted = list(resource_ids)
    if wanted:
        conn.execute(delete(state.tags).where(state.tags.c.resource_id.in_(wanted)))


# --- what IAM sees --------------------------------------------------------------------------------------------


def ec2_resource_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """An EC2 resource's owner and tags for ``aws:ResourceTag/*`` conditions.

    The owner is the ARN's account (the API names resources in the caller's account, and
    an id the caller cannot see is a NotFound from the handler, never an AccessDenied).
    """
    parts = arn.split(":", 5)
    if len(parts) != 6 or parts[2] != "ec2" or not parts[4].isdigit():
        return None
    account, resource_id = parts[4], parts[5].rpartition("/")[2]
    if resource_id in ("", "*"):
        return ResourceInfo(owner_account=account)
    with ctx.cloud.db.read() as conn:
        tags = tags_of(conn, account, [resource_id])[resource_id]
    return ResourceInfo(owner_account=account, tags={t["Key"]: t["Value"] for t in tags})


api.resource_lookup = ec2_resource_lookup


# --- the operations --------------------------------------------------------------------------------------


def _visible_resources(conn: Connection, account: str, resource_ids: list[str]) -> dict[str, Kind]:
    """The kind of each named resource; errors for malformed ids and ids the caller cannot see."""
    by_prefix: dict[str, list[str]] = {}
    for rid in resource_ids:
        prefix, _, rest = rid.rpartition("-")
        if not rest or prefix not in _taggables:
            raise InvalidID(f"The ID '{rid}' is not valid")
        by_prefix.setdefault(prefix, []).append(rid)
    kinds: dict[str, Kind] = {}
    for prefix, candidates in by_prefix.items():
        taggable = _taggables[prefix]
        seen = taggable.visible(conn, account, candidates)
        missing = [c for c in candidates if c not in seen]
        if missing:
            raise taggable.kind.missing(missing)
        kinds.update({c: taggable.kind for c in candidates})
    return kinds


def _resource_arns(ctx: RequestContext, params: Params) -> list[str]:
    found = []
    for rid in params.get("Resources") or []:
        prefix = rid.rpartition("-")[0]
        taggable = _taggables.get(prefix)
        if taggable is not None:
            found.append(taggable.kind.arn(ctx, rid))
    return found or ["*"]


@vpc_operation("CreateTags", resources=_resource_arns)
def create_tags(ctx: RequestContext, params: Params) -> Params:
    require(params, "Resources", "Tags")
    new_tags = check_tags(params["Tags"])
    with state.write(ctx.cloud.db) as conn:
        kinds = _visible_resources(conn, ctx.account_id, list(dict.fromkeys(params["Resources"])))
        for rid, kind in kinds.items():
            set_tags(conn, ctx.account_id, kind, rid, new_tags)
    return {}


@vpc_operation("DeleteTags", resources=_resource_arns)
def delete_tags(ctx: RequestContext, params: Params) -> Params:
    """Delete tags by key, or by key and value when a value is given (an empty value matches only "")."""
    require(params, "Resources")
    table = state.tags
    with state.write(ctx.cloud.db) as conn:
        kinds = _visible_resources(conn, ctx.account_id, list(dict.fromkeys(params["Resources"])))
        scope = and_(table.c.account_id == ctx.account_id, table.c.resource_id.in_(list(kinds)))
        wanted = params.get("Tags")
        if not wanted:
            conn.execute(delete(table).where(scope))
            return {}
        for tag in wanted:
            condition = and_(scope, table.c.key == tag.get("Key"))
            if "Value" in tag and tag["Value"] is not None:
                condition = and_(condition, table.c.value == tag["Value"])
            conn.execute(delete(table).where(condition))
    return {}


#: API_DescribeTags.html
TAG_FILTERS = {"key": "Key", "value": "Value", "resource-id": "ResourceId", "resource-type": "ResourceType"}


@vpc_operation("DescribeTags")
def describe_tags(ctx: RequestContext, params: Params) -> Params:
    table = state.tags
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(table.c.resource_id, table.c.key, table.c.value, table.c.resource_type)
                            .where(table.c.account_id == ctx.account_id)).all()
    items = [{"ResourceId": rid, "Key": key, "Value": value, "ResourceType": rtype,
              "_order": f"{rid} {key}"} for rid, key, value, rtype in rows]  # space: below any id character
    resource_tags: dict[str, list[dict[str, str]]] = {}
    for item in items:
        resource_tags.setdefault(item["ResourceId"], []).append({"Key": item["Key"], "Value": item["Value"]})
    # ``tag:<key>`` finds the resources that carry that tag, and lists their tags.
    listed, token = describe(items, params, key="_order", page_limits=(5, 1000), fields=TAG_FILTERS,
                             tags_key=lambda t: resource_tags[t["ResourceId"]])
    return listing("Tags", [{k: v for k, v in t.items() if k != "_order"} for t in listed], token)
