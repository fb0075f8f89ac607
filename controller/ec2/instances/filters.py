"""The filter tables of DescribeInstances and DescribeInstanceStatus, from the EC2 API Reference.

Each name maps to where its value sits in the operation's output item (a JMESPath expression, see
:mod:`controller.ec2.filters`). The ``network-interface.*`` filters look at the instance's interfaces as
DescribeNetworkInterfaces shows them (``_interfaces``, added by :func:`annotate`), since the instance's own
view of an interface lacks some of what they compare (tags, requester, zone). A filter on something this
cloud never has (capacity reservations, Outposts, carrier IPs, ...) is accepted and matches no instance,
as on AWS for an account without them.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, RowMapping, select

from controller.api import Params
from controller.ec2.filters import FilterFields
from controller.ec2.vpc import state
from controller.ec2.vpc.eni_records import interface_outputs


def _interface_filters() -> dict[str, str]:
    """``network-interface.*``: the ENI members, with ``addresses.*`` and ``association.*`` below them."""
    nic = "_interfaces[]"
    table = {
        "network-interface.addresses.primary": f"{nic}.PrivateIpAddresses[].Primary",
        "network-interface.addresses.private-dns-name": f"{nic}.PrivateIpAddresses[].PrivateDnsName",
        "network-interface.addresses.private-ip-address": f"{nic}.PrivateIpAddresses[].PrivateIpAddress",
        "network-interface.ipv4-prefixes.ipv4-prefix": f"{nic}.Ipv4Prefixes[].Ipv4Prefix",
        "network-interface.ipv6-address": f"{nic}.Ipv6Addresses[].Ipv6Address",
        "network-interface.ipv6-addresses.ipv6-address": f"{nic}.Ipv6Addresses[].Ipv6Address",
        "network-interface.ipv6-addresses.is-primary-ipv6": f"{nic}.Ipv6Addresses[].IsPrimaryIpv6",
        "network-interface.ipv6-prefixes.ipv6-prefix": f"{nic}.Ipv6Prefixes[].Ipv6Prefix",
        "network-interface.group-id": f"{nic}.Groups[].GroupId",
        "network-interface.group-name": f"{nic}.Groups[].GroupName",
        "network-interface.operator.managed": f"{nic}.Operator.Managed",
        "network-interface.operator.principal": f"{nic}.Operator.Principal",
        "network-interface.public-dns-name": f"{nic}.Association.PublicDnsName",
        "network-interface.tag-key": f"{nic}.TagSet[].Key",
        "network-interface.tag-value": f"{nic}.TagSet[].Value",
    }
    for name, member in (("allocation-id", "AllocationId"), ("association-id", "AssociationId"),
                         ("carrier-ip", "CarrierIp"), ("customer-owned-ip", "CustomerOwnedIp"),
                         ("ip-owner-id", "IpOwnerId"), ("public-dns-name", "PublicDnsName"),
                         ("public-ip", "PublicIp")):
        table[f"network-interface.addresses.association.{name}"] = f"{nic}.PrivateIpAddresses[].Association.{member}"
        table[f"network-interface.association.{name}"] = f"{nic}.Association.{member}"
    for name, member in (("attach-time", "AttachTime"), ("attachment-id", "AttachmentId"),
                         ("delete-on-termination", "DeleteOnTermination"), ("device-index", "DeviceIndex"),
                         ("instance-id", "InstanceId"), ("instance-owner-id", "InstanceOwnerId"),
                         ("network-card-index", "NetworkCardIndex"), ("status", "Status")):
        table[f"network-interface.attachment.{name}"] = f"{nic}.Attachment.{member}"
    for name, member in (("availability-zone", "AvailabilityZone"), ("deny-all-igw-traffic", "DenyAllIgwTraffic"),
                         ("description", "Description"), ("ipv6-native", "Ipv6Native"),
                         ("mac-address", "MacAddress"), ("network-interface-id", "NetworkInterfaceId"),
                         ("outpost-arn", "OutpostArn"), ("owner-id", "OwnerId"),
                         ("private-dns-name", "PrivateDnsName"), ("private-ip-address", "PrivateIpAddress"),
                         ("requester-id", "RequesterId"), ("requester-managed", "RequesterManaged"),
                         ("source-dest-check", "SourceDestCheck"), ("status", "Status"),
                         ("subnet-id", "SubnetId"), ("vpc-id", "VpcId")):
        table[f"network-interface.{name}"] = f"{nic}.{member}"
    return table


def _ipv4_endpoint(instance: Params) -> str | None:
    """The output has no IPv4 member: the IPv4 endpoint is on whenever the metadata service is."""
    return (instance.get("MetadataOptions") or {}).get("HttpEndpoint")


_CAPACITY = "CapacityReservationSpecification"

#: API_DescribeInstances.html
INSTANCE_FILTERS: FilterFields = {
    "affinity": "Placement.Affinity", "architecture": "Architecture",
    "availability-zone": "Placement.AvailabilityZone", "availability-zone-id": "Placement.AvailabilityZoneId",
    "block-device-mapping.attach-time": "BlockDeviceMappings[].Ebs.AttachTime",
    "block-device-mapping.delete-on-termination": "BlockDeviceMappings[].Ebs.DeleteOnTermination",
    "block-device-mapping.device-name": "BlockDeviceMappings[].DeviceName",
    "block-device-mapping.status": "BlockDeviceMappings[].Ebs.Status",
    "block-device-mapping.volume-id": "BlockDeviceMappings[].Ebs.VolumeId",
    "boot-mode": "BootMode", "capacity-reservation-id": "CapacityReservationId",
    "capacity-reservation-specification.capacity-reservation-preference":
        f"{_CAPACITY}.CapacityReservationPreference",
    "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-id":
        f"{_CAPACITY}.CapacityReservationTarget.CapacityReservationId",
    "capacity-reservation-specification.capacity-reservation-target.capacity-reservation-resource-group-arn":
        f"{_CAPACITY}.CapacityReservationTarget.CapacityReservationResourceGroupArn",
    "client-token": "ClientToken", "current-instance-boot-mode": "CurrentInstanceBootMode",
    "dns-name": "PublicDnsName", "ebs-optimized": "EbsOptimized", "ena-support": "EnaSupport",
    "enclave-options.enabled": "EnclaveOptions.Enabled", "hibernation-options.configured": "HibernationOptions.Configured",
    "host-id": "Placement.HostId", "hypervisor": "Hypervisor",
    "iam-instance-profile.arn": "IamInstanceProfile.Arn", "iam-instance-profile.id": "IamInstanceProfile.Id",
    "image-id": "ImageId", "instance-id": "InstanceId", "instance-lifecycle": "InstanceLifecycle",
    "instance-state-code": "State.Code", "instance-state-name": "State.Name", "instance-type": "InstanceType",
    "instance.group-id": "SecurityGroups[].GroupId", "instance.group-name": "SecurityGroups[].GroupName",
    "ip-address": "PublicIpAddress", "ipv6-address": "_interfaces[].Ipv6Addresses[].Ipv6Address",
    "kernel-id": "KernelId", "key-name": "KeyName", "launch-index": "AmiLaunchIndex", "launch-time": "LaunchTime",
    "maintenance-options.auto-recovery": "MaintenanceOptions.AutoRecovery",
    "metadata-options.http-endpoint": "MetadataOptions.HttpEndpoint",
    "metadata-options.http-protocol-ipv4": _ipv4_endpoint,
    "metadata-options.http-protocol-ipv6": "MetadataOptions.HttpProtocolIpv6",
    "metadata-options.http-put-response-hop-limit": "MetadataOptions.HttpPutResponseHopLimit",
    "metadata-options.http-tokens": "MetadataOptions.HttpTokens",
    "metadata-options.instance-metadata-tags": "MetadataOptions.InstanceMetadataTags",
    "metadata-options.state": "MetadataOptions.State", "monitoring-state": "Monitoring.State",
    **_interface_filters(),
    "network-performance-options.bandwidth-weighting": "NetworkPerformanceOptions.BandwidthWeighting",
    "operator.managed": "Operator.Managed", "operator.principal": "Operator.Principal", "outpost-arn": "OutpostArn",
    "owner-id": "_owner", "placement-group-name": "Placement.GroupName",
    "placement-partition-number": "Placement.PartitionNumber", "platform": "Platform",
    "platform-details": "PlatformDetails", "private-dns-name": "PrivateDnsName",
    "private-dns-name-options.enable-resource-name-dns-a-record":
        "PrivateDnsNameOptions.EnableResourceNameDnsARecord",
    "private-dns-name-options.enable-resource-name-dns-aaaa-record":
        "PrivateDnsNameOptions.EnableResourceNameDnsAAAARecord",
    "private-dns-name-options.hostname-type": "PrivateDnsNameOptions.HostnameType",
    "private-ip-address": "PrivateIpAddress", "product-code": "ProductCodes[].ProductCodeId",
    "product-code.type": "ProductCodes[].ProductCodeType", "ramdisk-id": "RamdiskId", "reason": "StateTransitionReason",
    "requester-id": "_requester", "reservation-id": "_reservation", "root-device-name": "RootDeviceName",
    "root-device-type": "RootDeviceType", "source-dest-check": "SourceDestCheck",
    "spot-instance-request-id": "SpotInstanceRequestId", "state-reason-code": "StateReason.Code",
    "state-reason-message": "StateReason.Message", "subnet-id": "SubnetId", "tenancy": "Placement.Tenancy",
    "tpm-support": "TpmSupport", "usage-operation": "UsageOperation",
    "usage-operation-update-time": "UsageOperationUpdateTime", "virtualization-type": "VirtualizationType",
    "vpc-id": "VpcId",
}

#: API_DescribeInstanceStatus.html
INSTANCE_STATUS_FILTERS: FilterFields = {
    "availability-zone": "AvailabilityZone", "availability-zone-id": "AvailabilityZoneId",
    "event.code": "Events[].Code", "event.description": "Events[].Description",
    "event.instance-event-id": "Events[].InstanceEventId", "event.not-after": "Events[].NotAfter",
    "event.not-before": "Events[].NotBefore", "event.not-before-deadline": "Events[].NotBeforeDeadline",
    "instance-state-code": "InstanceState.Code", "instance-state-name": "InstanceState.Name",
    "instance-status.reachability": "InstanceStatus.Details[?Name=='reachability'].Status",
    "instance-status.status": "InstanceStatus.Status",
    "operator.managed": "Operator.Managed", "operator.principal": "Operator.Principal",
    "system-status.reachability": "SystemStatus.Details[?Name=='reachability'].Status",
    "system-status.status": "SystemStatus.Status",
    "attached-ebs-status.status": "AttachedEbsStatus.Status", "application-status.status": "ApplicationStatus.Status",
}


def annotate(conn: Connection, account: str, region: str, rows: Sequence[RowMapping],
             outputs: list[Params], service_domain: str) -> None:
    """Add to each instance output what its filters read beyond the instance itself (keys starting with
    ``_``, which never reach the wire): its reservation, owner, and its interfaces as ENIs."""
    table = state.network_interfaces
    eni = conn.execute(select(table).where(table.c.instance_id.in_([r["instance_id"] for r in rows]))
                       .order_by(table.c.device_index)).mappings().all()
    interfaces: dict[str, list[Params]] = {r["instance_id"]: [] for r in rows}
    for row, output in zip(eni, interface_outputs(conn, account, region, eni, service_domain), strict=True):
        interfaces[row["instance_id"]].append(output)
    for row, output in zip(rows, outputs, strict=True):
        output.update(_reservation=row["reservation_id"], _owner=row["account_id"],
                      _interfaces=interfaces[row["instance_id"]])

