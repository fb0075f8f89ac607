"""NAT gateways: CreateNatGateway (a subnet and an Elastic IP), DeleteNatGateway, DescribeNatGateways.

A public NAT gateway owns a requester-managed interface in its subnet whose primary
address carries the Elastic IP. Its state goes ``pending`` -> ``available`` (after
``nat_gateway_transition_seconds``); a VPC without an internet gateway makes it
``failed`` with AWS's ``Gateway.NotAttached`` failure, as EC2 does. Deleting releases the
interface and the address at once and shows ``deleting`` -> ``deleted``.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, RowMapping, select, update

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    InvalidParameterCombination,
    MissingParameter,
    NatGatewayLimitExceeded,
    ResourceAlreadyAssociated,
    UnsupportedOperation,
    invalid_value,
)
from controller.ec2.ids import ADDRESS_ASSOCIATION, ELASTIC_IP, NAT_GATEWAY, SUBNET
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import tag_new_resource, tags_of
from controller.ec2.vpc import eni_records, state, timed_states
from controller.state import utcnow

#: API_DescribeNatGateways.html
NAT_FILTERS = {
    "nat-gateway-id": lambda n: n["NatGatewayId"], "state": lambda n: n["State"],
    "subnet-id": lambda n: n["SubnetId"], "vpc-id": lambda n: n["VpcId"],
}


def nat_output(row: RowMapping, tags: list[dict[str, str]], now: dt.datetime,
               association_id: str | None = None) -> Params:
    current = timed_states.nat_state(row, now)
    result: Params = {"NatGatewayId": row["nat_gateway_id"], "SubnetId": row["subnet_id"], "VpcId": row["vpc_id"],
                      "State": current, "CreateTime": row["created_at"], "ConnectivityType": row["connectivity_type"],
                      "NatGatewayAddresses": [], "Tags": tags}
    if row["private_ip"]:
        address: Params = {"NetworkInterfaceId": row["network_interface_id"], "PrivateIp": row["private_ip"],
                           "IsPrimary": True, "Status": "succeeded" if current == "available" else "associating"}
        if row["allocation_id"]:
            address.update(AllocationId=row["allocation_id"], PublicIp=row["public_ip"])
            if association_id:
                address["AssociationId"] = association_id
        if current in ("deleting", "deleted"):
            address["Status"] = "disassociating" if current == "deleting" else "succeeded"
        result["NatGatewayAddresses"] = [address]
    if row["failure_code"]:
        result.update(FailureCode=row["failure_code"], FailureMessage=row["failure_message"])
    if row["deleted_at"]:
        result["DeleteTime"] = row["deleted_at"]
    return result


@vpc_operation("CreateNatGateway", resources=arns((NAT_GATEWAY, NEW), (SUBNET, "SubnetId"),
                                                (ELASTIC_IP, "AllocationId")))
def create_nat_gateway(ctx: RequestContext, params: Params) -> Params:
    connectivity = params.get("ConnectivityType") or "public"
    if connectivity not in ("public", "private"):
        raise invalid_value(connectivity, "connectivityType")
    if params.get("SecondaryAllocationIds") or params.get("SecondaryPrivateIpAddresses") \
            or params.get("SecondaryPrivateIpAddressCount") or params.get("AvailabilityZoneAddresses") \
            or (params.get("AvailabilityMode") or "zonal") != "zonal":
        raise UnsupportedOperation("Cloudlet's NAT gateways are zonal with one address.")
    if not params.get("SubnetId"):
        raise MissingParameter("The request must contain the parameter subnetId")
    if connectivity == "public" and not params.get("AllocationId"):
        raise MissingParameter("The request must include the AllocationId parameter. Add the required parameter and "
                               "retry the request.")
    if connectivity == "private" and params.get("AllocationId"):
        raise InvalidParameterCombination("A private NAT gateway cannot have an Elastic IP address.")
    config = ctx.cloud.config
    now = utcnow()
    with state.write(ctx.cloud.db) as conn:
        subnet = lookups.subnet(conn, params["SubnetId"], ctx.account_id)
        address = None
        if connectivity == "public":
            address = lookups.fetch(conn, ELASTIC_IP, params["AllocationId"], ctx.account_id)
            if address["association_id"]:
                raise ResourceAlreadyAssociated(f"Elastic IP address [{address['allocation_id']}] is already "
                                                "associated")
        _check_zone_limit(conn, ctx.account_id, subnet["availability_zone"], config.nat_gateways_per_zone, now)
        nat_id = NAT_GATEWAY.new_id()
        values = dict(nat_gateway_id=nat_id, account_id=ctx.account_id, vpc_id=subnet["vpc_id"],
                      subnet_id=subnet["subnet_id"], connectivity_type=connectivity, created_at=now,
                      allocation_id=address["allocation_id"] if address else None,
                      public_ip=address["public_ip"] if address else None)
        igw = state.internet_gateways
        association_id = None
        if address is not None and not conn.execute(select(igw.c.internet_gateway_id)
                                                     .where(igw.c.vpc_id == subnet["vpc_id"])).first():
            values.update(state="failed", settles_at=now, failure_code="Gateway.NotAttached",
                          failure_message=f"Network {subnet['vpc_id']} has no Internet gateway attached",
                          deleted_at=now)
        else:
            interface_id = eni_records.create_interface(
                conn, config, ctx.account_id, subnet, interface_type="nat_gateway", requester_id=nat_id,
                private_ips=[params["PrivateIpAddress"]] if params.get("PrivateIpAddress") else (),
                ipv6_count=0, description=f"Interface for NAT Gateway {nat_id}")
            private_ip = conn.execute(select(state.interface_addresses.c.address).where(
                state.interface_addresses.c.network_interface_id == interface_id)).scalar_one()
            values.update(state="pending", network_interface_id=interface_id, private_ip=private_ip,
                          settles_at=now + dt.timedelta(seconds=config.nat_gateway_transition_seconds))
            if address is not None:
                association_id = ADDRESS_ASSOCIATION.new_id()
                conn.execute(update(state.addresses).where(state.addresses.c.allocation_id == address["allocation_id"])
                             .values(network_interface_id=interface_id, private_ip=private_ip,
                                     association_id=association_id))
        conn.execute(state.nat_gateways.insert().values(**values))
        new_tags = tag_new_resource(conn, ctx.account_id, NAT_GATEWAY, nat_id, params.get("TagSpecifications"))
        row = lookups.fetch(conn, NAT_GATEWAY, nat_id, ctx.account_id)
    ctx.audit_resources.append(NAT_GATEWAY.arn(ctx, nat_id))
    output = nat_output(row, new_tags, now, association_id)
    # The create call always answers "pending"; a failure shows in the next DescribeNatGateways.
    output["State"] = "pending"
    for member in ("FailureCode", "FailureMessage", "DeleteTime"):
        output.pop(member, None)
    result: Params = {"NatGateway": output}
    return result


def _check_zone_limit(conn: Connection, account: str, zone: str, limit: int, now: dt.datetime) -> None:
    nat, subnets = state.nat_gateways, state.subnets
    rows = conn.execute(select(nat).join(subnets, subnets.c.subnet_id == nat.c.subnet_id).where(
        nat.c.account_id == account, subnets.c.availability_zone == zone)).mappings()
    if sum(1 for r in rows if timed_states.nat_state(r, now) in timed_states.NAT_FORWARDS) >= limit:
        raise NatGatewayLimitExceeded("The maximum number of NAT gateways has been reached.")


@vpc_operation("DeleteNatGateway", resources=arns((NAT_GATEWAY, "NatGatewayId")))
def delete_nat_gateway(ctx: RequestContext, params: Params) -> Params:
    nat = state.nat_gateways
    now = utcnow()
    with state.write(ctx.cloud.db) as conn:
        row = lookups.fetch(conn, NAT_GATEWAY, params.get("NatGatewayId"), ctx.account_id)
        nat_id = row["nat_gateway_id"]
        current = timed_states.nat_state(row, now)
        if current in ("deleting", "deleted"):
            raise NAT_GATEWAY.missing([nat_id])
        if row["network_interface_id"]:
            eni_records.delete_interface(conn, row["network_interface_id"])
        settles = now + dt.timedelta(seconds=ctx.cloud.config.nat_gateway_transition_seconds)
        conn.execute(update(nat).where(nat.c.nat_gateway_id == nat_id).values(
            state="deleting" if current != "failed" else "deleted", settles_at=settles, deleted_at=settles))
    return {"NatGatewayId": nat_id}


@vpc_operation("DescribeNatGateways")
def describe_nat_gateways(ctx: RequestContext, params: Params) -> Params:
    nat, eips = state.nat_gateways, state.addresses
    now = utcnow()
    with ctx.cloud.db.read() as conn:
        rows = [r for r in conn.execute(select(nat).where(nat.c.account_id == ctx.account_id)).mappings()
                if timed_states.nat_listed(r, now)]
        tags = tags_of(conn, ctx.account_id, [r["nat_gateway_id"] for r in rows])
        associations = dict(conn.execute(select(eips.c.network_interface_id, eips.c.association_id).where(
            eips.c.network_interface_id.in_([r["network_interface_id"] for r in rows if r["network_interface_id"]]))
        ).all())
    items = [nat_output(r, tags[r["nat_gateway_id"]], now, associations.get(r["network_interface_id"]))
             for r in rows]
    listed, token = describe(items, params, key="NatGatewayId", ids_param="NatGatewayIds", kind=NAT_GATEWAY,
                             fields=NAT_FILTERS, page_limits=(5, 1000), filters_param="Filter")
    return listing("NatGateways", listed, token)
