"""RunInstances: check the request, place the instances, and record them with their interfaces and volumes.

Everything happens in one write transaction: the scheduler sees the hosts and their guests as they are,
so two concurrent launches can never both take the last room on a host, and a launch that fails half
way (no free address in the subnet, a quota) leaves nothing behind. The agent of each chosen host learns
about its new instances from its next desired document (the write wakes its long-poll) and starts them;
its report moves them from ``pending`` to ``running``.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, RowMapping, insert, select, update

from controller.api import Params, RequestContext
from controller.ec2 import image_references, lookups
from controller.ec2.errors import (
    InvalidNetworkInterfaceInUse,
    InvalidParameterCombination,
    InvalidParameterValue,
    UnsupportedOperation,
    VpcIdNotSpecified,
    invalid_value,
)
from controller.ec2.ids import INSTANCE, NETWORK_INTERFACE, SECURITY_GROUP, SUBNET, VOLUME, new_id
from controller.ec2.instances import actions, instance_types, keypairs, placement, scheduler, spot
from controller.ec2.instances import state as instance_state
from controller.ec2.instances.images import launchable_image
from controller.ec2.instances.views import instance_outputs, reservations
from controller.ec2.launch_templates.launch import from_launch_template
from controller.ec2.operation import vpc_operation
from controller.ec2.tags import owned_by_account, register_taggable, tag_new_resource, writes_reserved_tags
from controller.ec2.volumes import launch_volumes, rules
from controller.ec2.volumes import records as volume_records
from controller.ec2.volumes.launch_volumes import LaunchVolume
from controller.ec2.vpc import eni_records, state
from controller.ec2.vpc.state import write
from controller.errors import ServiceError
from controller.state import utcnow

register_taggable(INSTANCE, owned_by_account(instance_state.instances, "instance_id"))

InsufficientInstanceCapacity = actions.InsufficientInstanceCapacity
InvalidBlockDeviceMapping = launch_volumes.InvalidBlockDeviceMapping
MAX_USER_DATA = 16 * 1024
TENANCIES = ("default", "dedicated", "host")


@dataclass
class NicRequest:
    """One interface of the launch, as NetworkInterfaces (or the instance-level members) ask for it."""

    device_index: int
    subnet_id: str | None = None
    interface_id: str | None = None
    group_ids: list[str] | None = None
    group_names: list[str] | None = None
    private_ip: str | None = None
    associate_public_ip: bool | None = None
    delete_on_termination: bool | None = None
    secondary_count: int = 0
    ipv6_count: int | None = None
    description: str = ""


@dataclass
class Launch:
    """A RunInstances request once validated (no database needed)."""

    min_count: int
    max_count: int
    user_data: bytes | None
    nics: list[NicRequest]
    zone: str | None
    tenancy: str | None
    root_size: int | None = None
    root_type: str = "gp3"
    root_iops: int | None = None
    root_throughput: int | None = None
    root_delete: bool = True
    #: The EBS volumes the launch adds to each instance (launch_volumes.py), with their keys per instance.
    extra_volumes: list[LaunchVolume] = field(default_factory=list)
    metadata_options: dict[str, Any] = field(default_factory=dict)


def _user_data(value: Any) -> bytes | None:
    if value in (None, ""):
        return None
    try:
        data = base64.b64decode(value, validate=True) if isinstance(value, str) else bytes(value)
    except (binascii.Error, ValueError):
        raise InvalidParameterValue("Invalid BASE64 encoding of user data.") from None
    if len(data) > MAX_USER_DATA:
        raise InvalidParameterValue(f"User data is limited to {MAX_USER_DATA} bytes")
    return data


def _nics(params: Params) -> list[NicRequest]:
    given = params.get("NetworkInterfaces") or []
    if not given:
        return [NicRequest(0, subnet_id=params.get("SubnetId"), group_ids=params.get("SecurityGroupIds"),
                           group_names=params.get("SecurityGroups"), private_ip=params.get("PrivateIpAddress"),
                           ipv6_count=params.get("Ipv6AddressCount"))]
    if params.get("SubnetId") or params.get("SecurityGroupIds") or params.get("SecurityGroups") \
            or params.get("PrivateIpAddress"):
        raise InvalidParameterCombination("Network interfaces and an instance-level subnet, security groups or "
                                          "private IP address may not be specified on the same request")
    nics = []
    for spec in given:
        index = spec.get("DeviceIndex")
        if index is None:
            raise InvalidParameterValue("Each network interface requires a device index.")
        addresses = spec.get("PrivateIpAddresses") or []
        primary = next((a["PrivateIpAddress"] for a in addresses if a.get("Primary")), None)
        nics.append(NicRequest(
            int(index), subnet_id=spec.get("SubnetId"), interface_id=spec.get("NetworkInterfaceId"),
            group_ids=spec.get("Groups"), private_ip=spec.get("PrivateIpAddress") or primary,
            associate_public_ip=spec.get("AssociatePublicIpAddress"),
            delete_on_termination=spec.get("DeleteOnTermination"),
            secondary_count=spec.get("SecondaryPrivateIpAddressCount") or 0, ipv6_count=spec.get("Ipv6AddressCount"),
            description=spec.get("Description") or ""))
    indexes = [n.device_index for n in nics]
    if 0 not in indexes or len(set(indexes)) != len(indexes):
        raise InvalidParameterValue("Network interfaces need distinct device indexes, one of them 0.")
    if any(n.associate_public_ip and n.device_index != 0 for n in nics):
        raise InvalidParameterCombination("The associatePublicIPAddress parameter can only be specified for the "
                                          "network interface with DeviceIndex 0.")
    return sorted(nics, key=lambda n: n.device_index)


def parse_launch(params: Params) -> Launch:
    """The request's checks that need nothing but the request."""
    min_count, max_count = params.get("MinCount", 1), params.get("MaxCount", 1)
    if min_count < 1 or max_count < 1:
        raise InvalidParameterValue("MinCount and MaxCount must be at least 1.")
    if min_count > max_count:
        raise InvalidParameterValue(f"MinCount ({min_count}) may not be greater than MaxCount ({max_count}).")
    nics = _nics(params)
    if max_count > 1 and any(n.private_ip or n.interface_id for n in nics):
        raise InvalidParameterCombination("Cannot launch more than one instance with a given private IP address or "
                                          "network interface.")
    placement_params = params.get("Placement") or {}
    tenancy = placement_params.get("Tenancy")
    if placement_params.get("HostId"):
        tenancy = tenancy or "host"
    if tenancy is not None and tenancy not in TENANCIES:
        raise invalid_value(tenancy, "tenancy")
    shutdown = params.get("InstanceInitiatedShutdownBehavior") or "stop"
    if shutdown not in ("stop", "terminate"):
        raise invalid_value(shutdown, "InstanceInitiatedShutdownBehavior")
    return Launch(min_count=min_count, max_count=max_count, user_data=_user_data(params.get("UserData")), nics=nics,
                  zone=placement_params.get("AvailabilityZone"), tenancy=tenancy,
                  metadata_options=actions.metadata_options(params.get("MetadataOptions") or {}))


def _root_mapping(launch: Launch, params: Params, image: RowMapping) -> None:
    """The root volume's size, type, performance and DeleteOnTermination from the block device mappings."""
    for mapping in params.get("BlockDeviceMappings") or []:
        device, ebs = mapping.get("DeviceName"), mapping.get("Ebs")
        if mapping.get("VirtualName") or mapping.get("NoDevice") is not None or device != image["root_device_name"]:
            continue  # instance store comes with the type, NoDevice only removes AMI mappings, others are extras
        if ebs is None:
            raise InvalidBlockDeviceMapping(f"The root device ({device}) needs an Ebs mapping.")
        if image["root_device_type"] != "ebs":
            raise InvalidBlockDeviceMapping(f"The image {image['image_id']} is instance store-backed: its root "
                                            "device cannot be mapped to an EBS volume.")
        if ebs.get("SnapshotId") and ebs["SnapshotId"] != image["root_snapshot_id"]:
            raise InvalidBlockDeviceMapping("The root volume must come from the image's own snapshot.")
        if ebs.get("Encrypted") or ebs.get("KmsKeyId"):
            raise UnsupportedOperation("Cloudlet does not encrypt root volumes: attach an encrypted data volume.")
        size = ebs.get("VolumeSize")
        if size is not None and size < image["root_size_gib"]:
            raise InvalidBlockDeviceMapping(f"Volume of size {size}GB is smaller than snapshot "
                                            f"'{image['root_snapshot_id']}', expect size >= {image['root_size_gib']}GB")
        volume_type = rules.volume_type(ebs.get("VolumeType"), "gp3")
        spec = rules.check_spec(volume_type, max(image["root_size_gib"], size or 0), ebs.get("Iops"),
                                ebs.get("Throughput"))
        launch.root_size, launch.root_type = size, volume_type
        launch.root_iops, launch.root_throughput = spec.iops, spec.throughput
        if ebs.get("DeleteOnTermination") is not None:
            launch.root_delete = bool(ebs["DeleteOnTermination"])


# --- what the request refers to -----------------------------------------------------------------------------------


@dataclass
class Profile:
    arn: str
    profile_id: str


def instance_profile(conn: Connection, ctx: RequestContext, spec: Params | None) -> Profile | None:
    """The instance profile; the caller must be allowed to pass its role (iam:PassRole), as in AWS."""
    if not spec:
        return None
    from controller.iam import lookup
    from controller.iam.enforce import check_action

    arn, name = spec.get("Arn"), spec.get("Name")
    row = lookup.instance_profile_by_arn(conn, ctx.account_id, arn) if arn \
        else lookup.instance_profile_by_name(conn, ctx.account_id, name or "")
    if row is None:
        member, value = ("arn", arn) if arn else ("name", name)
        raise invalid_value(value, f"iamInstanceProfile.{member}", "Invalid IAM Instance Profile "
                                                                     f"{'ARN' if arn else 'name'}")
    for role_arn in lookup.instance_profile_role_arns(conn, row["profile_id"]):
        check_action(ctx, "iam:PassRole", [role_arn])
    return Profile(row["arn"], row["profile_id"])


def _subnets_by_zone(conn: Connection, ctx: RequestContext, launch: Launch) -> dict[str, RowMapping]:
    """The subnet the launch uses in each zone it may land in (one zone when a subnet or ENI is named)."""
    first = launch.nics[0]
    zones = ctx.cloud.config.availability_zones
    if launch.zone is not None and launch.zone not in zones:
        raise InvalidParameterValue(f"Invalid availability zone: [{launch.zone}]")
    if first.interface_id:
        eni = lookups.fetch(conn, NETWORK_INTERFACE, first.interface_id, ctx.account_id)
        subnet = lookups.subnet(conn, eni["subnet_id"], ctx.account_id)
    elif first.subnet_id:
        subnet = lookups.subnet(conn, first.subnet_id, ctx.account_id)
    else:
        vpc = lookups.default_vpc(conn, ctx.account_id)
        if vpc is None:
            raise VpcIdNotSpecified("No default VPC for this user. GroupName is only supported for EC2-Classic and "
                                    "default VPC.")
        table = state.subnets
        defaults = conn.execute(select(table).where(table.c.vpc_id == vpc["vpc_id"], table.c.default_for_az)
                                ).mappings().all()
        found = {s["availability_zone"]: s for s in defaults if launch.zone in (None, s["availability_zone"])}
        if not found:
            raise InvalidParameterValue(f"No default subnet for availability zone: '{launch.zone}'.")
        return dict(sorted(found.items(), key=lambda item: zones.index(item[0]) if item[0] in zones else 99))
    if launch.zone is not None and launch.zone != subnet["availability_zone"]:
        raise InvalidParameterValue(f"The subnet {subnet['subnet_id']} is in {subnet['availability_zone']}, not in "
                                    f"the requested availability zone {launch.zone}.")
    return {subnet["availability_zone"]: subnet}


def _check_interfaces_free(conn: Connection, account: str, launch: Launch) -> None:
    """Every network interface the request names exists and is free, before capacity is sought:
    an interface attached elsewhere, or managed by a service, is AWS's InvalidNetworkInterface.InUse."""
    for nic in launch.nics:
        if nic.interface_id:
            eni = lookups.fetch(conn, NETWORK_INTERFACE, nic.interface_id, account)
            if eni["attachment_id"] or eni["requester_managed"]:
                raise InvalidNetworkInterfaceInUse(f"Interface: [{nic.interface_id}] in use.")
    named = [n.interface_id for n in launch.nics if n.interface_id]
    if len(set(named)) != len(named):
        raise InvalidParameterValue("A network interface may be named only once in a launch.")


def _group_ids(conn: Connection, account: str, vpc_id: str, nic: NicRequest) -> list[str] | None:
    """Security group ids, names resolved in the instance's VPC (None: the VPC's default group)."""
    ids = list(nic.group_ids or [])
    if nic.group_names:
        groups = state.security_groups
        found = {r["group_name"]: r["group_id"] for r in conn.execute(select(groups).where(
            groups.c.vpc_id == vpc_id, groups.c.account_id == account,
            groups.c.group_name.in_(nic.group_names))).mappings()}
        missing = [n for n in nic.group_names if n not in found]
        if missing:
            raise ServiceError(f"The security group '{missing[0]}' does not exist in VPC '{vpc_id}'",
                               code=SECURITY_GROUP.not_found_code)
        ids += [found[n] for n in nic.group_names]
    return ids or None


def _group(conn: Connection, account: str, spec: Params, instance_type: instance_types.InstanceType
           ) -> tuple[RowMapping | None, scheduler.Group | None, int | None]:
    name, group_id = spec.get("GroupName"), spec.get("GroupId")
    partition = spec.get("PartitionNumber")
    if not name and not group_id:
        if partition:
            raise InvalidParameterCombination("PartitionNumber needs a partition placement group.")
        return None, None, None
    row = placement.find_group(conn, account, name, group_id)
    if row["strategy"] == "cluster" and instance_type.burstable:
        raise InvalidParameterCombination(f"{instance_type.name} instances cannot be launched in a cluster "
                                          "placement group.")
    if partition is not None and (row["strategy"] != "partition" or not 1 <= partition <= row["partition_count"]):
        raise invalid_value(partition, "placement.partitionNumber",
                            f"The placement group has {row['partition_count'] or 0} partition(s).")
    return row, scheduler.Group(row["group_id"], row["strategy"], row["partition_count"] or 0), partition


# --- the operation -------------------------------------------------------------------------------------------------


def _run_arns(ctx: RequestContext, params: Params) -> list[str]:
    found = [INSTANCE.arn(ctx, "*"), NETWORK_INTERFACE.arn(ctx, "*"), VOLUME.arn(ctx, "*")]
    if isinstance(params.get("ImageId"), str):
        image_id = image_references.resolve(ctx, params["ImageId"])
        found.append(f"arn:{ctx.cloud.config.partition}:ec2:{ctx.region}::image/{image_id}")
    if params.get("SubnetId"):
        found.append(SUBNET.arn(ctx, params["SubnetId"]))
    found += [SECURITY_GROUP.arn(ctx, g) for g in params.get("SecurityGroupIds") or []]
    return found


def _existing_reservation(conn: Connection, ctx: RequestContext, token: str | None) -> Params | None:
    if not token:
        return None
    table = instance_state.instances
    rows = conn.execute(select(table).where(table.c.account_id == ctx.account_id, table.c.client_token == token)
                        .order_by(table.c.ami_launch_index)).mappings().all()
    if not rows:
        return None
    return reservations(rows, instance_outputs(conn, ctx.account_id, ctx.region, rows,
                                                 ctx.cloud.config.service_domain))[0]


@vpc_operation("RunInstances", resources=_run_arns)
@from_launch_template
def run_instances(ctx: RequestContext, params: Params) -> Params:
    config = ctx.cloud.config
    if image_references.is_reference(params.get("ImageId")):
        params = {**params, "ImageId": image_references.resolve(ctx, params["ImageId"])}
    launch = parse_launch(params)
    market = spot.spot_options(params)
    launch.extra_volumes = launch_volumes.prepare(ctx, params, launch.max_count)
    with write(ctx.cloud.db) as conn:
        actions.purge_terminated(conn, dt.timedelta(seconds=config.terminated_instance_listed_seconds))
        again = _existing_reservation(conn, ctx, params.get("ClientToken"))
        if again is not None:
            return again
        image = launchable_image(conn, ctx.account_id, params.get("ImageId"))
        instance_type = instance_types.lookup(params.get("InstanceType"))
        if instance_type.architecture != image["architecture"]:
            raise InvalidParameterValue(
                f"The architecture '{instance_type.architecture}' of the specified instance type does not match the "
                f"architecture '{image['architecture']}' of the specified AMI. Specify an instance type and an AMI "
                "that have matching architectures, and try again.")
        if len(launch.nics) > instance_type.max_interfaces:
            raise InvalidParameterValue(f"{instance_type.name} supports at most {instance_type.max_interfaces} "
                                        "network eni_records.")
        _root_mapping(launch, params, image)
        key = keypairs.find_by_name(conn, ctx.account_id, params["KeyName"]) if params.get("KeyName") else None
        profile = instance_profile(conn, ctx, params.get("IamInstanceProfile"))
        _check_interfaces_free(conn, ctx.account_id, launch)
        subnets = _subnets_by_zone(conn, ctx, launch)
        placement_spec = params.get("Placement") or {}
        group_row, group, partition = _group(conn, ctx.account_id, placement_spec, instance_type)
        tenancy = launch.tenancy or _vpc_tenancy(conn, next(iter(subnets.values()))["vpc_id"])
        dedicated = placement.dedicated_hosts_for_launch(conn, ctx.account_id, instance_type.name,
                                                         placement_spec.get("HostId")) if tenancy == "host" else ()
        size = instance_types.guest_size(instance_type, config)
        request = scheduler.Request(ctx.account_id, size.vcpus, size.memory_mib, count=launch.max_count,
                                    min_count=launch.min_count, zones=tuple(subnets), tenancy=tenancy, group=group,
                                    partition_number=partition, dedicated_hosts=dedicated, spot=market is not None)
        try:
            zone, placements, reclaimed = scheduler.place_reclaiming(
                request, placement.scheduler_hosts(conn, config), placement.capacity(config))
        except scheduler.NoCapacity as exc:
            raise _capacity_error(instance_type.name, launch, list(subnets), exc) from None
        reservation_id = new_id("r")
        now = utcnow()
        rows = []
        for index, where in enumerate(placements):
            instance_id = INSTANCE.new_id()
            _record_instance(conn, ctx, params, launch, image, instance_type, subnets[zone], where, instance_id,
                             reservation_id, index, key, profile, group_row, tenancy, now)
            rows.append(instance_id)
        if market is not None:
            spot.record_requests(conn, ctx.account_id, market, rows, instance_type.name, zone,
                                 spot.launch_specification(params), now, params.get("TagSpecifications") or [])
        elif any(s.get("ResourceType") == "spot-instances-request" for s in params.get("TagSpecifications") or []):
            raise InvalidParameterValue("Tags for 'spot-instances-request' need a spot launch (InstanceMarketOptions "
                                        "with MarketType spot).")
        spot.give_notice(conn, reclaimed, now, config.spot_interruption_notice_seconds)
        conn.execute(update(instance_state.images).where(instance_state.images.c.image_id == image["image_id"])
                     .values(last_launched_at=now))
        table = instance_state.instances
        records = conn.execute(select(table).where(table.c.reservation_id == reservation_id)
                               .order_by(table.c.ami_launch_index)).mappings().all()
        outputs = instance_outputs(conn, ctx.account_id, ctx.region, records, ctx.cloud.config.service_domain)
    for instance_id in rows:
        ctx.audit_resources.append(INSTANCE.arn(ctx, instance_id))
    return reservations(records, outputs)[0]


def _vpc_tenancy(conn: Connection, vpc_id: str) -> str:
    vpcs = state.vpcs
    return "dedicated" if conn.execute(select(vpcs.c.instance_tenancy).where(vpcs.c.vpc_id == vpc_id)
                                       ).scalar() == "dedicated" else "default"


def _capacity_error(type_name: str, launch: Launch, zones: list[str], exc: scheduler.NoCapacity) -> ServiceError:
    if exc.on_dedicated_host:
        return placement.InsufficientHostCapacity(f"There is not enough capacity on your Dedicated Hosts for "
                                                  f"{launch.min_count} {type_name} instance(s) ({exc.message}).")
    where = f"the Availability Zone you requested ({zones[0]})" if len(zones) == 1 else \
        f"any Availability Zone of this region ({', '.join(zones)})"
    return InsufficientInstanceCapacity(
        f"We currently do not have sufficient {type_name} capacity in {where}. Our system will be working on "
        f"provisioning additional capacity. ({exc.message})")


def _record_instance(conn: Connection, ctx: RequestContext, params: Params, launch: Launch, image: RowMapping,
                     instance_type: instance_types.InstanceType, subnet: RowMapping, where: scheduler.Placement,
                     instance_id: str, reservation_id: str, index: int, key: RowMapping | None,
                     profile: Profile | None, group_row: RowMapping | None, tenancy: str, now: dt.datetime) -> None:
    account = ctx.account_id
    placement_spec = params.get("Placement") or {}
    conn.execute(insert(instance_state.instances).values(
        instance_id=instance_id, account_id=account, reservation_id=reservation_id, image_id=image["image_id"],
        instance_type=instance_type.name, architecture=image["architecture"], state="pending",
        state_reason_code="pending", state_reason_message="pending", state_transition_reason="",
        state_changed_at=now, launch_time=now, host_id=where.host_id, availability_zone=subnet["availability_zone"],
        vpc_id=subnet["vpc_id"], subnet_id=subnet["subnet_id"], key_name=key["key_name"] if key else None,
        public_key=keypairs.authorized_key_line(key) if key else None, user_data=launch.user_data,
        iam_instance_profile_arn=profile.arn if profile else None,
        iam_instance_profile_id=profile.profile_id if profile else None,
        iam_association_id=new_id("iip-assoc") if profile else None,
        placement_group_id=group_row["group_id"] if group_row else None, partition_number=where.partition_number,
        tenancy=tenancy, dedicated_host_id=where.dedicated_host_id, affinity=placement_spec.get("Affinity"),
        ami_launch_index=index, client_token=params.get("ClientToken"),
        disable_api_termination=bool(params.get("DisableApiTermination")),
        disable_api_stop=bool(params.get("DisableApiStop")),
        shutdown_behavior=params.get("InstanceInitiatedShutdownBehavior") or "stop",
        ebs_optimized=bool(params.get("EbsOptimized")),
        monitoring=bool((params.get("Monitoring") or {}).get("Enabled")),
        root_device_name=image["root_device_name"], root_device_type=image["root_device_type"],
        metadata_options=launch.metadata_options, reboot_serial=0, reboot_acknowledged=0, start_serial=0))
    specs = params.get("TagSpecifications") or []
    by_type = {t: [s for s in specs if s.get("ResourceType") == t]
               for t in ("instance", "volume", "network-interface", "spot-instances-request")}
    unknown = [s.get("ResourceType") for s in specs if s.get("ResourceType") not in by_type]
    if unknown:
        raise InvalidParameterValue(f"'{unknown[0]}' is not a valid taggable resource type for this operation.")
    tag_new_resource(conn, account, INSTANCE, instance_id, by_type["instance"],
                     reserved_allowed=writes_reserved_tags(ctx.principal))
    for eni_id in _create_interfaces(conn, ctx, launch, subnet, instance_id, where.host_id):
        tag_new_resource(conn, account, NETWORK_INTERFACE, eni_id, by_type["network-interface"])
    if image["root_device_type"] == "ebs":
        volume_id = VOLUME.new_id()
        spec = rules.VolumeSpec(launch.root_type, max(image["root_size_gib"], launch.root_size or 0),
                                launch.root_iops, launch.root_throughput)
        volume_records.insert_volume(conn, volume_id=volume_id, account=account, zone=subnet["availability_zone"],
                                     host_id=where.host_id, spec=spec, state=volume_records.AVAILABLE, now=now,
                                     snapshot_id=image["root_snapshot_id"])
        volume_records.attach(conn, volume_id, instance_id, image["root_device_name"], state=volume_records.ATTACHED,
                              delete_on_termination=launch.root_delete, is_root=True, now=now)
        tag_new_resource(conn, account, VOLUME, volume_id, by_type["volume"])
    for volume_id in launch_volumes.create(conn, account, launch.extra_volumes, index, instance_id,
                                           subnet["availability_zone"], where.host_id, now):
        tag_new_resource(conn, account, VOLUME, volume_id, by_type["volume"])


def _create_interfaces(conn: Connection, ctx: RequestContext, launch: Launch, subnet: RowMapping, instance_id: str,
                       host_id: str) -> list[str]:
    """The instance's interfaces, plugged on its host; returns their ids (the primary first)."""
    config, account = ctx.cloud.config, ctx.account_id
    made = []
    for nic in launch.nics:
        port = actions.tap_port(instance_id, nic.device_index)
        if nic.interface_id:
            eni = lookups.fetch(conn, NETWORK_INTERFACE, nic.interface_id, account)
            if eni["availability_zone"] != subnet["availability_zone"]:
                raise InvalidParameterValue(f"The network interface {nic.interface_id} is not in "
                                            f"{subnet['availability_zone']}.")
            eni_records.attach(conn, nic.interface_id, instance_id, account, nic.device_index,
                              delete_on_termination=bool(nic.delete_on_termination), host_id=host_id, port=port)
            made.append(nic.interface_id)
            continue
        nic_subnet = lookups.subnet(conn, nic.subnet_id, account) if nic.subnet_id else subnet
        if nic_subnet["availability_zone"] != subnet["availability_zone"]:
            raise InvalidParameterValue(f"The subnet {nic_subnet['subnet_id']} is not in "
                                        f"{subnet['availability_zone']}, the zone of the instance.")
        groups = _group_ids(conn, account, nic_subnet["vpc_id"], nic)
        if nic.device_index == 0:
            eni_id = eni_records.create_primary_interface(
                conn, config, account, subnet_id=nic_subnet["subnet_id"], instance_id=instance_id, group_ids=groups,
                private_ip=nic.private_ip, associate_public_ip=nic.associate_public_ip, host_id=host_id, port=port)
            if nic.secondary_count:
                eni_records.assign_ipv4(conn, nic_subnet, eni_id, (), nic.secondary_count, primary=False)
            if nic.delete_on_termination is False:
                eni = state.network_interfaces
                conn.execute(update(eni).where(eni.c.network_interface_id == eni_id)
                             .values(delete_on_termination=False))
        else:
            eni_id = eni_records.create_interface(
                conn, config, account, nic_subnet, group_ids=groups,
                private_ips=[nic.private_ip] if nic.private_ip else (), secondary_count=nic.secondary_count,
                ipv6_count=nic.ipv6_count, description=nic.description)
            eni_records.attach(conn, eni_id, instance_id, account, nic.device_index,
                              delete_on_termination=nic.delete_on_termination is not False, host_id=host_id,
                              port=port)
        made.append(eni_id)
    return made

