"""CIDR rules of VPCs, shared by controller and agent: parsing, containment, overlap, block sizes,
reserved addresses, allocation, longest prefix match. (The AWS errors the controller makes of them are
tested in test_ec2_vpc_rules.py.)"""

from __future__ import annotations

import ipaddress

import pytest

from agent.contract import cidr


def test_reserved_are_first_four_and_last() -> None:
    assert cidr.reserved_addresses("10.0.1.0/24") == ["10.0.1.0", "10.0.1.1", "10.0.1.2", "10.0.1.3", "10.0.1.255"]
    assert cidr.reserved_addresses("10.0.0.16/28")[-1] == "10.0.0.31"
    assert cidr.reserved_addresses("2001:db8:1:1::/64")[-1] == "2001:db8:1:1:ffff:ffff:ffff:ffff"


def test_router_and_dns_addresses() -> None:
    assert cidr.router_address("10.0.1.0/24") == "10.0.1.1"
    assert cidr.dns_address("10.0.1.0/24") == "10.0.1.2"
    assert cidr.router_address("2001:db8:a:1::/64") == "2001:db8:a:1::1"


def test_five_addresses_of_every_subnet_are_reserved() -> None:
    assert cidr.usable_addresses("10.0.1.0/24") == 251
    assert cidr.usable_addresses("10.0.0.0/28") == 11
    reserved = [a for a in (f"10.0.1.{i}" for i in range(256)) if cidr.is_reserved("10.0.1.0/24", a)]
    assert reserved == cidr.reserved_addresses("10.0.1.0/24")


def test_assignable_addresses() -> None:
    assert not cidr.is_assignable("10.0.1.0/24", "10.0.1.3")
    assert cidr.is_assignable("10.0.1.0/24", "10.0.1.4")
    assert not cidr.is_assignable("10.0.1.0/24", "10.0.1.255")
    assert not cidr.is_assignable("10.0.1.0/24", "10.0.2.4")
    assert not cidr.is_assignable("2001:db8::/64", "10.0.1.4")


def test_the_first_free_address_skips_reserved_and_used_ones() -> None:
    assert cidr.first_free("10.0.1.0/24", []) == "10.0.1.4"
    assert cidr.first_free("10.0.1.0/24", ["10.0.1.4", "10.0.1.5", "10.0.1.7"]) == "10.0.1.6"
    full = [f"10.0.0.{i}" for i in range(4, 15)]
    assert cidr.first_free("10.0.0.0/28", full) is None


def test_random_ipv6_addresses_stay_in_the_subnet_and_avoid_used_ones() -> None:
    block = "2001:db8::/124"  # 16 addresses, 11 assignable
    used: set[str] = set()
    for _ in range(11):
        address = cidr.random_ipv6(block, used)
        assert cidr.is_assignable(block, address)
        assert address not in used
        used.add(address)


def test_blocks_are_handed_out_first_free_and_pools_run_out() -> None:
    pool = "2001:db8:1000::/54"  # four /56s
    first = cidr.free_block(pool, 56, [])
    assert first == "2001:db8:1000::/56"
    taken = [first, "2001:db8:1000:200::/56"]
    assert cidr.free_block(pool, 56, taken) == "2001:db8:1000:100::/56"
    everything = [str(b) for b in ipaddress.ip_network(pool).subnets(new_prefix=56)]
    assert cidr.free_block(pool, 56, everything) is None


def test_public_pool_leaves_its_first_host_to_the_uplink() -> None:
    hosts = list(cidr.public_addresses("198.51.100.0/29"))
    assert hosts == ["198.51.100.2", "198.51.100.3", "198.51.100.4", "198.51.100.5", "198.51.100.6"]
    assert cidr.in_pool("198.51.100.0/29", "198.51.100.6")
    assert not cidr.in_pool("198.51.100.0/29", "198.51.100.1")
    assert not cidr.in_pool("198.51.100.0/29", "198.51.100.7")
    assert not cidr.in_pool("198.51.100.0/29", "not-an-ip")


def test_containment_and_overlap_are_family_aware() -> None:
    assert cidr.contains("10.0.0.0/16", "10.0.1.0/24")
    assert not cidr.contains("10.0.1.0/24", "10.0.0.0/16")
    assert cidr.contains("10.0.0.0/16", "10.0.200.7")
    assert not cidr.contains("10.0.0.0/16", "2001:db8::1")
    assert cidr.overlaps("10.0.0.0/16", "10.0.255.0/24")
    assert not cidr.overlaps("10.0.0.0/16", "10.1.0.0/16")
    assert not cidr.overlaps("10.0.0.0/16", "::/0")
    assert not cidr.overlaps("10.0.0.0/16", None)


def test_strict_parsing_wants_zero_host_bits_a_prefix_and_the_right_family() -> None:
    with pytest.raises(cidr.CidrError, match="10.0.0.1/24"):
        cidr.network("10.0.0.1/24")
    assert str(cidr.ipv4_network("10.0.0.0/16")) == "10.0.0.0/16"
    assert str(cidr.ipv6_network("2001:db8::/56")) == "2001:db8::/56"
    for bad in ("10.0.0.0", "2001:db8::/56", "banana", "10.0.0.0/33", ""):
        with pytest.raises(cidr.CidrError):
            cidr.ipv4_network(bad)
    with pytest.raises(cidr.CidrError):
        cidr.ipv6_network("10.0.0.0/16")
    assert str(cidr.ipv4_address("10.0.0.9")) == "10.0.0.9"
    for bad_address in ("10.0.1.300", "2001:db8::1"):
        with pytest.raises(cidr.CidrError):
            cidr.ipv4_address(bad_address)


def test_vpc_blocks_are_ipv4_from_16_to_28() -> None:
    assert str(cidr.check_vpc_cidr("10.0.0.0/16")) == "10.0.0.0/16"
    cidr.check_vpc_cidr("10.0.0.0/28")
    for too_big_or_small in ("10.0.0.0/15", "10.0.0.0/29"):
        with pytest.raises(cidr.CidrRangeError):
            cidr.check_vpc_cidr(too_big_or_small)
    with pytest.raises(cidr.CidrError):
        cidr.check_vpc_cidr("2001:db8::/56")


def test_subnets_sit_inside_their_vpc_and_clear_of_siblings() -> None:
    siblings = ["10.0.1.0/24", "10.0.4.0/22"]
    assert str(cidr.check_subnet_cidr("10.0.2.0/24", "10.0.0.0/16", siblings)) == "10.0.2.0/24"
    for outside in ("10.1.0.0/24", "10.0.0.0/15", "10.0.0.0/29"):
        with pytest.raises(cidr.CidrRangeError):
            cidr.check_subnet_cidr(outside, "10.0.0.0/16", siblings)
    for overlapping in ("10.0.1.128/25", "10.0.0.0/20"):
        with pytest.raises(cidr.CidrConflictError):
            cidr.check_subnet_cidr(overlapping, "10.0.0.0/16", siblings)
    vpc6 = "2001:db8:1000:100::/56"
    assert str(cidr.check_subnet_ipv6_cidr("2001:db8:1000:101::/64", vpc6, [])) == "2001:db8:1000:101::/64"
    for outside in ("2001:db8:1000:102::/63", "2001:db8:2000::/64"):
        with pytest.raises(cidr.CidrRangeError):
            cidr.check_subnet_ipv6_cidr(outside, vpc6, [])
    with pytest.raises(cidr.CidrConflictError):
        cidr.check_subnet_ipv6_cidr("2001:db8:1000:101::/64", vpc6, ["2001:db8:1000:101::/64"])


def test_longest_prefix_match() -> None:
    table = [("0.0.0.0/0", "igw"), ("10.0.0.0/16", "local"), ("10.0.5.0/24", "eni"), ("::/0", "eigw")]
    assert cidr.longest_prefix_match(table, "10.0.5.9") == "eni"
    assert cidr.longest_prefix_match(table, "10.0.6.9") == "local"
    assert cidr.longest_prefix_match(table, "8.8.8.8") == "igw"
    assert cidr.longest_prefix_match(table, "2001:db8::1") == "eigw"
    assert cidr.longest_prefix_match([("10.0.0.0/8", "x")], "11.0.0.1") is None


def test_the_first_free_address_of_a_crowded_subnet_is_found_without_parsing_every_used_one() -> None:
    used = {f"10.1.{i // 256}.{i % 256}" for i in range(4, 20_004)}
    used.discard("10.1.40.7")
    assert cidr.first_free("10.1.0.0/16", used) == "10.1.40.7"
    assert cidr.first_free("10.1.0.0/16", used | {"10.1.40.7"}) == "10.1.78.36"
    assert cidr.first_free("2001:db8::/126", ["2001:db8::1"]) is None  # reserved ones leave no room
