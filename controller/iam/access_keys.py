"""Long-term access keys of IAM users (and of the account root), kept by the credential store.

Without ``UserName`` these calls act on the caller's own keys, as on AWS: an IAM user
rotates its keys, the root user manages the root keys; a role session has no keys.
"""

from __future__ import annotations

from sqlalchemy import Connection, Select, func, select

from controller.api import Params, Principal, RequestContext
from controller.auth.store import access_keys, root_principal
from controller.iam.directory import USER, arn_of, require, writing
from controller.iam.errors import LimitExceeded, NoSuchEntity, ValidationError
from controller.iam.naming import paginate
from controller.iam.service import api

#: Access keys one user (or the root user) may have at most.
MAX_KEYS = 2


#: Access key operations authorize against the user owning the keys (the caller when none is named).
key_owner_arn = arn_of(USER, caller_when_unnamed=True)


def _owner(ctx: RequestContext, conn: Connection, params: Params) -> Principal:
    """The principal whose keys the call manages: the named user, or else the caller."""
    name = params.get("UserName")
    if name is None:
        caller = ctx.principal
        if caller.is_root:
            return root_principal(caller.account_id)
        if caller.kind != "user":
            raise ValidationError("Must specify userName when calling with non-User credentials")
        name = caller.name
    row = require(conn, USER, ctx.account_id, name)
    return Principal(account_id=ctx.account_id, arn=row["arn"], kind="user", user_id=row["user_id"],
                     name=row["user_name"])


def _keys_query(owner: Principal) -> Select:
    return select(access_keys).where(
        access_keys.c.account_id == owner.account_id, access_keys.c.principal_kind == owner.kind,
        access_keys.c.principal_name == owner.name, access_keys.c.session_token_hash.is_(None))


def _user_name(owner: Principal) -> dict[str, str]:
    """AWS names the user in key metadata; the root user's keys carry no user name."""
    return {} if owner.kind == "root" else {"UserName": owner.name}


@api.operation("CreateAccessKey", resources=key_owner_arn)
def create_access_key(ctx: RequestContext, params: Params) -> Params:
    store = ctx.cloud.credentials
    with writing(ctx) as conn:
        owner = _owner(ctx, conn, params)
        count = conn.execute(select(func.count()).select_from(_keys_query(owner).subquery())).scalar_one()
        if count >= MAX_KEYS:
            raise LimitExceeded(f"Cannot exceed quota for AccessKeysPerUser: {MAX_KEYS}")
        key_id, secret = store.create_key(owner, conn=conn)
        created = conn.execute(select(access_keys.c.created_at).where(
            access_keys.c.access_key_id == key_id)).scalar_one()
    return {"AccessKey": {**_user_name(owner), "AccessKeyId": key_id, "Status": "Active",
                          "SecretAccessKey": secret, "CreateDate": created}}


@api.operation("ListAccessKeys", resources=key_owner_arn)
def list_access_keys(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        owner = _owner(ctx, conn, params)
        rows = conn.execute(_keys_query(owner)).mappings().all()
    keys = [{**_user_name(owner), "AccessKeyId": row["access_key_id"], "Status": row["status"],
             "CreateDate": row["created_at"]} for row in rows]
    return paginate(keys, params, lambda key: key["CreateDate"].isoformat() + key["AccessKeyId"],
                    "AccessKeyMetadata")


def _owned_key(conn: Connection, owner: Principal, key_id: str) -> None:
    row = conn.execute(_keys_query(owner).where(access_keys.c.access_key_id == key_id)).first()
    if row is None:
        raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found")


@api.operation("UpdateAccessKey", resources=key_owner_arn)
def update_access_key(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        owner = _owner(ctx, conn, params)
        _owned_key(conn, owner, params["AccessKeyId"])
    # every process's store forgets its cached credentials once this commits, so the change is immediate
    ctx.cloud.credentials.set_status(params["AccessKeyId"], params["Status"])
    return {}


@api.operation("DeleteAccessKey", resources=key_owner_arn)
def delete_access_key(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        owner = _owner(ctx, conn, params)
        _owned_key(conn, owner, params["AccessKeyId"])
    # every process's store forgets its cached credentials once this commits, so the change is immediate
    ctx.cloud.credentials.delete_key(params["AccessKeyId"])
    return {}


def _key_user_arn(ctx: RequestContext, params: Params) -> list[str]:
    """GetAccessKeyLastUsed authorizes against the key's owner (``*`` for keys it cannot see)."""
    with ctx.cloud.db.read() as conn:
        owner = conn.execute(select(access_keys.c.principal_arn).where(
            access_keys.c.access_key_id == params["AccessKeyId"],
            access_keys.c.account_id == ctx.account_id)).scalar()
    return [owner or "*"]


@api.operation("GetAccessKeyLastUsed", resources=_key_user_arn)
def get_access_key_last_used(ctx: RequestContext, params: Params) -> Params:
    key_id = params["AccessKeyId"]
    ctx.cloud.audit.flush()
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(access_keys).where(
            access_keys.c.access_key_id == key_id, access_keys.c.account_id == ctx.account_id,
            access_keys.c.session_token_hash.is_(None))).mappings().first()
    if row is None:
        raise NoSuchEntity(f"The Access Key with id {key_id} cannot be found")
    last_used: Params = {"ServiceName": row["last_used_service"] or "N/A",
                         "Region": row["last_used_region"] or "N/A"}
    if row["last_used_at"]:
        last_used["LastUsedDate"] = row["last_used_at"]
    result: Params = {"AccessKeyLastUsed": last_used}
    if row["principal_kind"] == "user":
        result["UserName"] = row["principal_name"]
    return result
