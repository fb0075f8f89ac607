"""Elastic network interfaces: the rows, the address and group rules, and the instance-facing calls.

The API handlers (``network_interfaces.py``), NAT gateways and the EC2 instance code all
create and remove interfaces through these functions, so the rules hold for all of them:
private addresses come from the subnet and are never reserved ones nor taken twice (the
``(subnet_id, address)`` key makes that so even under races); at most
``security_groups_per_interface`` groups, all of the interface's VPC; MACs ``02:…``.

For the instance work: :func:`create_primary_interface` at launch, :func:`place_instance`
when the instance starts on a host (and again with ``host_id=None`` when it stops), and
:func:`release_instance_interfaces` at termination.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, RowMapping, delete, insert, select, update

from agent.contract import cidr
from controller.api import Params
from controller.config import Config
from controller.ec2 import ids, lookups
from controller.ec2.errors import (
    InsufficientAddressCapacity,
    InsufficientFreeAddressesInSubnet,
    InvalidIPAddressInUse,
    InvalidParameter,
    InvalidParameterValue,
    SecurityGroupsPerInterfaceLimitExceeded,
)
from controller.ec2.ids import SECURITY_GROUP
from controller.ec2.tags import drop_tags, tags_of
from controller.ec2.vpc import cidrs, provision, state
from controller.state import utcnow


def internal_domain(region: str) -> str:
    """EC2's internal DNS domain: ``ec2.internal`` in us-east-1, ``<region>.compute.internal`` elsewhere."""
    return "ec2.internal" if region == "us-east-1" else f"{region}.compute.internal"


def private_dns_name(region: str, address: str) -> str:
    """EC2's internal host name of a private address (``ip-10-0-1-5.<region>.compute.internal``)."""
    return f"ip-{address.replace('.', '-')}.{internal_domain(region)}"


def public_dns_name(region: str, address: str, service_domain: str = "amazonaws.com") -> str:
    """EC2's public host name of a public address: ``ec2-198-51-100-7.compute-1.<domain>`` in us-east-1,
    ``ec2-198-51-100-7.<region>.compute.<domain>`` elsewhere."""
    zone = "compute-1" if region == "us-east-1" else f"{region}.compute"
    return f"ec2-{address.replace('.', '-')}.{zone}.{service_domain}"


def check_groups(conn: Connection, account: str, vpc_id: str, subnet_id: str, group_ids: Sequence[str],
                 limit: int) -> list[str]:
    """The interface's groups: the caller's, in the interface's VPC, at most ``limit`` of them."""
    wanted = list(dict.fromkeys(group_ids))
    if len(wanted) > limit:
        raise SecurityGroupsPerInterfaceLimitExceeded("The maximum number of security groups per interface has been "
                                                      "reached.")
    groups = state.security_groups
    found = {r["group_id"]: r for r in conn.execute(select(groups).where(
        groups.c.group_id.in_(wanted), groups.c.account_id == account)).mappings()}
    missing = [g for g in wanted if g not in found]
    if missing:
        raise SECURITY_GROUP.missing(missing)
    for group_id in wanted:
        if found[group_id]["vpc_id"] != vpc_id:
            raise InvalidParameter(f"Security group {group_id} and subnet {subnet_id} belong to different networks.")
    return wanted


def default_group(conn: Connection, vpc_id: str) -> str:
    groups = state.security_groups
    return conn.execute(select(groups.c.group_id).where(groups.c.vpc_id == vpc_id, groups.c.is_default)).scalar_one()


def set_groups(conn: Connection, interface_id: str, group_ids: Sequence[str]) -> None:
    table = state.interface_groups
    conn.execute(delete(table).where(table.c.network_interface_id == interface_id))
    for position, group_id in enumerate(group_ids):
        conn.execute(insert(table).values(network_interface_id=interface_id, group_id=group_id, position=position))


def used_addresses(conn: Connection, subnet_id: str, family: int) -> set[str]:
    table = state.interface_addresses
    return {r[0] for r in conn.execute(select(table.c.address).where(table.c.subnet_id == subnet_id,
                                                                     table.c.family == family))}


def assign_ipv4(conn: Connection, subnet: RowMapping, interface_id: str, requested: Sequence[str], count: int,
                *, primary: bool) -> list[str]:
    """Give the interface the ``requested`` addresses and ``count`` more picked by the controller.

    The first address is the primary one when ``primary`` is set. Requested addresses
    must be assignable in the subnet and free.
    """
    used = used_addresses(conn, subnet["subnet_id"], 4)
    chosen: list[str] = []
    for address in requested:
        address = cidrs.check_private_ip(subnet["cidr_block"], address)
        if address in used or address in chosen:
            raise InvalidIPAddressInUse(f"The specified address {address} is already in use.")
        chosen.append(address)
    used.update(chosen)
    for _ in range(count):
        address = cidr.first_free(subnet["cidr_block"], used)
        if address is None:
            raise InsufficientFreeAddressesInSubnet(f"There are not enough free addresses in subnet "
                                                    f"'{subnet['subnet_id']}' to satisfy the request.")
        chosen.append(address)
        used.add(address)
    for index, address in enumerate(chosen):
        conn.execute(insert(state.interface_addresses).values(
            subnet_id=subnet["subnet_id"], address=address, network_interface_id=interface_id, family=4,
            is_primary=primary and index == 0))
    return chosen


def assign_ipv6(conn: Connection, subnet: RowMapping, interface_id: str, requested: Sequence[str],
                count: int) -> list[str]:
    if (requested or count) and not subnet["ipv6_cidr_block"]:
        raise InvalidParameterValue(f"Subnet {subnet['subnet_id']} has no IPv6 CIDR block; it cannot assign IPv6 "
                                    "addresses.")
    used = used_addresses(conn, subnet["subnet_id"], 6)
    chosen = []
    for address in requested:
        address = cidrs.check_ipv6_address(subnet["ipv6_cidr_block"], address)
        if address in used or address in chosen:
            raise InvalidIPAddressInUse(f"The specified address {address} is already in use.")
        chosen.append(address)
    for _ in range(count):
        chosen.append(cidr.random_ipv6(subnet["ipv6_cidr_block"], used | set(chosen)))
    for address in chosen:
        conn.execute(insert(state.interface_addresses).values(
            subnet_id=subnet["subnet_id"], address=address, network_interface_id=interface_id, family=6,
            is_primary=False))
    return chosen


def create_interface(conn: Connection, config: Config, account: str, subnet: RowMapping, *,
                     group_ids: Sequence[str] | None = None, private_ips: Sequence[str] = (), secondary_count: int = 0,
                     ipv6_addresses: Sequence[str] = (), ipv6_count: int | None = None, description: str = "",
                     interface_type: str = "interface", requester_id: str | None = None) -> str:
    """A new, unattached interface in ``subnet``; returns its id.

    ``private_ips`` are requested addresses (the first is the primary); without any the
    controller picks the primary. ``ipv6_count`` None means "as the subnet's
    AssignIpv6AddressOnCreation says". ``requester_id`` marks a requester-managed
    interface (a NAT gateway's).
    """
    interface_id = ids.NETWORK_INTERFACE.new_id()
    if group_ids:
        groups = list(group_ids)
    else:  # requester-managed interfaces (NAT gateways) have no security groups, as in AWS
        groups = [] if requester_id is not None else [default_group(conn, subnet["vpc_id"])]
    groups = check_groups(conn, account, subnet["vpc_id"], subnet["subnet_id"], groups,
                          config.security_groups_per_interface)
    mac = ids.new_mac()
    while conn.execute(select(state.network_interfaces.c.network_interface_id)
                       .where(state.network_interfaces.c.mac_address == mac)).first():
        mac = ids.new_mac()
    conn.execute(insert(state.network_interfaces).values(
        network_interface_id=interface_id, account_id=account, vpc_id=subnet["vpc_id"], subnet_id=subnet["subnet_id"],
        availability_zone=subnet["availability_zone"], mac_address=mac, description=description,
        interface_type=interface_type, requester_managed=requester_id is not None, requester_id=requester_id,
        source_dest_check=True, created_at=utcnow()))
    extra = secondary_count + (0 if private_ips else 1)
    assign_ipv4(conn, subnet, interface_id, private_ips, extra, primary=True)
    if ipv6_count is None:
        ipv6_count = 1 if subnet["assign_ipv6_address_on_creation"] and not ipv6_addresses else 0
    assign_ipv6(conn, subnet, interface_id, ipv6_addresses, ipv6_count)
    set_groups(conn, interface_id, groups)
    return interface_id


def delete_interface(conn: Connection, interface_id: str) -> None:
    """Remove an interface, its addresses and group memberships; Elastic IPs mapped to it are
    disassociated (they stay allocated)."""
    eips = state.addresses
    conn.execute(update(eips).where(eips.c.network_interface_id == interface_id)
                 .values(network_interface_id=None, private_ip=None, association_id=None))
    conn.execute(delete(state.interface_addresses)
                 .where(state.interface_addresses.c.network_interface_id == interface_id))
    conn.execute(delete(state.interface_groups).where(state.interface_groups.c.network_interface_id == interface_id))
    conn.execute(delete(state.network_interfaces)
                 .where(state.network_interfaces.c.network_interface_id == interface_id))
    drop_tags(conn, [interface_id])


def attach(conn: Connection, interface_id: str, instance_id: str, account: str, device_index: int, *,
           delete_on_termination: bool, host_id: str | None = None, port: dict[str, Any] | None = None) -> str:
    """Record an interface as attached to an instance; returns the ``eni-attach-`` id."""
    attachment_id = ids.INTERFACE_ATTACHMENT.new_id()
    eni = state.network_interfaces
    conn.execute(update(eni).where(eni.c.network_interface_id == interface_id).values(
        attachment_id=attachment_id, instance_id=instance_id, instance_owner_id=account, device_index=device_index,
        attach_time=utcnow(), delete_on_termination=delete_on_termination, host_id=host_id, port=port))
    return attachment_id


def detach(conn: Connection, interface_id: str) -> None:
    """Record an interface as detached; an auto-assigned public address goes back to the pool."""
    eni = state.network_interfaces
    conn.execute(update(eni).where(eni.c.network_interface_id == interface_id).values(
        attachment_id=None, instance_id=None, instance_owner_id=None, device_index=None, attach_time=None,
        delete_on_termination=None, host_id=None, port=None, public_ip=None))


# --- service interfaces (a service the agent runs behind a requester-managed ENI: EFS mount targets) ---------


def create_service_interface(conn: Connection, config: Config, account: str, subnet: RowMapping, *,
                             requester_id: str, description: str, group_ids: Sequence[str],
                             private_ip: str | None = None) -> tuple[str, str, str]:
    """A requester-managed interface in ``subnet`` whose frames reach the subnet through an agent-made
    namespace (``agent.contract.network.Attachment`` kind ``service``); returns (id, primary address, MAC).

    The usual rules apply (address free and assignable, groups of the subnet's VPC). The interface has
    no host of its own: ``desired_network`` places it in its zone as it places NAT gateways.
    """
    from agent.contract.naming import service_port

    interface_id = create_interface(conn, config, account, subnet, group_ids=group_ids,
                                    private_ips=[private_ip] if private_ip else (), description=description,
                                    requester_id=requester_id)
    eni = state.network_interfaces
    conn.execute(update(eni).where(eni.c.network_interface_id == interface_id)
                 .values(port={"port": service_port(interface_id), "kind": "service"}))
    mac = conn.execute(select(eni.c.mac_address).where(eni.c.network_interface_id == interface_id)).scalar_one()
    address = interface_ipv4_addresses(conn, interface_id)[0]
    return interface_id, address, mac


def interface_ipv4_addresses(conn: Connection, interface_id: str) -> list[str]:
    """An interface's IPv4 addresses, the primary first."""
    table = state.interface_addresses
    return [r[0] for r in conn.execute(select(table.c.address).where(
        table.c.network_interface_id == interface_id, table.c.family == 4).order_by(table.c.is_primary.desc()))]


def interface_group_ids(conn: Connection, interface_id: str) -> list[str]:
    """An interface's security groups, in their order."""
    table = state.interface_groups
    return [r[0] for r in conn.execute(select(table.c.group_id).where(
        table.c.network_interface_id == interface_id).order_by(table.c.position))]


# --- for the EC2 instance code ------------------------------------------------------------------------------


def create_primary_interface(conn: Connection, config: Config, account: str, *, subnet_id: str, instance_id: str,
                             group_ids: Sequence[str] | None = None, private_ip: str | None = None,
                             associate_public_ip: bool | None = None, host_id: str | None = None,
                             port: dict[str, Any] | None = None) -> str:
    """The primary interface (device index 0) of an instance being launched; returns its id.

    ``associate_public_ip`` None follows the subnet's MapPublicIpOnLaunch; a public
    address then comes from the configured pool. ``port`` is the
    ``agent.contract.network.Attachment`` (as a dict) saying how the instance's frames
    reach the subnet bridge on ``host_id``.
    """
    subnet = lookups.subnet(conn, subnet_id, account)
    interface_id = create_interface(conn, config, account, subnet, group_ids=group_ids,
                                    private_ips=[private_ip] if private_ip else (),
                                    description="Primary network interface")
    if subnet["map_public_ip_on_launch"] if associate_public_ip is None else associate_public_ip:
        public_ip = provision.free_public_ip(conn, config.public_pool)
        if public_ip is None:
            raise InsufficientAddressCapacity("There are no public IPv4 addresses left in the pool.")
        conn.execute(update(state.network_interfaces)
                     .where(state.network_interfaces.c.network_interface_id == interface_id)
                     .values(public_ip=public_ip))
    attach(conn, interface_id, instance_id, account, 0, delete_on_termination=True, host_id=host_id, port=port)
    return interface_id


def place_instance(conn: Connection, instance_id: str, host_id: str | None,
                   ports: dict[str, dict[str, Any]] | None = None) -> None:
    """Record where an instance's interfaces are plugged: ``ports`` maps interface id to its
    ``Attachment`` dict on ``host_id``; ``host_id=None`` unplugs them (instance stopped)."""
    eni = state.network_interfaces
    for row in conn.execute(select(eni.c.network_interface_id).where(eni.c.instance_id == instance_id)).all():
        conn.execute(update(eni).where(eni.c.network_interface_id == row[0]).values(
            host_id=host_id, port=(ports or {}).get(row[0]) if host_id else None))


def release_instance_interfaces(conn: Connection, instance_id: str) -> None:
    """At termination: delete the interfaces marked DeleteOnTermination, detach the others."""
    eni = state.network_interfaces
    rows = conn.execute(select(eni.c.network_interface_id, eni.c.delete_on_termination)
                        .where(eni.c.instance_id == instance_id)).all()
    for interface_id, delete_it in rows:
        detach(conn, interface_id)
        if delete_it:
            delete_interface(conn, interface_id)


# --- output ---------------------------------------------------------------------------------------------------


def interface_outputs(conn: Connection, account: str, region: str, rows: Sequence[RowMapping],
                      service_domain: str) -> list[Params]:
    """DescribeNetworkInterfaces items for interface rows (the tag list is ``TagSet``). Public addresses get
    a ``PublicDnsName`` only in VPCs with both ``enableDnsSupport`` and ``enableDnsHostnames``, as in EC2."""
    if not rows:  # an empty page asks nothing of the database
        return []
    interface_ids = [r["network_interface_id"] for r in rows]
    vpcs = state.vpcs
    named = {r[0] for r in conn.execute(select(vpcs.c.vpc_id).where(
        vpcs.c.vpc_id.in_(sorted({r["vpc_id"] for r in rows})), vpcs.c.enable_dns_support, vpcs.c.enable_dns_hostnames))}
    addresses: dict[str, list[RowMapping]] = {i: [] for i in interface_ids}
    table = state.interface_addresses
    for row in conn.execute(select(table).where(table.c.network_interface_id.in_(interface_ids))
                            .order_by(table.c.is_primary.desc(), table.c.address)).mappings():
        addresses[row["network_interface_id"]].append(row)
    groups: dict[str, list[Params]] = {i: [] for i in interface_ids}
    membership, sgs = state.interface_groups, state.security_groups
    for interface_id, group_id, name in conn.execute(
            select(membership.c.network_interface_id, sgs.c.group_id, sgs.c.group_name)
            .join(sgs, sgs.c.group_id == membership.c.group_id)
            .where(membership.c.network_interface_id.in_(interface_ids)).order_by(membership.c.position)):
        groups[interface_id].append({"GroupId": group_id, "GroupName": name})
    eips = state.addresses
    elastic = {(r["network_interface_id"], r["private_ip"]): r for r in conn.execute(
        select(eips).where(eips.c.network_interface_id.in_(interface_ids))).mappings()}
    tags = tags_of(conn, account, interface_ids)
    return [_interface_output(r, addresses[r["network_interface_id"]], groups[r["network_interface_id"]], elastic,
                              tags[r["network_interface_id"]], region,
                              service_domain if r["vpc_id"] in named else None) for r in rows]


def _interface_output(row: RowMapping, addresses: list[RowMapping], groups: list[Params],
                      elastic: dict[tuple[str, str], RowMapping], tags: list[dict[str, str]], region: str,
                      service_domain: str | None) -> Params:
    """One interface; ``service_domain`` is None when its VPC gives no public DNS names."""
    interface_id = row["network_interface_id"]

    def public_name(address: str) -> str:
        return public_dns_name(region, address, service_domain) if service_domain else ""
    ipv4 = [a for a in addresses if a["family"] == 4]
    primary = next((a["address"] for a in ipv4 if a["is_primary"]), ipv4[0]["address"] if ipv4 else "")

    def association(address: str) -> Params | None:
        eip = elastic.get((interface_id, address))
        if eip is not None:
            return {"AllocationId": eip["allocation_id"], "AssociationId": eip["association_id"],
                    "IpOwnerId": eip["account_id"], "PublicIp": eip["public_ip"],
                    "PublicDnsName": public_name(eip["public_ip"])}
        if address == primary and row["public_ip"]:
            return {"IpOwnerId": "amazon", "PublicIp": row["public_ip"], "PublicDnsName": public_name(row["public_ip"])}
        return None

    private = []
    for a in ipv4:
        item: Params = {"Primary": a["address"] == primary, "PrivateIpAddress": a["address"],
                        "PrivateDnsName": private_dns_name(region, a["address"])}
        if (assoc := association(a["address"])) is not None:
            item["Association"] = assoc
        private.append(item)
    result: Params = {
        "NetworkInterfaceId": interface_id, "SubnetId": row["subnet_id"], "VpcId": row["vpc_id"],
        "AvailabilityZone": row["availability_zone"], "Description": row["description"], "Groups": groups,
        "InterfaceType": row["interface_type"], "MacAddress": row["mac_address"], "OwnerId": row["account_id"],
        "PrivateIpAddress": primary, "PrivateDnsName": private_dns_name(region, primary) if primary else "",
        "PrivateIpAddresses": private,
        "Ipv6Addresses": [{"Ipv6Address": a["address"], "IsPrimaryIpv6": False} for a in addresses
                          if a["family"] == 6],
        "Ipv4Prefixes": [], "Ipv6Prefixes": [], "RequesterManaged": row["requester_managed"],
        "SourceDestCheck": row["source_dest_check"], "Status": "in-use" if row["attachment_id"] or row["requester_managed"] else "available",
        "TagSet": tags,
    }
    if row["requester_id"]:
        result["RequesterId"] = row["requester_id"]
    if (assoc := association(primary)) is not None:
        result["Association"] = assoc
    if row["attachment_id"]:
        result["Attachment"] = {"AttachmentId": row["attachment_id"], "InstanceId": row["instance_id"],
                                "InstanceOwnerId": row["instance_owner_id"], "DeviceIndex": row["device_index"],
                                "NetworkCardIndex": 0, "Status": "attached", "AttachTime": row["attach_time"],
                                "DeleteOnTermination": row["delete_on_termination"]}
    return result


# --- namespace instances (a Linux network namespace plugged into a subnet like an instance's NIC) ---------
#
# ``cloudlet netns attach`` records here that an interface's frames enter its subnet through a veth whose
# far end sits in a named namespace on one host (``agent.contract.network.Attachment`` kind ``veth``). The
# attachment has no instance: it shows as in use (so DeleteNetworkInterface refuses it) at device index 0
# (so DetachNetworkInterface refuses it too, as for an instance's primary interface); only
# :func:`detach_namespace` ends it.

NAMESPACE_ADDRESSING = ("static", "dhcp")


def namespace_port(interface_id: str) -> str:
    """The bridge-side name of a namespace attachment's veth (stable, 11 characters)."""
    import hashlib

    return "e" + hashlib.sha1(interface_id.encode()).hexdigest()[:10]


def attach_namespace(conn: Connection, interface_id: str, host_id: str, host_zone: str, netns: str, *,
                     ifname: str = "eth0", addressing: str = "static") -> str:
    """Attach ``interface_id`` to namespace ``netns`` on ``host_id``; returns the ``eni-attach-`` id.

    The interface must be free, not requester-managed, and in the host's zone (as an instance's
    interfaces must be in the instance's zone). ``addressing`` ``static`` has the agent configure the
    interface's addresses and default route inside the namespace; ``dhcp`` leaves that to a DHCP client
    there (the VPC's dnsmasq answers it).
    """
    from controller.ec2.errors import InvalidNetworkInterfaceInUse, OperationNotPermitted

    row = lookups.find(conn, ids.NETWORK_INTERFACE, interface_id)
    if row is None:
        raise ids.NETWORK_INTERFACE.missing([interface_id])
    if row["requester_managed"]:
        raise OperationNotPermitted(f"The network interface '{interface_id}' is managed by {row['requester_id']}.")
    if row["attachment_id"]:
        raise InvalidNetworkInterfaceInUse(f"Interface: [{interface_id}] in use.")
    if row["availability_zone"] != host_zone:
        raise InvalidParameterValue(f"Network interface {interface_id} is in {row['availability_zone']} and host "
                                    f"{host_id} in {host_zone}; they must be in the same availability zone.")
    if addressing not in NAMESPACE_ADDRESSING:
        raise InvalidParameterValue(f"Addressing {addressing!r} is not one of {', '.join(NAMESPACE_ADDRESSING)}.")
    if not 0 < len(ifname) <= 15 or "/" in ifname or ifname.strip() != ifname:
        raise InvalidParameterValue(f"Interface name {ifname!r} is not a valid Linux name (1-15 characters).")
    port = {"port": namespace_port(interface_id), "kind": "veth", "instance_netns": netns, "guest_ifname": ifname,
            "addressing": addressing}
    no_instance: Any = None  # the namespace stands for the instance
    return attach(conn, interface_id, no_instance, row["account_id"], 0, delete_on_termination=False,
                  host_id=host_id, port=port)


def detach_namespace(conn: Connection, interface_id: str) -> None:
    """End a namespace attachment made by :func:`attach_namespace` (anything else is refused)."""
    row = lookups.find(conn, ids.NETWORK_INTERFACE, interface_id)
    if row is None:
        raise ids.NETWORK_INTERFACE.missing([interface_id])
    if not row["attachment_id"] or row["instance_id"] or (row["port"] or {}).get("kind") != "veth":
        raise InvalidParameterValue(f"Network interface {interface_id} is not attached to a namespace.")
    detach(conn, interface_id)


def namespace_attachments(conn: Connection, host_id: str | None = None) -> list[dict[str, Any]]:
    """Every namespace attachment (of one host when given), with what the namespace side needs:
    ``eni_id``, ``host_id``, ``netns``, ``ifname``, ``mac``, ``addressing``, ``ipv4`` and ``ipv6``
    (``address/prefix``, the primary first) and the subnet routers ``gateway``/``gateway6``."""
    eni, subnets = state.network_interfaces, state.subnets
    query = (select(eni, subnets.c.cidr_block, subnets.c.ipv6_cidr_block.label("subnet_ipv6"))
             .join(subnets, subnets.c.subnet_id == eni.c.subnet_id)
             .where(eni.c.attachment_id.is_not(None), eni.c.instance_id.is_(None), eni.c.port.is_not(None)))
    if host_id is not None:
        query = query.where(eni.c.host_id == host_id)
    found = []
    for row in conn.execute(query.order_by(eni.c.network_interface_id)).mappings():
        port = row["port"] or {}
        if port.get("kind") != "veth":
            continue
        table = state.interface_addresses
        addresses = conn.execute(select(table.c.address, table.c.family, table.c.is_primary).where(
            table.c.network_interface_id == row["network_interface_id"])
            .order_by(table.c.is_primary.desc(), table.c.address)).all()
        v4 = cidr.network(row["cidr_block"])
        v6 = cidr.network(row["subnet_ipv6"]) if row["subnet_ipv6"] else None
        found.append({
            "eni_id": row["network_interface_id"], "host_id": row["host_id"], "netns": port.get("instance_netns"),
            "ifname": port.get("guest_ifname", "eth0"), "mac": row["mac_address"],
            "addressing": port.get("addressing", "static"), "vpc_id": row["vpc_id"], "subnet_id": row["subnet_id"],
            "ipv4": [f"{a}/{v4.prefixlen}" for a, family, _ in addresses if family == 4],
            "ipv6": [f"{a}/{v6.prefixlen}" for a, family, _ in addresses if family == 6 and v6 is not None],
            "gateway": cidr.router_address(row["cidr_block"]),
            "gateway6": cidr.router_address(row["subnet_ipv6"]) if row["subnet_ipv6"] else None})
    return found


def interface_host(conn: Connection, interface_id: str) -> str | None:
    """The host an interface is plugged on (None when unattached or unknown)."""
    eni = state.network_interfaces
    return conn.execute(select(eni.c.host_id).where(eni.c.network_interface_id == interface_id)).scalar()


def set_service_interface(conn: Connection, interface_id: str, *, public_ip: str | None, interface_type: str) -> None:
    """Give a service's requester-managed interface its type (``network_load_balancer``...) and its public
    address, which the Internet gateway then translates like an Elastic IP's."""
    table = state.network_interfaces
    conn.execute(update(table).where(table.c.network_interface_id == interface_id).values(
        public_ip=public_ip, interface_type=interface_type))


def vpc_has_internet_gateway(conn: Connection, vpc_id: str) -> bool:
    table = state.internet_gateways
    return conn.execute(select(table.c.internet_gateway_id).where(table.c.vpc_id == vpc_id)).first() is not None
