"""The pure rules under the VPC API: CIDRs and addresses, rule parsing, lifecycles, pages, ids."""

from __future__ import annotations

import datetime as dt
import re

import pytest

from controller.ec2 import ids
from controller.ec2.describe import describe, page
from controller.ec2.vpc import cidrs, network_acls, sg_rules, timed_states
from controller.errors import ServiceError


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(ServiceError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value.code


# --- CIDRs: AWS's codes for agent.contract.cidr's refusals (the rules are tested in test_net_cidr.py) ------------


@pytest.mark.parametrize("cidr", ["10.0.0.0/16", "10.0.0.0/28", "172.16.5.0/24", "192.168.0.0/20"])
def test_vpc_blocks_from_16_to_28_are_accepted(cidr: str) -> None:
    assert str(cidrs.check_vpc_cidr(cidr)) == cidr


@pytest.mark.parametrize("cidr", ["10.0.0.0/15", "10.0.0.0/8", "10.0.0.0/29", "10.0.0.0/32"])
def test_vpc_blocks_outside_16_to_28_are_a_range_error(cidr: str) -> None:
    assert code_of(cidrs.check_vpc_cidr, cidr) == "InvalidVpc.Range"


@pytest.mark.parametrize("cidr", ["10.0.0.1/16", "10.0.0.0", "banana", "10.0.0.0/33", "fd00::/56", ""])
def test_malformed_vpc_blocks_are_invalid_parameter_values(cidr: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        cidrs.check_vpc_cidr(cidr)
    assert excinfo.value.code == "InvalidParameterValue"
    assert f"Value ({cidr}) for parameter cidrBlock is invalid" in excinfo.value.message


def test_subnets_must_sit_inside_the_vpc_and_clear_of_siblings() -> None:
    siblings = ["10.0.1.0/24", "10.0.4.0/22"]
    assert str(cidrs.check_subnet_cidr("10.0.2.0/24", "10.0.0.0/16", siblings)) == "10.0.2.0/24"
    assert code_of(cidrs.check_subnet_cidr, "10.1.0.0/24", "10.0.0.0/16", siblings) == "InvalidSubnet.Range"
    assert code_of(cidrs.check_subnet_cidr, "10.0.0.0/15", "10.0.0.0/16", []) == "InvalidSubnet.Range"
    assert code_of(cidrs.check_subnet_cidr, "10.0.0.0/29", "10.0.0.0/16", []) == "InvalidSubnet.Range"
    assert code_of(cidrs.check_subnet_cidr, "10.0.1.128/25", "10.0.0.0/16", siblings) == "InvalidSubnet.Conflict"
    assert code_of(cidrs.check_subnet_cidr, "10.0.0.0/20", "10.0.0.0/16", siblings) == "InvalidSubnet.Conflict"


def test_ipv6_subnets_are_64s_inside_the_vpc_56() -> None:
    vpc = "2001:db8:1000:100::/56"
    assert str(cidrs.check_subnet_ipv6_cidr("2001:db8:1000:101::/64", vpc, [])) == "2001:db8:1000:101::/64"
    assert code_of(cidrs.check_subnet_ipv6_cidr, "2001:db8:1000:102::/63", vpc, []) == "InvalidSubnet.Range"
    assert code_of(cidrs.check_subnet_ipv6_cidr, "2001:db8:2000::/64", vpc, []) == "InvalidSubnet.Range"
    assert code_of(cidrs.check_subnet_ipv6_cidr, "2001:db8:1000:101::/64", vpc,
                   ["2001:db8:1000:101::/64"]) == "InvalidSubnet.Conflict"
    assert code_of(cidrs.check_subnet_ipv6_cidr, "2001:db8:1000:101::/64", None, []) == "InvalidParameterValue"


def test_requested_private_addresses_are_checked() -> None:
    assert cidrs.check_private_ip("10.0.1.0/24", "10.0.1.10") == "10.0.1.10"
    for bad in ("10.0.1.1", "10.0.1.255", "10.0.2.9", "10.0.1.300"):
        assert code_of(cidrs.check_private_ip, "10.0.1.0/24", bad) == "InvalidParameterValue"


def test_requested_ipv6_addresses_are_checked() -> None:
    block = "2001:db8:1:1::/64"
    assert cidrs.check_ipv6_address(block, "2001:db8:1:1:0::10") == "2001:db8:1:1::10"
    for bad in ("2001:db8:1:1::1", "2001:db8:1:2::10", "10.0.1.10", "banana"):
        assert code_of(cidrs.check_ipv6_address, block, bad) == "InvalidParameterValue"


def test_default_vpc_zone_blocks() -> None:
    assert cidrs.subnet_zone_blocks("172.31.0.0/16", 20, 3) == ["172.31.0.0/20", "172.31.16.0/20", "172.31.32.0/20"]


# --- security group rules -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("given", "stored"), [
    ("tcp", "tcp"), ("TCP", "tcp"), ("6", "tcp"), ("17", "udp"), ("1", "icmp"), ("58", "icmpv6"), ("-1", "-1"),
    ("all", "-1"), ("50", "50"), ("047", "47")])
def test_protocols_are_spelled_as_ec2_stores_them(given: str, stored: str) -> None:
    assert sg_rules.normalize_protocol(given) == stored


@pytest.mark.parametrize("given", ["tcpx", "256", "-2", "icmp6"])
def test_unknown_protocols_are_refused(given: str) -> None:
    assert code_of(sg_rules.normalize_protocol, given) == "InvalidParameterValue"


def test_port_rules_per_protocol() -> None:
    assert sg_rules.check_ports("tcp", 22, 22) == (22, 22)
    assert sg_rules.check_ports("udp", 0, 65535) == (0, 65535)
    assert sg_rules.check_ports("icmp", 8, -1) == (8, -1)
    assert sg_rules.check_ports("icmp", None, None) == (-1, -1)
    assert sg_rules.check_ports("-1", 22, 80) == (-1, -1)
    assert sg_rules.check_ports("50", None, None) == (-1, -1)
    for protocol, low, high in (("tcp", None, 22), ("tcp", 80, 22), ("udp", -1, -1), ("tcp", 0, 65536),
                                ("icmp", -1, 0), ("icmp", 256, 0)):
        assert code_of(sg_rules.check_ports, protocol, low, high) == "InvalidParameterValue"


def test_one_rule_per_source_and_the_legacy_form() -> None:
    rules = sg_rules.parse_permissions({"IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "IpRanges": [{"CidrIp": "10.0.0.0/8"}],
         "Ipv6Ranges": [{"CidrIpv6": "::/0", "Description": "v6"}], "PrefixListIds": [{"PrefixListId": "pl-1"}],
         "UserIdGroupPairs": [{"GroupId": "sg-1"}, {"GroupName": "web", "UserId": "222222222222"}]}]},
        "111111111111")
    assert [r.peer() for r in rules] == ["10.0.0.0/8", "::/0", "pl-1", "sg-1", "web"]
    assert rules[3].group_account == "111111111111" and rules[4].group_account == "222222222222"
    assert rules[1].description == "v6"
    legacy = sg_rules.parse_permissions({"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "CidrIp": "1.2.3.0/24"},
                                        "111111111111")
    assert legacy == [sg_rules.RuleSpec("tcp", 22, 22, cidr_ipv4="1.2.3.0/24")]


def test_malformed_permissions() -> None:
    assert code_of(sg_rules.parse_permissions, {"IpPermissions": [{"IpProtocol": "tcp", "FromPort": 1, "ToPort": 2}]},
                   "1") == "InvalidPermission.Malformed"
    assert code_of(sg_rules.parse_permissions, {"IpPermissions": [
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "10.0.0.1/8"}]}]}, "1") == "InvalidParameterValue"
    assert code_of(sg_rules.parse_permissions, {"IpPermissions": [
        {"IpProtocol": "-1", "Ipv6Ranges": [{"CidrIpv6": "10.0.0.0/8"}]}]}, "1") == "InvalidParameterValue"
    assert code_of(sg_rules.parse_permissions, {"IpPermissions": [{"IpProtocol": "-1", "IpRanges": [
        {"CidrIp": "0.0.0.0/0"}]}], "CidrIp": "0.0.0.0/0"}, "1") == "InvalidParameterCombination"
    assert code_of(sg_rules.parse_permissions, {}, "1") == "MissingParameter"


def test_descriptions_do_not_make_rules_different() -> None:
    a = sg_rules.RuleSpec("tcp", 22, 22, cidr_ipv4="0.0.0.0/0", description="ssh")
    b = sg_rules.RuleSpec("tcp", 22, 22, cidr_ipv4="0.0.0.0/0")
    assert a.identity() == b.identity()
    assert sg_rules.describe_rule(a) == "peer: 0.0.0.0/0, TCP, from port: 22, to port: 22, ALLOW"


def test_stored_rules_group_into_ip_permissions_in_order() -> None:
    def row(protocol: str, low: int, high: int, **peer: str) -> dict:
        base = {"ip_protocol": protocol, "from_port": low, "to_port": high, "cidr_ipv4": None, "cidr_ipv6": None,
                "prefix_list_id": None, "referenced_group_id": None, "referenced_account_id": None,
                "description": None}
        return {**base, **peer}

    permissions = sg_rules.ip_permissions([
        row("tcp", 22, 22, cidr_ipv4="10.0.0.0/8"), row("-1", -1, -1, cidr_ipv4="0.0.0.0/0"),
        row("tcp", 22, 22, referenced_group_id="sg-1", referenced_account_id="1", description="peers")])
    assert permissions == [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8"}], "Ipv6Ranges": [],
         "PrefixListIds": [], "UserIdGroupPairs": [{"GroupId": "sg-1", "UserId": "1", "Description": "peers"}]},
        {"IpProtocol": "-1", "IpRanges": [{"CidrIp": "0.0.0.0/0"}], "Ipv6Ranges": [], "PrefixListIds": [],
         "UserIdGroupPairs": []}]


@pytest.mark.parametrize(("given", "stored"), [("tcp", "6"), ("-1", "-1"), ("all", "-1"), ("17", "17"),
                                                ("icmpv6", "58"), ("99", "99")])
def test_acl_protocols_are_numbers(given: str, stored: str) -> None:
    assert network_acls.normalize_protocol(given) == stored


def test_acl_entries_are_checked() -> None:
    base = {"RuleNumber": 100, "Protocol": "6", "RuleAction": "allow", "Egress": False, "CidrBlock": "0.0.0.0/0",
            "PortRange": {"From": 80, "To": 443}}
    values = network_acls._entry_values(base)
    assert (values["port_from"], values["port_to"], values["protocol"]) == (80, 443, "6")
    for change, code in ((dict(RuleNumber=0), "InvalidParameterValue"), (dict(RuleNumber=32767), "InvalidParameterValue"),
                         (dict(RuleAction="maybe"), "InvalidParameterValue"), (dict(PortRange=None), "MissingParameter"),
                         (dict(CidrBlock=None), "MissingParameter"),
                         (dict(Ipv6CidrBlock="::/0"), "InvalidParameterCombination"),
                         (dict(PortRange={"From": 90, "To": 80}), "InvalidParameterValue"),
                         (dict(Protocol="1", PortRange=None), "MissingParameter")):
        assert code_of(network_acls._entry_values, {**base, **change}) == code


# --- lifecycles, pages, ids -----------------------------------------------------------------------------------------


def test_nat_gateway_states_settle_with_time() -> None:
    now = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    row = {"state": "pending", "settles_at": now + dt.timedelta(seconds=5), "deleted_at": None}
    assert timed_states.nat_state(row, now) == "pending"
    assert timed_states.nat_state(row, now + dt.timedelta(seconds=5)) == "available"
    gone = {"state": "deleting", "settles_at": now, "deleted_at": now}
    assert timed_states.nat_state(gone, now) == "deleted"
    assert timed_states.nat_listed(gone, now + dt.timedelta(minutes=59))
    assert not timed_states.nat_listed(gone, now + dt.timedelta(minutes=61))


def test_unanswered_peering_requests_expire_after_a_week() -> None:
    created = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    row = {"status": "pending-acceptance", "expires_at": created + timed_states.PEERING_EXPIRES_AFTER,
           "updated_at": created}
    assert timed_states.peering_status(row, created + dt.timedelta(days=6)) == "pending-acceptance"
    assert timed_states.peering_status(row, created + dt.timedelta(days=7)) == "expired"
    assert timed_states.peering_listed(row, created + dt.timedelta(days=7, hours=1))
    assert not timed_states.peering_listed(row, created + dt.timedelta(days=7, hours=3))


def test_pages_follow_ids_and_survive_deletions() -> None:
    items = [{"Id": f"vpc-{i:02d}", "Tags": []} for i in range(12)]
    first, token = describe(items, {"MaxResults": 5}, key="Id", fields={}, page_limits=(5, 1000))
    assert [i["Id"] for i in first] == [f"vpc-{i:02d}" for i in range(5)] and token
    remaining = [i for i in items if i["Id"] != "vpc-05"]  # deleted between two pages
    second, token = page(remaining, {"MaxResults": 5, "NextToken": token}, "Id", (5, 1000))
    assert [i["Id"] for i in second] == ["vpc-06", "vpc-07", "vpc-08", "vpc-09", "vpc-10"]
    last, token = page(remaining, {"MaxResults": 5, "NextToken": token}, "Id", (5, 1000))
    assert [i["Id"] for i in last] == ["vpc-11"] and token is None
    assert code_of(page, items, {"MaxResults": 4}, "Id", (5, 1000)) == "InvalidParameterValue"
    assert code_of(page, items, {"NextToken": "garbage!"}, "Id", None) == "InvalidPaginationToken"


def test_unknown_ids_are_not_found_and_foreign_prefixes_malformed() -> None:
    items = [{"VpcId": "vpc-11111111", "Tags": []}]
    assert code_of(describe, items, {"VpcIds": ["vpc-22222222"]}, key="VpcId", fields={}, ids_param="VpcIds",
                   kind=ids.VPC) == "InvalidVpcID.NotFound"
    with pytest.raises(ServiceError) as excinfo:
        describe(items, {"VpcIds": ["subnet-1"]}, key="VpcId", fields={}, ids_param="VpcIds", kind=ids.VPC)
    assert excinfo.value.code == "InvalidVpcID.Malformed"
    assert ids.VPC.missing(["vpc-12345678"]).message == "The vpc ID 'vpc-12345678' does not exist"


def test_ids_and_macs_look_like_aws_ones() -> None:
    made = {ids.SUBNET.new_id() for _ in range(200)}
    assert len(made) == 200
    assert all(re.fullmatch(r"subnet-[0-9a-f]{17}", i) for i in made)
    assert re.fullmatch(r"02(:[0-9a-f]{2}){5}", ids.new_mac())
    assert ids.kind_of("eipalloc-0123456789abcdef0") is ids.ELASTIC_IP
    assert ids.kind_of("eni-attach-0123") is None
