"""A key's policy: GetKeyPolicy, PutKeyPolicy (with the lockout safety check), ListKeyPolicies.

A key has exactly one policy, named ``default``. AWS managed keys' policies are AWS's: their own
policy grants nobody kms:PutKeyPolicy, so a change is refused with AccessDeniedException.
"""

from __future__ import annotations

from sqlalchemy import update

from controller.api import Params, RequestContext
from controller.kms import policies, state
from controller.kms.access import on_key, resolve_key
from controller.kms.errors import NotFoundException
from controller.kms.keys import check_lockout
from controller.kms.service import api

POLICY_NAME = "default"


def _check_name(params: Params) -> None:
    name = params.get("PolicyName", POLICY_NAME)
    if name != POLICY_NAME:
        raise NotFoundException(f"No such policy exists: {name}. The only valid policy name is {POLICY_NAME}.")


@api.operation("GetKeyPolicy", resources=on_key())
def get_key_policy(ctx: RequestContext, params: Params) -> Params:
    _check_name(params)
    return {"Policy": resolve_key(ctx, params["KeyId"])["policy"], "PolicyName": POLICY_NAME}


@api.operation("PutKeyPolicy", resources=on_key())
def put_key_policy(ctx: RequestContext, params: Params) -> Params:
    _check_name(params)
    text = params["Policy"]
    policies.check_key_policy(text)
    row = resolve_key(ctx, params["KeyId"])
    check_lockout(ctx, row["arn"], text, bool(params.get("BypassPolicyLockoutSafetyCheck")))
    with ctx.cloud.db.begin() as conn:
        conn.execute(update(state.keys).where(state.keys.c.key_id == row["key_id"]).values(policy=text))
    return {}


@api.operation("ListKeyPolicies", resources=on_key())
def list_key_policies(ctx: RequestContext, params: Params) -> Params:
    return {"PolicyNames": [POLICY_NAME], "Truncated": False}
