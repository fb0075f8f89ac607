"""The desired-state document: JSON round trip, versioning, validation."""

from __future__ import annotations

import json

import pytest

from agent.contract.codec import from_json, to_json
from agent.contract.network import (
    SCHEMA_VERSION,
    Attachment,
    ElasticIp,
    Eni,
    HostNetwork,
    NaclEntry,
    NetworkAcl,
    Peering,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Vpc,
)
from agent.contract.version import ContractError
from agent.network.validate import DocumentError, check, problems


def vpc(vpc_id: str = "vpc-1", block: str = "10.0.0.0/16") -> Vpc:
    return Vpc(vpc_id, [block], "rtb-main", "acl-1", ipv6_cidrs=["2001:db8:1::/56"],
               subnets=[Subnet("subnet-1", block.replace(".0.0/16", ".1.0/24"), "az1", "2001:db8:1:1::/64")],
               route_tables=[RouteTable("rtb-main", [Route(block, "local"), Route("0.0.0.0/0", "igw-1")])],
               network_acls=[NetworkAcl("acl-1", [NaclEntry(100, False, "allow", "0.0.0.0/0")])],
               security_groups=[SecurityGroup("sg-1", [SgRule("tcp", 22, 22, group_id="sg-1")])],
               enis=[Eni("eni-1", "subnet-1", "02:00:00:00:00:01", [block.replace(".0.0/16", ".1.10")],
                         ["2001:db8:1:1::10"], ["sg-1"], attachment=Attachment("tap1"))],
               internet_gateway_id="igw-1",
               elastic_ips=[ElasticIp("eipalloc-1", "198.51.100.7", block.replace(".0.0/16", ".1.10"), "eni-1")])


def test_round_trip_through_json_text() -> None:
    doc = HostNetwork("h-1", [vpc()], group_members={"sg-1": ["10.0.1.10"]}, generation=7)
    text = json.dumps(to_json(doc))
    again = from_json(HostNetwork, json.loads(text))
    assert again == doc
    assert again.vpcs[0].enis[0].attachment == Attachment("tap1")
    assert again.version == SCHEMA_VERSION


def test_unknown_fields_are_ignored_and_wrong_types_refused() -> None:
    data = to_json(HostNetwork("h-1", [vpc()]))
    data["vpcs"][0]["future_field"] = {"x": 1}
    assert from_json(HostNetwork, data).vpcs[0].id == "vpc-1"
    data["vpcs"][0]["cidrs"] = "10.0.0.0/16"
    with pytest.raises(ContractError, match="cidrs"):
        from_json(HostNetwork, data)


def test_other_schema_version_is_refused() -> None:
    data = to_json(HostNetwork("h-1"))
    data["version"] = SCHEMA_VERSION + 1
    with pytest.raises(ContractError, match="version"):
        from_json(HostNetwork, data)


def test_valid_document_has_no_problems() -> None:
    check(HostNetwork("h-1", [vpc()]), host_networks=["192.0.2.0/24"])


def test_problems_are_all_listed() -> None:
    bad = vpc()
    bad.subnets.append(Subnet("subnet-2", "10.0.1.128/25", "az1"))
    bad.enis[0].private_ips = ["10.0.1.3"]
    bad.enis[0].mac = "zz"
    bad.elastic_ips[0].public_ip = "203.0.113.9"
    found = problems(HostNetwork("h-1", [bad]))
    assert any("overlap" in p for p in found)
    assert any("10.0.1.3 is not an assignable" in p for p in found)
    assert any("MAC" in p for p in found)
    assert any("outside the public pool" in p for p in found)


def test_lab_uplink_must_not_overlap_the_host_network() -> None:
    doc = HostNetwork("h-1")
    doc.uplink.internet_cidr = "192.0.2.0/25"
    with pytest.raises(DocumentError, match="overlaps the host's network 192.0.2.0/24"):
        check(doc, host_networks=["192.0.2.0/24"])


def test_peering_needs_both_sides_and_distinct_blocks() -> None:
    a, b = vpc("vpc-a", "10.0.0.0/16"), vpc("vpc-b", "10.0.0.0/16")
    a.peerings = [Peering("pcx-1", "vpc-b", ["10.0.0.0/16"])]
    found = problems(HostNetwork("h-1", [a, b]))
    assert any("no matching side" in p for p in found)
    assert any("CIDRs overlap" in p for p in found)
