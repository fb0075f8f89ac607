"""Load balancers: Create/Describe/DeleteLoadBalancer, their attributes, SetSecurityGroups, SetSubnets.

A load balancer has one node per subnet, each a requester-managed ENI made through EC2's ``eni_records``
(as EFS mount targets are), described as AWS shows it (``ELB app/<name>/<id>``), with the load
balancer's security groups. An internet-facing load balancer's nodes get a public address from the
cloud's public pool, as auto-assigned public IPs are given, so the VPC's Internet gateway reaches them.
Creation answers ``provisioning``; the load balancer is ``active`` once that transaction committed.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from controller.api import Params, RequestContext
from controller.ec2 import ids, lookups
from controller.ec2.vpc import eni_records, provision
from controller.elbv2 import records, rules, state, tags
from controller.elbv2.errors import (
    DuplicateLoadBalancerName,
    InvalidConfigurationRequest,
    InvalidSecurityGroup,
    InvalidSubnet,
    LoadBalancerNotFound,
    OperationNotPermitted,
    SubnetNotFound,
    TooManyLoadBalancers,
    ValidationError,
)
from controller.elbv2.service import api
from controller.errors import ServiceError
from controller.state import utcnow

MAX_LOAD_BALANCERS = 50
MAX_SECURITY_GROUPS = 5


def _subnets(conn: Connection, ctx: RequestContext, params: Params) -> list[tuple[RowMapping, str | None]]:
    """The subnets (with requested private addresses) of Subnets or SubnetMappings, checked as AWS does."""
    if params.get("Subnets") and params.get("SubnetMappings"):
        raise ValidationError("You can specify subnets or subnet mappings, not both")
    mappings = params.get("SubnetMappings") or [{"SubnetId": s} for s in params.get("Subnets") or []]
    if not mappings:
        raise ValidationError("At least one subnet must be specified")
    found = []
    for mapping in mappings:
        if mapping.get("AllocationId") or mapping.get("IPv6Address"):
            raise ValidationError("Cloudlet's load balancers take no Elastic IP allocations or IPv6 addresses")
        subnet_id = mapping.get("SubnetId") or ""
        row = lookups.find(conn, ids.SUBNET, subnet_id) if ids.SUBNET.well_formed(subnet_id) else None
        if row is None or row["account_id"] != ctx.account_id:
            raise SubnetNotFound(f"The subnet ID '{subnet_id}' is not valid")
        found.append((row, mapping.get("PrivateIPv4Address")))
    if len({s["vpc_id"] for s, _ in found}) > 1:
        raise InvalidConfigurationRequest("The subnets of a load balancer must all be in the same VPC")
    zones = [s["availability_zone"] for s, _ in found]
    if len(set(zones)) != len(zones):
        raise InvalidConfigurationRequest("A load balancer cannot be attached to multiple subnets in the same "
                                          "Availability Zone")
    return found


def _check_zones(lb_type: str, subnets: Sequence[Any]) -> None:
    if lb_type == "application" and len(subnets) < 2:
        raise ValidationError("At least two subnets in two different Availability Zones must be specified")


def _groups(conn: Connection, ctx: RequestContext, vpc_id: str, subnet_id: str, given: Sequence[str]) -> list[str]:
    if len(set(given)) > MAX_SECURITY_GROUPS:
        raise InvalidSecurityGroup(f"A load balancer can have at most {MAX_SECURITY_GROUPS} security groups")
    try:
        return eni_records.check_groups(conn, ctx.account_id, vpc_id, subnet_id, given, MAX_SECURITY_GROUPS)
    except ServiceError as exc:
        raise InvalidSecurityGroup(f"Invalid security group: {exc.message}") from None


def _add_node(conn: Connection, ctx: RequestContext, lb: dict[str, Any], subnet: RowMapping, private_ip: str | None,
              groups: Sequence[str]) -> None:
    description = f"ELB {rules.kind_code(lb['type'])}/{lb['name']}/{lb['lb_id']}"
    try:
        eni_id, address, mac = eni_records.create_service_interface(
            conn, ctx.cloud.config, ctx.account_id, subnet, requester_id="amazon-elb", description=description,
            group_ids=groups, private_ip=private_ip)
    except ServiceError as exc:
        if exc.code == "InsufficientFreeAddressesInSubnet":
            raise InvalidSubnet(f"Not enough IP space available in {subnet['subnet_id']}") from None
        raise InvalidConfigurationRequest(exc.message) from None
    public_ip = None
    if lb["scheme"] == "internet-facing":
        public_ip = provision.free_public_ip(conn, ctx.cloud.config.public_pool)
        if public_ip is None:
            raise InvalidConfigurationRequest("There are no public IPv4 addresses left in the cloud's pool")
    eni_records.set_service_interface(conn, eni_id, public_ip=public_ip, interface_type="interface"
                                      if lb["type"] == "application" else "network_load_balancer")
    conn.execute(insert(state.nodes).values(
        network_interface_id=eni_id, load_balancer_arn=lb["arn"], subnet_id=subnet["subnet_id"],
        availability_zone=subnet["availability_zone"], private_ip=address, public_ip=public_ip, mac_address=mac))


def _remove_node(conn: Connection, node: RowMapping) -> None:
    conn.execute(delete(state.nodes).where(state.nodes.c.network_interface_id == node["network_interface_id"]))
    conn.execute(delete(state.target_health).where(
        state.target_health.c.interface_id == node["network_interface_id"]))
    eni_records.delete_interface(conn, node["network_interface_id"])


@api.operation("CreateLoadBalancer")
def create_load_balancer(ctx: RequestContext, params: Params) -> Params:
    name = rules.check_name(params.get("Name") or "")
    lb_type = params.get("Type") or "application"
    scheme = params.get("Scheme") or "internet-facing"
    if lb_type not in ("application", "network"):
        raise ValidationError(f"Load balancer type '{lb_type}' is not supported; use application or network")
    if (params.get("IpAddressType") or "ipv4") != "ipv4":
        raise ValidationError("Cloudlet's load balancers are IPv4 only: IpAddressType must be ipv4")
    if params.get("CustomerOwnedIpv4Pool"):
        raise ValidationError("Customer-owned address pools are not supported")
    given_tags = tags.check_new(params.get("Tags") or [])
    table = state.load_balancers
    with records.write(ctx.cloud.db) as conn:
        subnets = _subnets(conn, ctx, params)
        _check_zones(lb_type, subnets)
        vpc_id = subnets[0][0]["vpc_id"]
        existing = conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                    table.c.region == ctx.region, table.c.name == name)) \
            .mappings().first()
        if existing is not None:
            same = (existing["type"], existing["scheme"]) == (lb_type, scheme) and \
                {n["subnet_id"] for n in records.nodes_of(conn, existing["arn"])} == {s["subnet_id"] for s, _ in subnets}
            if not same:
                raise DuplicateLoadBalancerName(f"A load balancer with the name '{name}' already exists")
            return {"LoadBalancers": [records.load_balancer_output(
                existing, records.nodes_of(conn, existing["arn"]), ctx.cloud.config.service_domain)]}
        count = conn.execute(select(table.c.arn).where(table.c.account_id == ctx.account_id,
                                                       table.c.region == ctx.region)).all()
        if len(count) >= MAX_LOAD_BALANCERS:
            raise TooManyLoadBalancers(f"You have reached the limit of {MAX_LOAD_BALANCERS} load balancers")
        if scheme == "internet-facing" and not eni_records.vpc_has_internet_gateway(conn, vpc_id):
            raise InvalidSubnet(f"VPC {vpc_id} has no internet gateway")
        if scheme not in ("internet-facing", "internal"):
            raise ValidationError(f"Scheme '{scheme}' must be internet-facing or internal")
        group_ids = params.get("SecurityGroups")
        if group_ids is not None or lb_type == "application":
            group_ids = _groups(conn, ctx, vpc_id, subnets[0][0]["subnet_id"], group_ids or []) \
                or [eni_records.default_group(conn, vpc_id)]
        lb_id = records.new_id()
        arn = f"{records.arn_prefix(ctx)}loadbalancer/{rules.kind_code(lb_type)}/{name}/{lb_id}"
        lb = {"arn": arn, "seq": records.next_seq(conn, table), "account_id": ctx.account_id, "region": ctx.region,
              "name": name, "lb_id": lb_id, "type": lb_type, "scheme": scheme, "vpc_id": vpc_id,
              "ip_address_type": "ipv4", "state": "provisioning", "security_groups": group_ids or [],
              "attributes": rules.default_lb_attributes(lb_type), "created_at": utcnow()}
        conn.execute(insert(table).values(**lb))
        for subnet, private_ip in subnets:
            if private_ip and scheme != "internal":
                raise ValidationError("Private IPv4 addresses can be given for internal load balancers only")
            _add_node(conn, ctx, lb, subnet, private_ip, group_ids or [])
        tags.put(conn, arn, given_tags)
        row = records.load_balancer(conn, ctx, arn)
        output = records.load_balancer_output(row, records.nodes_of(conn, arn), ctx.cloud.config.service_domain)
    with records.write(ctx.cloud.db) as conn:  # its nodes exist: the load balancer serves
        conn.execute(update(table).where(table.c.arn == arn).values(state="active"))
    ctx.audit_resources.append(arn)
    return {"LoadBalancers": [output]}


@api.operation("DescribeLoadBalancers")
def describe_load_balancers(ctx: RequestContext, params: Params) -> Params:
    arns, names = params.get("LoadBalancerArns") or [], params.get("Names") or []
    if arns and names:
        raise ValidationError("Load balancer ARNs and names cannot be specified at the same time")
    table = state.load_balancers
    with ctx.cloud.db.read() as conn:
        rows = list(conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                     table.c.region == ctx.region).order_by(table.c.seq)).mappings())
        if arns:
            missing = set(arns) - {r["arn"] for r in rows}
            if missing:
                raise LoadBalancerNotFound(f"Load balancers '{sorted(missing)}' not found")
            rows = [r for r in rows if r["arn"] in arns]
        if names:
            missing = set(names) - {r["name"] for r in rows}
            if missing:
                raise LoadBalancerNotFound(f"Load balancers '{sorted(missing)}' not found")
            rows = [r for r in rows if r["name"] in names]
        chunk, marker = rules.page(rows, params.get("Marker"), params.get("PageSize"))
        output = [records.load_balancer_output(r, records.nodes_of(conn, r["arn"]), ctx.cloud.config.service_domain)
                  for r in chunk]
    result: Params = {"LoadBalancers": output}
    if marker:
        result["NextMarker"] = marker
    return result


@api.operation("DeleteLoadBalancer", resources=records.arns_of("LoadBalancerArn"))
def delete_load_balancer(ctx: RequestContext, params: Params) -> Params:
    """Removes the load balancer, its listeners and rules, and its nodes' ENIs. As on AWS, deleting one that
    does not exist (or no longer does) succeeds."""
    arn = params["LoadBalancerArn"]
    with records.write(ctx.cloud.db) as conn:
        row = conn.execute(select(state.load_balancers).where(
            state.load_balancers.c.arn == arn, state.load_balancers.c.account_id == ctx.account_id)).mappings().first()
        if row is None:
            return {}
        if row["attributes"].get("deletion_protection.enabled") == "true":
            raise OperationNotPermitted(f"Load balancer '{arn}' cannot be deleted because deletion protection is "
                                        "enabled")
        listeners = conn.execute(select(state.listeners).where(state.listeners.c.load_balancer_arn == arn)) \
            .mappings().all()
        for listener in listeners:
            remove_listener(conn, listener)
        for node in records.nodes_of(conn, arn):
            _remove_node(conn, node)
        tags.drop(conn, [arn])
        conn.execute(delete(state.load_balancers).where(state.load_balancers.c.arn == arn))
    return {}


def remove_listener(conn: Connection, listener: RowMapping) -> None:
    """Delete a listener with its rules and their tags."""
    rule_arns = [r[0] for r in conn.execute(select(state.rules.c.arn).where(
        state.rules.c.listener_arn == listener["arn"]))]
    conn.execute(delete(state.rules).where(state.rules.c.listener_arn == listener["arn"]))
    conn.execute(delete(state.listeners).where(state.listeners.c.arn == listener["arn"]))
    tags.drop(conn, [listener["arn"], listener["default_rule_arn"], *rule_arns])


@api.operation("DescribeLoadBalancerAttributes", resources=records.arns_of("LoadBalancerArn"))
def describe_load_balancer_attributes(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = records.load_balancer(conn, ctx, params["LoadBalancerArn"])
    return {"Attributes": rules.as_attribute_list(row["attributes"])}


@api.operation("ModifyLoadBalancerAttributes", resources=records.arns_of("LoadBalancerArn"))
def modify_load_balancer_attributes(ctx: RequestContext, params: Params) -> Params:
    with records.write(ctx.cloud.db) as conn:
        row = records.load_balancer(conn, ctx, params["LoadBalancerArn"])
        updated = rules.modify_lb_attributes(row["attributes"], row["type"], params.get("Attributes") or [])
        conn.execute(update(state.load_balancers).where(state.load_balancers.c.arn == row["arn"])
                     .values(attributes=updated))
    return {"Attributes": rules.as_attribute_list(updated)}


@api.operation("SetSecurityGroups", resources=records.arns_of("LoadBalancerArn"))
def set_security_groups(ctx: RequestContext, params: Params) -> Params:
    """Replaces the load balancer's groups, on every node's ENI too (the VPC's filtering follows)."""
    with records.write(ctx.cloud.db) as conn:
        row = records.load_balancer(conn, ctx, params["LoadBalancerArn"])
        if row["type"] == "network" and not row["security_groups"]:
            raise ValidationError("Security groups cannot be added to a Network Load Balancer created without them")
        nodes = records.nodes_of(conn, row["arn"])
        groups = _groups(conn, ctx, row["vpc_id"], nodes[0]["subnet_id"], params.get("SecurityGroups") or [])
        if not groups and row["type"] == "application":
            raise ValidationError("An Application Load Balancer needs at least one security group")
        for node in nodes:
            eni_records.set_groups(conn, node["network_interface_id"], groups)
        conn.execute(update(state.load_balancers).where(state.load_balancers.c.arn == row["arn"])
                     .values(security_groups=groups))
    return {"SecurityGroupIds": groups}


@api.operation("SetSubnets", resources=records.arns_of("LoadBalancerArn"))
def set_subnets(ctx: RequestContext, params: Params) -> Params:
    """Makes the load balancer's nodes those of the given subnets: new subnets get a node, nodes of subnets no
    longer named are removed (a Network Load Balancer's subnets can only be added to, as on AWS)."""
    with records.write(ctx.cloud.db) as conn:
        row = dict(records.load_balancer(conn, ctx, params["LoadBalancerArn"]))
        subnets = _subnets(conn, ctx, params)
        _check_zones(row["type"], subnets)
        if subnets[0][0]["vpc_id"] != row["vpc_id"]:
            raise InvalidSubnet(f"The subnets must be in the load balancer's VPC {row['vpc_id']}")
        wanted = {s["subnet_id"] for s, _ in subnets}
        nodes = records.nodes_of(conn, row["arn"])
        if row["type"] == "network" and not {n["subnet_id"] for n in nodes} <= wanted:
            raise ValidationError("Subnets cannot be removed from a Network Load Balancer")
        for node in nodes:
            if node["subnet_id"] not in wanted:
                _remove_node(conn, node)
        have = {n["subnet_id"] for n in records.nodes_of(conn, row["arn"])}
        zones = {n["availability_zone"] for n in records.nodes_of(conn, row["arn"])}
        for subnet, private_ip in subnets:
            if subnet["subnet_id"] not in have:
                if subnet["availability_zone"] in zones:
                    raise InvalidConfigurationRequest("A load balancer cannot be attached to multiple subnets in the "
                                                      "same Availability Zone")
                _add_node(conn, ctx, row, subnet, private_ip, row["security_groups"])
        nodes = records.nodes_of(conn, row["arn"])
        output = records.load_balancer_output(records.load_balancer(conn, ctx, row["arn"]), nodes,
                                              ctx.cloud.config.service_domain)
    return {"AvailabilityZones": output["AvailabilityZones"], "IpAddressType": "ipv4"}
