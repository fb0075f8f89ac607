"""EBS snapshots: CreateSnapshot(s), DescribeSnapshots, DeleteSnapshot, CopySnapshot and createVolumePermission.

CreateSnapshot records a ``pending`` snapshot on the volume's host; that host's agent takes a
crash-consistent copy of the volume (live when it is attached), uploads it (``PUT
.../snapshots/<snap-id>``, :mod:`controller.hosts.volume_reports`) into the snapshot blob store and
reports it ``completed``. A snapshot of an encrypted volume is encrypted with the same data key. An AMI's
root snapshot is listed too (:mod:`snapshot_records`). Sharing follows AWS: the owner adds account ids
or the group ``all`` to createVolumePermission; those accounts see the snapshot in DescribeSnapshots
and can create volumes from it. Encrypted snapshots cannot be made public.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, delete, func, insert, select

from controller.api import Params, RequestContext
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    IncorrectState,
    InvalidParameterCombination,
    InvalidParameterValue,
    UnsupportedOperation,
    invalid_value,
    require,
)
from controller.ec2.ids import INSTANCE, SNAPSHOT, VOLUME
from controller.ec2.operation import vpc_operation
from controller.ec2.tags import (
    drop_tags,
    owned_by_account,
    register_taggable,
    set_tags,
    tag_new_resource,
    tags_of,
)
from controller.ec2.volumes import encryption, records, snapshot_records, snapshot_store
from controller.ec2.volumes.snapshot_records import image_snapshot_output, snapshot_output
from controller.ec2.volumes.state import snapshot_permissions, snapshots
from controller.ec2.volumes.volumes import capped
from controller.ec2.vpc.state import write
from controller.errors import ServiceError, error
from controller.state import utcnow

register_taggable(SNAPSHOT, owned_by_account(snapshots, "snapshot_id"))

InvalidSnapshotInUse = error("InvalidSnapshot.InUse")
ConcurrentSnapshotLimitExceeded = error("ConcurrentSnapshotLimitExceeded")
OperationNotPermitted = error("OperationNotPermitted")
#: Snapshots of one volume that may be pending at once.
MAX_PENDING_PER_VOLUME = 5

#: API_DescribeSnapshots.html
SNAPSHOT_FILTERS: dict[str, Any] = {
    "description": "Description", "encrypted": "Encrypted", "owner-alias": "OwnerAlias", "owner-id": "OwnerId",
    "progress": "Progress", "snapshot-id": "SnapshotId", "start-time": "StartTime", "status": "State",
    "storage-tier": "StorageTier", "transfer-type": "TransferType", "volume-id": "VolumeId",
    "volume-size": "VolumeSize"}


def snapshot_arn(ctx: RequestContext, snapshot_id: str) -> str:
    """A snapshot's ARN: AWS writes no account in it (``arn:aws:ec2:region::snapshot/snap-...``)."""
    return f"arn:{ctx.cloud.config.partition}:ec2:{ctx.region}::snapshot/{snapshot_id}"


def _arns(member: str | None = None) -> Any:
    """IAM resources: the snapshot a member names (``snapshot/*`` for a new one), and the volume or instance
    a new snapshot is taken of."""

    def mapper(ctx: RequestContext, params: Params) -> list[str]:
        found = [snapshot_arn(ctx, str(params.get(member) or "*") if member else "*")]
        if params.get("VolumeId"):
            found.append(VOLUME.arn(ctx, params["VolumeId"]))
        if (params.get("InstanceSpecification") or {}).get("InstanceId"):
            found.append(INSTANCE.arn(ctx, params["InstanceSpecification"]["InstanceId"]))
        return found

    return mapper


def _record(conn: Connection, ctx: RequestContext, volume: RowMapping, description: str) -> str:
    if volume["state"] not in (records.AVAILABLE,):
        raise IncorrectState(f"The volume '{volume['volume_id']}' is not in a state from which it can be "
                             f"snapshotted ({volume['state']}).")
    pending = conn.execute(select(func.count()).select_from(snapshots).where(
        snapshots.c.volume_id == volume["volume_id"], snapshots.c.state == "pending")).scalar_one()
    if pending >= MAX_PENDING_PER_VOLUME:
        raise ConcurrentSnapshotLimitExceeded(f"Maximum number of in-progress snapshots ({MAX_PENDING_PER_VOLUME}) "
                                              f"reached for volume {volume['volume_id']}.")
    snapshot_id = SNAPSHOT.new_id()
    conn.execute(insert(snapshots).values(
        snapshot_id=snapshot_id, account_id=ctx.account_id, volume_id=volume["volume_id"],
        volume_size_gib=volume["size_gib"], description=description, state="pending",
        encrypted=volume["encrypted"], kms_key_arn=volume["kms_key_arn"], data_key=volume["data_key"],
        key_context=volume["key_context"] or (volume["volume_id"] if volume["encrypted"] else None),
        host_id=volume["host_id"], start_time=utcnow()))
    return snapshot_id


def _description(params: Params) -> str:
    description = params.get("Description") or ""
    if len(description) > 255:
        raise invalid_value(description, "description", "It must be at most 255 characters.")
    return description


@vpc_operation("CreateSnapshot", resources=_arns())
def create_snapshot(ctx: RequestContext, params: Params) -> Params:
    require(params, "VolumeId")
    description = _description(params)
    with write(ctx.cloud.db) as conn:
        volume = records.fetch(conn, ctx.account_id, params["VolumeId"])
        snapshot_id = _record(conn, ctx, volume, description)
        tag_new_resource(conn, ctx.account_id, SNAPSHOT, snapshot_id, params.get("TagSpecifications"))
        output = _outputs(conn, ctx.account_id, [snapshot_id])[0]
    ctx.audit_resources.append(snapshot_arn(ctx, snapshot_id))
    return {k: v for k, v in output.items() if v != []}


@vpc_operation("CreateSnapshots", resources=_arns())
def create_snapshots(ctx: RequestContext, params: Params) -> Params:
    """One snapshot of each EBS volume attached to the instance (root and data volumes unless excluded)."""
    spec = params.get("InstanceSpecification") or {}
    require(spec, "InstanceId")
    description = _description(params)
    copy_tags = params.get("CopyTagsFromSource")
    if copy_tags not in (None, "volume"):
        raise invalid_value(copy_tags, "CopyTagsFromSource")
    excluded = set(spec.get("ExcludeDataVolumeIds") or [])
    with write(ctx.cloud.db) as conn:
        if not records.instance_exists(conn, ctx.account_id, spec["InstanceId"]):
            raise INSTANCE.missing([spec["InstanceId"]])
        made = []
        for attachment in records.instance_attachments(conn, spec["InstanceId"]):
            if (attachment["is_root"] and spec.get("ExcludeBootVolume")) or attachment["volume_id"] in excluded:
                continue
            volume = records.fetch(conn, ctx.account_id, attachment["volume_id"])
            snapshot_id = _record(conn, ctx, volume, description)
            if copy_tags:
                set_tags(conn, ctx.account_id, SNAPSHOT, snapshot_id,
                         tags_of(conn, ctx.account_id, [volume["volume_id"]])[volume["volume_id"]])
            tag_new_resource(conn, ctx.account_id, SNAPSHOT, snapshot_id, params.get("TagSpecifications"))
            made.append(snapshot_id)
        outputs = _outputs(conn, ctx.account_id, made)
    members = ("Description", "Tags", "Encrypted", "VolumeId", "State", "VolumeSize", "StartTime", "Progress",
               "OwnerId", "SnapshotId")
    return {"Snapshots": [{k: o[k] for k in members if k in o} for o in outputs]}


def _outputs(conn: Connection, account: str, snapshot_ids: list[str]) -> list[Params]:
    rows = {r["snapshot_id"]: r for r in conn.execute(select(snapshots).where(
        snapshots.c.snapshot_id.in_(snapshot_ids))).mappings()}
    tags = tags_of(conn, account, snapshot_ids)
    return [snapshot_output(rows[s], tags[s]) for s in snapshot_ids]


def visible_snapshots(conn: Connection, account: str) -> list[Params]:
    """Every snapshot ``account`` may restore, its own AMIs' and public ones included."""
    rows = conn.execute(select(snapshots).where(snapshot_records.visible_condition(account))).mappings().all()
    tags = tags_of(conn, account, [r["snapshot_id"] for r in rows])
    items = [snapshot_output(r, tags[r["snapshot_id"]]) for r in rows]
    items += [image_snapshot_output(i) for i in snapshot_records.image_snapshots(conn, account)]
    return items


def _restorable_by(conn: Connection, users: list[str]) -> set[str]:
    granted = conn.execute(select(snapshot_permissions.c.snapshot_id).where(
        snapshot_permissions.c.grantee.in_([*users, "all"]))).all()
    owned = conn.execute(select(snapshots.c.snapshot_id).where(snapshots.c.account_id.in_(users))).all()
    return {r[0] for r in (*granted, *owned)}


@vpc_operation("DescribeSnapshots")
def describe_snapshots(ctx: RequestContext, params: Params) -> Params:
    if params.get("SnapshotIds") and params.get("MaxResults") is not None:
        raise InvalidParameterCombination("The parameter snapshotSet cannot be used with the parameter maxResults")
    for snapshot_id in params.get("SnapshotIds") or []:
        if not SNAPSHOT.well_formed(snapshot_id):
            raise SNAPSHOT.malformed(snapshot_id)
    with ctx.cloud.db.read() as conn:
        items = visible_snapshots(conn, ctx.account_id)
        owners = params.get("OwnerIds")
        if owners:
            wanted = {ctx.account_id if o == "self" else o for o in owners}
            items = [i for i in items if i["OwnerId"] in wanted or i.get("OwnerAlias") in wanted]
        users = params.get("RestorableByUserIds")
        if users:
            users = [ctx.account_id if u == "self" else u for u in users]
            allowed = _restorable_by(conn, users)
            images = {i["SnapshotId"] for i in items if i["VolumeId"] == snapshot_records.NO_VOLUME
                      and (i["OwnerId"] in users or i.get("OwnerAlias") == "amazon")}
            items = [i for i in items if i["SnapshotId"] in allowed | images]
    listed, token = describe(items, capped(params, 1000), key="SnapshotId", fields=SNAPSHOT_FILTERS,
                             ids_param="SnapshotIds", kind=SNAPSHOT, page_limits=(5, 1000))
    return listing("Snapshots", listed, token)


def _own_snapshot(conn: Connection, account: str, snapshot_id: str | None) -> RowMapping:
    row = None
    if snapshot_id and SNAPSHOT.well_formed(snapshot_id):
        row = conn.execute(select(snapshots).where(snapshots.c.snapshot_id == snapshot_id,
                                                   snapshots.c.account_id == account)).mappings().first()
    if row is None:
        raise SNAPSHOT.missing([snapshot_id or ""])
    return row


@vpc_operation("DeleteSnapshot", resources=_arns("SnapshotId"))
def delete_snapshot(ctx: RequestContext, params: Params) -> Params:
    require(params, "SnapshotId")
    snapshot_id = params["SnapshotId"]
    with write(ctx.cloud.db) as conn:
        image_id = snapshot_records.image_using(conn, snapshot_id)
        if image_id is not None:
            raise InvalidSnapshotInUse(f"The snapshot {snapshot_id} is currently in use by {image_id}")
        row = _own_snapshot(conn, ctx.account_id, snapshot_id)
        restoring = records.restoring_from(conn, snapshot_id)
        if restoring:  # its data is still being copied into that volume (EBS would load it lazily)
            raise InvalidSnapshotInUse(f"The snapshot {snapshot_id} is currently in use by {restoring[0]}")
        conn.execute(delete(snapshot_permissions).where(snapshot_permissions.c.snapshot_id == snapshot_id))
        conn.execute(delete(snapshots).where(snapshots.c.snapshot_id == snapshot_id))
        drop_tags(conn, [snapshot_id])
    if row["blob_id"]:
        snapshot_store.discard(ctx.cloud, [row["blob_id"]])
    return {}


@vpc_operation("CopySnapshot", resources=_arns("SourceSnapshotId"))
def copy_snapshot(ctx: RequestContext, params: Params) -> Params:
    """A copy in this region: it shares the source's stored data (a clone in the blob store) and is
    ``completed`` at once. Encryption is kept from the source; changing it needs the data re-encrypted,
    which Cloudlet does not do (UnsupportedOperation)."""
    require(params, "SourceRegion", "SourceSnapshotId")
    if params["SourceRegion"] != ctx.region:
        raise InvalidParameterValue(f"Value ({params['SourceRegion']}) for parameter sourceRegion is invalid. "
                                    f"This cloud has one region, {ctx.region}.")
    description = _description(params) or f"[Copied {params['SourceSnapshotId']} from {ctx.region}]"
    with ctx.cloud.db.read() as conn:
        source = snapshot_records.restorable(conn, ctx.account_id, params["SourceSnapshotId"])
        key_ref = encryption.wanted_encryption(conn, ctx.account_id, params.get("Encrypted"), params.get("KmsKeyId"),
                                               source.kms_key_arn)
        row = conn.execute(select(snapshots).where(snapshots.c.snapshot_id == source.snapshot_id)).mappings().first()
    if source.state != "completed":
        raise IncorrectState(f"Snapshot is in invalid state - {source.state}")
    if key_ref is not None and (source.kms_key_arn is None or encryption.key_arn(ctx, key_ref) != source.kms_key_arn):
        raise UnsupportedOperation("Cloudlet copies a snapshot with the encryption it has: re-encrypting its data "
                                   "under another KMS key is not supported.")
    blob_id, size = _copy_data(ctx, source, row)
    snapshot_id = SNAPSHOT.new_id()
    now = utcnow()
    try:
        with write(ctx.cloud.db) as conn:
            conn.execute(insert(snapshots).values(
                snapshot_id=snapshot_id, account_id=ctx.account_id, volume_id=snapshot_records.NO_VOLUME,
                volume_size_gib=source.size_gib, description=description, state="completed",
                encrypted=source.kms_key_arn is not None, kms_key_arn=source.kms_key_arn, data_key=source.data_key,
                key_context=source.key_context, blob_id=blob_id, data_size=size,
                source_snapshot_id=source.snapshot_id, start_time=now, completion_time=now))
            tags = tag_new_resource(conn, ctx.account_id, SNAPSHOT, snapshot_id, params.get("TagSpecifications"))
    except ServiceError:
        snapshot_store.discard(ctx.cloud, [blob_id])
        raise
    ctx.audit_resources.append(snapshot_arn(ctx, snapshot_id))
    return {"SnapshotId": snapshot_id, "Tags": tags} if tags else {"SnapshotId": snapshot_id}


def _copy_data(ctx: RequestContext, source: snapshot_records.Restorable, row: RowMapping | None) -> tuple[str, int]:
    if row is not None:
        if not row["blob_id"]:
            raise IncorrectState(f"Snapshot {source.snapshot_id} has no data stored.")
        return snapshot_store.clone(ctx.cloud, row["blob_id"]), row["data_size"]
    assert source.image_id is not None
    with ctx.cloud.db.read() as conn:
        path = snapshot_records.image_root_disk(conn, ctx.cloud.config, source.image_id)
    with path.open("rb") as handle:
        return snapshot_store.put(ctx.cloud, handle)


# --- createVolumePermission --------------------------------------------------------------------------------------


def _attribute(params: Params) -> str:
    attribute = params.get("Attribute")
    if attribute not in ("createVolumePermission", "productCodes"):
        raise invalid_value(attribute, "attribute")
    return attribute


@vpc_operation("DescribeSnapshotAttribute", resources=_arns("SnapshotId"))
def describe_snapshot_attribute(ctx: RequestContext, params: Params) -> Params:
    require(params, "SnapshotId", "Attribute")
    attribute = _attribute(params)
    with ctx.cloud.db.read() as conn:
        row = _own_snapshot(conn, ctx.account_id, params["SnapshotId"])
        grantees = sorted(r[0] for r in conn.execute(select(snapshot_permissions.c.grantee).where(
            snapshot_permissions.c.snapshot_id == row["snapshot_id"])))
    if attribute == "productCodes":
        return {"SnapshotId": row["snapshot_id"], "ProductCodes": []}
    return {"SnapshotId": row["snapshot_id"], "CreateVolumePermissions": [
        {"Group": "all"} if g == "all" else {"UserId": g} for g in grantees]}


def _permission_changes(params: Params) -> tuple[list[str], list[str]]:
    """(grantees to add, grantees to remove) from CreateVolumePermission or OperationType + UserIds/GroupNames."""
    structured = params.get("CreateVolumePermission")
    if structured:
        def grantees(items: list[Params]) -> list[str]:
            return [i["Group"] if i.get("Group") else i.get("UserId") or "" for i in items]
        return grantees(structured.get("Add") or []), grantees(structured.get("Remove") or [])
    operation = params.get("OperationType")
    if operation not in ("add", "remove"):
        raise ServiceError("The request must contain the parameter operationType (add or remove) or "
                           "createVolumePermission", code="MissingParameter")
    named = [*(params.get("UserIds") or []), *(params.get("GroupNames") or [])]
    return (named, []) if operation == "add" else ([], named)


@vpc_operation("ModifySnapshotAttribute", resources=_arns("SnapshotId"))
def modify_snapshot_attribute(ctx: RequestContext, params: Params) -> Params:
    require(params, "SnapshotId")
    if params.get("Attribute") not in (None, "createVolumePermission"):
        raise invalid_value(params["Attribute"], "attribute", "Only createVolumePermission can be modified.")
    add, remove = _permission_changes(params)
    for grantee in (*add, *remove):
        if grantee != "all" and not (len(grantee) == 12 and grantee.isdigit()):
            raise invalid_value(grantee, "userId" if not grantee.isalpha() else "group")
    with write(ctx.cloud.db) as conn:
        row = _own_snapshot(conn, ctx.account_id, params["SnapshotId"])
        if "all" in add and row["encrypted"]:
            raise OperationNotPermitted("Encrypted snapshots cannot be made public.")
        snapshot_id = row["snapshot_id"]
        if remove:
            conn.execute(delete(snapshot_permissions).where(snapshot_permissions.c.snapshot_id == snapshot_id,
                                                            snapshot_permissions.c.grantee.in_(remove)))
        present = {r[0] for r in conn.execute(select(snapshot_permissions.c.grantee).where(
            snapshot_permissions.c.snapshot_id == snapshot_id))}
        for grantee in dict.fromkeys(add):
            if grantee not in present and grantee != ctx.account_id:
                conn.execute(insert(snapshot_permissions).values(snapshot_id=snapshot_id, grantee=grantee))
    return {}


@vpc_operation("ResetSnapshotAttribute", resources=_arns("SnapshotId"))
def reset_snapshot_attribute(ctx: RequestContext, params: Params) -> Params:
    require(params, "SnapshotId", "Attribute")
    if params["Attribute"] != "createVolumePermission":
        raise invalid_value(params["Attribute"], "attribute", "Only createVolumePermission can be reset.")
    with write(ctx.cloud.db) as conn:
        row = _own_snapshot(conn, ctx.account_id, params["SnapshotId"])
        conn.execute(delete(snapshot_permissions).where(snapshot_permissions.c.snapshot_id == row["snapshot_id"]))
    return {}

