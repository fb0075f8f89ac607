"""CIDR rules of VPCs: containment, overlap, reserved addresses, allocation, longest prefix match."""

from __future__ import annotations

import pytest

from agent.network import cidr


def test_reserved_are_first_four_and_last() -> None:
    assert cidr.reserved_addresses("10.0.1.0/24") == ["10.0.1.0", "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.255"]
    assert cidr.reserved_addresses("10.0.0.16/28")[-1] == "10.0.0.31"
    assert cidr.reserved_addresses("2001:db8:1:1::/64")[-1] == "2001:db8:1:1:ffff:ffff:ffff:ffff"


def test_router_and_dns_addresses() -> None:
    assert cidr.router_address("10.0.1.0/24") == "10.0.1.1"
    assert cidr.dns_address("10.0.1.0/24") == "10.0.1.2"
    assert cidr.router_address("2001:db8:a:1::/64") == "2001:db8:a:1::1"


def test_assignable_and_next_free() -> None:
    assert not cidr.is_assignable("10.0.1.0/24", "10.0.1.3")
    assert cidr.is_assignable("10.0.1.0/24", "10.0.1.4")
    assert not cidr.is_assignable("10.0.1.0/24", "10.0.1.255")
    assert not cidr.is_assignable("10.0.1.0/24", "10.0.2.4")
    assert cidr.next_free("10.0.1.0/24", []) == "10.0.1.4"
    assert cidr.next_free("10.0.1.0/24", ["10.0.1.4", "10.0.1.5"]) == "10.0.1.6"
    full = [f"10.0.0.{i}" for i in range(4, 15)]
    with pytest.raises(cidr.CidrError, match="no free address"):
        cidr.next_free("10.0.0.0/28", full)


def test_containment_and_overlap_are_family_aware() -> None:
    assert cidr.contains("10.0.0.0/16", "10.0.1.0/24")
    assert not cidr.contains("10.0.1.0/24", "10.0.0.0/16")
    assert cidr.contains("10.0.0.0/16", "10.0.200.7")
    assert not cidr.contains("10.0.0.0/16", "2001:db8::1")
    assert cidr.overlaps("10.0.0.0/16", "10.0.255.0/24")
    assert not cidr.overlaps("10.0.0.0/16", "10.1.0.0/16")
    assert not cidr.overlaps("10.0.0.0/16", "::/0")


def test_vpc_block_size_and_strict_parsing() -> None:
    cidr.check_vpc_cidr("10.0.0.0/16")
    cidr.check_vpc_cidr("10.0.0.0/28")
    for bad in ("10.0.0.0/15", "10.0.0.0/29", "2001:db8::/56"):
        with pytest.raises(cidr.CidrError):
            cidr.check_vpc_cidr(bad)
    with pytest.raises(cidr.CidrError, match="10.0.0.1/24"):
        cidr.network("10.0.0.1/24")


def test_longest_prefix_match() -> None:
    table = [("0.0.0.0/0", "igw"), ("10.0.0.0/16", "local"), ("10.0.5.0/24", "eni"), ("::/0", "eigw")]
    assert cidr.longest_prefix_match(table, "10.0.5.9") == "eni"
    assert cidr.longest_prefix_match(table, "10.0.6.9") == "local"
    assert cidr.longest_prefix_match(table, "8.8.8.8") == "igw"
    assert cidr.longest_prefix_match(table, "2001:db8::1") == "eigw"
    assert cidr.longest_prefix_match([("10.0.0.0/8", "x")], "11.0.0.1") is None
