"""EBS encryption: the account's defaults, and the KMS data key of each encrypted volume.

An encrypted volume's data key comes from KMS (contract B, :mod:`controller.kms.lookup`) with the
encryption context ``{"aws:ebs:id": <vol-id>}``, as EBS binds its keys; only KMS's ciphertext is kept.
The host's desired document carries the plaintext (base64) as the LUKS passphrase of the qcow2 file, so
a key that is disabled or pending deletion makes the volume unusable: :func:`passphrase` answers None
and the volume is not attached until the key is usable again. EncryptByDefault and the default key are
per account and region (EnableEbsEncryptionByDefault, ModifyEbsDefaultKmsKeyId...).
"""

from __future__ import annotations

import base64
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from controller.api import Params, RequestContext
from controller.config import Config
from controller.ec2.errors import require
from controller.ec2.operation import vpc_operation
from controller.ec2.volumes.state import attachments, encryption_defaults, volumes
from controller.errors import ServiceError, error
from controller.kms import lookup as kms
from controller.state import Database, upsert

DEFAULT_KEY = "alias/aws/ebs"
InvalidKmsKeyNotFound = error("InvalidKmsKey.NotFound")
KmsKeyInvalidState = error("IncorrectState")
InvalidParameterDependency = error("InvalidParameterDependency")


def context(volume_id: str) -> dict[str, str]:
    return {"aws:ebs:id": volume_id}


def defaults(conn: Connection, account: str) -> tuple[bool, str]:
    """Whether the account encrypts new volumes by default, and its default key (id, ARN or alias)."""
    row = conn.execute(select(encryption_defaults).where(encryption_defaults.c.account_id == account)).first()
    return (bool(row.enabled), row.kms_key_id or DEFAULT_KEY) if row else (False, DEFAULT_KEY)


@dataclass(frozen=True)
class VolumeKey:
    arn: str
    ciphertext: bytes


def wanted_encryption(conn: Connection, account: str, encrypted: bool | None, key_id: str | None,
                      inherited_key: str | None = None) -> str | None:
    """The key a new volume is encrypted under (None: not encrypted): the request's key, else the key of the
    encrypted snapshot it comes from (whose encryption cannot be dropped), else the account's default key
    when the request or the account's encryption by default asks for encryption."""
    if key_id and not encrypted:
        raise InvalidParameterDependency("The parameter KmsKeyId requires the parameter Encrypted to be set.")
    by_default, default_key = defaults(conn, account)
    if encrypted or inherited_key or by_default:
        return key_id or inherited_key or default_key
    return None


def new_data_key(ctx: RequestContext, key_ref: str, volume_id: str) -> VolumeKey:
    """A fresh data key for ``volume_id`` under ``key_ref``, with EBS's wording of KMS's refusals."""
    try:
        made = kms.generate_data_key(ctx.cloud, ctx.account_id, key_ref, context(volume_id))
    except ServiceError as exc:
        raise _ebs_error(exc, key_ref) from None
    return VolumeKey(made.key_arn, made.ciphertext)


def _ebs_error(exc: ServiceError, key_ref: str) -> ServiceError:
    if exc.code == "NotFoundException":
        return InvalidKmsKeyNotFound(f"The KMS key '{key_ref}' does not exist.")
    if exc.code in ("DisabledException", "KMSInvalidStateException"):
        return KmsKeyInvalidState(f"The KMS key '{key_ref}' is not in a valid state: {exc.message}".strip())
    return exc


@dataclass(frozen=True)
class KmsView:
    """What KMS's lookups read of a cloud (its database and configuration), for desired-state providers,
    which get a :class:`~controller.hosts.desired.HostContext` rather than the cloud itself."""

    db: Database
    config: Config


def passphrase(view: Any, account: str, key_context: str, ciphertext: bytes) -> str | None:
    """The volume's data key (base64) for its host, or None while KMS refuses it (key disabled, pending
    deletion or gone). ``key_context`` is the volume id KMS bound the data key to."""
    try:
        return base64.b64encode(kms.decrypt(view, account, ciphertext, context(key_context))).decode()
    except ServiceError:
        return None


def usable(ctx: RequestContext, volume: Any) -> None:
    """IncorrectState when an encrypted volume's key cannot open its data key now (AttachVolume)."""
    if volume["data_key"] is None:
        return
    volume_id = volume["volume_id"]
    try:
        kms.decrypt(ctx.cloud, volume["account_id"], volume["data_key"], context(volume["key_context"] or volume_id))
    except ServiceError as exc:
        raise KmsKeyInvalidState(f"The volume '{volume_id}' cannot be used: its KMS key is not usable "
                                 f"(Client.InvalidKMSKey.InvalidState: {exc.code}).") from None


def volumes_without_key(cloud: Any, conn: Connection, instance_id: str) -> list[str]:
    """The encrypted volumes attached to an instance whose KMS key cannot open their data key now: the
    instance cannot start with them (StartInstances leaves it stopped, Client.InvalidKMSKey.InvalidState)."""
    rows = conn.execute(select(volumes.c.volume_id, volumes.c.account_id, volumes.c.data_key, volumes.c.key_context)
                        .join(attachments, attachments.c.volume_id == volumes.c.volume_id)
                        .where(attachments.c.instance_id == instance_id, volumes.c.data_key.is_not(None))).all()
    failing = []
    for volume_id, account, data_key, key_context in rows:
        try:
            kms.decrypt(cloud, account, data_key, context(key_context or volume_id))
        except ServiceError:
            failing.append(volume_id)
    return failing


#: The StateReason of an instance that could not start because a volume's KMS key is not usable.
INVALID_KMS_KEY = ("Client.InvalidKMSKey.InvalidState",
                   "Client.InvalidKMSKey.InvalidState: The KMS key provided is in an incorrect state")


# --- the account's defaults ----------------------------------------------------------------------------------


def _set_defaults(ctx: RequestContext, **values: Any) -> tuple[bool, str]:
    with ctx.cloud.db.begin() as conn:
        enabled, key = defaults(conn, ctx.account_id)
        row = {"enabled": enabled, "kms_key_id": None if key == DEFAULT_KEY else key, **values}
        statement = upsert(encryption_defaults).values(account_id=ctx.account_id, **row)
        conn.execute(statement.on_conflict_do_update(index_elements=[encryption_defaults.c.account_id], set_=row))
        return defaults(conn, ctx.account_id)


@vpc_operation("EnableEbsEncryptionByDefault")
def enable_encryption_by_default(ctx: RequestContext, params: Params) -> Params:
    return {"EbsEncryptionByDefault": _set_defaults(ctx, enabled=True)[0]}


@vpc_operation("DisableEbsEncryptionByDefault")
def disable_encryption_by_default(ctx: RequestContext, params: Params) -> Params:
    return {"EbsEncryptionByDefault": _set_defaults(ctx, enabled=False)[0]}


@vpc_operation("GetEbsEncryptionByDefault")
def get_encryption_by_default(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        return {"EbsEncryptionByDefault": defaults(conn, ctx.account_id)[0], "SseType": "none"}


def key_arn(ctx: RequestContext, key_ref: str) -> str:
    try:
        return kms.resolve_key(ctx.cloud, ctx.account_id, key_ref)
    except ServiceError as exc:
        raise _ebs_error(exc, key_ref) from None


@vpc_operation("GetEbsDefaultKmsKeyId")
def get_default_key(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        key = defaults(conn, ctx.account_id)[1]
    return {"KmsKeyId": key_arn(ctx, key)}


@vpc_operation("ModifyEbsDefaultKmsKeyId")
def modify_default_key(ctx: RequestContext, params: Params) -> Params:
    require(params, "KmsKeyId")
    arn = key_arn(ctx, params["KmsKeyId"])
    _set_defaults(ctx, kms_key_id=arn)
    return {"KmsKeyId": arn}


@vpc_operation("ResetEbsDefaultKmsKeyId")
def reset_default_key(ctx: RequestContext, params: Params) -> Params:
    _set_defaults(ctx, kms_key_id=None)
    return {"KmsKeyId": key_arn(ctx, DEFAULT_KEY)}
