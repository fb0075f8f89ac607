"""sts:AssumeRoleWithWebIdentity: temporary credentials for the holder of an OIDC token.

The call is unsigned (its botocore model says ``authtype: none``): the token is the proof. Its issuer
must be an IAM OpenID Connect provider of the role's account (``iam/oidc_providers.py``), its audience
one of that provider's client ids, and its signature one of the issuer's keys (``auth/oidc.verify_jwt``).
Then the role's trust policy decides, for the ``Federated`` principal that is the provider's ARN and the
condition keys ``<issuer host/path>:aud``, ``:sub``, ``:amr``, ``:azp`` taken from the token's claims.

:func:`assume_federated` is that last step alone, also used by Cognito identity pools (whose
principal is ``cognito-identity.amazonaws.com``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from controller.api import Params, Principal, RequestContext
from controller.auth import oidc
from controller.errors import error
from controller.iam import policy
from controller.iam.lookup import record_role_use
from controller.iam.oidc_providers import find_provider
from controller.iam.resources import find_role
from controller.sts.limits import check_packed_size, packed_policy_percent, role_session_seconds
from controller.sts.service import api
from controller.sts.sessions import _check_session_policy, _issue

AccessDenied = error("AccessDenied", 403)
InvalidIdentityToken = error("InvalidIdentityToken", 400)
ExpiredTokenException = error("ExpiredTokenException", 400)
IDPCommunicationError = error("IDPCommunicationError", 400)

ACTION = "sts:AssumeRoleWithWebIdentity"


def claim_keys(prefix: str, claims: Mapping[str, Any]) -> dict[str, str | list[str]]:
    """Pure: the trust-policy condition keys a token's claims give under ``prefix`` (``host/path``)."""
    keys: dict[str, str | list[str]] = {}
    for claim in ("aud", "sub", "amr", "azp", "oaud"):
        value = claims.get(claim)
        if isinstance(value, str):
            keys[f"{prefix}:{claim}"] = value
        elif isinstance(value, list) and all(isinstance(item, str) for item in value):
            keys[f"{prefix}:{claim}"] = list(value)
    return keys


def trust_allows(trust_policy: str, *, provider: str, role_arn: str, role_account: str,
                 keys: Mapping[str, str | list[str]], now: dt.datetime, source_ip: str = "") -> bool:
    """Pure: whether a role's trust policy lets the ``Federated`` principal ``provider`` assume it."""
    context: dict[str, str | list[str]] = {
        "aws:CurrentTime": now.strftime("%Y-%m-%dT%H:%M:%SZ"), "aws:EpochTime": str(int(now.timestamp())),
        "aws:FederatedProvider": provider, "aws:PrincipalType": "WebIdentityUser", **keys}
    if source_ip:
        context["aws:SourceIp"] = source_ip
    request = policy.EvaluationRequest(action=ACTION, resource=role_arn, principal_arn="",
                                       principal_account="", resource_account=role_account, context=context,
                                       federated_provider=provider, require_resource_policy=True)
    trust = policy.parse_policy(trust_policy, policy_id="trust", source_type="role-trust")
    return policy.evaluate(request, policy.PolicySet(resource=[trust])).decision == policy.ALLOWED


def assume_federated(ctx: RequestContext, role: Mapping[str, Any], *, provider: str,
                     keys: Mapping[str, str | list[str]], session_name: str, duration: int,
                     session_policy: str | None = None, policy_arns: list[str] | None = None,
                     source_identity: str = "") -> tuple[dict[str, Any], Principal]:
    """Credentials for ``role`` once its trust policy allows ``provider`` with ``keys``; AccessDenied if not."""
    if not trust_allows(role["trust_policy"], provider=provider, role_arn=role["arn"],
                        role_account=role["account_id"], keys={**keys, "sts:RoleSessionName": session_name},
                        now=ctx.received_at, source_ip=ctx.source_ip):
        raise AccessDenied(f"Not authorized to perform {ACTION}")
    partition = ctx.cloud.config.partition
    principal = Principal(
        account_id=role["account_id"], kind="assumed-role", name=role["role_name"], session_name=session_name,
        arn=f"arn:{partition}:sts::{role['account_id']}:assumed-role/{role['role_name']}/{session_name}",
        user_id=f"{role['role_id']}:{session_name}", role_arn=role["arn"])
    session = {"role_arn": role["arn"], "role_id": role["role_id"], "session_name": session_name,
               "policy": session_policy, "policy_arns": policy_arns or [], "tags": {}, "transitive_keys": [],
               "source_identity": source_identity, "chained": False, "mfa_authenticated_at": None,
               "federated_provider": provider}
    credentials = _issue(ctx, principal, duration, session)
    with ctx.cloud.db.begin() as conn:
        record_role_use(conn, role["role_id"], ctx.received_at, ctx.region)
    ctx.audit_resources.append(role["arn"])
    return credentials, principal


def verified_claims(ctx: RequestContext, token: str, *, audiences: list[str] | None,
                    issuer: str | None = None) -> dict[str, Any]:
    """``oidc.verify_jwt`` with its failures as STS's errors."""
    try:
        return oidc.verify_jwt(ctx.cloud, token, issuer=issuer, audiences=audiences)
    except oidc.ExpiredIdentityToken as exc:
        raise ExpiredTokenException(exc.message) from None
    except oidc.IssuerUnreachable as exc:
        raise IDPCommunicationError(exc.message) from None
    except oidc.InvalidIdentityToken as exc:
        raise InvalidIdentityToken(exc.message) from None


@api.operation("AssumeRoleWithWebIdentity", authorize=False)
def assume_role_with_web_identity(ctx: RequestContext, params: Params) -> Params:
    role = find_role(ctx, params["RoleArn"])
    if role is None:
        raise AccessDenied(f"Not authorized to perform {ACTION}")
    try:
        _, unverified = oidc.unverified_claims(params["WebIdentityToken"])
    except oidc.InvalidIdentityToken as exc:
        raise InvalidIdentityToken(exc.message) from None
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or "://" not in issuer:
        raise InvalidIdentityToken("The token has no valid issuer (iss)")
    url_key = issuer.split("://", 1)[1].rstrip("/")
    if issuer == oidc.COGNITO_IDENTITY_ISSUER:    # identity pools' tokens need no OIDC provider, as on AWS
        provider = {"arn": url_key, "client_ids": [str(unverified.get("aud"))]}
    else:
        provider = find_provider(ctx.cloud, role["account_id"], url_key)
    if provider is None:
        raise InvalidIdentityToken(f"No OpenIDConnect provider found in your account for {issuer}")
    claims = verified_claims(ctx, params["WebIdentityToken"], audiences=provider["client_ids"], issuer=issuer)
    duration = role_session_seconds(params.get("DurationSeconds"), role["max_session_duration"], chained=False)
    session_policy = params.get("Policy")
    if session_policy is not None:
        _check_session_policy(session_policy)
    policy_arns = [item["arn"] for item in params.get("PolicyArns") or []]
    packed = packed_policy_percent(session_policy, policy_arns, {})
    check_packed_size(packed)
    audience = next(iter(set(oidc.audiences_of(claims)) & set(provider["client_ids"])))
    credentials, principal = assume_federated(
        ctx, role, provider=provider["arn"], keys=claim_keys(url_key, {**claims, "aud": audience}),
        session_name=params["RoleSessionName"], duration=duration, session_policy=session_policy,
        policy_arns=policy_arns)
    output: Params = {"Credentials": credentials,
                      "SubjectFromWebIdentityToken": str(claims.get("sub", "")),
                      "AssumedRoleUser": {"AssumedRoleId": principal.user_id, "Arn": principal.arn},
                      "Provider": issuer, "Audience": audience}
    if session_policy is not None or policy_arns:
        output["PackedPolicySize"] = packed
    return output
