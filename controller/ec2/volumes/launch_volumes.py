"""The EBS volumes RunInstances adds to each instance through BlockDeviceMappings (the root aside).

:func:`prepare` checks the mappings and, outside any write transaction, asks KMS for the data key of
every encrypted volume of every instance the launch may create (KMS may write: its managed key is made
on first use); :func:`create` then records each instance's volumes, attached at their devices.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from sqlalchemy import Connection

from controller.api import Params, RequestContext
from controller.ec2.errors import UnsupportedOperation
from controller.ec2.ids import VOLUME
from controller.ec2.instances.images import launchable_image
from controller.ec2.volumes import encryption, records, rules, snapshot_records
from controller.errors import error

InvalidBlockDeviceMapping = error("InvalidBlockDeviceMapping")


@dataclass
class LaunchVolume:
    """One extra volume of the launch; ``made`` holds, per instance, (volume id, key ARN, data key, key
    context) with the key members None for a volume that is not encrypted."""

    device: str
    spec: rules.VolumeSpec
    snapshot_id: str | None
    delete_on_termination: bool
    made: list[tuple[str, str | None, bytes | None, str | None]] = field(default_factory=list)


def prepare(ctx: RequestContext, params: Params, count: int) -> list[LaunchVolume]:
    mappings = params.get("BlockDeviceMappings") or []
    if not mappings:
        return []
    wanted: list[tuple[LaunchVolume, str | None, snapshot_records.Restorable | None]] = []
    with ctx.cloud.db.read() as conn:
        root_device = launchable_image(conn, ctx.account_id, params.get("ImageId"))["root_device_name"]
        devices: set[str] = set()
        for mapping in mappings:
            device, ebs = mapping.get("DeviceName"), mapping.get("Ebs")
            if device in devices:
                raise InvalidBlockDeviceMapping(f"The device '{device}' is used in more than one block-device "
                                                "mapping")
            devices.add(device)
            if device == root_device or ebs is None or mapping.get("VirtualName") or mapping.get("NoDevice") \
                    is not None:
                continue
            wanted.append(_volume(conn, ctx.account_id, rules.check_device_name(device), ebs))
    for volume, key_ref, source in wanted:
        for _ in range(count):
            volume_id = VOLUME.new_id()
            if key_ref is None:
                volume.made.append((volume_id, None, None, None))
            elif source is not None and source.kms_key_arn:
                if encryption.key_arn(ctx, key_ref) != source.kms_key_arn:
                    raise UnsupportedOperation("Cloudlet cannot re-encrypt a snapshot's data under another KMS key.")
                volume.made.append((volume_id, source.kms_key_arn, source.data_key, source.key_context))
            else:
                key = encryption.new_data_key(ctx, key_ref, volume_id)
                volume.made.append((volume_id, key.arn, key.ciphertext, volume_id))
    return [volume for volume, _, _ in wanted]


def _volume(conn: Connection, account: str, device: str, ebs: Params
            ) -> tuple[LaunchVolume, str | None, snapshot_records.Restorable | None]:
    source = snapshot_records.restorable(conn, account, ebs["SnapshotId"]) if ebs.get("SnapshotId") else None
    spec = rules.check_spec(rules.volume_type(ebs.get("VolumeType")), ebs.get("VolumeSize"), ebs.get("Iops"),
                            ebs.get("Throughput"), snapshot_size=source.size_gib if source else None)
    key_ref = encryption.wanted_encryption(conn, account, ebs.get("Encrypted"), ebs.get("KmsKeyId"),
                                           source.kms_key_arn if source else None)
    delete = ebs.get("DeleteOnTermination")
    return LaunchVolume(device, spec, source.snapshot_id if source else None, delete is not False), key_ref, source


def create(conn: Connection, account: str, volumes: list[LaunchVolume], index: int, instance_id: str, zone: str,
           host_id: str, now: dt.datetime) -> list[str]:
    """Record instance number ``index``'s launch volumes on its host, attaching; returns their ids."""
    made = []
    for volume in volumes:
        volume_id, key_arn, data_key, key_context = volume.made[index]
        records.insert_volume(conn, volume_id=volume_id, account=account, zone=zone, host_id=host_id,
                              spec=volume.spec, state=records.CREATING, now=now, snapshot_id=volume.snapshot_id,
                              encrypted=key_arn is not None, kms_key_arn=key_arn, data_key=data_key,
                              key_context=key_context)
        records.attach(conn, volume_id, instance_id, volume.device, state=records.ATTACHING,
                       delete_on_termination=volume.delete_on_termination, is_root=False, now=now)
        made.append(volume_id)
    return made
