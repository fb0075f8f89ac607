"""User pool domains: CreateUserPoolDomain, DescribeUserPoolDomain, UpdateUserPoolDomain, DeleteUserPoolDomain.

A domain is where a pool's hosted UI and OAuth 2.0 endpoints live (:mod:`controller.cognito_idp.hosted_ui`).
On AWS a prefix domain ``my-app`` is ``https://my-app.auth.{region}.amazoncognito.com``; Cloudlet serves it at
``{endpoint}/_cloudlet/cognito/my-app/`` (no DNS needed) and by name as ``my-app.auth.{region}.{service
domain}`` and ``my-app.auth.localhost``. Prefixes are unique in the cloud, as they are in an AWS region, and a
pool has at most one. Custom domains (``auth.example.com``) need an ACM certificate behind a CloudFront
distribution, which Cloudlet does not serve: they are refused with InvalidParameterException saying so.
"""

from __future__ import annotations

import re
import time
from typing import Any

from sqlalchemy import delete, insert, select, update

from controller.api import RequestContext
from controller.cognito_idp import errors, state
from controller.cognito_idp.pools import pool_resources, pool_row
from controller.cognito_idp.service import api

#: Where a prefix domain's pages are served without DNS: ``{endpoint}{PATH_PREFIX}{prefix}/...``.
PATH_PREFIX = "/_cloudlet/cognito/"
PREFIX_PATTERN = re.compile(r"^[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?$")
#: Words AWS keeps out of prefix domains.
RESERVED = ("aws", "amazon", "cognito")
#: ManagedLoginVersion: 1 is the classic hosted UI, 2 managed login (both serve the same pages here).
VERSIONS = (1, 2)


def check_prefix(domain: str, params: dict[str, Any]) -> None:
    """InvalidParameterException unless ``domain`` is a prefix domain Cognito would accept."""
    if "." in domain or params.get("CustomDomainConfig"):
        raise errors.InvalidParameterException(
            f"Custom domain {domain} needs an ACM certificate served through CloudFront, which Cloudlet does "
            "not serve: use a prefix domain (lower-case letters, numbers and hyphens) instead.")
    if not PREFIX_PATTERN.match(domain):
        raise errors.InvalidParameterException(
            "The domain name contains an invalid character. Domain names can only contain lower-case letters, "
            "numbers, and hyphens. Please enter a different name that follows this format: "
            f"{PREFIX_PATTERN.pattern}")
    reserved = next((word for word in RESERVED if word in domain), None)
    if reserved:
        raise errors.InvalidParameterException(f"Domain cannot contain reserved word: {reserved}")


def _version(params: dict[str, Any], default: int) -> int:
    version = params.get("ManagedLoginVersion")
    if version is None:
        return default
    if version not in VERSIONS:
        raise errors.InvalidParameterException("ManagedLoginVersion must be 1 or 2.")
    return version


def site_url(cloud: Any, domain: str) -> str:
    """The base URL of a prefix domain's hosted UI and OAuth endpoints, in the form that needs no DNS."""
    return f"{cloud.config.endpoint_url.rstrip('/')}{PATH_PREFIX}{domain}"


def find_domain(cloud: Any, domain: str) -> dict[str, Any] | None:
    """The domain's row (``domain``, ``pool_id``...), or None: what the hosted UI serves under a prefix."""
    with cloud.db.read() as conn:
        row = conn.execute(select(state.domains).where(state.domains.c.domain == domain)).mappings().first()
    return dict(row) if row else None


def pool_domain(cloud: Any, pool_id: str) -> str | None:
    """The prefix domain of ``pool_id``, or None when it has none."""
    with cloud.db.read() as conn:
        return conn.execute(select(state.domains.c.domain).where(state.domains.c.pool_id == pool_id)).scalar()


def _no_domain() -> errors.ServiceError:
    return errors.InvalidParameterException("No such domain or user pool exists.")


@api.operation("CreateUserPoolDomain", resources=pool_resources)
def create_user_pool_domain(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    domain = params["Domain"]
    check_prefix(domain, params)
    version = _version(params, 1)
    with ctx.cloud.db.begin() as conn:
        pool = pool_row(conn, params["UserPoolId"], ctx)
        taken = conn.execute(select(state.domains).where(
            (state.domains.c.domain == domain) | (state.domains.c.pool_id == pool["pool_id"]))).mappings().all()
        if any(row["domain"] == domain for row in taken):
            raise errors.InvalidParameterException("Domain already associated with another user pool.")
        if taken:
            raise errors.InvalidParameterException("User pool already has a domain configured.")
        conn.execute(insert(state.domains).values(
            domain=domain, pool_id=pool["pool_id"], account_id=ctx.account_id, managed_login_version=version,
            created_at=time.time()))
    return {"ManagedLoginVersion": version}


@api.operation("DescribeUserPoolDomain", resources=pool_resources)
def describe_user_pool_domain(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """An unknown domain (or another account's) is an empty DomainDescription, as Cognito answers."""
    row = find_domain(ctx.cloud, params["Domain"])
    if row is None or row["account_id"] != ctx.account_id:
        return {"DomainDescription": {}}
    config = ctx.cloud.config
    return {"DomainDescription": {
        "UserPoolId": row["pool_id"], "AWSAccountId": row["account_id"], "Domain": row["domain"],
        # Where the pages answer by name (Cognito gives the CloudFront name a custom domain's CNAME targets).
        "CloudFrontDistribution": f"{row['domain']}.auth.{config.region}.{config.service_domain}",
        "Version": time.strftime("%Y%m%d%H%M%S", time.gmtime(row["created_at"])), "Status": "ACTIVE",
        "ManagedLoginVersion": row["managed_login_version"]}}


def _owned(conn: Any, ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """The domain ``params`` names, which must belong to the pool it names."""
    pool = pool_row(conn, params["UserPoolId"], ctx)
    row = conn.execute(select(state.domains).where(state.domains.c.domain == params["Domain"],
                                                   state.domains.c.pool_id == pool["pool_id"])).mappings().first()
    if row is None:
        raise _no_domain()
    return dict(row)


@api.operation("UpdateUserPoolDomain", resources=pool_resources)
def update_user_pool_domain(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    """A prefix domain can only change its ManagedLoginVersion (a certificate is for custom domains)."""
    if params.get("CustomDomainConfig"):
        check_prefix(params["Domain"], params)
    with ctx.cloud.db.begin() as conn:
        row = _owned(conn, ctx, params)
        version = _version(params, row["managed_login_version"])
        conn.execute(update(state.domains).where(state.domains.c.domain == row["domain"])
                     .values(managed_login_version=version))
    return {"ManagedLoginVersion": version}


@api.operation("DeleteUserPoolDomain", resources=pool_resources)
def delete_user_pool_domain(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    with ctx.cloud.db.begin() as conn:
        row = _owned(conn, ctx, params)
        conn.execute(delete(state.domains).where(state.domains.c.domain == row["domain"]))
    return {}
