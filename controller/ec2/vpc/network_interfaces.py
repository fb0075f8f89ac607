"""The ENI API: Create/Describe/Delete/Attach/Detach NetworkInterface, attributes, private addresses."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, RowMapping, delete, false, select, update

from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe, listing
from controller.ec2.errors import (
    InvalidNetworkInterfaceInUse,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    OperationNotPermitted,
    UnsupportedOperation,
    invalid_value,
)
from controller.ec2.ids import INSTANCE, INTERFACE_ATTACHMENT, NETWORK_INTERFACE, SECURITY_GROUP, SUBNET
from controller.ec2.instances import instance_types, lifecycle
from controller.ec2.instances import state as instance_state
from controller.ec2.instances.actions import tap_port
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import tag_new_resource
from controller.ec2.vpc import cidrs, eni_records, state
from controller.errors import error

AttachmentLimitExceeded = error("AttachmentLimitExceeded")


def _private(field: str) -> Any:
    return lambda n: [p.get(field) for p in n["PrivateIpAddresses"]]


def _attachment(field: str) -> Any:
    return lambda n: n.get("Attachment", {}).get(field)


#: API_DescribeNetworkInterfaces.html (and ``group-name``).
INTERFACE_FILTERS = {
    "network-interface-id": lambda n: n["NetworkInterfaceId"], "subnet-id": lambda n: n["SubnetId"],
    "vpc-id": lambda n: n["VpcId"], "availability-zone": lambda n: n["AvailabilityZone"],
    "description": lambda n: n["Description"], "mac-address": lambda n: n["MacAddress"],
    "owner-id": lambda n: n["OwnerId"], "status": lambda n: n["Status"],
    "interface-type": lambda n: n["InterfaceType"], "requester-managed": lambda n: n["RequesterManaged"],
    "requester-id": lambda n: n.get("RequesterId"), "source-dest-check": lambda n: n["SourceDestCheck"],
    "private-ip-address": _private("PrivateIpAddress"), "addresses.private-ip-address": _private("PrivateIpAddress"),
    "addresses.primary": _private("Primary"), "private-dns-name": lambda n: n["PrivateDnsName"],
    "ipv6-addresses.ipv6-address": lambda n: [a["Ipv6Address"] for a in n["Ipv6Addresses"]],
    "group-id": lambda n: [g["GroupId"] for g in n["Groups"]],
    "group-name": lambda n: [g["GroupName"] for g in n["Groups"]],
    "attachment.attachment-id": _attachment("AttachmentId"), "attachment.instance-id": _attachment("InstanceId"),
    "attachment.instance-owner-id": _attachment("InstanceOwnerId"),
    "attachment.device-index": _attachment("DeviceIndex"), "attachment.status": _attachment("Status"),
    "attachment.delete-on-termination": _attachment("DeleteOnTermination"),
    "association.public-ip": lambda n: n.get("Association", {}).get("PublicIp"),
    "association.allocation-id": lambda n: n.get("Association", {}).get("AllocationId"),
    "association.association-id": lambda n: n.get("Association", {}).get("AssociationId"),
    "association.ip-owner-id": lambda n: n.get("Association", {}).get("IpOwnerId"),
    "association.public-dns-name": "Association.PublicDnsName", "attachment.attach-time": "Attachment.AttachTime",
    "addresses.association.owner-id": "PrivateIpAddresses[].Association.IpOwnerId",
    "addresses.association.public-ip": "PrivateIpAddresses[].Association.PublicIp",
    "availability-zone-id": "AvailabilityZoneId", "operator.managed": "Operator.Managed",
    "operator.principal": "Operator.Principal",
}


def _output(ctx: RequestContext, conn: Connection, interface_id: str) -> Params:
    row = lookups.fetch(conn, NETWORK_INTERFACE, interface_id, ctx.account_id)
    return eni_records.interface_outputs(conn, ctx.account_id, ctx.region, [row],
                                       ctx.cloud.config.service_domain)[0]


@vpc_operation("CreateNetworkInterface", resources=arns((NETWORK_INTERFACE, NEW), (SUBNET, "SubnetId"),
                                                      (SECURITY_GROUP, "Groups")))
def create_network_interface(ctx: RequestContext, params: Params) -> Params:
    if params.get("Ipv4Prefixes") or params.get("Ipv4PrefixCount") or params.get("Ipv6Prefixes") \
            or params.get("Ipv6PrefixCount"):
        raise UnsupportedOperation("Prefix delegation is not supported by Cloudlet.")
    interface_type = params.get("InterfaceType") or "interface"
    if interface_type != "interface":
        raise invalid_value(interface_type, "interfaceType", "Only 'interface' can be created.")
    private_ips = _requested_private_ips(params)
    if any(not a.get("Ipv6Address") for a in params.get("Ipv6Addresses") or []):
        raise MissingParameter("The request must contain the parameter ipv6Addresses.ipv6Address")
    with state.write(ctx.cloud.db) as conn:
        subnet = lookups.subnet(conn, params.get("SubnetId"), ctx.account_id)
        interface_id = eni_records.create_interface(
            conn, ctx.cloud.config, ctx.account_id, subnet, group_ids=params.get("Groups"), private_ips=private_ips,
            secondary_count=params.get("SecondaryPrivateIpAddressCount") or 0,
            ipv6_addresses=[a["Ipv6Address"] for a in params.get("Ipv6Addresses") or []],
            ipv6_count=params.get("Ipv6AddressCount"), description=params.get("Description") or "")
        tag_new_resource(conn, ctx.account_id, NETWORK_INTERFACE, interface_id, params.get("TagSpecifications"))
        output = _output(ctx, conn, interface_id)
    ctx.audit_resources.append(NETWORK_INTERFACE.arn(ctx, interface_id))
    result: Params = {"NetworkInterface": output}
    return result


def _requested_private_ips(params: Params) -> list[str]:
    """PrivateIpAddress and/or PrivateIpAddresses, primary first; at most one primary."""
    listed = params.get("PrivateIpAddresses") or []
    if any(not p.get("PrivateIpAddress") for p in listed):
        raise MissingParameter("The request must contain the parameter privateIpAddresses.privateIpAddress")
    primaries = [p["PrivateIpAddress"] for p in listed if p.get("Primary")]
    if len(primaries) > 1 or (primaries and params.get("PrivateIpAddress")
                              and primaries[0] != params["PrivateIpAddress"]):
        raise InvalidParameterCombination("Only one primary private IP address can be specified.")
    first = params.get("PrivateIpAddress") or (primaries[0] if primaries else None)
    rest = [p["PrivateIpAddress"] for p in listed if p.get("PrivateIpAddress") and p["PrivateIpAddress"] != first]
    for address in ([first] if first else []) + rest:
        cidrs.ipv4_address(address)
    for member in ("SecondaryPrivateIpAddressCount", "Ipv6AddressCount"):
        if (params.get(member) or 0) < 0:
            raise invalid_value(params[member], member[:1].lower() + member[1:], "It must not be negative.")
    return ([first] if first else []) + rest


@vpc_operation("DescribeNetworkInterfaces")
def describe_network_interfaces(ctx: RequestContext, params: Params) -> Params:
    eni = state.network_interfaces
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(eni).where(eni.c.account_id == ctx.account_id)).mappings().all()
        items = eni_records.interface_outputs(conn, ctx.account_id, ctx.region, rows, ctx.cloud.config.service_domain)
    listed, token = describe(items, params, key="NetworkInterfaceId", ids_param="NetworkInterfaceIds",
                             kind=NETWORK_INTERFACE, fields=INTERFACE_FILTERS, page_limits=(5, 1000),
                             tags_key="TagSet")
    return listing("NetworkInterfaces", listed, token)


def _interface(conn: Connection, ctx: RequestContext, params: Params) -> RowMapping:
    return lookups.fetch(conn, NETWORK_INTERFACE, params.get("NetworkInterfaceId"), ctx.account_id)


@vpc_operation("DeleteNetworkInterface", resources=arns((NETWORK_INTERFACE, "NetworkInterfaceId")))
def delete_network_interface(ctx: RequestContext, params: Params) -> Params:
    with state.write(ctx.cloud.db) as conn:
        row = _interface(conn, ctx, params)
        interface_id = row["network_interface_id"]
        if row["requester_managed"]:
            raise OperationNotPermitted(f"The network interface '{interface_id}' is managed by "
                                        f"{row['requester_id']} and cannot be deleted.")
        if row["attachment_id"]:
            raise InvalidNetworkInterfaceInUse(f"The network interface '{interface_id}' is currently in use.")
        eni_records.delete_interface(conn, interface_id)
    return {}


@vpc_operation("AttachNetworkInterface", resources=arns((NETWORK_INTERFACE, "NetworkInterfaceId"),
                                                      (INSTANCE, "InstanceId")))
def attach_network_interface(ctx: RequestContext, params: Params) -> Params:
    """Attach an interface to a running (hot attach) or stopped (warm attach) instance in the same zone, at a
    free device index, within the instance type's MaximumNetworkInterfaces.

    On a running instance the interface gets its port at once (the tap the compute agent names after the
    instance and device index): the host's compute agent hot-plugs a virtio NIC and the network dataplane
    takes the tap onto the subnet's bridge. On a stopped one it joins the instance's NICs at the next start.
    """
    device_index = params.get("DeviceIndex")
    if device_index is None:
        raise MissingParameter("The request must contain the parameter deviceIndex")
    if device_index < 1:
        raise invalid_value(device_index, "deviceIndex", "Device index 0 is the instance's primary interface.")
    if params.get("NetworkCardIndex"):
        raise invalid_value(params["NetworkCardIndex"], "networkCardIndex", "Only network card 0 exists.")
    with state.write(ctx.cloud.db) as conn:
        row = _interface(conn, ctx, params)
        instance_id = params.get("InstanceId") or ""
        primary = lookups.instance_primary_interface(conn, instance_id, ctx.account_id)
        interface_id = row["network_interface_id"]
        if row["attachment_id"] or row["requester_managed"]:
            raise InvalidNetworkInterfaceInUse(f"Interface: [{interface_id}] in use.")
        if row["availability_zone"] != primary["availability_zone"]:
            raise InvalidParameterValue(f"Network interface {interface_id} is in {row['availability_zone']} and "
                                        f"instance {instance_id} in {primary['availability_zone']}; they must be in "
                                        "the same availability zone.")
        eni = state.network_interfaces
        if conn.execute(select(eni.c.network_interface_id).where(eni.c.instance_id == instance_id,
                                                                 eni.c.device_index == device_index)).first():
            raise InvalidParameterValue(f"Instance '{instance_id}' already has an interface attached at device index "
                                        f"'{device_index}'.")
        _check_instance_can_take_one_more(conn, instance_id)
        # A running instance's NIC is plugged now (hot attach); a stopped one's when the instance starts.
        port = tap_port(instance_id, device_index) if primary["host_id"] else None
        attachment_id = eni_records.attach(conn, interface_id, instance_id, ctx.account_id, device_index,
                                          delete_on_termination=False, host_id=primary["host_id"], port=port)
    return {"AttachmentId": attachment_id, "NetworkCardIndex": 0}


def _check_instance_can_take_one_more(conn: Connection, instance_id: str) -> None:
    """AWS's rules for one more interface on an instance: it is running or stopped (or pending: it will be
    running, and its host plugs whatever NICs it has by then), and the count with the new
    one stays within its type's MaximumNetworkInterfaces (AttachmentLimitExceeded, worded as EC2 does:
    "Interface count 3 exceeds the limit for t3.micro"). An interface holder without an instance record (a
    namespace instance) has no type, hence no limit."""
    instances = instance_state.instances
    instance = conn.execute(select(instances.c.state, instances.c.instance_type)
                            .where(instances.c.instance_id == instance_id)).mappings().first()
    if instance is None:
        return
    if instance["state"] not in (lifecycle.PENDING, lifecycle.RUNNING, lifecycle.STOPPED):
        raise lifecycle.IncorrectInstanceState(f"Instance '{instance_id}' is not 'running' or 'stopped'.")
    eni = state.network_interfaces
    count = 1 + len(conn.execute(select(eni.c.network_interface_id).where(eni.c.instance_id == instance_id)).all())
    instance_type = instance_types.lookup(instance["instance_type"])
    if count > instance_type.max_interfaces:
        raise AttachmentLimitExceeded(f"Interface count {count} exceeds the limit for {instance_type.name}")


@vpc_operation("DetachNetworkInterface")
def detach_network_interface(ctx: RequestContext, params: Params) -> Params:
    """Detach a secondary interface; it is available again at once.

    The host converges behind the answer: the network dataplane takes the tap off the subnet's bridge and the
    compute agent unplugs the NIC from a running guest (libvirt's asynchronous detach, repeated on each pass
    until the guest lets go). ``Force`` is accepted as AWS accepts it; since the controller never waits for
    the guest, a forced and an ordinary detach behave the same here.
    """
    eni = state.network_interfaces
    with state.write(ctx.cloud.db) as conn:
        attachment_id = params.get("AttachmentId") or ""
        row = conn.execute(select(eni).where(eni.c.attachment_id == attachment_id,
                                             eni.c.account_id == ctx.account_id)).mappings().first()
        if row is None:
            raise INTERFACE_ATTACHMENT.missing([attachment_id])
        if row["device_index"] == 0:
            raise OperationNotPermitted("The network interface at device index 0 cannot be detached.")
        eni_records.detach(conn, row["network_interface_id"])
    return {}


@vpc_operation("ModifyNetworkInterfaceAttribute", resources=arns((NETWORK_INTERFACE, "NetworkInterfaceId"),
                                                               (SECURITY_GROUP, "Groups")))
def modify_network_interface_attribute(ctx: RequestContext, params: Params) -> Params:
    """Replace the groups, or set SourceDestCheck, Description or the attachment's DeleteOnTermination:
    one of them per call, as API_ModifyNetworkInterfaceAttribute says."""
    eni = state.network_interfaces
    given = [name for name in ("Groups", "SourceDestCheck", "Description", "Attachment")
             if params.get(name) is not None]
    if len(given) > 1:
        names = ", ".join(name[:1].lower() + name[1:] for name in given)
        raise InvalidParameterCombination(f"Fields for multiple attribute types specified: {names}")
    changes: dict[str, Any] = {}
    for member, column in (("SourceDestCheck", "source_dest_check"), ("Description", "description")):
        if params.get(member) is not None:
            changes[column] = params[member].get("Value")
            if changes[column] is None:
                raise invalid_value(None, f"{member[:1].lower() + member[1:]}.value")
    attachment = params.get("Attachment")
    groups = params.get("Groups")
    if not changes and attachment is None and groups is None:
        raise MissingParameter("The request must contain the parameter groupSet, sourceDestCheck, description or "
                               "attachment")
    with state.write(ctx.cloud.db) as conn:
        row = _interface(conn, ctx, params)
        interface_id = row["network_interface_id"]
        if groups is not None:
            if row["requester_managed"]:
                raise OperationNotPermitted(f"The security groups of {interface_id} are managed by "
                                            f"{row['requester_id']}.")
            checked = eni_records.check_groups(conn, ctx.account_id, row["vpc_id"], row["subnet_id"], groups,
                                              ctx.cloud.config.security_groups_per_interface)
            if not checked:
                raise MissingParameter("The request must contain the parameter groupSet")
            eni_records.set_groups(conn, interface_id, checked)
        if attachment is not None:
            if attachment.get("AttachmentId") != row["attachment_id"] or not row["attachment_id"]:
                raise INTERFACE_ATTACHMENT.missing([attachment.get("AttachmentId") or ""])
            if attachment.get("DeleteOnTermination") is not None:
                changes["delete_on_termination"] = attachment["DeleteOnTermination"]
        if changes:
            conn.execute(update(eni).where(eni.c.network_interface_id == interface_id).values(changes))
    return {}


_ATTRIBUTE_MEMBERS = {"description": "Description", "groupSet": "Groups", "sourceDestCheck": "SourceDestCheck",
                      "attachment": "Attachment", "associatePublicIpAddress": "AssociatePublicIpAddress"}


@vpc_operation("DescribeNetworkInterfaceAttribute", resources=arns((NETWORK_INTERFACE, "NetworkInterfaceId")))
def describe_network_interface_attribute(ctx: RequestContext, params: Params) -> Params:
    attribute = params.get("Attribute") or ""
    if attribute not in _ATTRIBUTE_MEMBERS:
        raise invalid_value(attribute, "attribute", "Unknown attribute.")
    with ctx.cloud.db.read() as conn:
        output = _output(ctx, conn, params.get("NetworkInterfaceId") or "")
    result: Params = {"NetworkInterfaceId": output["NetworkInterfaceId"]}
    if attribute == "description":
        result["Description"] = {"Value": output["Description"]}
    elif attribute == "groupSet":
        result["Groups"] = output["Groups"]
    elif attribute == "sourceDestCheck":
        result["SourceDestCheck"] = {"Value": output["SourceDestCheck"]}
    elif attribute == "attachment":
        if "Attachment" in output:
            result["Attachment"] = output["Attachment"]
    else:
        result["AssociatePublicIpAddress"] = "Association" in output
    return result


@vpc_operation("AssignPrivateIpAddresses", resources=arns((NETWORK_INTERFACE, "NetworkInterfaceId")))
def assign_private_ip_addresses(ctx: RequestContext, params: Params) -> Params:
    requested = params.get("PrivateIpAddresses") or []
    count = params.get("SecondaryPrivateIpAddressCount") or 0
    if params.get("Ipv4Prefixes") or params.get("Ipv4PrefixCount"):
        raise UnsupportedOperation("Prefix delegation is not supported by Cloudlet.")
    if not requested and count < 1:
        raise MissingParameter("The request must contain the parameter privateIpAddress or "
                               "secondaryPrivateIpAddressCount")
    if requested and count:
        raise InvalidParameterCombination("Specify either privateIpAddress or secondaryPrivateIpAddressCount, "
                                          "not both.")
    with state.write(ctx.cloud.db) as conn:
        row = _interface(conn, ctx, params)
        subnet = lookups.subnet(conn, row["subnet_id"], ctx.account_id)
        if requested and params.get("AllowReassignment"):
            _release_from_others(conn, subnet["subnet_id"], row["network_interface_id"], requested)
        assigned = eni_records.assign_ipv4(conn, subnet, row["network_interface_id"], requested, count, primary=False)
    return {"NetworkInterfaceId": row["network_interface_id"],
            "AssignedPrivateIpAddresses": [{"PrivateIpAddress": a} for a in assigned], "AssignedIpv4Prefixes": []}


def _release_from_others(conn: Connection, subnet_id: str, interface_id: str, wanted: list[str]) -> None:
    """AllowReassignment: take secondary addresses away from the subnet's other eni_records."""
    table, eips = state.interface_addresses, state.addresses
    moving = conn.execute(select(table.c.network_interface_id, table.c.address).where(
        table.c.subnet_id == subnet_id, table.c.address.in_(wanted), table.c.network_interface_id != interface_id,
        table.c.is_primary == false())).all()
    for owner, address in moving:
        conn.execute(update(eips).where(eips.c.network_interface_id == owner, eips.c.private_ip == address)
                     .values(network_interface_id=None, private_ip=None, association_id=None))
        conn.execute(delete(table).where(table.c.subnet_id == subnet_id, table.c.address == address))


@vpc_operation("UnassignPrivateIpAddresses", resources=arns((NETWORK_INTERFACE, "NetworkInterfaceId")))
def unassign_private_ip_addresses(ctx: RequestContext, params: Params) -> Params:
    wanted = params.get("PrivateIpAddresses") or []
    if not wanted:
        raise MissingParameter("The request must contain the parameter privateIpAddress")
    table, eips = state.interface_addresses, state.addresses
    with state.write(ctx.cloud.db) as conn:
        row = _interface(conn, ctx, params)
        interface_id = row["network_interface_id"]
        held = dict(conn.execute(select(table.c.address, table.c.is_primary).where(
            table.c.network_interface_id == interface_id, table.c.family == 4)).all())
        if any(address not in held or held[address] for address in wanted):
            raise InvalidParameterValue(f"Some of the specified addresses are not assigned to interface "
                                        f"{interface_id}")
        conn.execute(update(eips).where(eips.c.network_interface_id == interface_id, eips.c.private_ip.in_(wanted))
                     .values(network_interface_id=None, private_ip=None, association_id=None))
        conn.execute(delete(table).where(table.c.network_interface_id == interface_id, table.c.address.in_(wanted)))
    return {}
