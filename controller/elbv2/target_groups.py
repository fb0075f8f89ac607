"""Target groups: Create/Describe/Modify/DeleteTargetGroup, their attributes, Register/DeregisterTargets
and DescribeTargetHealth.

Instance targets must be running instances of the group's VPC (the load balancer connects to their
primary private address); ip targets must be in the VPC's CIDR block. A deregistered target stays
``draining`` for the group's ``deregistration_delay.timeout_seconds`` (its row keeps ``draining_until``),
then it is gone: every read compares with the clock, and a later write to the group removes the row.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from typing import Any

from sqlalchemy import Connection, RowMapping, and_, delete, insert, select, update

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.instances import views as instance_views
from controller.ec2.vpc import eni_records
from controller.elbv2 import health, records, rules, state, tags
from controller.elbv2.errors import (
    DuplicateTargetGroupName,
    InvalidTarget,
    ResourceInUse,
    TargetGroupNotFound,
    TooManyTargetGroups,
    TooManyTargets,
    ValidationError,
)
from controller.elbv2.service import api
from controller.errors import ServiceError
from controller.state import utcnow

MAX_TARGET_GROUPS = 3000
MAX_TARGETS = 1000
_HC_KEYS = ("HealthCheckProtocol", "HealthCheckPort", "HealthCheckEnabled", "HealthCheckPath",
            "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds", "HealthyThresholdCount",
            "UnhealthyThresholdCount", "Matcher")


@api.operation("CreateTargetGroup")
def create_target_group(ctx: RequestContext, params: Params) -> Params:
    name = rules.check_name(params.get("Name") or "", "target group")
    target_type = params.get("TargetType") or "instance"
    if target_type not in ("instance", "ip"):
        raise ValidationError(f"Target type '{target_type}' is not supported; use instance or ip")
    protocol, port, vpc_id = params.get("Protocol"), params.get("Port"), params.get("VpcId")
    if not protocol or port is None or not vpc_id:
        raise ValidationError("A protocol, a port and a VPC ID must be specified for instance and ip target groups")
    if protocol not in rules.ALB_PROTOCOLS + rules.NLB_PROTOCOLS:
        raise ValidationError(f"Protocol '{protocol}' is not supported")
    if not 1 <= port <= 65535:
        raise ValidationError("Port must be between 1 and 65535")
    version = params.get("ProtocolVersion")
    if version is not None and (protocol not in rules.ALB_PROTOCOLS or version not in ("HTTP1", "HTTP2", "GRPC")):
        raise ValidationError("ProtocolVersion must be HTTP1, HTTP2 or GRPC, for HTTP and HTTPS target groups only")
    if protocol in rules.ALB_PROTOCOLS:
        version = version or "HTTP1"
    check = rules.health_check(params, protocol, target_type)
    given_tags = tags.check_new(params.get("Tags") or [])
    table = state.target_groups
    with records.write(ctx.cloud.db) as conn:
        try:
            lookups.vpc(conn, vpc_id, ctx.account_id)
        except ServiceError:
            raise ValidationError(f"The VPC ID '{vpc_id}' is not found") from None
        existing = conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                    table.c.region == ctx.region, table.c.name == name)) \
            .mappings().first()
        if existing is not None:
            if (existing["protocol"], existing["port"], existing["vpc_id"], existing["target_type"],
                    existing["health_check"]) != (protocol, port, vpc_id, target_type, check):
                raise DuplicateTargetGroupName(f"A target group with the name '{name}' already exists")
            return {"TargetGroups": [records.target_group_output(existing, set())]}
        if len(conn.execute(select(table.c.arn).where(table.c.account_id == ctx.account_id)).all()) \
                >= MAX_TARGET_GROUPS:
            raise TooManyTargetGroups(f"You have reached the limit of {MAX_TARGET_GROUPS} target groups")
        arn = f"{records.arn_prefix(ctx)}targetgroup/{name}/{records.new_id()}"
        conn.execute(insert(table).values(
            arn=arn, seq=records.next_seq(conn, table), account_id=ctx.account_id, region=ctx.region, name=name,
            protocol=protocol, protocol_version=version, port=port, vpc_id=vpc_id, target_type=target_type,
            ip_address_type="ipv4", health_check=check,
            attributes=rules.default_tg_attributes(protocol, target_type), created_at=utcnow()))
        tags.put(conn, arn, given_tags)
        row = records.target_group(conn, ctx, arn)
    ctx.audit_resources.append(arn)
    return {"TargetGroups": [records.target_group_output(row, set())]}


@api.operation("DescribeTargetGroups")
def describe_target_groups(ctx: RequestContext, params: Params) -> Params:
    given = [k for k in ("LoadBalancerArn", "TargetGroupArns", "Names") if params.get(k)]
    if len(given) > 1:
        raise ValidationError("Specify at most one of LoadBalancerArn, TargetGroupArns and Names")
    table = state.target_groups
    with ctx.cloud.db.read() as conn:
        rows = list(conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                     table.c.region == ctx.region).order_by(table.c.seq)).mappings())
        used = records.used_target_groups(conn)
        if params.get("LoadBalancerArn"):
            lb_arn = params["LoadBalancerArn"]
            records.load_balancer(conn, ctx, lb_arn)
            rows = [r for r in rows if lb_arn in used.get(r["arn"], set())]
        for key, column in (("TargetGroupArns", "arn"), ("Names", "name")):
            wanted = params.get(key) or []
            if wanted:
                missing = set(wanted) - {r[column] for r in rows}
                if missing:
                    raise TargetGroupNotFound(f"One or more target groups not found: {', '.join(sorted(missing))}")
                rows = [r for r in rows if r[column] in wanted]
    chunk, marker = rules.page(rows, params.get("Marker"), params.get("PageSize"))
    result: Params = {"TargetGroups": [records.target_group_output(r, used.get(r["arn"], set())) for r in chunk]}
    if marker:
        result["NextMarker"] = marker
    return result


@api.operation("ModifyTargetGroup", resources=records.arns_of("TargetGroupArn"))
def modify_target_group(ctx: RequestContext, params: Params) -> Params:
    with records.write(ctx.cloud.db) as conn:
        row = records.target_group(conn, ctx, params["TargetGroupArn"])
        check = rules.health_check({k: params.get(k) for k in _HC_KEYS}, row["protocol"], row["target_type"],
                                   row["health_check"])
        conn.execute(update(state.target_groups).where(state.target_groups.c.arn == row["arn"])
                     .values(health_check=check))
        row = records.target_group(conn, ctx, row["arn"])
        used = records.used_target_groups(conn).get(row["arn"], set())
    return {"TargetGroups": [records.target_group_output(row, used)]}


@api.operation("DeleteTargetGroup", resources=records.arns_of("TargetGroupArn"))
def delete_target_group(ctx: RequestContext, params: Params) -> Params:
    """Removes an unused target group (ResourceInUse while a listener or rule forwards to it); one that does
    not exist is already deleted."""
    arn = params["TargetGroupArn"]
    with records.write(ctx.cloud.db) as conn:
        table = state.target_groups
        if conn.execute(select(table.c.arn).where(table.c.arn == arn, table.c.account_id == ctx.account_id)) \
                .first() is None:
            return {}
        if records.used_target_groups(conn).get(arn):
            raise ResourceInUse(f"Target group '{arn}' is currently in use by a listener or a rule")
        conn.execute(delete(state.targets).where(state.targets.c.target_group_arn == arn))
        conn.execute(delete(state.target_health).where(state.target_health.c.target_group_arn == arn))
        conn.execute(delete(table).where(table.c.arn == arn))
        tags.drop(conn, [arn])
    return {}


@api.operation("DescribeTargetGroupAttributes", resources=records.arns_of("TargetGroupArn"))
def describe_target_group_attributes(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = records.target_group(conn, ctx, params["TargetGroupArn"])
    return {"Attributes": rules.as_attribute_list(row["attributes"])}


@api.operation("ModifyTargetGroupAttributes", resources=records.arns_of("TargetGroupArn"))
def modify_target_group_attributes(ctx: RequestContext, params: Params) -> Params:
    with records.write(ctx.cloud.db) as conn:
        row = records.target_group(conn, ctx, params["TargetGroupArn"])
        updated = rules.modify_tg_attributes(row["attributes"], row["protocol"], row["target_type"],
                                             params.get("Attributes") or [])
        conn.execute(update(state.target_groups).where(state.target_groups.c.arn == row["arn"])
                     .values(attributes=updated))
    return {"Attributes": rules.as_attribute_list(updated)}


# --- targets --------------------------------------------------------------------------------------------------


def _target_address(conn: Connection, ctx: RequestContext, group: RowMapping, target: dict[str, Any]) -> str:
    """The address the load balancer connects to for ``target``, or InvalidTarget as AWS words it."""
    target_id = target.get("Id") or ""
    if group["target_type"] == "instance":
        try:
            instance = instance_views.caller_instance(conn, ctx.account_id, target_id)
        except ServiceError:
            raise InvalidTarget(f"The following targets are not valid instances: '{target_id}'") from None
        if instance["state"] != "running":
            raise InvalidTarget(f"The following targets are not in a running state and cannot be registered: "
                                f"'{target_id}'")
        if instance["vpc_id"] != group["vpc_id"]:
            raise InvalidTarget(f"The following targets are not in the target group VPC '{group['vpc_id']}': "
                                f"'{target_id}'")
        eni = lookups.instance_primary_interface(conn, target_id, ctx.account_id)
        return eni_records.interface_ipv4_addresses(conn, eni["network_interface_id"])[0]
    try:
        address = ipaddress.IPv4Address(target_id)
    except ValueError:
        raise InvalidTarget(f"The IP address '{target_id}' is not a valid IPv4 address") from None
    vpc = lookups.vpc(conn, group["vpc_id"], ctx.account_id)
    if address not in ipaddress.ip_network(vpc["cidr_block"]):
        raise InvalidTarget(f"The IP address '{target_id}' is not within the CIDR block of VPC '{group['vpc_id']}'")
    return str(address)


def _port(group: RowMapping, target: dict[str, Any]) -> int:
    port = target.get("Port") or group["port"]
    if not 1 <= port <= 65535:
        raise ValidationError("Target port must be between 1 and 65535")
    return int(port)


def _forget_gone(conn: Connection, arn: str, now: dt.datetime) -> None:
    """Drop the targets whose deregistration delay has passed, and what the agents last said of them."""
    table = state.targets
    gone = conn.execute(select(table.c.target_id, table.c.port).where(
        table.c.target_group_arn == arn, table.c.draining_until.is_not(None), table.c.draining_until <= now)).all()
    for target_id, port in gone:
        _forget_health(conn, arn, target_id, port)
    conn.execute(delete(table).where(table.c.target_group_arn == arn, table.c.draining_until.is_not(None),
                                     table.c.draining_until <= now))


def _forget_health(conn: Connection, arn: str, target_id: str, port: int) -> None:
    """A target registered anew starts from initial, as on AWS, never from an earlier registration's health."""
    health_rows = state.target_health
    conn.execute(delete(health_rows).where(health_rows.c.target_group_arn == arn,
                                           health_rows.c.target_id == target_id, health_rows.c.port == port))


@api.operation("RegisterTargets", resources=records.arns_of("TargetGroupArn"))
def register_targets(ctx: RequestContext, params: Params) -> Params:
    now = utcnow()
    table = state.targets
    with records.write(ctx.cloud.db) as conn:
        group = records.target_group(conn, ctx, params["TargetGroupArn"])
        _forget_gone(conn, group["arn"], now)
        for target in params.get("Targets") or []:
            address, port = _target_address(conn, ctx, group, target), _port(group, target)
            key = and_(table.c.target_group_arn == group["arn"], table.c.target_id == target["Id"], table.c.port == port)
            existing = conn.execute(select(table.c.draining_until).where(key)).first()
            if existing is not None and existing.draining_until is None:
                conn.execute(update(table).where(key).values(ip=address))  # registered already: nothing changes
                continue
            _forget_health(conn, group["arn"], target["Id"], port)
            if existing is not None:  # a draining target registered again starts over
                conn.execute(update(table).where(key).values(draining_until=None, ip=address, registered_at=now))
                continue
            conn.execute(insert(table).values(target_group_arn=group["arn"], target_id=target["Id"], port=port,
                                              availability_zone=target.get("AvailabilityZone"), ip=address,
                                              registered_at=now))
        if len(conn.execute(select(table.c.target_id).where(table.c.target_group_arn == group["arn"])).all()) \
                > MAX_TARGETS:
            raise TooManyTargets(f"A target group can have at most {MAX_TARGETS} targets")
    return {}


@api.operation("DeregisterTargets", resources=records.arns_of("TargetGroupArn"))
def deregister_targets(ctx: RequestContext, params: Params) -> Params:
    """Starts the deregistration delay of each target (draining until it passes; at once with delay 0)."""
    now = utcnow()
    table = state.targets
    with records.write(ctx.cloud.db) as conn:
        group = records.target_group(conn, ctx, params["TargetGroupArn"])
        _forget_gone(conn, group["arn"], now)
        delay = dt.timedelta(seconds=int(group["attributes"].get("deregistration_delay.timeout_seconds", "300")))
        for target in params.get("Targets") or []:
            key = [table.c.target_group_arn == group["arn"], table.c.target_id == target.get("Id")]
            if target.get("Port"):
                key.append(table.c.port == target["Port"])
            rows = conn.execute(select(table).where(*key)).mappings().all()
            if not rows:
                raise InvalidTarget(f"The following targets are not registered in target group '{group['arn']}': "
                                    f"'{target.get('Id')}'")
            for row in rows:
                if row["draining_until"] is None:
                    conn.execute(update(table).where(*key, table.c.port == row["port"])
                                 .values(draining_until=now + delay))
    return {}


@api.operation("DescribeTargetHealth", resources=records.arns_of("TargetGroupArn"))
def describe_target_health(ctx: RequestContext, params: Params) -> Params:
    now = utcnow()
    with ctx.cloud.db.read() as conn:
        group = records.target_group(conn, ctx, params["TargetGroupArn"])
        lbs = records.used_target_groups(conn).get(group["arn"], set())
        nodes = {n["network_interface_id"] for lb in lbs for n in records.nodes_of(conn, lb)}
        registered = {(r["target_id"], r["port"]): r for r in conn.execute(select(state.targets).where(
            state.targets.c.target_group_arn == group["arn"]).order_by(state.targets.c.registered_at,
                                                                       state.targets.c.target_id)).mappings()
                      if not health.is_gone(r["draining_until"], now)}
        reports: dict[tuple[str, int], list[health.Report]] = {}
        for r in conn.execute(select(state.target_health).where(
                state.target_health.c.target_group_arn == group["arn"])).mappings():
            if r["interface_id"] in nodes:
                reports.setdefault((r["target_id"], r["port"]), []).append(
                    health.Report(r["state"], r["reason"], r["description"], r["reported_at"]))
    asked = [(t["Id"], t.get("Port") or group["port"]) for t in params.get("Targets") or []]
    found = []
    for target_id, port in asked or list(registered):
        row = registered.get((target_id, port))
        state_now = health.target_health(row is not None, row["draining_until"] if row else None, now, bool(lbs),
                                         reports.get((target_id, port), []))
        check_port = group["health_check"].get("HealthCheckPort", "traffic-port")
        description: Params = {"Target": {"Id": target_id, "Port": port},
                               "HealthCheckPort": str(port) if check_port == "traffic-port" else check_port,
                               "TargetHealth": state_now.output()}
        if row is not None and row["availability_zone"]:
            description["Target"]["AvailabilityZone"] = row["availability_zone"]
        found.append(description)
    return {"TargetHealthDescriptions": found}
