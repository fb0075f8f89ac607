"""Registering a VPC operation: DryRun, the caller's default VPC, and the ARNs IAM checks.

``@vpc_operation("CreateSubnet", resources=arns((SUBNET, NEW), (VPC, "VpcId")))`` registers
the handler on the EC2 :data:`~controller.ec2.api` like ``api.operation`` does, and
around it:

- every resource id in the request is checked for shape first (``InvalidXxxID.Malformed``,
  :mod:`controller.ec2.validate`), so nothing is looked up with a value that cannot be an id;
- ``DryRun=true`` answers ``DryRunOperation`` once IAM has allowed the call (the gateway
  authorizes before the handler runs), which is what EC2 means by a dry run;
- the account's default VPC exists before the first VPC call of an account runs, as in
  AWS where every account starts with one;
- a ``ClientToken`` given to a call whose output has that member is echoed back, as EC2 does.
"""

from __future__ import annotations

import functools
from collections.abc import Callable

from controller.api import Handler, Params, RequestContext, ResourceMapper
from controller.ec2.errors import DryRunOperation
from controller.ec2.ids import Kind
from controller.ec2.service import api
from controller.ec2.validate import check_shapes
from controller.ec2.vpc.default_vpc import ensure_default_vpc
from controller.protocol.models import load_service_model

#: Stands for "the resource this call creates" in an :func:`arns` spec (its ARN ends in ``/*``).
NEW = None


def vpc_operation(name: str, *, resources: ResourceMapper | None = None) -> Callable[[Handler], Handler]:
    output_shape = load_service_model("ec2").operation_model(name).output_shape
    echoes_token = output_shape is not None and "ClientToken" in output_shape.members

    def register(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def run(ctx: RequestContext, params: Params) -> Params:
            check_shapes(name, params)
            if params.get("DryRun"):
                raise DryRunOperation("Request would have succeeded, but DryRun flag is set.")
            ensure_default_vpc(ctx)
            result = handler(ctx, params)
            if echoes_token and params.get("ClientToken") and result is not None:
                result.setdefault("ClientToken", params["ClientToken"])
            return result

        api.operation(name, resources=resources)(run)
        return handler

    return register


def arns(*spec: tuple[Kind, str | None]) -> ResourceMapper:
    """A resource mapper: the ARN of each (kind, input member) present, ``kind/*`` for NEW."""

    def mapper(ctx: RequestContext, params: Params) -> list[str]:
        found: list[str] = []
        for kind, member in spec:
            if member is NEW:
                found.append(kind.arn(ctx, "*"))
                continue
            value = params.get(member)
            values = value if isinstance(value, list) else [value] if value else []
            found.extend(kind.arn(ctx, str(v)) for v in values)
        return found or ["*"]

    return mapper
