"""The VPC address rules with AWS's errors: request parameters checked by ``agent.contract.cidr``.

The rules themselves (block sizes, containment, overlap, reserved addresses, allocation) live once in
``agent.contract.cidr``, which the agents use too; this module only says which AWS error code and message
each refusal becomes, and which request parameter it names. Handlers that need a rule without an error
(overlap, allocation) call ``agent.contract.cidr`` directly.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Iterator
from contextlib import contextmanager

from agent.contract import cidr
from controller.ec2.errors import (
    InvalidParameterValue,
    InvalidSubnetConflict,
    InvalidSubnetRange,
    InvalidVpcRange,
    invalid_value,
)
from controller.errors import ServiceError


def ipv4_network(text: str, parameter: str = "cidrBlock") -> ipaddress.IPv4Network:
    """A strictly written IPv4 CIDR (host bits zero), else InvalidParameterValue."""
    try:
        return cidr.ipv4_network(text)
    except cidr.CidrError:
        raise invalid_value(text, parameter, "This is not a valid CIDR block.") from None


def ipv6_network(text: str, parameter: str = "ipv6CidrBlock") -> ipaddress.IPv6Network:
    try:
        return cidr.ipv6_network(text)
    except cidr.CidrError:
        raise invalid_value(text, parameter, "This is not a valid IPv6 CIDR block.") from None


def any_network(text: str, parameter: str) -> cidr.Network:
    """An IPv4 or IPv6 CIDR, strictly written."""
    return ipv6_network(text, parameter) if ":" in text else ipv4_network(text, parameter)


@contextmanager
def _refusals_as_aws(text: str, out_of_range: type[ServiceError]) -> Iterator[None]:
    """AWS's codes for a parsed block the rules refuse: ``out_of_range`` for its size or place, else a conflict."""
    try:
        yield
    except cidr.CidrConflictError:
        raise InvalidSubnetConflict(f"The CIDR '{text}' conflicts with another subnet") from None
    except cidr.CidrRangeError:
        raise out_of_range(f"The CIDR '{text}' is invalid.") from None


def check_vpc_cidr(text: str) -> ipaddress.IPv4Network:
    ipv4_network(text)
    with _refusals_as_aws(text, InvalidVpcRange):
        return cidr.check_vpc_cidr(text)


def check_subnet_cidr(text: str, vpc_cidr: str, siblings: Iterable[str]) -> ipaddress.IPv4Network:
    """A new subnet's IPv4 block: inside the VPC, /16../28, clear of every sibling."""
    ipv4_network(text)
    with _refusals_as_aws(text, InvalidSubnetRange):
        return cidr.check_subnet_cidr(text, vpc_cidr, siblings)


def check_subnet_ipv6_cidr(text: str, vpc_ipv6: str | None, siblings: Iterable[str]) -> ipaddress.IPv6Network:
    """A subnet's IPv6 block: a /64 inside the VPC's /56, clear of every sibling."""
    ipv6_network(text)
    if vpc_ipv6 is None:
        raise InvalidParameterValue(f"The IPv6 CIDR '{text}' is invalid: the VPC has no IPv6 CIDR block.")
    with _refusals_as_aws(text, InvalidSubnetRange):
        return cidr.check_subnet_ipv6_cidr(text, vpc_ipv6, siblings)


def ipv4_address(address: str, parameter: str = "privateIpAddress") -> ipaddress.IPv4Address:
    """A written IPv4 address, else InvalidParameterValue (checked before anything is looked up)."""
    try:
        return cidr.ipv4_address(address)
    except cidr.CidrError:
        raise invalid_value(address, parameter, "This is not a valid IPv4 address.") from None


def check_private_ip(subnet: str, address: str, parameter: str = "privateIpAddress") -> str:
    """A requested private IPv4 address: valid, inside the subnet and not reserved."""
    ip = str(ipv4_address(address, parameter))
    if not cidr.contains(subnet, ip):
        raise InvalidParameterValue(f"Address {address} does not fall within the subnet's address range")
    if cidr.is_reserved(subnet, ip):
        raise InvalidParameterValue(f"Address {address} is in subnet's reserved address range")
    return ip


def check_ipv6_address(subnet: str, address: str) -> str:
    """A requested IPv6 address: valid and assignable in the subnet's IPv6 block."""
    try:
        ip = str(cidr.ipv6_address(address))
    except cidr.CidrError:
        raise invalid_value(address, "ipv6Addresses", "This is not a valid IPv6 address.") from None
    if not cidr.is_assignable(subnet, ip):
        raise InvalidParameterValue(f"Address {address} does not fall within the subnet's IPv6 address range")
    return ip


def subnet_zone_blocks(vpc_cidr: str, prefixlen: int, count: int) -> list[str]:
    """The first ``count`` ``/prefixlen`` blocks of a VPC (the default VPC's per-zone subnets, a controller
    layout the agents never compute)."""
    blocks = ipaddress.IPv4Network(vpc_cidr).subnets(new_prefix=prefixlen)
    return [str(next(blocks)) for _ in range(count)]
