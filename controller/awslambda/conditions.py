"""Lambda's own IAM condition keys, set from a request before IAM judges it.

As in Lambda's Service Authorization Reference: CreateFunction and UpdateFunctionConfiguration carry
``lambda:Layer``, ``lambda:VpcIds``, ``lambda:SubnetIds`` and ``lambda:SecurityGroupIds`` (so a policy can
require functions in a VPC or allow only approved layers); AddPermission and RemovePermission carry
``lambda:Principal`` and ``lambda:FunctionUrlAuthType``. The resource mappers below set them, since they
run before authorization (https://docs.aws.amazon.com/lambda/latest/dg/permissions-function-vpc.html).
"""

from __future__ import annotations

from typing import Any

from controller.api import RequestContext
from controller.awslambda import records
from controller.ec2 import ids, lookups


def configuration_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    """The function's ARN, with the layer and VPC keys of the configuration the request sets."""
    if params.get("Layers") is not None:
        ctx.condition_keys["lambda:Layer"] = list(params["Layers"])
    vpc = params.get("VpcConfig")
    if vpc is not None:
        subnets = [s for s in vpc.get("SubnetIds") or [] if isinstance(s, str)]
        ctx.condition_keys["lambda:SubnetIds"] = subnets
        ctx.condition_keys["lambda:SecurityGroupIds"] = list(vpc.get("SecurityGroupIds") or [])
        with ctx.cloud.db.read() as conn:
            rows = [lookups.find(conn, ids.SUBNET, s) for s in subnets if ids.SUBNET.well_formed(s)]
        vpc_ids = sorted({row["vpc_id"] for row in rows if row is not None})
        if vpc_ids:
            ctx.condition_keys["lambda:VpcIds"] = vpc_ids
    return records.resources(ctx, params)


def permission_resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    """The function's ARN, with the principal (and function URL auth type) the statement names."""
    if params.get("Principal"):
        ctx.condition_keys["lambda:Principal"] = params["Principal"]
    if params.get("FunctionUrlAuthType"):
        ctx.condition_keys["lambda:FunctionUrlAuthType"] = params["FunctionUrlAuthType"]
    return records.resources(ctx, params)
