"""Reading and writing KMS keys: finding a key by any of its names, its state now, its material.

A key is named by its id, its ARN, an alias name (``alias/app``) or an alias ARN. Its state is
computed from its row and the clock: ``PendingDeletion`` until the scheduled date, and from then on
the key no longer exists for any read (CreateKey and CreateAlias purge its rows).
AWS managed keys (``alias/aws/s3``...) come into being the first time anything names them.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, select

from controller.kms import blob, key_specs, master, policies, state
from controller.kms.errors import (
    DisabledException,
    KMSInvalidStateException,
    NotFoundException,
)
from controller.state import utcnow

if TYPE_CHECKING:
    from controller.cloud import Cloud

ENABLED, DISABLED, PENDING_DELETION = "Enabled", "Disabled", "PendingDeletion"
SYMMETRIC = key_specs.SYMMETRIC
#: Services whose AWS managed key (``alias/aws/<name>``) is made on first use, and what the key protects
#: (its description: "Default key that protects my S3 objects when no other key is defined").
MANAGED_KEY_PROTECTS = {"ebs": "EBS volumes", "s3": "S3 objects", "sqs": "SQS messages", "sns": "SNS data",
                        "lambda": "Lambda functions", "elasticfilesystem": "EFS filesystems",
                        "ssm": "SSM parameters"}
MANAGED_KEY_SERVICES = tuple(MANAGED_KEY_PROTECTS)


@dataclass(frozen=True)
class Region:
    """Where a key lives: what an ARN is built from."""

    partition: str
    region: str

    @classmethod
    def of(cls, cloud: Cloud, region: str) -> Region:
        return cls(cloud.config.partition, region)

    def key_arn(self, account_id: str, key_id: str) -> str:
        return f"arn:{self.partition}:kms:{self.region}:{account_id}:key/{key_id}"

    def alias_arn(self, account_id: str, alias: str) -> str:
        return f"arn:{self.partition}:kms:{self.region}:{account_id}:{alias}"


def key_state(row: RowMapping | dict[str, Any], now: dt.datetime) -> str | None:
    """The key's state at ``now``; None once its deletion date has passed (the key is gone)."""
    if row["deletion_date"] is not None:
        return PENDING_DELETION if row["deletion_date"] > now else None
    return ENABLED if row["enabled"] else DISABLED


def split_reference(ref: str) -> tuple[str, str, str]:
    """``(kind, account, name)`` of a key reference: kind ``key`` or ``alias``; account "" when not an ARN."""
    if ref.startswith("arn:"):
        parts = ref.split(":", 5)
        if len(parts) == 6 and parts[2] == "kms":
            if parts[5].startswith("key/"):
                return "key", parts[4], parts[5][4:]
            if parts[5].startswith("alias/"):
                return "alias", parts[4], parts[5]
        return "invalid", "", ref
    if ref.startswith("alias/"):
        return "alias", "", ref
    return "key", "", ref


def find_key(conn: Connection, account_id: str, ref: str, now: dt.datetime) -> RowMapping | None:
    """The live key ``ref`` names for a caller of ``account_id`` (another account's only by ARN)."""
    kind, account, name = split_reference(ref)
    account = account or account_id
    if kind == "alias":
        row = conn.execute(select(state.keys).join(state.aliases, state.aliases.c.key_id == state.keys.c.key_id)
                           .where(state.aliases.c.account_id == account, state.aliases.c.name == name)
                           ).mappings().first()
    elif kind == "key":
        row = conn.execute(select(state.keys).where(state.keys.c.key_id == name,
                                                    state.keys.c.account_id == account)).mappings().first()
    else:
        row = None
    return row if row is not None and key_state(row, now) is not None else None


def not_found(region: Region, account_id: str, ref: str) -> NotFoundException:
    """AWS's NotFoundException for a reference that names no live key."""
    kind, account, name = split_reference(ref)
    if kind == "invalid":
        return NotFoundException(f"Invalid arn {ref}")
    if kind == "alias":
        return NotFoundException(f"Alias {region.alias_arn(account or account_id, name)} is not found.")
    try:
        uuid.UUID(name)
    except ValueError:
        if not name.startswith("mrk-"):
            return NotFoundException(f"Invalid keyId {ref}")
    return NotFoundException(f"Key '{region.key_arn(account or account_id, name)}' does not exist")


def key_gone(where: Region, account_id: str, key_id: str, row: RowMapping | None) -> NotFoundException:
    """AWS's NotFoundException for a ciphertext whose key was deleted (its row purged, or past its date)."""
    arn = row["arn"] if row is not None else where.key_arn(account_id, key_id)
    return NotFoundException(f"Key '{arn}' does not exist")


def managed_service(ref: str) -> str | None:
    """The service of an AWS managed key alias (``alias/aws/s3`` -> ``s3``), if it is one AWS predefines."""
    kind, _, name = split_reference(ref)
    service = name.removeprefix("alias/aws/") if kind == "alias" and name.startswith("alias/aws/") else None
    return service if service in MANAGED_KEY_SERVICES else None


def resolve(cloud: Cloud, account_id: str, region: str, ref: str, *, create_managed: bool = True) -> RowMapping:
    """The live key ``ref`` names, making the AWS managed key of ``alias/aws/<service>`` on first use.

    ``create_managed=False`` is for calls that change things: their refusal must leave no key behind.
    """
    now = utcnow()
    with cloud.db.read() as conn:
        row = find_key(conn, account_id, ref, now)
    if row is not None:
        return row
    where = Region.of(cloud, region)
    service = managed_service(ref)
    kind, account, _ = split_reference(ref)
    if service is None or account not in ("", account_id) or not create_managed:
        raise not_found(where, account_id, ref)
    with cloud.db.begin() as conn:
        row = find_key(conn, account_id, ref, now)
        if row is None:
            key_id = create_key(cloud, conn, account_id, where, manager="AWS",
                                description=f"Default key that protects my {MANAGED_KEY_PROTECTS[service]} "
                                            f"when no other key is defined",
                                policy=policies.managed_key_policy(where.partition, region, account_id, service))
            add_alias(conn, account_id, region, f"alias/aws/{service}", key_id, now)
            row = find_key(conn, account_id, ref, now)
    assert row is not None
    return row


def usable(region: Region, row: RowMapping, now: dt.datetime) -> None:
    """Raise AWS's error when the key cannot be used for cryptography now (disabled, pending deletion)."""
    current = key_state(row, now)
    if current == DISABLED:
        raise DisabledException(f"{row['arn']} is disabled.")
    if current == PENDING_DELETION:
        raise KMSInvalidStateException(f"{row['arn']} is pending deletion.")


def create_key(cloud: Cloud, conn: Connection, account_id: str, where: Region, *, manager: str, description: str,
               policy: str | None = None, key_spec: str = SYMMETRIC, key_usage: str = "ENCRYPT_DECRYPT",
               tags: dict[str, str] | None = None) -> str:
    """Insert a new key with its first material version; returns its id."""
    key_id = str(uuid.uuid4())
    now = utcnow()
    conn.execute(insert(state.keys).values(
        key_id=key_id, account_id=account_id, region=where.region, arn=where.key_arn(account_id, key_id),
        description=description, manager=manager, key_spec=key_spec, key_usage=key_usage, origin="AWS_KMS",
        enabled=True, created_at=now,
        policy=policy or policies.default_key_policy(where.partition, account_id), tags=tags or {},
        rotation_enabled=manager == "AWS", rotation_period_days=365 if manager == "AWS" else None,
        next_rotation_at=now + dt.timedelta(days=365) if manager == "AWS" else None))
    add_material(cloud, conn, key_id, key_spec, None, now)
    return key_id


def add_material(cloud: Cloud, conn: Connection, key_id: str, key_spec: str, rotation_type: str | None,
                 now: dt.datetime) -> int:
    """A new version of the key's material (its first, or a rotation); returns the version."""
    newest = conn.execute(select(func.max(state.materials.c.version))
                          .where(state.materials.c.key_id == key_id)).scalar()
    version = (newest or 0) + 1
    wrapped = master.wrap(master.master_key(cloud), key_id, version, key_specs.new_material(key_spec))
    conn.execute(insert(state.materials).values(key_id=key_id, version=version, wrapped=wrapped, created_at=now,
                                                rotation_type=rotation_type))
    return version


def material(cloud: Cloud, conn: Connection, key_id: str, version: int | None = None) -> tuple[int, bytes]:
    """``(version, plaintext material)``: the newest version, or the one asked for (None if absent)."""
    query = select(state.materials).where(state.materials.c.key_id == key_id)
    if version is None:
        query = query.order_by(state.materials.c.version.desc()).limit(1)
    else:
        query = query.where(state.materials.c.version == version)
    row = conn.execute(query).mappings().first()
    if row is None:
        raise LookupError(f"key {key_id} has no material version {version}")
    return row["version"], master.unwrap(master.master_key(cloud), key_id, row["version"], row["wrapped"])


def rotate_if_due(cloud: Cloud, row: RowMapping, now: dt.datetime) -> None:
    """Automatic rotation, computed from time: a key whose rotation date has passed gets new material now."""
    if not row["rotation_enabled"] or row["next_rotation_at"] is None or row["next_rotation_at"] > now:
        return
    with cloud.db.begin() as conn:
        current = conn.execute(select(state.keys.c.next_rotation_at).where(state.keys.c.key_id == row["key_id"])
                               ).scalar()
        if current is None or current > now:  # another request rotated it first
            return
        add_material(cloud, conn, row["key_id"], row["key_spec"], "AUTOMATIC", now)
        conn.execute(state.keys.update().where(state.keys.c.key_id == row["key_id"]).values(
            next_rotation_at=now + dt.timedelta(days=row["rotation_period_days"] or 365)))


def ciphertext_version(data: bytes) -> int:
    """The material version a blob this module's keys just made was sealed with."""
    return blob.parse(data).material_version


def add_alias(conn: Connection, account_id: str, region: str, name: str, key_id: str, now: dt.datetime) -> None:
    conn.execute(insert(state.aliases).values(account_id=account_id, region=region, name=name, key_id=key_id,
                                              created_at=now, updated_at=now))


def purge_deleted(conn: Connection, now: dt.datetime) -> None:
    """Remove keys whose deletion date has passed, with their material, aliases and grants (cascade)."""
    conn.execute(delete(state.keys).where(state.keys.c.deletion_date.is_not(None),
                                          state.keys.c.deletion_date <= now))
