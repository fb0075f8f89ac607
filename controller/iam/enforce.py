"""Enforcement: every authenticated call is checked here before its handler runs.

This first version knows only account roots: a root principal may do anything in its
own account, and any other principal is denied by default, which is AWS's rule for an
identity with no policies. The IAM package replaces the body with the policy engine.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from controller.api import Operation, Params, RequestContext
from controller.errors import ServiceError

if TYPE_CHECKING:
    from controller.cloud import Cloud


class PolicyAuthorizer:
    def __init__(self, cloud: Cloud) -> None:
        self.cloud = cloud

    def authorize(self, ctx: RequestContext, operation: Operation, params: Params) -> None:
        if ctx.principal.is_root:
            return
        raise ServiceError(
            f"User: {ctx.principal.arn} is not authorized to perform: {operation.action} "
            f"because no identity-based policy allows the {operation.action} action",
            code="AccessDenied", status=403)
