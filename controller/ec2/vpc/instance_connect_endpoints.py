"""EC2 Instance Connect Endpoints: CreateInstanceConnectEndpoint, DescribeInstanceConnectEndpoints,
DeleteInstanceConnectEndpoint.

An endpoint lives in one subnet and owns a requester-managed ENI there, carrying the endpoint's security
groups (the VPC's default group when none are given): in AWS that ENI's address is where the endpoint's
TCP connections to instances come from, so an instance's security group must open port 22 to it. The ENI
is a ``service`` interface (like an interface VPC endpoint's): ``desired_endpoints`` lists it in the document
(kind ``instance-connect``), a host of its zone plugs it into the subnet and its agent makes the namespace
holding its address and default route; tunnels (``controller.ec2_instance_connect.tunnel``) start their TCP
leg inside that namespace. The state goes ``create-in-progress`` -> ``create-complete`` after the same
short transition as NAT gateways (``nat_gateway_transition_seconds``); deleting removes the ENI at once and
shows ``delete-in-progress`` until that transition passes, after which the endpoint is no longer listed.

The quotas are AWS's defaults: five endpoints per account and region, one per VPC, one per subnet
(refused with EC2's generic ``ResourceLimitExceeded``). IPv4 is the only address type Cloudlet's endpoints
offer. The DNS names follow AWS's form, ``<id>.<random>.ec2-instance-connect-endpoint.<region>.<domain>``
(and ``….fips.…``).
"""

from __future__ import annotations

import datetime as dt
import secrets
from collections.abc import Mapping
from typing import Any

from sqlalchemy import RowMapping, select, update

from controller.api import Params, RequestContext
from controller.config import Config
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import UnsupportedOperation
from controller.ec2.ids import INSTANCE_CONNECT_ENDPOINT, SECURITY_GROUP, SUBNET
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.regions import zone_ids
from controller.ec2.tags import drop_tags, owned_by_account, register_taggable, tag_new_resource, tags_of
from controller.ec2.vpc import eni_records, state
from controller.errors import error
from controller.state import utcnow

ResourceLimitExceeded = error("ResourceLimitExceeded")

PER_ACCOUNT, PER_VPC, PER_SUBNET = 5, 1, 1
CREATING, CREATED, DELETING = "create-in-progress", "create-complete", "delete-in-progress"

#: API_DescribeInstanceConnectEndpoints.html
FILTERS = {"instance-connect-endpoint-id": "InstanceConnectEndpointId", "state": "State", "subnet-id": "SubnetId",
           "vpc-id": "VpcId"}

register_taggable(INSTANCE_CONNECT_ENDPOINT, owned_by_account(state.instance_connect_endpoints,
                                                              "instance_connect_endpoint_id"))


def endpoint_state(row: Mapping[str, Any], now: dt.datetime) -> str | None:
    """The endpoint's state now; None once a deletion has completed (it is no longer listed)."""
    if now < row["settles_at"]:
        return row["state"]
    return CREATED if row["state"] == CREATING else None


def dns_names(config: Config, region: str, endpoint_id: str, suffix: str) -> tuple[str, str]:
    """(DnsName, FipsDnsName), in AWS's form under the cloud's service domain."""
    base = f"ec2-instance-connect-endpoint.{region}.{config.service_domain}"
    return f"{endpoint_id}.{suffix}.{base}", f"{endpoint_id}.{suffix}.fips.{base}"


def endpoint_output(ctx: RequestContext, row: RowMapping, tags: list[dict[str, str]], current: str) -> Params:
    config = ctx.cloud.config
    endpoint_id = row["instance_connect_endpoint_id"]
    dns, fips = dns_names(config, ctx.region, endpoint_id, row["dns_suffix"])
    ids = zone_ids(config)
    output: Params = {
        "OwnerId": row["account_id"], "InstanceConnectEndpointId": endpoint_id,
        "InstanceConnectEndpointArn": INSTANCE_CONNECT_ENDPOINT.arn(ctx, endpoint_id, row["account_id"]),
        "State": current, "StateMessage": "", "DnsName": dns, "FipsDnsName": fips,
        "NetworkInterfaceIds": [row["network_interface_id"]] if row["network_interface_id"] else [],
        "VpcId": row["vpc_id"], "AvailabilityZone": row["availability_zone"], "CreatedAt": row["created_at"],
        "SubnetId": row["subnet_id"], "PreserveClientIp": row["preserve_client_ip"],
        "SecurityGroupIds": list(row["security_group_ids"]), "Tags": tags, "IpAddressType": "ipv4",
        "PublicDnsNames": {"Ipv4": {"DnsName": dns, "FipsDnsName": fips}}}
    if row["availability_zone"] in ids:
        output["AvailabilityZoneId"] = ids[row["availability_zone"]]
    return output


def _live(ctx: RequestContext, conn: Any, now: dt.datetime) -> list[RowMapping]:
    """The caller's endpoints not yet gone."""
    table = state.instance_connect_endpoints
    rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id)).mappings().all()
    return [r for r in rows if endpoint_state(r, now) is not None]


def _check_quotas(live: list[RowMapping], subnet: RowMapping) -> None:
    for count, limit, where in ((len(live), PER_ACCOUNT, "in this Region"),
                                (sum(r["vpc_id"] == subnet["vpc_id"] for r in live), PER_VPC,
                                 f"in VPC {subnet['vpc_id']}"),
                                (sum(r["subnet_id"] == subnet["subnet_id"] for r in live), PER_SUBNET,
                                 f"in subnet {subnet['subnet_id']}")):
        if count >= limit:
            raise ResourceLimitExceeded(f"You've reached the limit of {limit} EC2 Instance Connect Endpoint(s) "
                                        f"{where}.")


@vpc_operation("CreateInstanceConnectEndpoint", resources=arns(
    (INSTANCE_CONNECT_ENDPOINT, NEW), (SUBNET, "SubnetId"), (SECURITY_GROUP, "SecurityGroupIds")))
def create_instance_connect_endpoint(ctx: RequestContext, params: Params) -> Params:
    if (params.get("IpAddressType") or "ipv4") != "ipv4":
        raise UnsupportedOperation("Cloudlet's EC2 Instance Connect Endpoints are IPv4 only: IpAddressType must "
                                   "be ipv4.")
    config = ctx.cloud.config
    table = state.instance_connect_endpoints
    now = utcnow()
    token = params.get("ClientToken")
    with state.write(ctx.cloud.db) as conn:
        if token:
            earlier = conn.execute(select(table).where(table.c.account_id == ctx.account_id,
                                                       table.c.client_token == token)).mappings().first()
            if earlier is not None:
                current = endpoint_state(earlier, now) or DELETING
                tags = tags_of(conn, ctx.account_id, [earlier["instance_connect_endpoint_id"]])
                return {"InstanceConnectEndpoint": endpoint_output(
                    ctx, earlier, tags[earlier["instance_connect_endpoint_id"]], current)}
        subnet = lookups.subnet(conn, params.get("SubnetId"), ctx.account_id)
        _check_quotas(_live(ctx, conn, now), subnet)
        endpoint_id = INSTANCE_CONNECT_ENDPOINT.new_id()
        groups = eni_records.check_groups(
            conn, ctx.account_id, subnet["vpc_id"], subnet["subnet_id"],
            params.get("SecurityGroupIds") or [eni_records.default_group(conn, subnet["vpc_id"])],
            config.security_groups_per_interface)
        interface_id, _, _ = eni_records.create_service_interface(
            conn, config, ctx.account_id, subnet, requester_id=endpoint_id, group_ids=groups,
            description=f"EC2 Instance Connect Endpoint {endpoint_id}")
        conn.execute(table.insert().values(
            instance_connect_endpoint_id=endpoint_id, account_id=ctx.account_id, vpc_id=subnet["vpc_id"],
            subnet_id=subnet["subnet_id"], availability_zone=subnet["availability_zone"],
            network_interface_id=interface_id, state=CREATING,
            settles_at=now + dt.timedelta(seconds=config.nat_gateway_transition_seconds),
            preserve_client_ip=bool(params.get("PreserveClientIp")), security_group_ids=groups,
            dns_suffix=secrets.token_hex(4), client_token=token, created_at=now))
        new_tags = tag_new_resource(conn, ctx.account_id, INSTANCE_CONNECT_ENDPOINT, endpoint_id,
                                    params.get("TagSpecifications"))
        row = conn.execute(select(table).where(table.c.instance_connect_endpoint_id == endpoint_id)).mappings().one()
    ctx.audit_resources.append(INSTANCE_CONNECT_ENDPOINT.arn(ctx, endpoint_id))
    return {"InstanceConnectEndpoint": endpoint_output(ctx, row, new_tags, CREATING)}


@vpc_operation("DescribeInstanceConnectEndpoints")
def describe_instance_connect_endpoints(ctx: RequestContext, params: Params) -> Params:
    now = utcnow()
    with ctx.cloud.db.read() as conn:
        rows = _live(ctx, conn, now)
        tags = tags_of(conn, ctx.account_id, [r["instance_connect_endpoint_id"] for r in rows])
    items = [endpoint_output(ctx, r, tags[r["instance_connect_endpoint_id"]], endpoint_state(r, now) or DELETING)
             for r in rows]
    listed, token = describe(items, params, key="InstanceConnectEndpointId", ids_param="InstanceConnectEndpointIds",
                             kind=INSTANCE_CONNECT_ENDPOINT, fields=FILTERS, page_limits=(1, 50))
    return listing("InstanceConnectEndpoints", listed, token)


@vpc_operation("DeleteInstanceConnectEndpoint", resources=arns((INSTANCE_CONNECT_ENDPOINT,
                                                                "InstanceConnectEndpointId")))
def delete_instance_connect_endpoint(ctx: RequestContext, params: Params) -> Params:
    """Removes the endpoint's ENI at once (its namespace goes when the hosts see the change)."""
    table = state.instance_connect_endpoints
    endpoint_id = params["InstanceConnectEndpointId"]
    now = utcnow()
    with state.write(ctx.cloud.db) as conn:
        row = next((r for r in _live(ctx, conn, now) if r["instance_connect_endpoint_id"] == endpoint_id), None)
        if row is None or endpoint_state(row, now) == DELETING:
            raise INSTANCE_CONNECT_ENDPOINT.missing([endpoint_id])
        if row["network_interface_id"]:
            eni_records.delete_interface(conn, row["network_interface_id"])
        settles = now + dt.timedelta(seconds=ctx.cloud.config.nat_gateway_transition_seconds)
        conn.execute(update(table).where(table.c.instance_connect_endpoint_id == endpoint_id).values(
            state=DELETING, settles_at=settles, network_interface_id=None))
        tags = tags_of(conn, ctx.account_id, [endpoint_id])[endpoint_id]
        drop_tags(conn, [endpoint_id])
        row = conn.execute(select(table).where(table.c.instance_connect_endpoint_id == endpoint_id)).mappings().one()
    return {"InstanceConnectEndpoint": endpoint_output(ctx, row, tags, DELETING)}
