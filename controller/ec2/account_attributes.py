"""DescribeAccountAttributes: what EC2 tools ask first about the account (API_DescribeAccountAttributes.html).

Every attribute the reference lists, with this cloud's values: only VPC as a platform, the account's
default VPC in this region (or ``none``), and the quotas this cloud enforces from its configuration
(Elastic IPs per account, security groups per interface). ``max-instances`` is, as AWS says of it, no
longer a real limit; this cloud caps instances by host capacity only, and answers AWS's long-standing 20.
"""

from __future__ import annotations

from collections.abc import Callable

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.errors import invalid_value
from controller.ec2.operation import vpc_operation

#: What AWS answers for ``max-instances``, which it documents as no longer reflecting any limit.
LEGACY_MAX_INSTANCES = 20


def _default_vpc(ctx: RequestContext) -> list[str]:
    with ctx.cloud.db.read() as conn:
        vpc = lookups.default_vpc(conn, ctx.account_id)
    return [vpc["vpc_id"] if vpc is not None else "none"]


#: Attribute name -> its values, in the order EC2 lists them.
ATTRIBUTES: dict[str, Callable[[RequestContext], list[str]]] = {
    "supported-platforms": lambda ctx: ["VPC"],
    "vpc-max-security-groups-per-interface": lambda ctx: [str(ctx.cloud.config.security_groups_per_interface)],
    "max-elastic-ips": lambda ctx: [str(ctx.cloud.config.elastic_ips_per_account)],
    "max-instances": lambda ctx: [str(LEGACY_MAX_INSTANCES)],
    "vpc-max-elastic-ips": lambda ctx: [str(ctx.cloud.config.elastic_ips_per_account)],
    "default-vpc": _default_vpc,
}


@vpc_operation("DescribeAccountAttributes")
def describe_account_attributes(ctx: RequestContext, params: Params) -> Params:
    """Every attribute, or those named (in the order asked); an unknown name is refused before any is read."""
    wanted = list(dict.fromkeys(params.get("AttributeNames") or ATTRIBUTES))
    for name in wanted:
        if name not in ATTRIBUTES:
            raise invalid_value(name, "attributeName")
    return {"AccountAttributes": [
        {"AttributeName": name, "AttributeValues": [{"AttributeValue": v} for v in ATTRIBUTES[name](ctx)]}
        for name in wanted]}
