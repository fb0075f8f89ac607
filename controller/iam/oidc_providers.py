"""IAM OpenID Connect identity providers: the issuers STS AssumeRoleWithWebIdentity trusts in an account.

A provider is named by its issuer URL without the scheme (``host[:port][/path]``), which is also the
tail of its ARN (``arn:aws:iam::ACCOUNT:oidc-provider/host/path``) and the prefix of the condition
keys trust policies use (``host/path:aud``). AWS accepts only ``https://`` URLs; Cloudlet also accepts
``http://`` because its own endpoint (and so its user pools' issuers) is plain HTTP on a homelab.
Thumbprints are stored and read back as written; like AWS for issuers with a publicly trusted
certificate, key retrieval does not check them (the JWKS is fetched over the URL the issuer names).

The table lives here, beside the only code that writes it.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import Column, String, Table, delete, insert, select, update

from controller.api import Params, RequestContext
from controller.iam.errors import EntityAlreadyExists, InvalidInput, LimitExceeded, NoSuchEntity
from controller.iam.naming import merge_tags, paginate, remove_tags
from controller.iam.service import api
from controller.state import JsonText, UtcDateTime, metadata

providers = Table(
    "iam_oidc_providers", metadata,
    Column("arn", String(2048), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("url", String(255), nullable=False),          # without the scheme, as GetOpenIDConnectProvider answers
    Column("client_ids", JsonText, nullable=False),
    Column("thumbprints", JsonText, nullable=False),
    Column("tags", JsonText, nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
)

MAX_CLIENT_IDS = 100
MAX_THUMBPRINTS = 5


def provider_url_key(url: str) -> str:
    """``host[:port][/path]`` of an issuer URL (scheme and trailing slash dropped); InvalidInput otherwise."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("https", "http") or not parts.netloc or parts.query or parts.fragment \
            or "@" in parts.netloc:
        raise InvalidInput("Invalid Open ID Connect Provider URL")
    return (parts.netloc.lower() + parts.path).rstrip("/")


def provider_arn(partition: str, account_id: str, url_key: str) -> str:
    return f"arn:{partition}:iam::{account_id}:oidc-provider/{url_key}"


def find_provider(cloud: Any, account_id: str, url_key: str) -> dict[str, Any] | None:
    """The provider for an issuer (``host/path``) in an account, or None: STS's lookup."""
    arn = provider_arn(cloud.config.partition, account_id, url_key)
    with cloud.db.read() as conn:
        row = conn.execute(select(providers).where(providers.c.arn == arn)).mappings().first()
    return dict(row) if row else None


def _check_thumbprints(thumbprints: list[str]) -> list[str]:
    if len(thumbprints) > MAX_THUMBPRINTS:
        raise LimitExceeded(f"Thumbprint list must contain fewer than {MAX_THUMBPRINTS + 1} entries")
    for thumbprint in thumbprints:
        if len(thumbprint) != 40 or any(char not in "0123456789abcdefABCDEF" for char in thumbprint):
            raise InvalidInput(f"Thumbprint {thumbprint} must be a 40-character hex SHA-1 fingerprint")
    return list(thumbprints)


def _check_client_ids(client_ids: list[str]) -> list[str]:
    unique = list(dict.fromkeys(client_ids))
    if len(unique) > MAX_CLIENT_IDS:
        raise LimitExceeded(f"ClientIDList must contain fewer than {MAX_CLIENT_IDS + 1} entries")
    return unique


def _create_arn(ctx: RequestContext, params: Params) -> list[str]:
    return [provider_arn(ctx.cloud.config.partition, ctx.account_id, provider_url_key(params["Url"]))]


def _named_arn(ctx: RequestContext, params: Params) -> list[str]:
    return [params["OpenIDConnectProviderArn"]]


def _require(conn: Any, ctx: RequestContext, arn: str) -> dict[str, Any]:
    row = conn.execute(select(providers).where(providers.c.arn == arn,
                                               providers.c.account_id == ctx.account_id)).mappings().first()
    if row is None:
        raise NoSuchEntity(f"OpenIDConnect Provider not found for arn {arn}")
    return dict(row)


@api.operation("CreateOpenIDConnectProvider", resources=_create_arn)
def create_provider(ctx: RequestContext, params: Params) -> Params:
    url_key = provider_url_key(params["Url"])
    arn = provider_arn(ctx.cloud.config.partition, ctx.account_id, url_key)
    client_ids = _check_client_ids(params.get("ClientIDList") or [])
    thumbprints = _check_thumbprints(params.get("ThumbprintList") or [])
    tags = merge_tags([], params.get("Tags") or [])
    with ctx.cloud.db.begin() as conn:
        if conn.execute(select(providers.c.arn).where(providers.c.arn == arn)).first() is not None:
            raise EntityAlreadyExists(f"Provider with url {params['Url']} already exists.")
        conn.execute(insert(providers).values(
            arn=arn, account_id=ctx.account_id, url=url_key, client_ids=client_ids, thumbprints=thumbprints,
            tags=tags, created_at=dt.datetime.now(dt.UTC)))
    ctx.audit_resources.append(arn)
    output: Params = {"OpenIDConnectProviderArn": arn}
    if tags:
        output["Tags"] = tags
    return output


@api.operation("GetOpenIDConnectProvider", resources=_named_arn)
def get_provider(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = _require(conn, ctx, params["OpenIDConnectProviderArn"])
    output: Params = {"Url": row["url"], "ClientIDList": row["client_ids"], "ThumbprintList": row["thumbprints"],
                      "CreateDate": row["created_at"]}
    if row["tags"]:
        output["Tags"] = row["tags"]
    return output


@api.operation("ListOpenIDConnectProviders",
               resources=lambda ctx, params: [f"arn:{ctx.cloud.config.partition}:iam::{ctx.account_id}:"
                                              "oidc-provider/*"])
def list_providers(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        arns = conn.execute(select(providers.c.arn).where(providers.c.account_id == ctx.account_id)
                            .order_by(providers.c.arn)).scalars().all()
    return {"OpenIDConnectProviderList": [{"Arn": arn} for arn in arns]}


@api.operation("DeleteOpenIDConnectProvider", resources=_named_arn)
def delete_provider(ctx: RequestContext, params: Params) -> Params:
    arn = params["OpenIDConnectProviderArn"]
    with ctx.cloud.db.begin() as conn:
        _require(conn, ctx, arn)
        conn.execute(delete(providers).where(providers.c.arn == arn))
    return {}


def _change(ctx: RequestContext, arn: str, **changes: Any) -> None:
    """Apply ``changes`` (column -> function of the stored row giving the new value) in one transaction."""
    with ctx.cloud.db.begin() as conn:
        row = _require(conn, ctx, arn)
        conn.execute(update(providers).where(providers.c.arn == arn)
                     .values(**{column: change(row) for column, change in changes.items()}))


@api.operation("AddClientIDToOpenIDConnectProvider", resources=_named_arn)
def add_client_id(ctx: RequestContext, params: Params) -> Params:
    _change(ctx, params["OpenIDConnectProviderArn"],
            client_ids=lambda row: _check_client_ids([*row["client_ids"], params["ClientID"]]))
    return {}


@api.operation("RemoveClientIDFromOpenIDConnectProvider", resources=_named_arn)
def remove_client_id(ctx: RequestContext, params: Params) -> Params:
    _change(ctx, params["OpenIDConnectProviderArn"],
            client_ids=lambda row: [item for item in row["client_ids"] if item != params["ClientID"]])
    return {}


@api.operation("UpdateOpenIDConnectProviderThumbprint", resources=_named_arn)
def update_thumbprint(ctx: RequestContext, params: Params) -> Params:
    thumbprints = _check_thumbprints(params["ThumbprintList"])
    _change(ctx, params["OpenIDConnectProviderArn"], thumbprints=lambda row: thumbprints)
    return {}


@api.operation("TagOpenIDConnectProvider", resources=_named_arn)
def tag_provider(ctx: RequestContext, params: Params) -> Params:
    _change(ctx, params["OpenIDConnectProviderArn"], tags=lambda row: merge_tags(row["tags"], params["Tags"]))
    return {}


@api.operation("UntagOpenIDConnectProvider", resources=_named_arn)
def untag_provider(ctx: RequestContext, params: Params) -> Params:
    _change(ctx, params["OpenIDConnectProviderArn"], tags=lambda row: remove_tags(row["tags"], params["TagKeys"]))
    return {}


@api.operation("ListOpenIDConnectProviderTags", resources=_named_arn)
def list_provider_tags(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        row = _require(conn, ctx, params["OpenIDConnectProviderArn"])
    return paginate(row["tags"], params, lambda tag: tag["Key"].lower(), "Tags")
