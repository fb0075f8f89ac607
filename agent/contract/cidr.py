"""VPC address rules, stated once for the controller and the agent: pure functions over ``ipaddress``.

EC2's rules: a VPC's IPv4 block is /16 to /28; a subnet's IPv4 block is /16 to /28, inside its VPC's block
and overlapping no sibling; an IPv6 VPC block is a /56 and a subnet's a /64 inside it. In every subnet the
first four addresses (network, router +1, DNS +2, future use +3) and the last one are never handed out.
The controller validates CreateVpc/CreateSubnet and hands out addresses with these functions and the agent
checks its documents with them, so both sides agree on what "reserved" or "inside" means.

Refusals are :class:`CidrError` (a ValueError) whose subclasses name the broken rule; the controller turns
them into AWS's error codes in ``controller/ec2/cidrs.py``, the agent lists them as document problems.
"""

from __future__ import annotations

import functools
import ipaddress
import secrets
import socket
from collections.abc import Collection, Iterable, Iterator, Sequence
from typing import TypeVar

Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Address = ipaddress.IPv4Address | ipaddress.IPv6Address

#: Addresses EC2 keeps at the start of every subnet: network, router (+1), DNS (+2), future use (+3).
RESERVED_AT_START = 4
#: Per subnet, EC2 keeps the first four and the last address.
RESERVED_PER_SUBNET = RESERVED_AT_START + 1
#: The IPv4 block sizes EC2 accepts for VPCs and subnets alike.
MIN_PREFIX, MAX_PREFIX = 16, 28
VPC_IPV6_PREFIX, SUBNET_IPV6_PREFIX = 56, 64

R = TypeVar("R")


class CidrError(ValueError):
    """A CIDR or address that is malformed or breaks a VPC rule; the message names the offending value."""


class CidrRangeError(CidrError):
    """A well-formed block of the wrong size, or outside the block it must lie in."""


class CidrConflictError(CidrError):
    """A well-formed block that overlaps a sibling it must stay clear of."""


# --- parsing ---------------------------------------------------------------------------------------------------------


def network(cidr: str) -> Network:
    """Parse a CIDR strictly: host bits must be zero (``10.0.0.1/24`` is refused, as EC2 does)."""
    try:
        return ipaddress.ip_network(cidr, strict=True)
    except ValueError as exc:
        raise CidrError(f"invalid CIDR {cidr!r}: {exc}") from exc


def ipv4_network(text: str) -> ipaddress.IPv4Network:
    """An IPv4 CIDR written with its prefix length and zero host bits (``10.0.0.0`` alone is no block)."""
    net = network(text)
    if not isinstance(net, ipaddress.IPv4Network) or "/" not in text:
        raise CidrError(f"{text!r} is not an IPv4 CIDR block")
    return net


def ipv6_network(text: str) -> ipaddress.IPv6Network:
    """An IPv6 CIDR written with its prefix length and zero host bits."""
    net = network(text)
    if not isinstance(net, ipaddress.IPv6Network) or "/" not in text:
        raise CidrError(f"{text!r} is not an IPv6 CIDR block")
    return net


def address(ip: str) -> Address:
    try:
        return ipaddress.ip_address(ip)
    except ValueError as exc:
        raise CidrError(f"invalid address {ip!r}") from exc


def ipv4_address(ip: str) -> ipaddress.IPv4Address:
    parsed = address(ip)
    if not isinstance(parsed, ipaddress.IPv4Address):
        raise CidrError(f"{ip!r} is not an IPv4 address")
    return parsed


def ipv6_address(ip: str) -> ipaddress.IPv6Address:
    parsed = address(ip)
    if not isinstance(parsed, ipaddress.IPv6Address):
        raise CidrError(f"{ip!r} is not an IPv6 address")
    return parsed


def family(text: str) -> int:
    """4 or 6 for an address or CIDR string."""
    return 6 if ":" in text else 4


def with_prefix(ip: str, cidr: str) -> str:
    """``ip`` written with the prefix length of ``cidr`` (for interface addresses)."""
    return f"{ip}/{network(cidr).prefixlen}"


# --- containment and overlap -----------------------------------------------------------------------------------------


def contains(outer: str, inner: str) -> bool:
    """True when the address or CIDR ``inner`` lies wholly inside ``outer`` (same family only)."""
    outer_net = network(outer)
    if "/" in inner:
        inner_net = network(inner)
        return inner_net.version == outer_net.version and inner_net.subnet_of(outer_net)  # type: ignore[arg-type]
    ip = address(inner)
    return ip.version == outer_net.version and ip in outer_net


def overlaps(a: str | None, b: str | None) -> bool:
    """True when two CIDRs of the same family share an address (a missing block overlaps nothing)."""
    if not a or not b:
        return False
    net_a, net_b = network(a), network(b)
    return net_a.version == net_b.version and net_a.overlaps(net_b)  # type: ignore[arg-type]


def longest_prefix_match(entries: Sequence[tuple[str, R]], ip: str) -> R | None:
    """The value of the most specific ``(cidr, value)`` entry containing ``ip``, or None."""
    target = address(ip)
    best: tuple[int, R] | None = None
    for cidr, value in entries:
        net = network(cidr)
        if net.version == target.version and target in net and (best is None or net.prefixlen > best[0]):
            best = (net.prefixlen, value)
    return best[1] if best else None


# --- VPC and subnet blocks -------------------------------------------------------------------------------------------


def check_vpc_cidr(cidr: str) -> ipaddress.IPv4Network:
    """A VPC's primary block: an IPv4 CIDR from /16 to /28."""
    net = ipv4_network(cidr)
    if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX:
        raise CidrRangeError(f"VPC CIDR {cidr} must be an IPv4 block between /{MIN_PREFIX} and /{MAX_PREFIX}")
    return net


def check_subnet_cidr(cidr: str, vpc_cidr: str, siblings: Iterable[str]) -> ipaddress.IPv4Network:
    """A subnet's IPv4 block: /16 to /28, inside the VPC's block, clear of every sibling subnet."""
    net = ipv4_network(cidr)
    if not MIN_PREFIX <= net.prefixlen <= MAX_PREFIX or not net.subnet_of(ipaddress.IPv4Network(vpc_cidr)):
        raise CidrRangeError(f"subnet CIDR {cidr} must be a /{MIN_PREFIX} to /{MAX_PREFIX} inside {vpc_cidr}")
    _clear_of(net, siblings)
    return net


def check_subnet_ipv6_cidr(cidr: str, vpc_ipv6: str, siblings: Iterable[str]) -> ipaddress.IPv6Network:
    """A subnet's IPv6 block: a /64 inside the VPC's /56, clear of every sibling subnet."""
    net = ipv6_network(cidr)
    if net.prefixlen != SUBNET_IPV6_PREFIX or not net.subnet_of(ipaddress.IPv6Network(vpc_ipv6)):
        raise CidrRangeError(f"subnet IPv6 CIDR {cidr} must be a /{SUBNET_IPV6_PREFIX} inside {vpc_ipv6}")
    _clear_of(net, siblings)
    return net


def _clear_of(net: Network, siblings: Iterable[str]) -> None:
    for other in siblings:
        if overlaps(str(net), other):
            raise CidrConflictError(f"CIDR {net} overlaps the subnet {other}")


# --- reserved and assignable addresses ------------------------------------------------------------------------------


def reserved_addresses(subnet: str) -> list[str]:
    """The five addresses EC2 keeps out of every subnet: the first four and the last one."""
    net = network(subnet)
    first = [str(net.network_address + i) for i in range(min(RESERVED_AT_START, net.num_addresses))]
    return first + [str(net.broadcast_address)] if net.num_addresses > RESERVED_AT_START else first


def is_reserved(subnet: str, ip: str) -> bool:
    """True for a subnet's network address, its three next ones and its last one."""
    net, parsed = network(subnet), address(ip)
    return int(parsed) - int(net.network_address) < RESERVED_AT_START or parsed == net.broadcast_address


def is_assignable(subnet: str, ip: str) -> bool:
    """True when ``ip`` is inside ``subnet`` and not one of its reserved addresses."""
    return contains(subnet, ip) and not is_reserved(subnet, ip)


def usable_addresses(subnet: str) -> int:
    """How many addresses of a subnet EC2 can hand out (its size minus the five reserved)."""
    return network(subnet).num_addresses - RESERVED_PER_SUBNET


def router_address(subnet: str) -> str:
    """The implicit router of a subnet sits at its base address plus one."""
    return str(network(subnet).network_address + 1)


def dns_address(block: str) -> str:
    """The Amazon-provided DNS resolver sits at the block's base plus two (of a subnet or of the VPC)."""
    return str(network(block).network_address + 2)


# --- allocation ------------------------------------------------------------------------------------------------------


def first_free(subnet: str, used: Collection[str]) -> str | None:
    """The lowest assignable address of ``subnet`` not in ``used`` (None when the subnet is full).

    ``used`` holds addresses as ``str(ip_address)`` writes them (as the controller stores them): candidates
    are compared as text, so a subnet with thousands of interfaces is not parsed again for every new one.
    """
    net = network(subnet)
    taken = used if isinstance(used, set | frozenset) else set(used)
    as_text = _dotted_quad if net.version == 4 else (lambda number: str(ipaddress.IPv6Address(number)))
    for number in range(int(net.network_address) + RESERVED_AT_START, int(net.broadcast_address)):
        candidate = as_text(number)
        if candidate not in taken:
            return candidate
    return None


def _dotted_quad(number: int) -> str:
    return socket.inet_ntoa(number.to_bytes(4, "big"))


def random_ipv6(subnet: str, used: Collection[str]) -> str:
    """A random interface address of an IPv6 subnet, avoiding the reserved ones and ``used``.

    Random rather than lowest-first, as EC2 does: a /64 is too large to scan and addresses should not
    be guessable from the order interfaces were created in.
    """
    net = ipv6_network(subnet)
    taken = {ipv6_address(ip) for ip in used}
    span = net.num_addresses - RESERVED_PER_SUBNET
    while True:
        candidate = net.network_address + RESERVED_AT_START + secrets.randbelow(span)
        if candidate not in taken:
            return str(candidate)


def free_block(pool: str, prefixlen: int, used: Collection[str]) -> str | None:
    """The first ``/prefixlen`` of ``pool`` not overlapping any of ``used`` (None when exhausted)."""
    taken = [network(block) for block in used]
    for block in network(pool).subnets(new_prefix=prefixlen):
        if not any(block.overlaps(other) for other in taken):  # type: ignore[arg-type]
            return str(block)
    return None


def pool_parts(pool: str) -> tuple[tuple[int, int], ...]:
    """A public pool's inclusive address ranges, in the order written: ``A-B`` ranges or CIDRs (a CIDR counts
    its host addresses: no network or broadcast address), comma-separated. CidrError when malformed."""
    return _pool_parts(pool)


@functools.lru_cache(maxsize=64)
def _pool_parts(pool: str) -> tuple[tuple[int, int], ...]:
    parts: list[tuple[int, int]] = []
    for text in (part.strip() for part in pool.split(",")):
        if "-" in text:
            low, _, high = text.partition("-")
            first, last = ipv4_address(low.strip()), ipv4_address(high.strip())
            if last < first:
                raise CidrError(f"pool range {text!r} ends before it starts")
            parts.append((int(first), int(last)))
        elif "/" in text:
            net = ipv4_network(text)
            hosts = list(net.hosts()) if net.num_addresses <= 2 else None
            parts.append((int(hosts[0]), int(hosts[-1])) if hosts else
                         (int(net.network_address) + 1, int(net.broadcast_address) - 1))
        else:
            raise CidrError(f"pool part {text!r} is neither a range A-B nor a CIDR")
    return tuple(parts)


def pool_first(pool: str) -> str:
    """The pool's very first address: the uplink's own (lab router, bridge-mode address), never handed out."""
    return str(ipaddress.IPv4Address(pool_parts(pool)[0][0]))


def pool_networks(pool: str) -> list[str]:
    """The pool as CIDR blocks, for overlap checks (a CIDR part as written, a range as its smallest cover)."""
    pool_parts(pool)  # refuse a malformed pool first
    blocks: list[str] = []
    for text in (part.strip() for part in pool.split(",")):
        if "/" in text:
            blocks.append(str(ipv4_network(text)))
            continue
        low, _, high = text.partition("-")
        blocks += [str(net) for net in ipaddress.summarize_address_range(ipv4_address(low.strip()),
                                                                          ipv4_address(high.strip()))]
    return blocks


def public_addresses(pool: str) -> Iterator[str]:
    """The public IPv4 pool's hand-out order: every address of the pool but its very first.

    ``pool`` is a CIDR (every host address counts: ``198.51.100.0/24`` hands out .2 to .254) or comma-separated
    ranges ``A-B`` and CIDRs (``192.168.1.200-192.168.1.220``). The first address is left to the uplink (the lab
    Internet's router, or the Internet namespace's own LAN address in bridge mode), so an Elastic IP never
    collides with the gateway it is routed through. An address listed twice is handed out once.
    """
    seen: set[int] = set()
    first = True
    for low, high in pool_parts(pool):
        for value in range(low, high + 1):
            if first:
                first = False
                seen.add(value)
                continue
            if value not in seen:
                seen.add(value)
                yield str(ipaddress.IPv4Address(value))


def in_pool(pool: str, ip: str) -> bool:
    """True when ``ip`` is one :func:`public_addresses` may hand out (False for a malformed address)."""
    try:
        value = int(ipv4_address(ip))
    except CidrError:
        return False
    parts = pool_parts(pool)
    return value != parts[0][0] and any(low <= value <= high for low, high in parts)


class SubnetPort:
    """Mixin for a section entry that sits on a VPC subnet through one address (``ip``/``prefix_len``): a
    mount target, a load balancer node. Its subnet and that subnet's implicit router come from the address."""

    ip: str
    prefix_len: int

    @property
    def network(self) -> ipaddress.IPv4Network:
        return ipaddress.IPv4Interface(f"{self.ip}/{self.prefix_len}").network

    @property
    def gateway(self) -> str:
        return router_address(str(self.network))
