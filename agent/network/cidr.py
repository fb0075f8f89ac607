"""CIDR arithmetic with VPC rules: containment, overlap, reserved addresses, allocation, longest prefix match.

Pure functions over ``ipaddress``; the controller can use the same ones to validate CreateVpc/CreateSubnet
and to hand out private addresses, so both sides agree on what "reserved" means.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import TypeVar

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Addresses EC2 keeps at the start of every subnet: network, router (+1), DNS (+2), future use (+3).
RESERVED_AT_START = 4
VPC_MIN_PREFIX, VPC_MAX_PREFIX = 16, 28

R = TypeVar("R")


class CidrError(ValueError):
    """A CIDR or address that does not fit the VPC rules; the message names the offending value."""


def network(cidr: str) -> Network:
    """Parse a CIDR strictly: host bits must be zero (``10.0.0.1/24`` is refused, as EC2 does)."""
    try:
        return ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        raise CidrError(f"invalid CIDR {cidr!r}: {exc}") from exc


def address(ip: str) -> Address:
    try:
        return ipaddress.ip_address(ip)
    except ValueError as exc:
        raise CidrError(f"invalid address {ip!r}") from exc


def family(text: str) -> int:
    """4 or 6 for an address or CIDR string."""
    return 6 if ":" in text else 4


def contains(outer: str, inner: str) -> bool:
    """True when the address or CIDR ``inner`` lies wholly inside ``outer`` (same family only)."""
    outer_net = network(outer)
    if "/" in inner:
        inner_net = network(inner)
        return inner_net.version == outer_net.version and inner_net.subnet_of(outer_net)  # type: ignore[arg-type]
    ip = address(inner)
    return ip.version == outer_net.version and ip in outer_net


def overlaps(a: str, b: str) -> bool:
    net_a, net_b = network(a), network(b)
    return net_a.version == net_b.version and net_a.overlaps(net_b)  # type: ignore[arg-type]


def check_vpc_cidr(cidr: str) -> None:
    """EC2 accepts IPv4 VPC blocks from /16 to /28."""
    net = network(cidr)
    if net.version != 4 or not VPC_MIN_PREFIX <= net.prefixlen <= VPC_MAX_PREFIX:
        raise CidrError(f"VPC CIDR {cidr} must be an IPv4 block between /{VPC_MIN_PREFIX} and /{VPC_MAX_PREFIX}")


def reserved_addresses(subnet: str) -> list[str]:
    """The five addresses EC2 keeps out of every subnet: the first four and the last one."""
    net = network(subnet)
    first = [str(net.network_address + i) for i in range(min(RESERVED_AT_START, net.num_addresses))]
    return first + [str(net.broadcast_address)] if net.num_addresses > RESERVED_AT_START else first


def router_address(subnet: str) -> str:
    """The implicit router of a subnet sits at its base address plus one."""
    return str(network(subnet).network_address + 1)


def dns_address(subnet: str) -> str:
    """The Amazon-provided DNS resolver sits at base plus two."""
    return str(network(subnet).network_address + 2)


def is_assignable(subnet: str, ip: str) -> bool:
    """True when ``ip`` is inside ``subnet`` and not one of its reserved addresses."""
    return contains(subnet, ip) and str(address(ip)) not in reserved_addresses(subnet)


def next_free(subnet: str, used: Iterable[str]) -> str:
    """The lowest assignable address of ``subnet`` not in ``used``; CidrError when the subnet is full."""
    net = network(subnet)
    taken = {address(ip) for ip in used}
    last = net.broadcast_address
    candidate = net.network_address + RESERVED_AT_START
    while candidate < last:
        if candidate not in taken:
            return str(candidate)
        candidate += 1
    raise CidrError(f"no free address left in subnet {subnet}")


def longest_prefix_match(entries: Sequence[tuple[str, R]], ip: str) -> R | None:
    """The value of the most specific ``(cidr, value)`` entry containing ``ip``, or None."""
    target = address(ip)
    best: tuple[int, R] | None = None
    for cidr, value in entries:
        net = network(cidr)
        if net.version == target.version and target in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, value)
    return best[1] if best else None


def with_prefix(ip: str, cidr: str) -> str:
    """``ip`` written with the prefix length of ``cidr`` (for interface addresses)."""
    return f"{ip}/{network(cidr).prefixlen}"
