"""sts:GetCallerIdentity: the one call every principal may make, even with no permissions."""

from __future__ import annotations

from controller.api import Params, RequestContext
from controller.sts.service import api


@api.operation("GetCallerIdentity", authorize=False)
def get_caller_identity(ctx: RequestContext, params: Params) -> Params:
    principal = ctx.principal
    return {"UserId": principal.user_id, "Account": principal.account_id, "Arn": principal.arn}
