"""ModifyVolume and DescribeVolumesModifications: Elastic Volumes.

A modification grows the size (never shrinks it) and changes the type, IOPS, throughput or Multi-Attach
within the target type's rules (:func:`rules.check_modification`). The volume takes its new settings at
once (the host's document carries the new size and I/O caps: the agent grows the file, live with
``blockResize`` when attached, and applies the new iotune); the modification is ``modifying`` until the
host reports the new size, then ``optimizing`` for :data:`OPTIMIZING` and ``completed`` (states that change
with time alone are computed when read). As AWS documents on ModifyVolume's page, a volume takes a new
modification only once the previous one completed, and at most four in a rolling 24 hours.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Connection, RowMapping, select, update

from controller.api import Params, RequestContext
from controller.ec2.describe import describe, listing
from controller.ec2.errors import IncorrectState, require
from controller.ec2.ids import VOLUME
from controller.ec2.operation import arns, vpc_operation
from controller.ec2.volumes import records, rules
from controller.ec2.volumes.state import modifications, volumes
from controller.ec2.volumes.volumes import capped
from controller.ec2.vpc.state import write
from controller.errors import error
from controller.state import upsert, utcnow

IncorrectModificationState = error("IncorrectModificationState")
VolumeModificationRateExceeded = error("VolumeModificationRateExceeded")
InvalidVolumeModificationNotFound = error("InvalidVolumeModification.NotFound")
OPTIMIZING = dt.timedelta(seconds=5)
WINDOW, PER_WINDOW = dt.timedelta(hours=24), 4

#: API_DescribeVolumesModifications.html
MODIFICATION_FILTERS: dict[str, Any] = {
    "modification-state": "ModificationState", "original-iops": "OriginalIops", "original-size": "OriginalSize",
    "original-volume-type": "OriginalVolumeType", "originalMultiAttachEnabled": "OriginalMultiAttachEnabled",
    "start-time": "StartTime", "target-iops": "TargetIops", "target-size": "TargetSize",
    "target-volume-type": "TargetVolumeType", "targetMultiAttachEnabled": "TargetMultiAttachEnabled",
    "volume-id": "VolumeId"}


def modification_state(reached_at: dt.datetime | None, now: dt.datetime) -> tuple[str, int]:
    """(ModificationState, Progress) of a modification whose target the host reached at ``reached_at``."""
    if reached_at is None:
        return "modifying", 0
    if now - reached_at < OPTIMIZING:
        return "optimizing", 50 + int(50 * (now - reached_at) / OPTIMIZING)
    return "completed", 100


def output(row: RowMapping, now: dt.datetime) -> Params:
    state, progress = modification_state(row["reached_at"], now)
    item: Params = {
        "VolumeId": row["volume_id"], "ModificationState": state, "Progress": progress,
        "StartTime": row["start_time"], "OriginalSize": row["original_size"],
        "OriginalVolumeType": row["original_type"], "OriginalMultiAttachEnabled": row["original_multi_attach"],
        "TargetSize": row["target_size"], "TargetVolumeType": row["target_type"],
        "TargetMultiAttachEnabled": row["target_multi_attach"]}
    for side in ("original", "target"):
        iops = rules.shown_iops(row[f"{side}_type"], row[f"{side}_size"], row[f"{side}_iops"])
        if iops is not None:
            item[f"{side.title()}Iops"] = iops
        if row[f"{side}_throughput"] is not None:
            item[f"{side.title()}Throughput"] = row[f"{side}_throughput"]
    if state == "completed":
        item["EndTime"] = row["reached_at"] + OPTIMIZING
    return item


def _check_rate(conn: Connection, volume_id: str, now: dt.datetime) -> list[str]:
    """The recent start times with this one, or AWS's refusal while one is running or four ran in 24 hours."""
    previous = conn.execute(select(modifications).where(modifications.c.volume_id == volume_id)).mappings().first()
    if previous is None:
        return [now.isoformat()]
    if modification_state(previous["reached_at"], now)[0] != "completed":
        raise IncorrectModificationState(f"Volume {volume_id} is already being modified: wait for the "
                                         "modification to reach the completed state.")
    recent = [t for t in previous["recent_starts"] if now - dt.datetime.fromisoformat(t) < WINDOW]
    if len(recent) >= PER_WINDOW:
        retry = dt.datetime.fromisoformat(min(recent)) + WINDOW
        raise VolumeModificationRateExceeded(
            f"You've reached the maximum modification rate per volume limit ({PER_WINDOW} in 24 hours). Wait "
            f"until {retry:%Y-%m-%dT%H:%M:%SZ} to modify volume {volume_id} again.")
    return [*recent, now.isoformat()]


@vpc_operation("ModifyVolume", resources=arns((VOLUME, "VolumeId")))
def modify_volume(ctx: RequestContext, params: Params) -> Params:
    require(params, "VolumeId")
    kind = rules.volume_type(params["VolumeType"]) if params.get("VolumeType") else None
    now = utcnow()
    with write(ctx.cloud.db) as conn:
        row = records.fetch(conn, ctx.account_id, params["VolumeId"])
        if row["state"] not in (records.AVAILABLE,):
            raise IncorrectState(f"The volume '{row['volume_id']}' is not in the 'available' or 'in-use' state.")
        current = rules.VolumeSpec(row["volume_type"], row["size_gib"], row["iops"], row["throughput"],
                                   row["multi_attach"])
        target = rules.check_modification(current, params.get("Size"), kind, params.get("Iops"),
                                          params.get("Throughput"), params.get("MultiAttachEnabled"))
        recent = _check_rate(conn, row["volume_id"], now)
        values = {
            "account_id": ctx.account_id, "original_size": current.size_gib, "original_type": current.volume_type,
            "original_iops": current.iops, "original_throughput": current.throughput,
            "original_multi_attach": current.multi_attach, "target_size": target.size_gib,
            "target_type": target.volume_type, "target_iops": target.iops, "target_throughput": target.throughput,
            "target_multi_attach": target.multi_attach, "start_time": now,
            "reached_at": None if target.size_gib > current.size_gib else now, "recent_starts": recent}
        statement = upsert(modifications).values(volume_id=row["volume_id"], **values)
        conn.execute(statement.on_conflict_do_update(index_elements=[modifications.c.volume_id], set_=values))
        conn.execute(update(volumes).where(volumes.c.volume_id == row["volume_id"]).values(
            size_gib=target.size_gib, volume_type=target.volume_type, iops=target.iops,
            throughput=target.throughput, multi_attach=target.multi_attach))
        saved = conn.execute(select(modifications).where(modifications.c.volume_id == row["volume_id"])
                             ).mappings().one()
    return {"VolumeModification": output(saved, now)}


@vpc_operation("DescribeVolumesModifications")
def describe_volumes_modifications(ctx: RequestContext, params: Params) -> Params:
    now = utcnow()
    wanted = params.get("VolumeIds") or []
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(modifications).where(modifications.c.account_id == ctx.account_id)
                            ).mappings().all()
        for volume_id in wanted:
            records.fetch(conn, ctx.account_id, volume_id)  # an unknown volume is InvalidVolume.NotFound
    modified = {r["volume_id"] for r in rows}
    for volume_id in wanted:
        if volume_id not in modified:
            raise InvalidVolumeModificationNotFound(f"Modification for volume '{volume_id}' does not exist.")
    items = [output(r, now) for r in rows if not wanted or r["volume_id"] in wanted]
    listed, token = describe(items, capped(params, 500), key="VolumeId", fields=MODIFICATION_FILTERS,
                             page_limits=(5, 500), tags_key=None)
    return listing("VolumesModifications", listed, token)


def reached(conn: Connection, volume_id: str, size_bytes: int, now: dt.datetime) -> bool:
    """The host reports the volume's size: a modification waiting for it moves on; True if one did."""
    result = conn.execute(update(modifications).where(
        modifications.c.volume_id == volume_id, modifications.c.reached_at.is_(None),
        modifications.c.target_size * (1 << 30) <= size_bytes).values(reached_at=now))
    return result.rowcount > 0
