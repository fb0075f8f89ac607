"""VPC address rules as pure functions: CIDR validation, reserved addresses, allocation.

EC2's rules: a VPC's IPv4 block is /16 to /28; a subnet's IPv4 block is /16 to /28,
inside its VPC's block and overlapping no sibling; an IPv6 VPC block is a /56 and a
subnet's a /64 inside it. In every subnet the first four addresses (network, router,
DNS, reserved) and the last one are never handed out. Errors are AWS's own.
"""

from __future__ import annotations

import ipaddress
import secrets
from collections.abc import Collection, Iterable

from controller.ec2.errors import (
    InvalidParameterValue,
    InvalidSubnetConflict,
    InvalidSubnetRange,
    InvalidVpcRange,
    invalid_value,
)

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
MIN_PREFIX, MAX_PREFIX = 16, 28
VPC_IPV6_PREFIX, SUBNET_IPV6_PREFIX = 56, 64
RESERVED_AT_START = 4
#: Per subnet, EC2 keeps the first four and the last address.
RESERVED_PER_SUBNET = RESERVED_AT_START + 1


def ipv4_network(text: str, parameter: str = "cidrBlock") -> ipaddress.IPv4Network:
    """A strictly written IPv4 CIDR (host bits zero), else InvalidParameterValue."""
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        net = None
    if not isinstance(net, ipaddress.IPv4Network) or "/" not in text:
        raise invalid_value(text, parameter, "This is not a valid CIDR block.")
    return net


def ipv6_network(text: str, parameter: str = "ipv6CidrBlock") -> ipaddress.IPv6Network:
    try:
        net = ipaddress.ip_network(text, strict=True)
    except ValueError:
        net = None
    if not isinstance(net, ipaddress.IPv6Network) or "/" not in text:
        raise invalid_value(text, parameter, "This is not a valid IPv6 CIDR block.")
    return net


def any_network(text: str, parameter: str) -> Network:
    """An IPv4 or IPv6 CIDR, strictly written."""
    return ipv6_network(text, parameter) if ":" in text else ipv4_network(text, parameter)


def check_vpc_cidr(text: str) -> ipaddress.IPv4Network:
    net = ipv4_network(text)
    if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX:
        raise InvalidVpcRange(f"The CIDR '{text}' is invalid.")
    return net


def check_subnet_cidr(text: str, vpc_cidr: str, siblings: Iterable[str]) -> ipaddress.IPv4Network:
    """A new subnet's IPv4 block: inside the VPC, /16../28, clear of every sibling."""
    net = ipv4_network(text)
    vpc = ipaddress.IPv4Network(vpc_cidr)
    if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX or not net.subnet_of(vpc):
        raise InvalidSubnetRange(f"The CIDR '{text}' is invalid.")
    for other in siblings:
        if net.overlaps(ipaddress.IPv4Network(other)):
            raise InvalidSubnetConflict(f"The CIDR '{text}' conflicts with another subnet")
    return net


def check_subnet_ipv6_cidr(text: str, vpc_ipv6: str | None, siblings: Iterable[str]) -> ipaddress.IPv6Network:
    """A subnet's IPv6 block: a /64 inside the VPC's /56, clear of every sibling."""
    net = ipv6_network(text)
    if vpc_ipv6 is None:
        raise InvalidParameterValue(f"The IPv6 CIDR '{text}' is invalid: the VPC has no IPv6 CIDR block.")
    if net.prefixlen != SUBNET_IPV6_PREFIX or not net.subnet_of(ipaddress.IPv6Network(vpc_ipv6)):
        raise InvalidSubnetRange(f"The CIDR '{text}' is invalid.")
    for other in siblings:
        if net.overlaps(ipaddress.IPv6Network(other)):
            raise InvalidSubnetConflict(f"The CIDR '{text}' conflicts with another subnet")
    return net


def overlap(a: str | None, b: str | None) -> bool:
    """True when two CIDRs of the same family share an address (None never overlaps)."""
    if not a or not b:
        return False
    net_a, net_b = ipaddress.ip_network(a), ipaddress.ip_network(b)
    return net_a.version == net_b.version and net_a.overlaps(net_b)  # type: ignore[arg-type]


def contains(outer: str, inner: str) -> bool:
    """True when the CIDR or address ``inner`` lies inside ``outer`` (same family)."""
    outer_net = ipaddress.ip_network(outer)
    if "/" in inner:
        inner_net = ipaddress.ip_network(inner)
        return inner_net.version == outer_net.version and inner_net.subnet_of(outer_net)  # type: ignore[arg-type]
    address = ipaddress.ip_address(inner)
    return address.version == outer_net.version and address in outer_net


def usable_addresses(cidr: str) -> int:
    """How many IPv4 addresses of a subnet EC2 can hand out (its size minus the five reserved)."""
    return ipaddress.IPv4Network(cidr).num_addresses - RESERVED_PER_SUBNET


def is_reserved(cidr: str, address: str) -> bool:
    """True for a subnet's network address, its three next ones and its last one."""
    net = ipaddress.ip_network(cidr)
    ip = ipaddress.ip_address(address)
    offset = int(ip) - int(net.network_address)
    return offset < RESERVED_AT_START or ip == net.broadcast_address


def ipv4_address(address: str, parameter: str = "privateIpAddress") -> ipaddress.IPv4Address:
    """A written IPv4 address, else InvalidParameterValue (checked before anything is looked up)."""
    try:
        return ipaddress.IPv4Address(address)
    except ValueError:
        raise invalid_value(address, parameter, "This is not a valid IPv4 address.") from None


def check_private_ip(cidr: str, address: str, parameter: str = "privateIpAddress") -> str:
    """A requested private IPv4 address: valid, inside the subnet and not reserved."""
    ip = ipv4_address(address, parameter)
    if ip not in ipaddress.IPv4Network(cidr):
        raise InvalidParameterValue(f"Address {address} does not fall within the subnet's address range")
    if is_reserved(cidr, address):
        raise InvalidParameterValue(f"Address {address} is in subnet's reserved address range")
    return str(ip)


def first_free_ipv4(cidr: str, used: Collection[str]) -> str | None:
    """The lowest assignable address of a subnet not in ``used`` (None when the subnet is full)."""
    net = ipaddress.IPv4Network(cidr)
    taken = {ipaddress.IPv4Address(a) for a in used}
    candidate = net.network_address + RESERVED_AT_START
    while candidate < net.broadcast_address:
        if candidate not in taken:
            return str(candidate)
        candidate += 1
    return None


def random_ipv6(cidr: str, used: Collection[str]) -> str:
    """A random interface address of an IPv6 subnet, avoiding the reserved start and ``used``."""
    net = ipaddress.IPv6Network(cidr)
    taken = {ipaddress.IPv6Address(a) for a in used}
    span = net.num_addresses - RESERVED_PER_SUBNET
    while True:
        candidate = net.network_address + RESERVED_AT_START + secrets.randbelow(span)
        if candidate not in taken:
            return str(candidate)


def check_ipv6_address(cidr: str, address: str) -> str:
    try:
        ip = ipaddress.IPv6Address(address)
    except ValueError:
        raise invalid_value(address, "ipv6Addresses", "This is not a valid IPv6 address.") from None
    if ip not in ipaddress.IPv6Network(cidr) or is_reserved(cidr, str(ip)):
        raise InvalidParameterValue(f"Address {address} does not fall within the subnet's IPv6 address range")
    return str(ip)


def free_block(pool: str, prefixlen: int, used: Collection[str]) -> str | None:
    """The first ``/prefixlen`` of ``pool`` not overlapping any of ``used`` (None when exhausted)."""
    taken = [ipaddress.ip_network(u) for u in used]
    for block in ipaddress.ip_network(pool).subnets(new_prefix=prefixlen):
        if not any(block.overlaps(t) for t in taken):  # type: ignore[arg-type]
            return str(block)
    return None


def public_addresses(pool: str) -> Iterable[str]:
    """The public IPv4 pool's hand-out order: every host address but the first.

    The first host address of the pool is left to the uplink (the lab Internet's router
    for the pool), so an Elastic IP never collides with the gateway it is routed through.
    """
    hosts = ipaddress.IPv4Network(pool).hosts()
    next(hosts, None)
    return (str(h) for h in hosts)


def in_pool(pool: str, address: str) -> bool:
    """True when ``address`` is one :func:`public_addresses` may hand out."""
    try:
        ip = ipaddress.IPv4Address(address)
    except ValueError:
        return False
    net = ipaddress.IPv4Network(pool)
    return net.network_address + 1 < ip < net.broadcast_address


def subnet_zone_blocks(vpc_cidr: str, prefixlen: int, count: int) -> list[str]:
    """The first ``count`` ``/prefixlen`` blocks of a VPC (the default VPC's per-zone subnets)."""
    blocks = ipaddress.IPv4Network(vpc_cidr).subnets(new_prefix=prefixlen)
    return [str(next(blocks)) for _ in range(count)]
