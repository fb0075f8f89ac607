"""CreateVolume, DeleteVolume, DescribeVolumes, DescribeVolumeStatus and the volume attributes.

A new volume is placed on a host of its zone (:func:`records.choose_host`) and stays ``creating`` until
that host's agent reports its file made (``controller.hosts.volume_reports``): blank, or restored from
the snapshot. DeleteVolume marks it ``deleting``; the host drops the file when its next document no
longer lists it, and the rows go once its report no longer has it. KMS is asked for an encrypted
volume's data key before the write transaction (its first use of ``alias/aws/ebs`` writes too).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from controller.api import Params, RequestContext
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    IncorrectState,
    InvalidParameterCombination,
    UnsupportedOperation,
    invalid_value,
    require,
)
from controller.ec2.ids import VOLUME
from controller.ec2.operation import arns, vpc_operation
from controller.ec2.tags import set_tags, tags_from_specifications
from controller.ec2.volumes import encryption, records, rules, snapshot_records
from controller.ec2.volumes.state import volumes
from controller.ec2.vpc.state import write
from controller.errors import ServiceError, error
from controller.state import utcnow

InvalidZoneNotFound = error("InvalidZone.NotFound")
VolumeInUse = error("VolumeInUse")
IdempotentParameterMismatch = error("IdempotentParameterMismatch")
InsufficientVolumeCapacity = error("InsufficientVolumeCapacity", 500, sender_fault=False)

#: API_DescribeVolumes.html
VOLUME_FILTERS: dict[str, Any] = {
    "attachment.attach-time": "Attachments[].AttachTime", "attachment.delete-on-termination":
        "Attachments[].DeleteOnTermination", "attachment.device": "Attachments[].Device",
    "attachment.instance-id": "Attachments[].InstanceId", "attachment.status": "Attachments[].State",
    "availability-zone": "AvailabilityZone", "create-time": "CreateTime", "encrypted": "Encrypted",
    "fast-restored": "FastRestored", "multi-attach-enabled": "MultiAttachEnabled", "size": "Size",
    "snapshot-id": "SnapshotId", "status": "State", "volume-id": "VolumeId", "volume-type": "VolumeType",
    "availability-zone-id": "AvailabilityZoneId", "operator.managed": "Operator.Managed",
    "operator.principal": "Operator.Principal"}
#: API_DescribeVolumeStatus.html
STATUS_FILTERS: dict[str, Any] = {
    "availability-zone": "AvailabilityZone", "volume-status.status": "VolumeStatus.Status",
    "volume-status.details-name": "VolumeStatus.Details[].Name",
    "volume-status.details-status": "VolumeStatus.Details[].Status",
    "action.code": "Actions[].Code", "action.description": "Actions[].Description",
    "action.event-id": "Actions[].EventId", "event.description": "Events[].Description",
    "event.event-id": "Events[].EventId", "event.event-type": "Events[].EventType",
    "event.not-after": "Events[].NotAfter", "event.not-before": "Events[].NotBefore",
    "attachment-status.instance-id": "AttachmentStatuses[].InstanceId",
    "attachment-status.io-performance": "AttachmentStatuses[].IoPerformance"}


def _volume_arns(ctx: RequestContext, params: Params) -> list[str]:
    found = [VOLUME.arn(ctx, "*")]
    if params.get("SnapshotId"):
        found.append(f"arn:{ctx.cloud.config.partition}:ec2:{ctx.region}::snapshot/{params['SnapshotId']}")
    return found


@vpc_operation("CreateVolume", resources=_volume_arns)
def create_volume(ctx: RequestContext, params: Params) -> Params:
    require(params, "AvailabilityZone")
    zone = params["AvailabilityZone"]
    kind = rules.volume_type(params.get("VolumeType"))
    token = params.get("ClientToken")
    with ctx.cloud.db.read() as conn:
        if token:
            again = conn.execute(select(volumes).where(volumes.c.account_id == ctx.account_id,
                                                       volumes.c.client_token == token)).mappings().first()
            if again is not None:
                if (again["availability_zone"], again["volume_type"]) != (zone, kind) or \
                        params.get("Size") not in (None, again["size_gib"]):
                    raise IdempotentParameterMismatch("The client token has already been used with a different "
                                                      "request.")
                return records.volume_outputs(conn, ctx.cloud.config, ctx.account_id, [again])[0]
        source = snapshot_records.restorable(conn, ctx.account_id, params["SnapshotId"]) \
            if params.get("SnapshotId") else None
        if source is not None and source.state != "completed":
            raise IncorrectState(f"Snapshot is in invalid state - {source.state}")
        spec = rules.check_spec(kind, params.get("Size"), params.get("Iops"), params.get("Throughput"),
                                multi_attach=bool(params.get("MultiAttachEnabled")),
                                snapshot_size=source.size_gib if source else None)
        if zone not in ctx.cloud.config.availability_zones:
            raise InvalidZoneNotFound(f"The zone '{zone}' does not exist.")
        key_ref = encryption.wanted_encryption(conn, ctx.account_id, params.get("Encrypted"), params.get("KmsKeyId"),
                                               source.kms_key_arn if source else None)
        tags = tags_from_specifications(params.get("TagSpecifications"), VOLUME)
        if records.choose_host(conn, zone, ctx.account_id) is None:
            raise InsufficientVolumeCapacity(f"There is currently insufficient capacity to serve the request in "
                                             f"{zone}: no host of that zone keeps volumes. Try a different "
                                             "availability zone.")
    volume_id = VOLUME.new_id()
    key = _volume_key(ctx, volume_id, key_ref, source)  # KMS is asked only once the request is known to be good
    with write(ctx.cloud.db) as conn:
        host_id = records.choose_host(conn, zone, ctx.account_id)
        records.insert_volume(conn, volume_id=volume_id, account=ctx.account_id, zone=zone, host_id=host_id,
                              spec=spec, state=records.CREATING, now=utcnow(),
                              snapshot_id=source.snapshot_id if source else None, encrypted=key is not None,
                              kms_key_arn=key[0] if key else None, data_key=key[1] if key else None,
                              key_context=key[2] if key else None, client_token=token)
        set_tags(conn, ctx.account_id, VOLUME, volume_id, tags)
        row = records.fetch(conn, ctx.account_id, volume_id)
        output = records.volume_outputs(conn, ctx.cloud.config, ctx.account_id, [row])[0]
    ctx.audit_resources.append(VOLUME.arn(ctx, volume_id))
    return output


def _volume_key(ctx: RequestContext, volume_id: str, key_ref: str | None,
                source: snapshot_records.Restorable | None) -> tuple[str, bytes, str] | None:
    """(key ARN, data key ciphertext, the volume id KMS bound it to) for an encrypted volume, else None.

    A volume restored from an encrypted snapshot keeps the snapshot's data key (its blocks are encrypted
    with it); asking for another key would need the data re-encrypted, which Cloudlet does not do.
    """
    if key_ref is None:
        return None
    if source is not None and source.kms_key_arn:
        if encryption.key_arn(ctx, key_ref) != source.kms_key_arn:
            raise UnsupportedOperation("Cloudlet cannot re-encrypt a snapshot's data under another KMS key: create "
                                       f"the volume under the snapshot's own key ({source.kms_key_arn}).")
        assert source.data_key is not None and source.key_context is not None
        return source.kms_key_arn, source.data_key, source.key_context
    made = encryption.new_data_key(ctx, key_ref, volume_id)
    return made.arn, made.ciphertext, volume_id


@vpc_operation("DeleteVolume", resources=arns((VOLUME, "VolumeId")))
def delete_volume(ctx: RequestContext, params: Params) -> Params:
    require(params, "VolumeId")
    with write(ctx.cloud.db) as conn:
        row = records.fetch(conn, ctx.account_id, params["VolumeId"])
        attached = records.attachments_of(conn, [row["volume_id"]])[row["volume_id"]]
        if attached:
            raise VolumeInUse(f"Volume {row['volume_id']} is currently attached to {attached[0]['instance_id']}")
        if row["state"] == records.DELETING:
            raise IncorrectState(f"The volume '{row['volume_id']}' is already being deleted.")
        conn.execute(update(volumes).where(volumes.c.volume_id == row["volume_id"]).values(state=records.DELETING))
    return {}


@vpc_operation("DescribeVolumes")
def describe_volumes(ctx: RequestContext, params: Params) -> Params:
    if params.get("VolumeIds") and params.get("MaxResults") is not None:
        raise InvalidParameterCombination("The parameter volumeSet cannot be used with the parameter maxResults")
    _check_ids(params.get("VolumeIds"))
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(volumes).where(volumes.c.account_id == ctx.account_id)).mappings().all()
        items = records.volume_outputs(conn, ctx.cloud.config, ctx.account_id, rows)
    listed, token = describe(items, capped(params, 500), key="VolumeId", fields=VOLUME_FILTERS,
                             ids_param="VolumeIds", kind=VOLUME, page_limits=(5, 500))
    return listing("Volumes", listed, token)


def capped(params: Params, most: int) -> Params:
    """The request with MaxResults above ``most`` lowered to it: EBS's Describe calls answer at most that many
    items then, rather than refusing (values under 5 are refused)."""
    if (params.get("MaxResults") or 0) > most:
        return {**params, "MaxResults": most}
    return params


def _check_ids(wanted: list[str] | None) -> None:
    for volume_id in wanted or []:
        if not VOLUME.well_formed(volume_id):
            raise VOLUME.malformed(volume_id)


def status_item(volume: Params) -> Params:
    """A DescribeVolumeStatus item: ``ok`` once the volume's data is there, ``impaired`` when it failed."""
    state = volume["State"]
    status = {"available": "ok", "in-use": "ok", "error": "impaired"}.get(state, "insufficient-data")
    io = {"ok": "passed", "impaired": "failed"}.get(status, "insufficient-data")
    return {"VolumeId": volume["VolumeId"], "AvailabilityZone": volume["AvailabilityZone"],
            "VolumeStatus": {"Status": status, "Details": [{"Name": "io-enabled", "Status": io},
                                                           {"Name": "io-performance", "Status": "not-applicable"}]},
            "AvailabilityZoneId": volume["AvailabilityZoneId"], "Actions": [], "Events": [],
            "AttachmentStatuses": [{"InstanceId": a["InstanceId"], "IoPerformance": "normal"}
                                   for a in volume["Attachments"]]}


@vpc_operation("DescribeVolumeStatus")
def describe_volume_status(ctx: RequestContext, params: Params) -> Params:
    _check_ids(params.get("VolumeIds"))
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(volumes).where(volumes.c.account_id == ctx.account_id,
                                                  volumes.c.state != records.DELETING)).mappings().all()
        items = [status_item(v) for v in records.volume_outputs(conn, ctx.cloud.config, ctx.account_id, rows)]
    listed, token = describe(items, capped(params, 1000), key="VolumeId", fields=STATUS_FILTERS,
                             ids_param="VolumeIds", kind=VOLUME, page_limits=(5, 1000), tags_key=None)
    return listing("VolumeStatuses", listed, token)


@vpc_operation("DescribeVolumeAttribute", resources=arns((VOLUME, "VolumeId")))
def describe_volume_attribute(ctx: RequestContext, params: Params) -> Params:
    require(params, "VolumeId", "Attribute")
    attribute = params["Attribute"]
    with ctx.cloud.db.read() as conn:
        row = records.fetch(conn, ctx.account_id, params["VolumeId"])
    if attribute == "autoEnableIO":
        return {"VolumeId": row["volume_id"], "AutoEnableIO": {"Value": row["auto_enable_io"]}}
    if attribute == "productCodes":
        return {"VolumeId": row["volume_id"], "ProductCodes": []}
    raise invalid_value(attribute, "attribute")


@vpc_operation("ModifyVolumeAttribute", resources=arns((VOLUME, "VolumeId")))
def modify_volume_attribute(ctx: RequestContext, params: Params) -> Params:
    require(params, "VolumeId")
    value = (params.get("AutoEnableIO") or {}).get("Value")
    if value is None:
        raise ServiceError("The request must contain the parameter autoEnableIO", code="MissingParameter")
    with write(ctx.cloud.db) as conn:
        row = records.fetch(conn, ctx.account_id, params["VolumeId"])
        conn.execute(update(volumes).where(volumes.c.volume_id == row["volume_id"]).values(auto_enable_io=value))
    return {}
