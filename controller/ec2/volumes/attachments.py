"""AttachVolume and DetachVolume, and what the compute agent's reports do to attachments.

An attachment is ``attaching`` until the agent of the instance's host reports the volume plugged into
the guest (hot-plugged into a running domain, or added to a stopped one's definition), then
``attached``; DetachVolume makes it ``detaching`` and the report that no longer lists it removes it, which
makes the volume ``available`` again. A volume attaches only to an instance of its own zone, and, its
file being in one host's pool, of its own host.
"""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, delete, func, select, update

from controller.api import Params, RequestContext
from controller.ec2.errors import (
    IncorrectState,
    InvalidParameterCombination,
    InvalidParameterValue,
    UnsupportedOperation,
    require,
)
from controller.ec2.ids import INSTANCE, VOLUME
from controller.ec2.instances import lifecycle
from controller.ec2.instances import state as instance_state
from controller.ec2.operation import arns, vpc_operation
from controller.ec2.volumes import encryption, records, rules
from controller.ec2.volumes.state import attachments
from controller.ec2.volumes.volumes import VolumeInUse
from controller.ec2.vpc import state as vpc_state
from controller.ec2.vpc.state import write
from controller.errors import error
from controller.state import utcnow

InvalidVolumeZoneMismatch = error("InvalidVolume.ZoneMismatch")
InvalidAttachmentNotFound = error("InvalidAttachment.NotFound")
AttachmentLimitExceeded = error("AttachmentLimitExceeded")
#: Volumes and network interfaces together, as on Nitro instances.
MAX_ATTACHMENTS = 28
MAX_MULTI_ATTACH = 16


def _instance(conn: Connection, account: str, instance_id: str) -> RowMapping:
    table = instance_state.instances
    row = conn.execute(select(table).where(table.c.instance_id == instance_id, table.c.account_id == account)
                       ).mappings().first()
    if row is None:
        raise INSTANCE.missing([instance_id])
    return row


@vpc_operation("AttachVolume", resources=arns((VOLUME, "VolumeId"), (INSTANCE, "InstanceId")))
def attach_volume(ctx: RequestContext, params: Params) -> Params:
    require(params, "Device", "InstanceId", "VolumeId")
    device = rules.check_device_name(params["Device"])
    with write(ctx.cloud.db) as conn:
        volume = records.fetch(conn, ctx.account_id, params["VolumeId"])
        instance = _instance(conn, ctx.account_id, params["InstanceId"])
        _check_attachable(conn, ctx, volume, instance, device)
        now = utcnow()
        records.attach(conn, volume["volume_id"], instance["instance_id"], device, state=records.ATTACHING,
                       delete_on_termination=False, is_root=False, now=now)
    return {"AttachTime": now, "Device": device, "InstanceId": instance["instance_id"], "State": records.ATTACHING,
            "VolumeId": volume["volume_id"]}


def _check_attachable(conn: Connection, ctx: RequestContext, volume: RowMapping, instance: RowMapping,
                      device: str) -> None:
    volume_id, instance_id = volume["volume_id"], instance["instance_id"]
    if instance["state"] not in (lifecycle.RUNNING, lifecycle.STOPPED):
        raise lifecycle.IncorrectInstanceState(f"Instance '{instance_id}' is not 'running' or 'stopped'.")
    if volume["availability_zone"] != instance["availability_zone"]:
        raise InvalidVolumeZoneMismatch(f"The volume '{volume_id}' is not in the same availability zone as "
                                        f"instance '{instance_id}'")
    if volume["state"] != records.AVAILABLE:
        raise IncorrectState(f"The volume '{volume_id}' is not 'available'.")
    current = records.attachments_of(conn, [volume_id])[volume_id]
    if current and (not volume["multi_attach"] or any(a["instance_id"] == instance_id for a in current)):
        raise VolumeInUse(f"{volume_id} is already attached to an instance")
    if len(current) >= MAX_MULTI_ATTACH:
        raise AttachmentLimitExceeded(f"The Multi-Attach volume '{volume_id}' is already attached to "
                                      f"{MAX_MULTI_ATTACH} instances.")
    taken = {r[0] for r in conn.execute(select(attachments.c.device_name).where(
        attachments.c.instance_id == instance_id))} | {instance["root_device_name"]}
    if device in taken:
        raise InvalidParameterValue(f"Invalid value '{device}' for unixDevice. Attachment point {device} is already "
                                    "in use")
    eni = vpc_state.network_interfaces
    interfaces = conn.execute(select(func.count()).select_from(eni).where(eni.c.instance_id == instance_id)
                              ).scalar_one()
    if len(taken) + interfaces >= MAX_ATTACHMENTS:
        raise AttachmentLimitExceeded(f"The instance '{instance_id}' has reached its limit of {MAX_ATTACHMENTS} "
                                      "volume and network interface attachments.")
    if volume["host_id"] != instance["host_id"]:
        raise UnsupportedOperation(f"The volume '{volume_id}' is stored on host {volume['host_id']} and instance "
                                   f"'{instance_id}' runs on host {instance['host_id']}: Cloudlet attaches a "
                                   "volume only to instances of the host that keeps it.")
    encryption.usable(ctx, volume)


@vpc_operation("DetachVolume", resources=arns((VOLUME, "VolumeId"), (INSTANCE, "InstanceId")))
def detach_volume(ctx: RequestContext, params: Params) -> Params:
    require(params, "VolumeId")
    with write(ctx.cloud.db) as conn:
        volume = records.fetch(conn, ctx.account_id, params["VolumeId"])
        volume_id = volume["volume_id"]
        current = records.attachments_of(conn, [volume_id])[volume_id]
        if not current:
            raise IncorrectState(f"Volume '{volume_id}' is in the '{volume['state']}' state.")
        chosen = [a for a in current if params.get("InstanceId") in (None, a["instance_id"])
                  and params.get("Device") in (None, a["device_name"])]
        if not chosen:
            where = " ".join(f"{k.lower()} {params[k]}" for k in ("InstanceId", "Device") if params.get(k))
            raise InvalidAttachmentNotFound(f"The volume {volume_id} is not attached at {where}")
        if len(chosen) > 1:
            raise InvalidParameterCombination(f"The volume {volume_id} is attached to several instances: name the "
                                              "instance to detach it from.")
        attachment = chosen[0]
        instance = _instance(conn, ctx.account_id, attachment["instance_id"])
        if attachment["is_root"]:
            if instance["state"] != lifecycle.STOPPED:
                raise IncorrectState(f"Unable to detach root volume '{volume_id}' from instance "
                                            f"'{instance['instance_id']}'")
            raise UnsupportedOperation("Cloudlet keeps a root volume with its instance: detaching the root volume of "
                                       "a stopped instance is not supported.")
        if attachment["state"] == records.DETACHING and not params.get("Force"):
            raise IncorrectState(f"Volume '{volume_id}' is already detaching from '{instance['instance_id']}'.")
        conn.execute(update(attachments).where(attachments.c.volume_id == volume_id,
                                               attachments.c.instance_id == instance["instance_id"])
                     .values(state=records.DETACHING))
    return {"AttachTime": attachment["attach_time"], "Device": attachment["device_name"],
            "InstanceId": attachment["instance_id"], "State": records.DETACHING, "VolumeId": volume_id,
            "DeleteOnTermination": attachment["delete_on_termination"]}


def apply_attachment_report(conn: Connection, reported: dict[str, list[str]]) -> int:
    """What a compute agent says is plugged into each instance it reported (root volumes left out):
    ``attaching`` volumes it lists become ``attached``, ``detaching`` ones it no longer lists are gone.
    Returns how many attachments changed."""
    changed = 0
    for instance_id, plugged in reported.items():
        rows = conn.execute(select(attachments).where(attachments.c.instance_id == instance_id,
                                                      ~attachments.c.is_root)).mappings().all()
        for row in rows:
            key = (attachments.c.volume_id == row["volume_id"]) & (attachments.c.instance_id == instance_id)
            if row["state"] == records.ATTACHING and row["volume_id"] in plugged:
                conn.execute(update(attachments).where(key).values(state=records.ATTACHED))
                changed += 1
            elif row["state"] == records.DETACHING and row["volume_id"] not in plugged:
                conn.execute(delete(attachments).where(key))
                changed += 1
    return changed
