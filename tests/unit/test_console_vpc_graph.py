"""The console's VPC topology document (controller/console/vpc_graph.py) and the VPC pages' pure form and
explanation helpers (controller/console/vpc_forms.py): no cloud, Describe answers written by hand."""

from __future__ import annotations

import time
from typing import Any

import pytest

from controller.console import vpc_forms, vpc_graph
from controller.console.vpc_forms import FormError

VPC = "vpc-0a0a0a0a0a0a0a0a0"


def answers(subnets: int = 2, enis_per_subnet: int = 2, **overrides: Any) -> vpc_graph.Answers:
    """A VPC with ``subnets`` subnets over two zones, a main route table to an internet gateway, a private
    table to a NAT gateway, two groups (web admits app's members on 443, app references itself) and
    ``enis_per_subnet`` interfaces in each subnet, the first one an instance's."""
    subnet_list = [{"SubnetId": f"subnet-{i:017x}", "VpcId": VPC, "CidrBlock": f"10.0.{i}.0/24",
                    "AvailabilityZone": "home-1a" if i % 2 == 0 else "home-1b",
                    "Tags": [{"Key": "Name", "Value": f"net{i}"}]} for i in range(subnets)]
    enis, instances = [], []
    for s, subnet in enumerate(subnet_list):
        for n in range(enis_per_subnet):
            eni = {"NetworkInterfaceId": f"eni-{s:08x}{n:09x}", "SubnetId": subnet["SubnetId"], "VpcId": VPC,
                   "PrivateIpAddress": f"10.0.{s}.{n + 4}", "Groups": [{"GroupId": "sg-000000000000000a0"}]}
            if n == 0:
                instance_id = f"i-{s:017x}"
                eni["Attachment"] = {"InstanceId": instance_id}
                instances.append({"InstanceId": instance_id, "SubnetId": subnet["SubnetId"],
                                  "State": {"Name": "running"},
                                  "NetworkInterfaces": [{"NetworkInterfaceId": eni["NetworkInterfaceId"]}]})
            enis.append(eni)
    built: dict[str, Any] = {
        "vpc": {"VpcId": VPC, "CidrBlock": "10.0.0.0/16", "State": "available",
                "Tags": [{"Key": "Name", "Value": "lab"}]},
        "subnets": subnet_list,
        "route_tables": [
            {"RouteTableId": "rtb-00000000000000001", "Associations": [{"Main": True}],
             "Routes": [{"DestinationCidrBlock": "10.0.0.0/16", "GatewayId": "local"},
                        {"DestinationCidrBlock": "0.0.0.0/0", "GatewayId": "igw-00000000000000001"}]},
            {"RouteTableId": "rtb-00000000000000002",
             "Associations": [{"SubnetId": subnet_list[-1]["SubnetId"]}] if subnet_list else [],
             "Routes": [{"DestinationCidrBlock": "0.0.0.0/0", "NatGatewayId": "nat-00000000000000001"}]}],
        "internet_gateways": [{"InternetGatewayId": "igw-00000000000000001"}],
        "egress_only_gateways": [], "peerings": [], "endpoints": [],
        "nat_gateways": [{"NatGatewayId": "nat-00000000000000001", "SubnetId": subnet_list[0]["SubnetId"],
                          "State": "available", "NatGatewayAddresses": [{"PublicIp": "198.51.100.7"}]}]
        if subnet_list else [],
        "interfaces": enis, "instances": instances,
        "security_groups": [
            {"GroupId": "sg-000000000000000a0", "GroupName": "app",
             "IpPermissions": [{"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-000000000000000a0"}]}]},
            {"GroupId": "sg-000000000000000b0", "GroupName": "web",
             "IpPermissions": [{"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443,
                                "UserIdGroupPairs": [{"GroupId": "sg-000000000000000a0"}]}]}],
    }
    built.update(overrides)
    return vpc_graph.Answers(**built)


def nodes(document: vpc_graph.Document) -> dict[str, dict[str, Any]]:
    return {n["data"]["id"]: n for n in document["elements"]["nodes"]}


def edges(document: vpc_graph.Document, kind: str) -> set[tuple[str, str]]:
    return {(e["data"]["source"], e["data"]["target"]) for e in document["elements"]["edges"]
            if e["data"]["kind"] == kind}


def test_subnets_are_grouped_per_zone_with_their_interfaces_and_instances_inside() -> None:
    document = vpc_graph.build(answers(subnets=3))
    found = nodes(document)
    assert found["subnet-00000000000000000"]["data"]["parent"] == "az:home-1a"
    assert found["subnet-00000000000000001"]["data"]["parent"] == "az:home-1b"
    assert found["az:home-1a"]["data"]["parent"] == VPC
    assert found["eni-00000000000000001"]["data"]["parent"] == "subnet-00000000000000000"
    assert found["i-00000000000000000"]["data"]["parent"] == "subnet-00000000000000000"
    assert ("i-00000000000000000", "eni-00000000000000000") in edges(document, "attachment")
    zone_a = found["subnet-00000000000000000"]["position"]["x"]
    assert found["subnet-00000000000000002"]["position"]["x"] == zone_a  # same zone, same column
    assert found["subnet-00000000000000002"]["position"]["y"] > found["subnet-00000000000000000"]["position"]["y"]
    assert found["subnet-00000000000000001"]["position"]["x"] != zone_a
    assert [z["zone"] for z in document["summary"]] == ["home-1a", "home-1b"]
    assert document["summary"][0]["subnets"][0]["counts"] == {"instance": 1, "eni": 2, "nat": 1}


def test_route_tables_serve_their_subnets_and_the_main_table_the_rest() -> None:
    document = vpc_graph.build(answers(subnets=3))
    serves = edges(document, "serves")
    assert serves == {("rtb-00000000000000001", "subnet-00000000000000000"),
                      ("rtb-00000000000000001", "subnet-00000000000000001"),
                      ("rtb-00000000000000002", "subnet-00000000000000002")}
    routes = {(e["data"]["source"], e["data"]["target"]): e["data"]["label"]
              for e in document["elements"]["edges"] if e["data"]["kind"] == "route"}
    assert routes == {("rtb-00000000000000001", "igw-00000000000000001"): "0.0.0.0/0",
                      ("rtb-00000000000000002", "nat-00000000000000001"): "0.0.0.0/0"}


def test_security_groups_are_edges_between_groups_with_their_ports() -> None:
    document = vpc_graph.build(answers())
    references = {(e["data"]["source"], e["data"]["target"]): e["data"]["label"]
                  for e in document["elements"]["edges"] if e["data"]["kind"] == "sg-reference"}
    assert references == {("sg-000000000000000a0", "sg-000000000000000a0"): "all",
                          ("sg-000000000000000a0", "sg-000000000000000b0"): "tcp/443"}
    assert ("eni-00000000000000000", "sg-000000000000000a0") in edges(document, "member")


def test_peerings_gateways_and_endpoints_are_drawn_and_edges_never_dangle() -> None:
    peering = {"VpcPeeringConnectionId": "pcx-00000000000000001", "Status": {"Code": "active"},
               "RequesterVpcInfo": {"VpcId": VPC}, "AccepterVpcInfo": {"VpcId": "vpc-0b0b0b0b0b0b0b0b0"}}
    document = vpc_graph.build(answers(
        peerings=[peering],
        egress_only_gateways=[{"EgressOnlyInternetGatewayId": "eigw-00000000000000001"}],
        endpoints=[{"VpcEndpointId": "vpce-00000000000000001", "VpcEndpointType": "Gateway",
                    "ServiceName": "com.amazonaws.home-1.s3", "NetworkInterfaceIds": ["eni-gone"]}]))
    found = nodes(document)
    assert "peer vpc-0b0b0b0b0b0b0b0b0" in found["pcx-00000000000000001"]["data"]["label"]
    assert ("pcx-00000000000000001", VPC) in edges(document, "peering")
    assert {"eigw-00000000000000001", "vpce-00000000000000001", "igw-00000000000000001"} <= set(found)
    for edge in document["elements"]["edges"]:
        assert edge["data"]["source"] in found and edge["data"]["target"] in found


def test_an_empty_vpc_is_a_document_too() -> None:
    document = vpc_graph.build(answers(subnets=0, nat_gateways=[], route_tables=[]))
    assert document["summary"] == [] and set(nodes(document)) >= {VPC}


def test_the_digest_changes_with_the_vpc_and_only_then() -> None:
    first = vpc_graph.digest(vpc_graph.build(answers()))
    assert vpc_graph.digest(vpc_graph.build(answers())) == first
    assert vpc_graph.digest(vpc_graph.build(answers(subnets=3))) != first


def test_fifty_subnets_and_five_hundred_interfaces_build_well_under_a_second() -> None:
    big = answers(subnets=50, enis_per_subnet=10)
    assert len(big.interfaces) == 500
    started = time.perf_counter()
    document = vpc_graph.build(big)
    vpc_graph.digest(document)
    elapsed = time.perf_counter() - started
    print(f"50 subnets, 500 interfaces: document and digest built in {elapsed * 1000:.1f} ms")
    assert len(document["elements"]["nodes"]) > 550
    assert elapsed < 0.5


def test_the_rule_form_becomes_an_ip_permission() -> None:
    assert vpc_forms.security_group_permission({"protocol": "tcp", "from_port": "22", "peer": "10.0.0.0/8",
                                                "description": "ssh"}) == {
        "IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "10.0.0.0/8", "Description": "ssh"}]}
    assert vpc_forms.security_group_permission({"protocol": "all", "peer": "sg-0123456789abcdef0"}) == {
        "IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": "sg-0123456789abcdef0"}]}
    assert vpc_forms.security_group_permission({"protocol": "icmp", "peer": "::/0"})["Ipv6Ranges"] == [
        {"CidrIpv6": "::/0"}]
    with pytest.raises(FormError, match="must be a number"):
        vpc_forms.security_group_permission({"protocol": "tcp", "from_port": "ssh", "peer": "0.0.0.0/0"})


def test_the_entry_form_becomes_a_network_acl_entry() -> None:
    assert vpc_forms.network_acl_entry({"direction": "egress", "rule_number": "100", "protocol": "udp",
                                        "from_port": "53", "cidr": "0.0.0.0/0", "action": "deny"}, "acl-1") == {
        "NetworkAclId": "acl-1", "RuleNumber": 100, "Protocol": "17", "RuleAction": "deny", "Egress": True,
        "CidrBlock": "0.0.0.0/0", "PortRange": {"From": 53, "To": 53}}


def test_explanations_read_as_plain_words() -> None:
    words = vpc_forms.explain({"ExplanationCode": "ENI_SG_RULES_MISMATCH", "Direction": "ingress",
                               "NetworkInterface": {"Id": "eni-1", "Arn": "arn"}})
    assert words == "No rule of the security groups of eni-1 allows this traffic (ingress)."
    assert "acl-1" in vpc_forms.explain({"ExplanationCode": "SUBNET_ACL_RESTRICTION", "Acl": {"Id": "acl-1"},
                                         "AclRule": {"RuleNumber": 32767, "RuleAction": "deny"}})
    assert vpc_forms.explain({"ExplanationCode": "SOMETHING_NEW"}) == "The analysis stopped here (something new)."
    assert vpc_forms.hop_detail({"SecurityGroupRule": {"Direction": "egress", "Protocol": "-1",
                                                       "Cidr": "0.0.0.0/0"}}) == "egress rule all all 0.0.0.0/0"
