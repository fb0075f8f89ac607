"""The pure Reachability Analyzer core: networks written by hand, verdicts checked hop by hop."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from controller.ec2.vpc.reachability.analysis import PathQuery, Verdict, analyze
from controller.ec2.vpc.reachability.snapshot import (
    AclEntry,
    Interface,
    NatGateway,
    Network,
    Peering,
    Route,
    SgRule,
    Subnet,
    Vpc,
)

ARN = "arn:aws:ec2:home-1:"
ALLOW_ALL_ACL = (AclEntry(100, False, "-1", "allow", "0.0.0.0/0"), AclEntry(100, True, "-1", "allow", "0.0.0.0/0"))
WEB_RULES = (SgRule("sg-web", False, "tcp", 80, 80, cidr="10.0.0.0/16"),
             SgRule("sg-web", True, "-1", -1, -1, cidr="0.0.0.0/0"))
CLIENT_RULES = (SgRule("sg-client", True, "-1", -1, -1, cidr="0.0.0.0/0"),)


def local(table: str, block: str = "10.0.0.0/16") -> Route:
    return Route(table, block, (block,), "local", "local", "active", "CreateRouteTable")


def network(**changes: Any) -> Network:
    """One VPC, two subnets, a client (10.0.1.10) and a web server (10.0.2.20) allowing tcp/80 from the VPC."""
    base = Network(
        arn_prefix=ARN,
        vpcs={"vpc-a": Vpc("vpc-a", "111111111111", "10.0.0.0/16", "igw-a")},
        subnets={"subnet-1": Subnet("subnet-1", "vpc-a", "10.0.1.0/24", "rtb-a", "acl-a"),
                 "subnet-2": Subnet("subnet-2", "vpc-a", "10.0.2.0/24", "rtb-a", "acl-b")},
        interfaces={"eni-client": Interface("eni-client", "vpc-a", "subnet-1", ("10.0.1.10",), ("sg-client",),
                                            instance_id="i-client", device_index=0),
                    "eni-web": Interface("eni-web", "vpc-a", "subnet-2", ("10.0.2.20",), ("sg-web",),
                                         instance_id="i-web", device_index=0)},
        group_rules={"sg-client": CLIENT_RULES, "sg-web": WEB_RULES},
        group_members={"sg-client": frozenset({"10.0.1.10"}), "sg-web": frozenset({"10.0.2.20"})},
        acl_entries={"acl-a": ALLOW_ALL_ACL, "acl-b": ALLOW_ALL_ACL},
        route_tables={"rtb-a": (local("rtb-a"),)},
        internet_gateways={"igw-a": "vpc-a"})
    return replace(base, **changes)


def web(port: int = 80, **query: Any) -> PathQuery:
    return PathQuery(**{"source": "i-client", "destination": "i-web", "protocol": "tcp", "destination_port": port,
                        **query})


def codes(verdict: Verdict) -> list[str]:
    return [e["ExplanationCode"] for e in verdict.explanations]


def kinds(components: tuple[dict[str, Any], ...]) -> list[str]:
    return [c["Component"]["Id"].rpartition("-")[0] for c in components]


def test_an_allowed_path_inside_a_vpc_lists_every_hop_and_the_probe() -> None:
    verdict = analyze(network(), web())
    assert verdict.path_found and verdict.explanations == ()
    assert kinds(verdict.forward) == ["i", "eni", "sg", "rtb", "acl", "acl", "sg", "eni", "i"]
    assert [c["SequenceNumber"] for c in verdict.forward] == list(range(1, 10))
    ingress = verdict.forward[6]["SecurityGroupRule"]
    assert ingress == {"Direction": "ingress", "SecurityGroupId": "sg-web", "Protocol": "tcp",
                       "PortRange": {"From": 80, "To": 80}, "Cidr": "10.0.0.0/16"}
    assert verdict.forward[7]["InboundHeader"]["DestinationAddresses"] == ["10.0.2.20/32"]
    assert verdict.forward[3]["RouteTableRoute"]["DestinationCidr"] == "10.0.0.0/16"
    assert kinds(verdict.returning) == ["acl", "acl"]
    assert verdict.forward[0]["Component"]["Arn"] == f"{ARN}111111111111:instance/i-client"
    probe = verdict.probe
    assert (probe.source_eni, probe.destination_eni, probe.source_address, probe.destination_address,
            probe.protocol, probe.destination_port) == ("eni-client", "eni-web", "10.0.1.10", "10.0.2.20", "tcp", 80)


def test_within_one_subnet_no_network_acl_is_crossed() -> None:
    base = network()
    neighbour = replace(base.interfaces["eni-web"], subnet_id="subnet-1", private_ips=("10.0.1.20",))
    net = replace(base, interfaces={**base.interfaces, "eni-web": neighbour},
                  acl_entries={"acl-a": (), "acl-b": ALLOW_ALL_ACL})
    verdict = analyze(net, web())
    assert verdict.path_found and "acl" not in kinds(verdict.forward)


def test_a_security_group_without_a_rule_for_the_port_blocks_with_eni_sg_rules_mismatch() -> None:
    verdict = analyze(network(), web(port=443))
    assert not verdict.path_found and codes(verdict) == ["ENI_SG_RULES_MISMATCH"]
    explanation = verdict.explanations[0]
    assert explanation["Direction"] == "ingress"
    assert explanation["NetworkInterface"]["Id"] == "eni-web"
    assert [g["Id"] for g in explanation["SecurityGroups"]] == ["sg-web"]


def test_egress_rules_are_checked_at_the_source() -> None:
    net = network(group_rules={"sg-client": (), "sg-web": WEB_RULES})
    verdict = analyze(net, web())
    assert codes(verdict) == ["ENI_SG_RULES_MISMATCH"] and verdict.explanations[0]["Direction"] == "egress"


def test_a_rule_referencing_a_group_admits_its_members_only() -> None:
    rules = (SgRule("sg-web", False, "tcp", 80, 80, referenced_group_id="sg-client"),)
    assert analyze(network(group_rules={"sg-client": CLIENT_RULES, "sg-web": rules}), web()).path_found
    others = {"sg-client": frozenset({"10.0.1.99"}), "sg-web": frozenset()}
    assert not analyze(network(group_rules={"sg-client": CLIENT_RULES, "sg-web": rules}, group_members=others),
                       web()).path_found


def test_a_prefix_list_rule_admits_its_cidrs() -> None:
    rules = (SgRule("sg-web", False, "tcp", 80, 80, prefix_list_id="pl-1"),)
    net = network(group_rules={"sg-client": CLIENT_RULES, "sg-web": rules}, prefix_lists={"pl-1": ("10.0.1.0/24",)})
    assert analyze(net, web()).path_found
    assert not analyze(replace(net, prefix_lists={"pl-1": ("192.168.0.0/16",)}), web()).path_found


def test_a_network_acl_deny_blocks_the_request_inbound() -> None:
    deny_http = (AclEntry(50, False, "6", "deny", "0.0.0.0/0", 80, 80), *ALLOW_ALL_ACL)
    verdict = analyze(network(acl_entries={"acl-a": ALLOW_ALL_ACL, "acl-b": deny_http}), web())
    assert codes(verdict) == ["SUBNET_ACL_RESTRICTION"]
    explanation = verdict.explanations[0]
    assert explanation["Direction"] == "ingress" and explanation["Acl"]["Id"] == "acl-b"
    assert explanation["AclRule"]["RuleNumber"] == 50


def test_network_acls_are_stateless_so_the_answer_must_pass_them_too() -> None:
    """Outbound on the server's subnet allows only port 80 as destination: the answer to the client's
    ephemeral port is dropped, which AWS reports on the return path."""
    only_http_out = (AclEntry(100, False, "-1", "allow", "0.0.0.0/0"), AclEntry(100, True, "6", "allow", "0.0.0.0/0",
                                                                                 80, 80))
    verdict = analyze(network(acl_entries={"acl-a": ALLOW_ALL_ACL, "acl-b": only_http_out}), web())
    assert not verdict.path_found and codes(verdict) == ["SUBNET_ACL_RESTRICTION"]
    assert verdict.explanations[0]["Direction"] == "egress" and verdict.explanations[0]["Acl"]["Id"] == "acl-b"
    ephemeral = (AclEntry(100, False, "-1", "allow", "0.0.0.0/0"),
                 AclEntry(100, True, "6", "allow", "0.0.0.0/0", 1024, 65535))
    assert analyze(network(acl_entries={"acl-a": ALLOW_ALL_ACL, "acl-b": ephemeral}), web()).path_found


def test_the_outbound_acl_of_the_source_subnet_is_checked() -> None:
    no_out = ALLOW_ALL_ACL[:1]
    verdict = analyze(network(acl_entries={"acl-a": no_out, "acl-b": ALLOW_ALL_ACL}), web())
    assert codes(verdict) == ["SUBNET_ACL_RESTRICTION"] and verdict.explanations[0]["Direction"] == "egress"


def test_no_route_to_an_address_outside_the_vpc() -> None:
    verdict = analyze(network(), PathQuery("i-client", None, "tcp", destination_ip="192.168.1.1"))
    assert codes(verdict) == ["NO_ROUTE_TO_DESTINATION"]
    assert verdict.explanations[0]["RouteTable"]["Id"] == "rtb-a"


def test_a_blackhole_route_is_a_bad_state_route() -> None:
    routes = (local("rtb-a"), Route("rtb-a", "0.0.0.0/0", ("0.0.0.0/0",), "gateway", "igw-gone", "blackhole",
                                    "CreateRoute"))
    verdict = analyze(network(route_tables={"rtb-a": routes}), PathQuery("i-client", "igw-a", "tcp"))
    assert codes(verdict) == ["BAD_STATE_ROUTE"]


def internet_network(public_ip: str | None) -> Network:
    base = network()
    routes = (local("rtb-a"), Route("rtb-a", "0.0.0.0/0", ("0.0.0.0/0",), "gateway", "igw-a", "active", "CreateRoute"))
    web_open = (SgRule("sg-web", False, "tcp", 80, 80, cidr="0.0.0.0/0"), WEB_RULES[1])
    interfaces = {**base.interfaces, "eni-web": replace(base.interfaces["eni-web"], public_ip=public_ip),
                  "eni-client": replace(base.interfaces["eni-client"], public_ip=public_ip)}
    return replace(base, route_tables={"rtb-a": routes}, interfaces=interfaces,
                   group_rules={"sg-client": CLIENT_RULES, "sg-web": web_open})


def test_out_through_the_internet_gateway_needs_a_public_address() -> None:
    to_internet = PathQuery("i-client", "igw-a", "tcp", destination_port=443)
    verdict = analyze(internet_network("198.51.100.7"), to_internet)
    assert verdict.path_found and kinds(verdict.forward)[-1] == "igw"
    assert verdict.forward[-1]["OutboundHeader"]["SourceAddresses"] == ["198.51.100.7/32"]
    assert codes(analyze(internet_network(None), to_internet)) == ["IGW_PUBLIC_IP_ASSOCIATION_FOR_EGRESS"]


def test_in_from_the_internet_gateway_needs_a_public_address_and_a_route_back() -> None:
    from_internet = PathQuery("igw-a", "i-web", "tcp", destination_port=80)
    verdict = analyze(internet_network("198.51.100.7"), from_internet)
    assert verdict.path_found, verdict.explanations
    assert verdict.forward[0]["OutboundHeader"]["DestinationAddresses"] == ["198.51.100.7/32"]
    assert "rtb" in kinds(verdict.returning)
    assert codes(analyze(internet_network(None), from_internet)) == ["IGW_PRIVATE_IP_ASSOCIATION_FOR_INGRESS"]
    no_way_back = replace(internet_network("198.51.100.7"), route_tables={"rtb-a": (local("rtb-a"),)})
    assert codes(analyze(no_way_back, from_internet)) == ["NO_ROUTE_TO_DESTINATION"]
    detached = replace(internet_network("198.51.100.7"), internet_gateways={"igw-a": None})
    assert codes(analyze(detached, from_internet)) == ["UNASSOCIATED_COMPONENT"]


def test_a_private_subnet_reaches_the_internet_through_a_nat_gateway() -> None:
    base = internet_network(None)
    nat_subnet = Subnet("subnet-nat", "vpc-a", "10.0.9.0/24", "rtb-public", "acl-a")
    private = (local("rtb-a"), Route("rtb-a", "0.0.0.0/0", ("0.0.0.0/0",), "nat", "nat-1", "active", "CreateRoute"))
    public = (local("rtb-public"), Route("rtb-public", "0.0.0.0/0", ("0.0.0.0/0",), "gateway", "igw-a", "active",
                                         "CreateRoute"))
    net = replace(base, subnets={**base.subnets, "subnet-nat": nat_subnet},
                  route_tables={"rtb-a": private, "rtb-public": public},
                  nat_gateways={"nat-1": NatGateway("nat-1", "vpc-a", "subnet-nat", "eni-nat", "10.0.9.5",
                                                    "198.51.100.9")})
    verdict = analyze(net, PathQuery("i-client", "igw-a", "tcp", destination_port=443))
    assert verdict.path_found, verdict.explanations
    assert "nat" in kinds(verdict.forward)
    assert verdict.forward[-1]["OutboundHeader"]["SourceAddresses"] == ["198.51.100.9/32"]


def peered_network(route_back: bool = True) -> Network:
    base = network()
    pcx = Route("rtb-a", "10.1.0.0/16", ("10.1.0.0/16",), "peering", "pcx-1", "active", "CreateRoute")
    back = Route("rtb-b", "10.0.0.0/16", ("10.0.0.0/16",), "peering", "pcx-1", "active", "CreateRoute")
    db_rules = (SgRule("sg-db", False, "tcp", 5432, 5432, referenced_group_id="sg-client"),)
    return replace(
        base, vpcs={**base.vpcs, "vpc-b": Vpc("vpc-b", "222222222222", "10.1.0.0/16")},
        subnets={**base.subnets, "subnet-b": Subnet("subnet-b", "vpc-b", "10.1.0.0/24", "rtb-b", "acl-a")},
        interfaces={**base.interfaces, "eni-db": Interface("eni-db", "vpc-b", "subnet-b", ("10.1.0.5",), ("sg-db",))},
        group_rules={**base.group_rules, "sg-db": db_rules},
        route_tables={"rtb-a": (local("rtb-a"), pcx),
                      "rtb-b": (local("rtb-b", "10.1.0.0/16"), *((back,) if route_back else ()))},
        peerings={"pcx-1": Peering("pcx-1", "vpc-a", "vpc-b")})


def test_a_peering_connection_carries_the_path_to_the_other_vpc_and_back() -> None:
    to_db = PathQuery("eni-client", "eni-db", "tcp", destination_port=5432)
    verdict = analyze(peered_network(), to_db)
    assert verdict.path_found, verdict.explanations
    assert "pcx" in kinds(verdict.forward)
    assert verdict.forward[-1]["Component"]["Arn"] == f"{ARN}222222222222:network-interface/eni-db"
    assert codes(analyze(peered_network(route_back=False), to_db)) == ["NO_ROUTE_TO_DESTINATION"]
    assert codes(analyze(peered_network(), replace(to_db, destination_port=22))) == ["ENI_SG_RULES_MISMATCH"]
    unpeered = replace(peered_network(), route_tables={**peered_network().route_tables, "rtb-a": (local("rtb-a"),)})
    assert codes(analyze(unpeered, to_db)) == ["NO_ROUTE_TO_DESTINATION"]


def test_a_peering_connection_as_the_destination() -> None:
    verdict = analyze(peered_network(), PathQuery("i-client", "pcx-1", "tcp"))
    assert verdict.path_found and kinds(verdict.forward)[-1] == "pcx"


def test_a_missing_source_or_destination_is_explained() -> None:
    assert codes(analyze(network(), web(source="i-gone"))) == ["NO_SOURCE_OR_DESTINATION"]
    assert codes(analyze(network(), web(destination="eni-gone"))) == ["NO_SOURCE_OR_DESTINATION"]


def test_a_deny_for_part_of_an_open_range_leaves_the_rest_reachable() -> None:
    """From "the internet" a deny for one block still lets other addresses in; from that block it blocks."""
    deny_block = (AclEntry(50, False, "6", "deny", "203.0.113.0/24", 0, 65535), *ALLOW_ALL_ACL)
    net = replace(internet_network("198.51.100.7"), acl_entries={"acl-a": ALLOW_ALL_ACL, "acl-b": deny_block})
    from_internet = PathQuery("igw-a", "i-web", "tcp", destination_port=80)
    assert analyze(net, from_internet).path_found
    assert codes(analyze(net, replace(from_internet, source_ip="203.0.113.9"))) == ["SUBNET_ACL_RESTRICTION"]
    assert analyze(net, replace(from_internet, filters=({"SourceAddress": "192.0.2.1"},))).path_found


def test_an_acl_without_entries_denies_with_its_catch_all_rule() -> None:
    verdict = analyze(network(acl_entries={"acl-a": ALLOW_ALL_ACL, "acl-b": ()}), web())
    assert codes(verdict) == ["SUBNET_ACL_RESTRICTION"]
    assert verdict.explanations[0]["AclRule"]["RuleNumber"] == 32767
