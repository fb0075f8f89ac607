"""The AWS services a VPC endpoint can reach here, the S3 prefix list, endpoint states and endpoint policies.

Every service the controller serves is an endpoint service ``com.amazonaws.<region>.<endpointPrefix>``
(as in AWS, the global-only IAM and Organizations are not): S3 of type Gateway, the others of type
Interface. They all live at one address (``controller.hosts.api_access.api_address``, where the agents
relay the API), so the AWS-managed prefix list ``com.amazonaws.<region>.s3`` holds that address as a /32;
its id is derived from the region, so every call and every host agrees on it without a table.

An endpoint's state is computed when read (``pending`` -> ``available``, ``deleting`` -> ``deleted`` at
``settles_at``), like NAT gateways'. A request that reached the API through an endpoint
(``ctx.source_vpce``) must also be allowed by the endpoint's policy: :func:`endpoint_refusal` is the IAM
engine's extra gate (called from ``controller.iam.enforce``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from agent.contract import cidr
from controller.config import Config
from controller.ec2.vpc import state
from controller.hosts.api_access import api_address, endpoint_prefix, served_models

if TYPE_CHECKING:
    from controller.api import RequestContext

GATEWAY, INTERFACE = "Gateway", "Interface"
#: Services with one global endpoint only; AWS offers no regional endpoint service for them.
GLOBAL_ONLY = frozenset({"iam", "organizations"})
#: Services reached through gateway endpoints (their traffic is routed to the prefix list, not to an ENI).
GATEWAY_SERVICES = frozenset({"s3"})
#: Endpoint services that are no API model of their own but come with one: Session Manager's data channels
#: (websockets that the agents' relay carries to the controller's listener), which a private subnet's
#: instances reach through a ``com.amazonaws.<region>.ssmmessages`` endpoint, as on AWS.
COMPANION_SERVICES = {"ssm": "ssmmessages"}
#: The endpoint policy AWS attaches when the caller gives none.
FULL_ACCESS_POLICY = json.dumps({"Version": "2008-10-17", "Statement": [
    {"Effect": "Allow", "Principal": "*", "Action": "*", "Resource": "*"}]})
#: Stands for the caller's own permissions when an endpoint policy is asked alone (they were checked apart).
_IDENTITY_ALLOWS_ALL = json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "*", "Resource": "*"}]})

SETTLES = {"pending": "available", "deleting": "deleted"}
#: States in which an endpoint carries traffic (its routes are active, its ENIs answer).
FORWARDS = ("pending", "available")


@dataclass(frozen=True)
class EndpointService:
    """One service as DescribeVpcEndpointServices shows it."""

    name: str  # com.amazonaws.<region>.<prefix>
    model: str  # the botocore model name (``RequestContext.service``)
    prefix: str  # the host label (``elasticfilesystem`` for efs)
    type: str  # Gateway | Interface

    def private_dns_name(self, config: Config) -> str | None:
        """The regional API name an interface endpoint's private DNS answers inside its VPC."""
        return None if self.type == GATEWAY else f"{self.prefix}.{config.region}.{config.service_domain}"

    def base_dns_name(self, config: Config) -> str:
        return (f"{self.prefix}.{config.region}.{config.service_domain}" if self.type == GATEWAY
                else f"{self.prefix}.{config.region}.vpce.{config.service_domain}")

    def service_id(self) -> str:
        return "vpce-svc-" + hashlib.sha256(self.name.encode()).hexdigest()[:17]


def services(config: Config, models: Iterable[str] | None = None) -> dict[str, EndpointService]:
    """The endpoint services, by service name (``models``: the served botocore models; default all)."""
    found = {}
    for model in served_models() if models is None else models:
        if model in GLOBAL_ONLY:
            continue
        prefix = endpoint_prefix(model)
        name = f"com.amazonaws.{config.region}.{prefix}"
        found[name] = EndpointService(name, model, prefix, GATEWAY if model in GATEWAY_SERVICES else INTERFACE)
        if model in COMPANION_SERVICES:
            companion = COMPANION_SERVICES[model]
            name = f"com.amazonaws.{config.region}.{companion}"
            found[name] = EndpointService(name, companion, companion, INTERFACE)
    return dict(sorted(found.items()))


# --- the AWS-managed S3 prefix list ----------------------------------------------------------------------


def s3_prefix_list_name(config: Config) -> str:
    return f"com.amazonaws.{config.region}.s3"


def s3_prefix_list_id(config: Config) -> str:
    """``pl-`` and 8 hex digits, as AWS's managed lists are named; the same for the region on every call."""
    return "pl-" + hashlib.sha256(s3_prefix_list_name(config).encode()).hexdigest()[:8]


def s3_prefix_list_cidrs(config: Config) -> list[str]:
    return [f"{api_address(config)}/32"]


def managed_prefix_lists(config: Config) -> dict[str, list[str]]:
    """Every AWS-managed prefix list by id, with its CIDRs (what routes to it expand to)."""
    return {s3_prefix_list_id(config): s3_prefix_list_cidrs(config)}


def managed_prefix_list_outputs(config: Config) -> list[dict[str, Any]]:
    """DescribeManagedPrefixLists items for the AWS-managed lists (owner ``AWS``, no version or size)."""
    return [{"PrefixListId": s3_prefix_list_id(config), "AddressFamily": "IPv4", "State": "create-complete",
             "PrefixListArn": f"arn:{config.partition}:ec2:{config.region}:aws:prefix-list/{s3_prefix_list_id(config)}",
             "PrefixListName": s3_prefix_list_name(config), "Tags": [], "OwnerId": "AWS"}]


# --- states -----------------------------------------------------------------------------------------------


def endpoint_state(row: Mapping[str, Any], now: dt.datetime) -> str:
    """An endpoint's state now."""
    current = row["state"]
    if current in SETTLES and now >= row["settles_at"]:
        return SETTLES[current]
    return current


def live_endpoints(conn: Connection, endpoint_ids: Iterable[str], now: dt.datetime) -> set[tuple[str, str]]:
    """(endpoint id, VPC id) of the named endpoints that carry traffic now (for route states)."""
    table = state.vpc_endpoints
    rows = conn.execute(select(table).where(table.c.vpc_endpoint_id.in_(list(endpoint_ids)))).mappings()
    return {(r["vpc_endpoint_id"], r["vpc_id"]) for r in rows if endpoint_state(r, now) in FORWARDS}


# --- endpoint policies --------------------------------------------------------------------------------------


def resolve_source_endpoint(ctx: RequestContext) -> None:
    """Set ``ctx.source_vpce`` to the gateway endpoint the client's subnet really routes S3 to.

    A VPC's router namespace has one relay listener for the API address, which reports one of the VPC's
    gateway endpoints for every subnet; when the VPC has several, the client's subnet's route table says
    which one carried the request. Interface endpoints (one listener each) and unknown ids are left as given.
    """
    if not ctx.source_vpce or not ctx.source_ip:
        return
    endpoints, subnets, assoc, routes = state.vpc_endpoints, state.subnets, state.route_table_associations, state.routes
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(endpoints.c.vpc_id, endpoints.c.endpoint_type).where(
            endpoints.c.vpc_endpoint_id == ctx.source_vpce)).first()
        if row is None or row.endpoint_type != GATEWAY:
            return
        subnet_id = next((subnet for subnet, block in conn.execute(select(subnets.c.subnet_id, subnets.c.cidr_block)
                                                                   .where(subnets.c.vpc_id == row.vpc_id))
                          if cidr.contains(block, ctx.source_ip)), None)
        table = conn.execute(select(assoc.c.route_table_id).where(assoc.c.subnet_id == subnet_id)).scalar() \
            or conn.execute(select(assoc.c.route_table_id).where(assoc.c.vpc_id == row.vpc_id, assoc.c.is_main)).scalar()
        serving = conn.execute(select(routes.c.target_id).where(
            routes.c.route_table_id == table, routes.c.destination == s3_prefix_list_id(ctx.cloud.config),
            routes.c.target_kind == "vpc-endpoint")).scalar()
    if subnet_id is not None and serving:
        ctx.source_vpce = serving


def endpoint_refusal(ctx: RequestContext, action: str, resources: Iterable[str],
                     context: Mapping[str, Any]) -> str | None:
    """Why the endpoint the request came through refuses it (the tail of AWS's AccessDenied message), or None.

    The endpoint must exist in the caller's view of the world (any account: endpoints of another account's
    VPC reach this API too), carry traffic, serve the request's service, and its policy must allow the
    action on every resource. The policy is a resource-type policy with a Principal; an account principal
    there stands for every principal of that account, so the identity side counts as allowed.
    """
    from controller.iam import policy

    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(state.vpc_endpoints).where(
            state.vpc_endpoints.c.vpc_endpoint_id == ctx.source_vpce)).mappings().first()
    if row is None or endpoint_state(row, ctx.received_at) not in FORWARDS:
        return f"because the VPC endpoint {ctx.source_vpce} does not exist"
    service = services(ctx.cloud.config).get(row["service_name"])
    if service is None or service.model != ctx.service:
        return f"because the VPC endpoint {ctx.source_vpce} does not serve {ctx.service}"
    endpoint_policy = policy.parse_policy(row["policy_document"], policy_id="VpcEndpointPolicy",
                                          source_type="resource")
    everything = policy.parse_policy(_IDENTITY_ALLOWS_ALL, policy_id="Caller")
    principal = ctx.principal
    for arn in resources:
        request = policy.EvaluationRequest(
            action=action, resource=arn, principal_arn="" if principal.kind == "anonymous" else principal.arn,
            principal_account=principal.account_id, resource_account=principal.account_id, context=context,
            default_region=ctx.region, require_resource_policy=True)
        result = policy.evaluate(request, policy.PolicySet(identity=(everything,), resource=(endpoint_policy,)))
        if result.decision == policy.EXPLICIT_DENY:
            return "with an explicit deny in a VPC endpoint policy"
        if not result.allowed:
            return f"because no VPC endpoint policy allows the {action} action"
    return None
