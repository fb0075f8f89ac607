"""Identities: GetId, GetCredentialsForIdentity, GetOpenIdToken, ListIdentities, DescribeIdentity (the enhanced flow).

``Logins`` map a provider name to a token: ``cognito-idp.{region}.amazonaws.com/{pool_id}`` (or this
cloud's issuer form ``{endpoint host}/{pool_id}``) for a user pool named in the identity pool's
``CognitoIdentityProviders`` (the token's audience must be one of its ClientIds), or an IAM OIDC
provider's ``host/path`` listed in ``OpenIdConnectProviderARNs``. Tokens are checked by
``auth.oidc.verify_jwt``; credentials come from STS's ``assume_federated`` for the principal
``cognito-identity.amazonaws.com``, so the role's trust policy decides as on AWS.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import insert, select, update

from controller.api import Params, RequestContext
from controller.auth import oidc
from controller.cognito_identity import open_id
from controller.cognito_identity.pools import ResourceNotFoundException, find_pool
from controller.cognito_identity.rolemap import mapped_role
from controller.cognito_identity.service import api
from controller.cognito_identity.state import identities
from controller.errors import ServiceError, error
from controller.iam.resources import find_role
from controller.sts.web_identity import assume_federated

NotAuthorizedException = error("NotAuthorizedException", 400)
InvalidIdentityPoolConfigurationException = error("InvalidIdentityPoolConfigurationException", 400)
PRINCIPAL = "cognito-identity.amazonaws.com"
SESSION_SECONDS = 3600


def _user_pool_of(cloud: Any, provider: str) -> str | None:
    """The user pool id a Logins key names, in AWS's form or this cloud's issuer form."""
    host, _, pool_id = provider.rpartition("/")
    endpoint_host = cloud.config.endpoint_url.split("://", 1)[-1].rstrip("/")
    if (host.startswith("cognito-idp.") and host.endswith(".amazonaws.com")) or host == endpoint_host:
        return pool_id or None
    return None


def verify_logins(ctx: RequestContext, pool: dict[str, Any], logins: dict[str, str]) -> dict[str, dict[str, Any]]:
    """Each login's claims once its token holds for a provider the identity pool accepts."""
    config = pool["config"]
    verified: dict[str, dict[str, Any]] = {}
    for provider, token in logins.items():
        user_pool = _user_pool_of(ctx.cloud, provider)
        try:
            if user_pool is not None:
                clients = [item.get("ClientId") for item in config.get("CognitoIdentityProviders") or []
                           if _user_pool_of(ctx.cloud, item.get("ProviderName", "")) == user_pool]
                if not clients:
                    raise NotAuthorizedException(f"Invalid login token. Provider {provider} is not configured "
                                                 "for this identity pool.")
                issuer = f"{ctx.cloud.config.endpoint_url.rstrip('/')}/{user_pool}"
                verified[provider] = oidc.verify_jwt(ctx.cloud, token, issuer=issuer, audiences=clients)
            elif any(arn.endswith(f":oidc-provider/{provider}") for arn in config.get("OpenIdConnectProviderARNs")
                     or []):
                claims = oidc.verify_jwt(ctx.cloud, token)
                if claims["iss"].split("://", 1)[-1].rstrip("/") != provider:
                    raise NotAuthorizedException("Invalid login token. Issuer doesn't match providerName")
                verified[provider] = claims
            else:
                raise NotAuthorizedException(f"Invalid login token. Provider {provider} is not configured for "
                                             "this identity pool.")
        except oidc.InvalidIdentityToken as exc:
            raise NotAuthorizedException(f"Invalid login token. {exc.message}") from None
    return verified


def _login_key(verified: dict[str, dict[str, Any]]) -> str:
    if not verified:
        return ""
    provider = sorted(verified)[0]
    return f"{provider}|{verified[provider].get('sub', '')}"


def _pool(ctx: RequestContext, pool_id: str) -> dict[str, Any]:
    pool = find_pool(ctx.cloud, pool_id)
    if pool is None:
        raise ResourceNotFoundException(f"IdentityPool '{pool_id}' not found.")
    return pool


@api.operation("GetId", authorize=False)
def get_id(ctx: RequestContext, params: Params) -> Params:
    pool = _pool(ctx, params["IdentityPoolId"])
    verified = verify_logins(ctx, pool, params.get("Logins") or {})
    if not verified and not pool["config"].get("AllowUnauthenticatedIdentities"):
        raise NotAuthorizedException("Unauthenticated access is not supported for this identity pool.")
    key, now = _login_key(verified), time.time()
    with ctx.cloud.db.begin() as conn:
        found = conn.execute(select(identities.c.identity_id).where(
            identities.c.pool_id == pool["pool_id"], identities.c.login_key == key)).scalar() if key else None
        if found is None:
            found = f"{pool['region']}:{uuid.uuid4()}"
            conn.execute(insert(identities).values(identity_id=found, pool_id=pool["pool_id"], login_key=key,
                                                   logins=sorted(verified), created_at=now, modified_at=now))
    return {"IdentityId": found}


def _signed_in(ctx: RequestContext, params: Params) -> tuple[Any, dict[str, Any], dict[str, dict[str, Any]]]:
    """``(identity row, pool, verified logins)`` once the call's Logins prove the identity (none for a guest
    identity, which its pool must allow)."""
    with ctx.cloud.db.read() as conn:
        identity = conn.execute(select(identities).where(
            identities.c.identity_id == params["IdentityId"])).mappings().first()
    if identity is None:
        raise ResourceNotFoundException(f"Identity '{params['IdentityId']}' not found.")
    pool = _pool(ctx, identity["pool_id"])
    verified = verify_logins(ctx, pool, params.get("Logins") or {})
    if identity["login_key"] and _login_key(verified) != identity["login_key"]:
        raise NotAuthorizedException("Invalid login token. Logins don't match identity.")
    if not verified and not pool["config"].get("AllowUnauthenticatedIdentities"):
        raise NotAuthorizedException("Unauthenticated access is not supported for this identity pool.")
    return identity, pool, verified


@api.operation("GetOpenIdToken", authorize=False)
def get_open_id_token(ctx: RequestContext, params: Params) -> Params:
    identity, pool, verified = _signed_in(ctx, params)
    amr = ["authenticated", *sorted(verified)] if verified else ["unauthenticated"]
    arn = f"arn:{ctx.cloud.config.partition}:cognito-identity:{pool['region']}:{pool['account_id']}:identitypool/" \
          f"{pool['pool_id']}"
    token = open_id.issue(ctx.cloud, pool_id=pool["pool_id"], pool_arn=arn, identity_id=identity["identity_id"],
                          amr=amr)
    return {"IdentityId": identity["identity_id"], "Token": token}


@api.operation("GetCredentialsForIdentity", authorize=False)
def get_credentials(ctx: RequestContext, params: Params) -> Params:
    identity, pool, verified = _signed_in(ctx, params)
    if verified:
        provider = sorted(verified)[0]
        mapping = (pool["role_mappings"] or {}).get(provider)
        role_arn = mapped_role(mapping, verified[provider], pool["roles"].get("authenticated"),
                               params.get("CustomRoleArn"))
        amr: list[str] = ["authenticated", *sorted(verified)]
    else:
        role_arn, amr = pool["roles"].get("unauthenticated"), ["unauthenticated"]
    role = find_role(ctx, role_arn) if role_arn else None
    if role is None:
        raise InvalidIdentityPoolConfigurationException(
            "Invalid identity pool configuration. Check assigned IAM roles for this pool.")
    keys = {f"{PRINCIPAL}:aud": pool["pool_id"], f"{PRINCIPAL}:sub": identity["identity_id"],
            f"{PRINCIPAL}:amr": amr}
    try:
        credentials, _ = assume_federated(ctx, role, provider=PRINCIPAL, keys=keys,
                                          session_name="CognitoIdentityCredentials", duration=SESSION_SECONDS)
    except ServiceError:
        raise InvalidIdentityPoolConfigurationException(
            "Invalid identity pool configuration. Check assigned IAM roles for this pool.") from None
    with ctx.cloud.db.begin() as conn:
        conn.execute(update(identities).where(identities.c.identity_id == identity["identity_id"])
                     .values(modified_at=time.time()))
    return {"IdentityId": identity["identity_id"],
            "Credentials": {"AccessKeyId": credentials["AccessKeyId"], "SecretKey": credentials["SecretAccessKey"],
                            "SessionToken": credentials["SessionToken"], "Expiration": credentials["Expiration"]}}


def _identity_shape(row: Any) -> Params:
    output: Params = {"IdentityId": row["identity_id"], "CreationDate": row["created_at"],
                      "LastModifiedDate": row["modified_at"]}
    if row["logins"]:
        output["Logins"] = row["logins"]
    return output


@api.operation("DescribeIdentity")
def describe_identity(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(identities).where(
            identities.c.identity_id == params["IdentityId"])).mappings().first()
    pool = find_pool(ctx.cloud, row["pool_id"]) if row else None
    if row is None or pool is None or pool["account_id"] != ctx.account_id:
        raise ResourceNotFoundException(f"Identity '{params['IdentityId']}' not found.")
    return _identity_shape(row)


@api.operation("ListIdentities")
def list_identities(ctx: RequestContext, params: Params) -> Params:
    pool = _pool(ctx, params["IdentityPoolId"])
    if pool["account_id"] != ctx.account_id:
        raise ResourceNotFoundException(f"IdentityPool '{params['IdentityPoolId']}' not found.")
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(identities).where(identities.c.pool_id == pool["pool_id"])
                            .order_by(identities.c.identity_id)).mappings().all()
    after = params.get("NextToken") or ""
    page = [row for row in rows if row["identity_id"] > after][:params["MaxResults"]]
    output: Params = {"IdentityPoolId": pool["pool_id"], "Identities": [_identity_shape(row) for row in page]}
    if page and page[-1]["identity_id"] != rows[-1]["identity_id"]:
        output["NextToken"] = page[-1]["identity_id"]
    return output
