"""Key rotation: EnableKeyRotation, DisableKeyRotation, GetKeyRotationStatus, RotateKeyOnDemand,
ListKeyRotations.

Rotation adds a version of the key's material; new ciphertexts use the newest, and every blob names
the version it was sealed with, so old ciphertexts stay readable (AWS KMS Developer Guide, "Rotate
AWS KMS keys"). Automatic rotation happens when the key is next used after its rotation date
(``records.rotate_if_due``): a date computed from time, no scheduler.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import func, select, update

from controller.api import Params, RequestContext
from controller.kms import records, state, views
from controller.kms.access import on_key, resolve_key
from controller.kms.errors import LimitExceededException, UnsupportedOperationException
from controller.kms.service import api
from controller.state import utcnow

DEFAULT_PERIOD_DAYS = 365
#: "You can perform on-demand key rotation a maximum of 10 times per KMS key" (RotateKeyOnDemand).
ON_DEMAND_LIMIT = 10


def _rotatable(ctx: RequestContext, ref: str) -> Any:
    """A key rotation applies to: an enabled symmetric encryption key the customer manages."""
    row = resolve_key(ctx, ref)
    records.usable(records.Region.of(ctx.cloud, ctx.region), row, utcnow())
    if row["key_spec"] != records.SYMMETRIC:
        raise UnsupportedOperationException(f"{row['arn']} key spec {row['key_spec']} does not support "
                                            f"key rotation.")
    return row


def _set_rotation(key_id: str, ctx: RequestContext, **values: Any) -> None:
    with ctx.cloud.db.begin() as conn:
        conn.execute(update(state.keys).where(state.keys.c.key_id == key_id).values(**values))


@api.operation("EnableKeyRotation", resources=on_key())
def enable_key_rotation(ctx: RequestContext, params: Params) -> Params:
    row = _rotatable(ctx, params["KeyId"])
    days = params.get("RotationPeriodInDays", DEFAULT_PERIOD_DAYS)
    _set_rotation(row["key_id"], ctx, rotation_enabled=True, rotation_period_days=days,
                  next_rotation_at=utcnow() + dt.timedelta(days=days))
    return {}


@api.operation("DisableKeyRotation", resources=on_key())
def disable_key_rotation(ctx: RequestContext, params: Params) -> Params:
    row = _rotatable(ctx, params["KeyId"])
    _set_rotation(row["key_id"], ctx, rotation_enabled=False, next_rotation_at=None)
    return {}


@api.operation("GetKeyRotationStatus", resources=on_key(cross_account=True))
def get_key_rotation_status(ctx: RequestContext, params: Params) -> Params:
    row = resolve_key(ctx, params["KeyId"])
    output: dict[str, Any] = {"KeyRotationEnabled": bool(row["rotation_enabled"]), "KeyId": row["arn"]}
    if row["rotation_enabled"]:
        output["RotationPeriodInDays"] = row["rotation_period_days"]
        output["NextRotationDate"] = row["next_rotation_at"]
    return output


@api.operation("RotateKeyOnDemand", resources=on_key())
def rotate_key_on_demand(ctx: RequestContext, params: Params) -> Params:
    row = _rotatable(ctx, params["KeyId"])
    with ctx.cloud.db.begin() as conn:
        done = conn.execute(select(func.count()).where(state.materials.c.key_id == row["key_id"],
                                                       state.materials.c.rotation_type == "ON_DEMAND")).scalar()
        if done >= ON_DEMAND_LIMIT:
            raise LimitExceededException(f"{row['arn']} has reached the limit of {ON_DEMAND_LIMIT} on-demand "
                                         f"rotations.")
        records.add_material(ctx.cloud, conn, row["key_id"], row["key_spec"], "ON_DEMAND", utcnow())
    return {"KeyId": row["arn"]}


@api.operation("ListKeyRotations", resources=on_key())
def list_key_rotations(ctx: RequestContext, params: Params) -> Params:
    row = resolve_key(ctx, params["KeyId"])
    with ctx.cloud.db.read() as conn:
        versions = conn.execute(select(state.materials).where(state.materials.c.key_id == row["key_id"])
                                .order_by(state.materials.c.version)).mappings().all()
    newest = versions[-1]["version"]
    if params.get("IncludeKeyMaterial", "ROTATIONS_ONLY") == "ROTATIONS_ONLY":
        versions = [version for version in versions if version["rotation_type"] is not None]
    chunk, paging = views.page(versions, params.get("Marker"), params.get("Limit"), 100,
                               lambda version: f"{version['version']:010d}")
    entries = []
    for version in chunk:
        entry: dict[str, Any] = {"KeyId": row["arn"], "KeyMaterialId": views.material_id(row["key_id"],
                                                                                         version["version"]),
                                 "KeyMaterialState": "CURRENT" if version["version"] == newest else "NON_CURRENT"}
        if version["rotation_type"] is not None:
            entry.update(RotationDate=version["created_at"], RotationType=version["rotation_type"])
        entries.append(entry)
    return {"Rotations": entries, **paging}
