"""What IAM sees of a KMS call: the key it acts on, the key's policy with its grants, condition keys.

Authorization is the gateway's, as for every service: each operation declares its key (resolved from
a key id, key ARN, alias name or alias ARN, or read from a ciphertext blob) and ``key_lookup`` hands
the engine the key policy. Enforcement requires that policy to allow even within the account
(``iam.decision.key_policy_governs``), which is how AWS evaluates KMS: the key policy must allow,
directly or by delegating to IAM through the account's root principal.

Grants are allow-only permissions on one key for one grantee; AWS evaluates them together with the
key policy, so each live grant joins the policy as one more statement that names its grantee, its
operations and its encryption context constraints (``kms:EncryptionContext:<key>`` equal to the
grant's values; with EncryptionContextEquals, no other keys either). An explicit Deny in the key
policy or an IAM policy still wins, as it does over a grant on AWS.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import RowMapping, select

from controller.api import Params, RequestContext, ResourceInfo, ResourceMapper
from controller.kms import ciphers, records, state
from controller.kms.errors import InvalidGrantTokenException, ValidationException
from controller.state import utcnow


def key_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """The key's owner, tags and its policy joined with its grants (the ``resource_lookup`` hook)."""
    kind, account, _ = records.split_reference(arn)
    if kind != "key" or not account:
        return None
    with ctx.cloud.db.read() as conn:
        row = records.find_key(conn, ctx.account_id, arn, utcnow())
        if row is None:
            return ResourceInfo(owner_account=account)
        grants = conn.execute(select(state.grants).where(state.grants.c.key_id == row["key_id"])).mappings().all()
    return ResourceInfo(owner_account=row["account_id"], policy=policy_with_grants(row["policy"], grants),
                        tags=dict(row["tags"] or {}))


def policy_with_grants(key_policy: str, grants: list[RowMapping] | list[Mapping[str, Any]]) -> str:
    """The key policy with one Allow statement per grant appended (pure; the text IAM evaluates)."""
    if not grants:
        return key_policy
    document = json.loads(key_policy)
    statements = document.get("Statement")
    statements = list(statements) if isinstance(statements, list) else [statements]
    document["Statement"] = statements + [grant_statement(grant) for grant in grants]
    return json.dumps(document, separators=(",", ":"))


def grant_statement(grant: Mapping[str, Any]) -> dict[str, Any]:
    """A grant as the policy statement it amounts to."""
    grantee = grant["grantee"]
    principal = {"Service": grantee} if grantee.endswith(".amazonaws.com") else {"AWS": grantee}
    statement: dict[str, Any] = {"Sid": f"Grant {grant['grant_id']}", "Effect": "Allow", "Principal": principal,
                                 "Action": [f"kms:{operation}" for operation in grant["operations"]],
                                 "Resource": "*"}
    constraints = grant["constraints"] or {}
    pairs = constraints.get("EncryptionContextEquals") or constraints.get("EncryptionContextSubset")
    if pairs is not None:
        condition: dict[str, Any] = {
            "StringEquals": {f"kms:EncryptionContext:{key}": value for key, value in pairs.items()}}
        if "EncryptionContextEquals" in constraints:
            condition["ForAllValues:StringEquals"] = {"kms:EncryptionContextKeys": sorted(pairs)}
        statement["Condition"] = condition
    return statement


def context_keys(ctx: RequestContext, params: Params, context_param: str = "EncryptionContext") -> None:
    """The request's KMS condition keys (kms:CallerAccount, kms:EncryptionContext:*, kms:RequestAlias...)."""
    keys: dict[str, Any] = {"kms:CallerAccount": ctx.account_id}
    context = params.get(context_param)
    if isinstance(context, Mapping):
        keys.update({f"kms:EncryptionContext:{key}": value for key, value in context.items()})
        keys["kms:EncryptionContextKeys"] = sorted(context)
    if params.get("EncryptionAlgorithm"):
        keys["kms:EncryptionAlgorithm"] = params["EncryptionAlgorithm"]
    key_id = params.get("KeyId")
    if isinstance(key_id, str) and "alias/" in key_id:
        keys["kms:RequestAlias"] = key_id.split(":", 5)[-1]
    ctx.condition_keys.update(keys)


#: Grant tokens this cloud hands out (CreateGrant): a prefix and random URL-safe text.
GRANT_TOKEN_PREFIX = "CKGT1"


def check_grant_tokens(ctx: RequestContext, params: Params) -> None:
    """Refuse grant tokens that no CreateGrant of this cloud could have made (InvalidGrantTokenException).

    Grants here take effect at once, so a valid token adds nothing, but a malformed one is still refused.
    """
    for token in params.get("GrantTokens") or []:
        body = token.removeprefix(GRANT_TOKEN_PREFIX)
        if body == token or not body or any(not (c.isalnum() or c in "-_") for c in body):
            raise InvalidGrantTokenException("The grant token is not valid.")


def resolve_key(ctx: RequestContext, ref: str, *, create_managed: bool = False) -> RowMapping:
    """The live key a request names (NotFoundException otherwise).

    Naming ``alias/aws/<service>`` makes that AWS managed key only where AWS does: in DescribeKey and
    the cryptographic operations (``create_managed``), never in a call that changes something.
    """
    return records.resolve(ctx.cloud, ctx.account_id, ctx.region, ref, create_managed=create_managed)


def on_key(param: str = "KeyId", *, cross_account: bool = False, create_managed: bool = False) -> ResourceMapper:
    """A resource mapper for operations on the key that ``param`` names.

    Only the cryptographic operations and a few reads reach another account's key (by its ARN);
    for the others AWS finds no such key in the caller's account.
    """

    def resources(ctx: RequestContext, params: Params) -> list[str]:
        context_keys(ctx, params)
        ref = params[param]
        row = resolve_key(ctx, ref, create_managed=create_managed)
        if row["account_id"] != ctx.account_id and not cross_account:
            raise records.not_found(records.Region.of(ctx.cloud, ctx.region), ctx.account_id, ref)
        return [row["arn"]]

    return resources


def require(params: Params, member: str) -> None:
    """A member the model leaves optional but the operation needs (Decrypt's and ReEncrypt's blob)."""
    if params.get(member) is None:
        raise ValidationException(f"1 validation error detected: Value null at '{member[:1].lower()}{member[1:]}' "
                                  f"failed to satisfy constraint: Member must not be null")


def on_blob_key(ctx: RequestContext, params: Params) -> list[str]:
    """Decrypt's resource: the key its ciphertext blob names (the KeyId, if sent, must be that key)."""
    require(params, "CiphertextBlob")
    context_keys(ctx, params)
    parsed = ciphers.open_blob(params["CiphertextBlob"])
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(state.keys).where(state.keys.c.key_id == parsed.key_id)).mappings().first()
    if row is None or records.key_state(row, utcnow()) is None:
        if params.get("KeyId"):
            resolve_key(ctx, params["KeyId"])
        raise records.key_gone(records.Region.of(ctx.cloud, ctx.region), ctx.account_id, parsed.key_id, row)
    return [row["arn"]]
