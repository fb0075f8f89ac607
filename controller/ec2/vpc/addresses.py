"""Elastic IPs: AllocateAddress from the configured public pool, Associate/Disassociate, Release, Describe.

An Elastic IP maps 1:1 onto one private address of one interface (an instance's or a NAT
gateway's) through the VPC's internet gateway, so associating needs a VPC with an
internet gateway attached. Associating an address to a private IP that already has one
takes the old one off (it stays allocated), and replaces an auto-assigned public address.
"""

from __future__ import annotations

from sqlalchemy import Connection, RowMapping, delete, func, select, update

from agent.contract import cidr
from controller.api import Params, RequestContext
from controller.ec2 import lookups
from controller.ec2.describe import describe
from controller.ec2.errors import (
    AddressLimitExceeded,
    GatewayNotAttached,
    InsufficientAddressCapacity,
    InvalidAddressNotFound,
    InvalidInstanceID,
    InvalidIPAddressInUse,
    InvalidParameterCombination,
    InvalidParameterValue,
    MissingParameter,
    OperationNotPermitted,
    ResourceAlreadyAssociated,
)
from controller.ec2.filters import check_names
from controller.ec2.ids import ADDRESS_ASSOCIATION, ELASTIC_IP, INSTANCE, NETWORK_INTERFACE
from controller.ec2.operation import NEW, arns, vpc_operation
from controller.ec2.tags import drop_tags, tag_new_resource, tags_of
from controller.ec2.vpc import cidrs, provision, state
from controller.state import utcnow

#: API_DescribeAddresses.html (``domain`` and ``public-ipv4-pool`` from earlier versions of the page).
ADDRESS_FILTERS = {
    "allocation-id": lambda a: a["AllocationId"], "association-id": lambda a: a.get("AssociationId"),
    "domain": lambda a: a["Domain"], "instance-id": lambda a: a.get("InstanceId"),
    "network-border-group": lambda a: a["NetworkBorderGroup"],
    "network-interface-id": lambda a: a.get("NetworkInterfaceId"),
    "network-interface-owner-id": lambda a: a.get("NetworkInterfaceOwnerId"),
    "private-ip-address": lambda a: a.get("PrivateIpAddress"), "public-ip": lambda a: a["PublicIp"],
    "public-ipv4-pool": lambda a: a["PublicIpv4Pool"],
}


def address_outputs(conn: Connection, account: str, region: str, rows: list[RowMapping]) -> list[Params]:
    eni = state.network_interfaces
    interface_ids = [r["network_interface_id"] for r in rows if r["network_interface_id"]]
    owners = {r["network_interface_id"]: r for r in conn.execute(
        select(eni.c.network_interface_id, eni.c.account_id, eni.c.instance_id)
        .where(eni.c.network_interface_id.in_(interface_ids))).mappings()}
    tags = tags_of(conn, account, [r["allocation_id"] for r in rows])
    items = []
    for row in rows:
        item: Params = {"PublicIp": row["public_ip"], "AllocationId": row["allocation_id"], "Domain": "vpc",
                        "PublicIpv4Pool": "amazon", "NetworkBorderGroup": region, "Tags": tags[row["allocation_id"]]}
        owner = owners.get(row["network_interface_id"])
        if row["association_id"] and owner is not None:
            item.update(AssociationId=row["association_id"], NetworkInterfaceId=row["network_interface_id"],
                        NetworkInterfaceOwnerId=owner["account_id"], PrivateIpAddress=row["private_ip"])
            if owner["instance_id"]:
                item["InstanceId"] = owner["instance_id"]
        items.append(item)
    return items


@vpc_operation("AllocateAddress", resources=arns((ELASTIC_IP, NEW)))
def allocate_address(ctx: RequestContext, params: Params) -> Params:
    config = ctx.cloud.config
    if (params.get("PublicIpv4Pool") or "amazon") != "amazon" or params.get("CustomerOwnedIpv4Pool") \
            or params.get("IpamPoolId"):
        raise InvalidParameterValue("Only the Amazon pool of public addresses is available.")
    border = params.get("NetworkBorderGroup")
    if border and border != ctx.region:
        raise InvalidParameterValue(f"The network border group {border} is not valid in region {ctx.region}.")
    eips = state.addresses
    with state.write(ctx.cloud.db) as conn:
        count = conn.execute(select(func.count()).select_from(eips).where(eips.c.account_id == ctx.account_id)
                             ).scalar_one()
        if count >= config.elastic_ips_per_account:
            raise AddressLimitExceeded("The maximum number of addresses has been reached.")
        public_ip = _choose_address(conn, config.public_pool, params.get("Address"))
        allocation_id = ELASTIC_IP.new_id()
        conn.execute(eips.insert().values(allocation_id=allocation_id, account_id=ctx.account_id, public_ip=public_ip,
                                          created_at=utcnow()))
        tag_new_resource(conn, ctx.account_id, ELASTIC_IP, allocation_id, params.get("TagSpecifications"))
    ctx.audit_resources.append(ELASTIC_IP.arn(ctx, allocation_id))
    return {"PublicIp": public_ip, "AllocationId": allocation_id, "Domain": "vpc", "PublicIpv4Pool": "amazon",
            "NetworkBorderGroup": ctx.region}


def _choose_address(conn: Connection, pool: str, wanted: str | None) -> str:
    if wanted is None:
        public_ip = provision.free_public_ip(conn, pool)
        if public_ip is None:
            raise InsufficientAddressCapacity("There are no public IPv4 addresses left in the pool.")
        return public_ip
    if not cidr.in_pool(pool, wanted):
        raise InvalidParameterValue(f"Address {wanted} is not in the public address pool {pool}.")
    held = conn.execute(select(state.addresses.c.allocation_id).where(state.addresses.c.public_ip == wanted)).first()
    auto = conn.execute(select(state.network_interfaces.c.network_interface_id)
                        .where(state.network_interfaces.c.public_ip == wanted)).first()
    if held or auto:
        raise InvalidIPAddressInUse(f"Address {wanted} is in use.")
    return wanted


def _address(conn: Connection, ctx: RequestContext, params: Params) -> RowMapping:
    """The address named by AllocationId or, failing that, PublicIp."""
    if params.get("AllocationId"):
        return lookups.fetch(conn, ELASTIC_IP, params["AllocationId"], ctx.account_id)
    public_ip = params.get("PublicIp")
    if not public_ip:
        raise MissingParameter("The request must contain the parameter allocationId")
    eips = state.addresses
    row = conn.execute(select(eips).where(eips.c.public_ip == public_ip, eips.c.account_id == ctx.account_id)
                       ).mappings().first()
    if row is None:
        raise InvalidAddressNotFound(f"Address '{public_ip}' not found.")
    return row


@vpc_operation("AssociateAddress", resources=arns((ELASTIC_IP, "AllocationId"), (INSTANCE, "InstanceId"),
                                                (NETWORK_INTERFACE, "NetworkInterfaceId")))
def associate_address(ctx: RequestContext, params: Params) -> Params:
    """Reassociation is automatic unless ``AllowReassociation`` is given as false (AWS's rule for
    VPC addresses); an instance is named by its only interface, as AWS requires."""
    eips, eni = state.addresses, state.network_interfaces
    if params.get("NetworkInterfaceId") and params.get("InstanceId"):
        raise InvalidParameterCombination("You can specify either the instance ID or the network interface ID, "
                                          "but not both.")
    if not params.get("NetworkInterfaceId") and not params.get("InstanceId"):
        raise MissingParameter("The request must contain the parameter instanceId or networkInterfaceId")
    if params.get("PrivateIpAddress"):
        cidrs.ipv4_address(params["PrivateIpAddress"])
    with state.write(ctx.cloud.db) as conn:
        address = _address(conn, ctx, params)
        if params.get("NetworkInterfaceId"):
            interface = lookups.fetch(conn, NETWORK_INTERFACE, params["NetworkInterfaceId"], ctx.account_id)
        else:
            interface = _only_interface(conn, params["InstanceId"], ctx.account_id)
        interface_id = interface["network_interface_id"]
        if interface["requester_managed"]:
            raise OperationNotPermitted(f"The network interface {interface_id} is managed by "
                                        f"{interface['requester_id']}.")
        private_ip = _target_address(conn, interface, params.get("PrivateIpAddress"))
        holder = lookups.find(conn, NETWORK_INTERFACE, address["network_interface_id"] or "")
        moving = (address["network_interface_id"], address["private_ip"]) != (interface_id, private_ip)
        if address["association_id"] and moving and (
                params.get("AllowReassociation") is False or (holder is not None and holder["requester_managed"])):
            raise ResourceAlreadyAssociated(f"resource {address['allocation_id']} is already associated with "
                                            f"associate-id {address['association_id']}")
        igw = state.internet_gateways
        if not conn.execute(select(igw.c.internet_gateway_id).where(igw.c.vpc_id == interface["vpc_id"])).first():
            raise GatewayNotAttached(f"Network {interface['vpc_id']} is not attached to any internet gateway")
        conn.execute(update(eips).where(eips.c.network_interface_id == interface_id, eips.c.private_ip == private_ip)
                     .values(network_interface_id=None, private_ip=None, association_id=None))
        if _is_primary(conn, interface_id, private_ip):
            conn.execute(update(eni).where(eni.c.network_interface_id == interface_id).values(public_ip=None))
        association_id = ADDRESS_ASSOCIATION.new_id()
        conn.execute(update(eips).where(eips.c.allocation_id == address["allocation_id"]).values(
            network_interface_id=interface_id, private_ip=private_ip, association_id=association_id))
    return {"AssociationId": association_id}


def _only_interface(conn: Connection, instance_id: str, account: str) -> RowMapping:
    primary = lookups.instance_primary_interface(conn, instance_id, account)
    eni = state.network_interfaces
    attached = conn.execute(select(func.count()).select_from(eni).where(eni.c.instance_id == instance_id)).scalar_one()
    if attached > 1:
        raise InvalidInstanceID(f"There are multiple interfaces attached to instance '{instance_id}'. Please specify "
                                "an interface ID for the operation instead.")
    return primary


def _target_address(conn: Connection, interface: RowMapping, wanted: str | None) -> str:
    table = state.interface_addresses
    held = dict(conn.execute(select(table.c.address, table.c.is_primary).where(
        table.c.network_interface_id == interface["network_interface_id"], table.c.family == 4)).all())
    if wanted is None:
        return next(address for address, primary in held.items() if primary)
    if wanted not in held:
        raise InvalidParameterValue(f"The private IP address {wanted} is not assigned to network interface "
                                    f"{interface['network_interface_id']}")
    return wanted


def _is_primary(conn: Connection, interface_id: str, address: str) -> bool:
    table = state.interface_addresses
    return bool(conn.execute(select(table.c.is_primary).where(table.c.network_interface_id == interface_id,
                                                              table.c.address == address)).scalar())


@vpc_operation("DisassociateAddress")
def disassociate_address(ctx: RequestContext, params: Params) -> Params:
    eips = state.addresses
    with state.write(ctx.cloud.db) as conn:
        if params.get("AssociationId"):
            address = conn.execute(select(eips).where(eips.c.association_id == params["AssociationId"],
                                                      eips.c.account_id == ctx.account_id)).mappings().first()
            if address is None:
                raise ADDRESS_ASSOCIATION.missing([params["AssociationId"]])
        else:
            address = _address(conn, ctx, params)
            if not address["association_id"]:
                raise InvalidParameterValue(f"The address {address['public_ip']} is not associated.")
        interface = lookups.find(conn, NETWORK_INTERFACE, address["network_interface_id"] or "")
        if interface is not None and interface["requester_managed"]:
            raise OperationNotPermitted(f"The address {address['public_ip']} is used by {interface['requester_id']} "
                                        "and cannot be disassociated.")
        conn.execute(update(eips).where(eips.c.allocation_id == address["allocation_id"])
                     .values(network_interface_id=None, private_ip=None, association_id=None))
    return {}


@vpc_operation("ReleaseAddress", resources=arns((ELASTIC_IP, "AllocationId")))
def release_address(ctx: RequestContext, params: Params) -> Params:
    eips = state.addresses
    if params.get("AllocationId") and params.get("PublicIp"):
        raise InvalidParameterCombination("You may specify public IP or allocation id, but not both in the same call")
    with state.write(ctx.cloud.db) as conn:
        address = _address(conn, ctx, params)
        if address["association_id"]:
            raise InvalidIPAddressInUse(f"Address {address['public_ip']} is in use.")
        conn.execute(delete(eips).where(eips.c.allocation_id == address["allocation_id"]))
        drop_tags(conn, [address["allocation_id"]])
    return {}


@vpc_operation("DescribeAddresses")
def describe_addresses(ctx: RequestContext, params: Params) -> Params:
    check_names(params.get("Filters"), ADDRESS_FILTERS)
    eips = state.addresses
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(eips).where(eips.c.account_id == ctx.account_id)).mappings().all()
        items = address_outputs(conn, ctx.account_id, ctx.region, list(rows))
    wanted_ips = params.get("PublicIps") or []
    known = {i["PublicIp"] for i in items}
    missing = [ip for ip in wanted_ips if ip not in known]
    if missing:
        raise InvalidAddressNotFound(f"Address '{missing[0]}' not found.")
    if wanted_ips:
        items = [i for i in items if i["PublicIp"] in wanted_ips]
    listed, _ = describe(items, params, key="AllocationId", ids_param="AllocationIds", kind=ELASTIC_IP,
                         fields=ADDRESS_FILTERS)
    return {"Addresses": listed}
