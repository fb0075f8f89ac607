"""VPC peering: a request from one VPC to another (same or another account), accepted or
rejected by the accepter's account only; VPCs whose blocks overlap cannot peer.

Status codes follow AWS's lifecycle: a request is ``pending-acceptance`` (``failed``
straight away when the peer VPC does not exist or the blocks overlap, with AWS's
message), then ``active``, ``rejected``, ``expired`` (after a week unanswered) or
``deleted``. Routes to a connection only forward while it is ``active``.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, RowMapping, or_, select, update

from agent.contract import cidr
from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    InvalidParameterValue,
    InvalidStateTransition,
    MissingParameter,
    OperationNotPermitted,
)
from controller.ec2.ids import PEERING, VPC
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import tag_new_resource, tags_of
from controller.ec2.vpc import state, timed_states
from controller.errors import ServiceError
from controller.state import utcnow

FAILED_MESSAGE = "Failed due to incorrect VPC-ID, Account ID, or overlapping CIDR range"


def _blocks(vpc: RowMapping | None) -> dict[str, Any]:
    if vpc is None:
        return {"cidr": None, "ipv6": None}
    return {"cidr": vpc["cidr_block"], "ipv6": vpc["ipv6_cidr_block"]}


def peering_output(row: RowMapping, tags: list[dict[str, str]], now: dt.datetime,
                   status: str | None = None) -> Params:
    status = status or timed_states.peering_status(row, now)
    blocks = row["cidrs"]

    def side(prefix: str, show_blocks: bool) -> Params:
        info: Params = {"OwnerId": row[f"{prefix}_account_id"], "VpcId": row[f"{prefix}_vpc_id"],
                        "Region": row["accepter_region"]}
        mine = blocks[prefix]
        if show_blocks and mine["cidr"]:
            info.update(CidrBlock=mine["cidr"], CidrBlockSet=[{"CidrBlock": mine["cidr"]}],
                        Ipv6CidrBlockSet=[{"Ipv6CidrBlock": mine["ipv6"]}] if mine["ipv6"] else [])
        if status == "active":
            info["PeeringOptions"] = {"AllowDnsResolutionFromRemoteVpc": False,
                                      "AllowEgressFromLocalClassicLinkToRemoteVpc": False,
                                      "AllowEgressFromLocalVpcToRemoteClassicLink": False}
        return info

    result: Params = {"VpcPeeringConnectionId": row["vpc_peering_connection_id"],
                      "RequesterVpcInfo": side("requester", True),
                      "AccepterVpcInfo": side("accepter", status == "active"),
                      "Status": {"Code": status, "Message": _message(row, status)}, "Tags": tags}
    if status in timed_states.PEERING_PENDING:
        result["ExpirationTime"] = row["expires_at"]
    return result


def _message(row: RowMapping, status: str) -> str:
    if status == "expired":
        return "Expired"
    if status == "initiating-request":
        return f"Initiating Request to {row['accepter_account_id']}"
    return row["status_message"]


def _info(member: str, field: str) -> Any:
    return lambda p: p[member].get(field)


#: API_DescribeVpcPeeringConnections.html
PEERING_FILTERS = {
    "vpc-peering-connection-id": lambda p: p["VpcPeeringConnectionId"],
    "status-code": lambda p: p["Status"]["Code"], "status-message": lambda p: p["Status"]["Message"],
    "expiration-time": lambda p: p.get("ExpirationTime"),
    **{f"{side}-vpc-info.{name}": _info(member, field)
       for side, member in (("accepter", "AccepterVpcInfo"), ("requester", "RequesterVpcInfo"))
       for name, field in (("cidr-block", "CidrBlock"), ("owner-id", "OwnerId"), ("vpc-id", "VpcId"))},
}


@vpc_operation("CreateVpcPeeringConnection", resources=arns((PEERING, NEW), (VPC, "VpcId")))
def create_vpc_peering_connection(ctx: RequestContext, params: Params) -> Params:
    if not params.get("PeerVpcId"):
        raise MissingParameter("The request must contain the parameter peerVpcId")
    peer_region = params.get("PeerRegion") or ctx.region
    if peer_region != ctx.region:
        raise InvalidParameterValue(f"The region '{peer_region}' is not valid: this cloud has region {ctx.region}.")
    peer_owner = params.get("PeerOwnerId") or ctx.account_id
    now = utcnow()
    with state.write(ctx.cloud.db) as conn:
        vpc = lookups.vpc(conn, params.get("VpcId"), ctx.account_id)
        peer_id = params["PeerVpcId"]
        if peer_id == vpc["vpc_id"]:
            raise InvalidParameterValue("A VPC cannot be peered with itself.")
        if peer_owner == ctx.account_id:
            peer: RowMapping | None = lookups.vpc(conn, peer_id, ctx.account_id)
        else:
            peer = lookups.find(conn, VPC, peer_id)
            if peer is not None and peer["account_id"] != peer_owner:
                peer = None
        _check_not_peered(conn, vpc["vpc_id"], peer_id, now)
        failed = peer is None or cidr.overlaps(vpc["cidr_block"], peer["cidr_block"]) \
            or cidr.overlaps(vpc["ipv6_cidr_block"], peer["ipv6_cidr_block"])
        pcx_id = PEERING.new_id()
        conn.execute(state.peering_connections.insert().values(
            vpc_peering_connection_id=pcx_id, requester_account_id=ctx.account_id, requester_vpc_id=vpc["vpc_id"],
            accepter_account_id=peer_owner, accepter_vpc_id=peer_id, accepter_region=peer_region,
            cidrs={"requester": _blocks(vpc), "accepter": _blocks(peer)},
            status="failed" if failed else "pending-acceptance",
            status_message=FAILED_MESSAGE if failed else f"Pending Acceptance by {peer_owner}",
            created_at=now, expires_at=now + timed_states.PEERING_EXPIRES_AFTER, updated_at=now))
        new_tags = tag_new_resource(conn, ctx.account_id, PEERING, pcx_id, params.get("TagSpecifications"))
        row = _connection(conn, ctx, pcx_id)
    ctx.audit_resources.append(PEERING.arn(ctx, pcx_id))
    return {"VpcPeeringConnection": peering_output(row, new_tags, now, status="initiating-request")}


def _check_not_peered(conn: Connection, vpc_a: str, vpc_b: str, now: dt.datetime) -> None:
    """AWS allows one live peering connection per pair of VPCs."""
    pcx = state.peering_connections
    rows = conn.execute(select(pcx).where(or_(
        (pcx.c.requester_vpc_id == vpc_a) & (pcx.c.accepter_vpc_id == vpc_b),
        (pcx.c.requester_vpc_id == vpc_b) & (pcx.c.accepter_vpc_id == vpc_a)))).mappings()
    for row in rows:
        if timed_states.peering_status(row, now) in ("active", "pending-acceptance"):
            raise ServiceError(f"A VPC peering connection between {vpc_a} and {vpc_b} already exists: "
                               f"{row['vpc_peering_connection_id']}", code="VpcPeeringConnectionAlreadyExists")


def _connection(conn: Connection, ctx: RequestContext, pcx_id: str | None) -> RowMapping:
    """A connection the caller is a party to (requester or accepter)."""
    pcx = state.peering_connections
    row = None
    if pcx_id:
        row = conn.execute(select(pcx).where(pcx.c.vpc_peering_connection_id == pcx_id, or_(
            pcx.c.requester_account_id == ctx.account_id, pcx.c.accepter_account_id == ctx.account_id))
        ).mappings().first()
    if row is None:
        raise PEERING.missing([pcx_id or ""])
    return row


def _transition(ctx: RequestContext, params: Params, verb: str, allowed: tuple[str, ...], new_status: str,
                message: str, accepter_only: bool) -> Params:
    pcx = state.peering_connections
    now = utcnow()
    with state.write(ctx.cloud.db) as conn:
        row = _connection(conn, ctx, params.get("VpcPeeringConnectionId"))
        pcx_id = row["vpc_peering_connection_id"]
        current = timed_states.peering_status(row, now)
        is_accepter = row["accepter_account_id"] == ctx.account_id
        if accepter_only and not is_accepter:
            raise OperationNotPermitted(f"User ({ctx.account_id}) cannot {verb} peering {pcx_id}")
        if current not in allowed:
            raise InvalidStateTransition(f"Invalid state transition for {pcx_id}, attempted to transition from "
                                         f"{current} to {new_status}")
        if verb == "delete" and current == "pending-acceptance" and is_accepter \
                and row["requester_account_id"] != ctx.account_id:
            raise OperationNotPermitted(f"User ({ctx.account_id}) cannot delete peering {pcx_id}; reject it instead")
        values: dict[str, Any] = {"status": new_status, "status_message": message, "updated_at": now}
        if new_status == "active":
            accepter = lookups.vpc(conn, row["accepter_vpc_id"], ctx.account_id)
            values["cidrs"] = {**row["cidrs"], "accepter": _blocks(accepter)}
        conn.execute(update(pcx).where(pcx.c.vpc_peering_connection_id == pcx_id).values(values))
        updated = _connection(conn, ctx, pcx_id)
        tags = tags_of(conn, ctx.account_id, [pcx_id])[pcx_id]
    return {"VpcPeeringConnection": peering_output(updated, tags, now)}


@vpc_operation("AcceptVpcPeeringConnection", resources=arns((PEERING, "VpcPeeringConnectionId")))
def accept_vpc_peering_connection(ctx: RequestContext, params: Params) -> Params:
    return _transition(ctx, params, "accept", ("pending-acceptance",), "active", "Active", accepter_only=True)


@vpc_operation("RejectVpcPeeringConnection", resources=arns((PEERING, "VpcPeeringConnectionId")))
def reject_vpc_peering_connection(ctx: RequestContext, params: Params) -> Params:
    _transition(ctx, params, "reject", ("pending-acceptance",), "rejected", f"Rejected by {ctx.account_id}",
                accepter_only=True)
    return {"Return": True}


@vpc_operation("DeleteVpcPeeringConnection", resources=arns((PEERING, "VpcPeeringConnectionId")))
def delete_vpc_peering_connection(ctx: RequestContext, params: Params) -> Params:
    _transition(ctx, params, "delete", ("active", "pending-acceptance"), "deleted", f"Deleted by {ctx.account_id}",
                accepter_only=False)
    return {"Return": True}


@vpc_operation("DescribeVpcPeeringConnections")
def describe_vpc_peering_connections(ctx: RequestContext, params: Params) -> Params:
    pcx = state.peering_connections
    now = utcnow()
    with ctx.cloud.db.read() as conn:
        rows = [r for r in conn.execute(select(pcx).where(or_(
            pcx.c.requester_account_id == ctx.account_id, pcx.c.accepter_account_id == ctx.account_id))).mappings()
            if timed_states.peering_listed(r, now)]
        tags = tags_of(conn, ctx.account_id, [r["vpc_peering_connection_id"] for r in rows])
    items = [peering_output(r, tags[r["vpc_peering_connection_id"]], now) for r in rows]
    listed, token = describe(items, params, key="VpcPeeringConnectionId", ids_param="VpcPeeringConnectionIds",
                             kind=PEERING, fields=PEERING_FILTERS, page_limits=(5, 1000))
    return listing("VpcPeeringConnections", listed, token)
