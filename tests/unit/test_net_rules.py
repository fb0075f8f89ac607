"""Route tables to kernel routes, and the nftables ruleset text (pure)."""

from __future__ import annotations

import pytest

from agent.contract.network import (
    Attachment,
    ElasticIp,
    Eni,
    HostNetwork,
    NaclEntry,
    NatGateway,
    NetworkAcl,
    Peering,
    Route,
    RouteTable,
    SecurityGroup,
    SgRule,
    Subnet,
    Vpc,
)
from agent.network import naming, nft
from agent.network.dhcp import dnsmasq_config
from agent.network.plan import plan_host
from agent.network.routes import lookup, subnet_routes


def two_subnet_vpc() -> Vpc:
    return Vpc(
        "vpc-1", ["10.0.0.0/16"], "rtb-main", "acl-default", ipv6_cidrs=["2001:db8:1::/56"],
        subnets=[Subnet("subnet-pub", "10.0.1.0/24", "az1", "2001:db8:1:1::/64", route_table_id="rtb-pub"),
                 Subnet("subnet-prv", "10.0.2.0/24", "az1", network_acl_id="acl-strict")],
        route_tables=[
            RouteTable("rtb-main", [Route("10.0.0.0/16", "local"), Route("0.0.0.0/0", "nat-1"),
                                    Route("10.0.9.0/24", "eni-9", next_hop="10.0.1.9"),
                                    Route("10.7.0.0/16", "pcx-gone")]),
            RouteTable("rtb-pub", [Route("10.0.0.0/16", "local"), Route("2001:db8:1::/56", "local"),
                                   Route("0.0.0.0/0", "igw-1"), Route("::/0", "igw-1"),
                                   Route("10.8.0.0/16", "pcx-1"), Route("10.6.0.0/16", "igw-1", state="blackhole")]),
        ],
        network_acls=[NetworkAcl("acl-default", [NaclEntry(100, False, "allow", "0.0.0.0/0"),
                                                 NaclEntry(100, True, "allow", "0.0.0.0/0")]),
                      NetworkAcl("acl-strict", [NaclEntry(200, False, "allow", "0.0.0.0/0", "tcp", 1024, 65535),
                                                NaclEntry(100, False, "deny", "10.0.1.66/32"),
                                                NaclEntry(100, True, "allow", "10.0.0.0/16", "icmp", 8, 0)])],
        security_groups=[SecurityGroup("sg-web", [SgRule("tcp", 80, 80, cidr="0.0.0.0/0"),
                                                  SgRule("tcp", 22, 22, group_id="sg-admin"),
                                                  SgRule("udp", 1000, 2000, prefix_list_id="pl-1"),
                                                  SgRule("-1", group_id="sg-empty")],
                                         [SgRule("-1", cidr="0.0.0.0/0")])],
        enis=[Eni("eni-1", "subnet-pub", "02:00:00:00:00:01", ["10.0.1.10"], ["2001:db8:1:1::10"], ["sg-web"],
                  attachment=Attachment("tap1")),
              Eni("eni-2", "subnet-pub", "02:00:00:00:00:02", ["10.0.1.11"], [], ["sg-web"],
                  attachment=Attachment("tap2")),
              Eni("eni-3", "subnet-prv", "02:00:00:00:00:03", ["10.0.2.10"], [], [],
                  source_dest_check=False, attachment=Attachment("tap3"))],
        internet_gateway_id="igw-1",
        elastic_ips=[ElasticIp("eipalloc-1", "198.51.100.10", "10.0.1.10", "eni-1")],
        nat_gateways=[NatGateway("nat-1", "subnet-pub", "10.0.1.5", "198.51.100.5", "02:00:00:00:00:05")],
        peerings=[Peering("pcx-1", "vpc-2", ["10.8.0.0/16"])])


def doc() -> HostNetwork:
    return HostNetwork("h-1", [two_subnet_vpc()],
                       group_members={"sg-admin": ["10.0.1.11", "10.0.1.11", "10.0.1.12"], "sg-empty": []},
                       prefix_lists={"pl-1": ["10.5.0.0/16", "10.5.1.0/24", "2001:db8:5::/48"]})


def test_each_subnet_routes_by_its_own_table_with_longest_prefix_match() -> None:
    vpc = two_subnet_vpc()
    pub = subnet_routes(vpc, vpc.subnets[0], 100)
    prv = subnet_routes(vpc, vpc.subnets[1], 200)
    assert lookup(pub, "8.8.8.8").device == naming.UPLINK_INSIDE
    assert lookup(pub, "2001:db8:ffff::1").via == naming.P2P_FAR_V6
    assert lookup(pub, "10.8.1.1").device == naming.peering_link("pcx-1")
    assert lookup(pub, "10.0.2.7").device == naming.subnet_bridge("subnet-prv")
    assert lookup(pub, "10.0.77.1").kind == "unreachable"  # inside the VPC, no subnet there
    assert lookup(pub, "10.6.0.1").kind == "blackhole"
    nat = lookup(prv, "8.8.8.8")
    assert (nat.device, nat.via) == (naming.subnet_bridge("subnet-pub"), "10.0.1.5")
    assert lookup(prv, "10.0.9.3").via == "10.0.1.9"  # more specific than local, to an ENI
    assert lookup(prv, "10.7.0.1").kind == "blackhole"  # peering that no longer exists
    assert lookup(prv, "2001:db8:1:1::5") is None  # the main table has no IPv6 local route


def test_ruleset_is_one_atomic_table_replace() -> None:
    text = nft.router_ruleset(doc(), two_subnet_vpc())
    lines = text.splitlines()
    assert lines[:3] == ["table inet cloudlet", "delete table inet cloudlet", "table inet cloudlet {"]
    assert "delete table bridge cloudlet" in lines


def test_security_groups_are_stateful_and_cover_both_families() -> None:
    text = nft.router_ruleset(doc(), two_subnet_vpc())
    for direction in ("sg_out", "sg_in"):
        chain = text.split(f"\tchain {direction} {{")[1].split("\t}")[0].splitlines()
        assert chain[2].strip() == "ct state established,related accept"
    assert "ip saddr vmap @eni_out4" in text and "ip6 saddr vmap @eni_out6" in text
    assert "2001:db8:1:1::10 : jump" in text


def test_referenced_groups_and_prefix_lists_are_named_sets() -> None:
    text = nft.router_ruleset(doc(), two_subnet_vpc())
    assert "set sg_sg_admin_4" in text and "10.0.1.11/32, 10.0.1.12/32" in text.replace("10.0.1.11/31", "x")
    assert "ip saddr @sg_sg_admin_4 tcp dport 22 accept" in text
    assert "elements = { 10.5.0.0/16 }" in text  # 10.5.1.0/24 merged into its supernet
    assert "ip6 saddr @pl_pl_1_6 udp dport 1000-2000 accept" in text
    assert "sg_sg_empty" not in text  # a group with no members matches nothing: no rule, no set


def test_enis_with_same_groups_share_chains_and_no_group_means_drop() -> None:
    text = nft.router_ruleset(doc(), two_subnet_vpc())
    web = [line for line in text.splitlines() if "10.0.1.10 : jump" in line][0]
    chain = web.split("10.0.1.10 : jump ")[1].split(",")[0]
    assert f"10.0.1.11 : jump {chain}" in text
    empty_chain = text.split("10.0.2.10 : jump ")[1].split("_")[0:2]
    body = text.split(f"\tchain {'_'.join(empty_chain)}_in {{")[1].split("\t}")[0]
    assert body.strip() == "drop"


def test_an_unfiltered_interface_gets_no_verdict_and_is_accepted() -> None:
    vpc = two_subnet_vpc()
    vpc.enis.append(Eni("eni-4", "subnet-prv", "02:00:00:00:00:04", ["10.0.2.20"], [], [], filtered=False,
                        attachment=Attachment("port4", kind="service")))
    text = nft.router_ruleset(doc(), vpc)
    assert "10.0.2.20 :" not in text and "10.0.2.10 : jump" in text


def test_nacls_are_ordered_stateless_and_end_in_deny() -> None:
    text = nft.router_ruleset(doc(), two_subnet_vpc())
    chain = text.split("\tchain nacl_acl_strict_in {")[1].split("\t}")[0].strip().splitlines()
    assert [line.strip() for line in chain] == ["ip saddr 10.0.1.66/32 drop",
                                                "meta nfproto ipv4 tcp dport 1024-65535 return", "drop"]
    nacl_base = text.split("\tchain nacl {")[1].split("\t}")[0]
    assert "ct state" not in nacl_base and "ct state" not in "".join(chain)
    out = text.split("\tchain nacl_acl_strict_out {")[1].split("\t}")[0]
    assert "ip daddr 10.0.0.0/16 meta l4proto icmp icmp type 8 icmp code 0 return" in out


def test_edges_nat_and_antispoofing() -> None:
    text = nft.router_ruleset(doc(), two_subnet_vpc())
    assert "dnat ip to ip daddr map @eip_dnat" in text and "198.51.100.10 : 10.0.1.10" in text
    assert "ct status & (snat | dnat) == 0 drop" in text  # the nft 1.0.6 trap: a mask, not an exact compare
    bridges = f'{{ "{naming.subnet_bridge("subnet-pub")}", "{naming.subnet_bridge("subnet-prv")}" }}'
    assert f"iifname != {bridges} oifname != {bridges} drop" in text  # no transit: peering is not transitive
    assert f'iifname "{naming.peering_link("pcx-1")}" meta nfproto ipv4 ip saddr != {{ 10.8.0.0/16 }} drop' in text
    assert '"tap1" . 02:00:00:00:00:01' in text and '"tap1" . 10.0.1.10' in text
    unchecked = text.split("\tset unchecked {")[1].split("\t}")[0]
    assert '"tap3"' in unchecked and '"tap1"' not in unchecked  # source/dest check off: no IP checks


def test_nat_gateway_ruleset_masquerades_and_refuses_inbound() -> None:
    vpc = two_subnet_vpc()
    text = nft.nat_ruleset(vpc, vpc.nat_gateways[0])
    assert "snat ip to 10.0.1.5" in text
    assert text.count("policy drop") == 2


@pytest.mark.parametrize(("protocol", "ports", "expected"), [
    ("-1", (-1, -1), ""), ("tcp", (22, 22), "tcp dport 22"), ("6", (1, 65535), "tcp dport 1-65535"),
    ("udp", (0, 65535), "meta l4proto udp"), ("icmp", (-1, -1), "meta l4proto icmp"),
    ("icmpv6", (128, -1), "meta l4proto icmpv6 icmpv6 type 128"), ("47", (-1, -1), "meta l4proto 47")])
def test_l4_matches(protocol: str, ports: tuple[int, int], expected: str) -> None:
    assert nft.l4_match(protocol, *ports) == expected


def test_bad_rules_are_refused() -> None:
    with pytest.raises(nft.RulesetError):
        nft.l4_match("tcp", 90, 80)
    with pytest.raises(nft.RulesetError):
        nft.l4_match("sctp-ish", -1, -1)


def test_plan_is_deterministic_and_dhcp_is_static_only() -> None:
    first, second = plan_host(doc(), "/run/x"), plan_host(doc(), "/run/x")
    assert first == second
    router = first.namespace("cl-vpc-1")
    assert {link.kind for link in router.links} == {"bridge", "tap", "veth", "loopback"}
    peering = next(link for link in router.links if link.name == naming.peering_link("pcx-1"))
    assert peering.peer_netns == "cl-vpc-2"  # the lower VPC id makes the veth, the other side adopts it
    assert all(len(link.name) <= 15 for ns in first.namespaces for link in ns.links)
    config = dnsmasq_config(two_subnet_vpc(), "/run/x")
    assert "no-ping" in config.config and ",static," in config.config
    assert "02:00:00:00:00:01,10.0.1.10," in config.hosts


def test_a_lease_blocking_a_reservation_is_dropped_and_others_kept() -> None:
    from agent.network.dhcp import without_stale_leases

    leases = ("1700000000 02:00:00:00:00:aa 10.0.1.6 ip-10-0-1-6 *\n"
              "1700000000 02:00:00:00:00:bb 10.0.1.5 ip-10-0-1-5 *\n")
    hosts = "02:00:00:00:00:cc,10.0.1.6,ip-10-0-1-6\n02:00:00:00:00:bb,10.0.1.5,ip-10-0-1-5\n"
    assert without_stale_leases(leases, hosts) == "1700000000 02:00:00:00:00:bb 10.0.1.5 ip-10-0-1-5 *\n"
    assert without_stale_leases(leases, "02:00:00:00:00:AA,10.0.1.6,x\n") is None  # nothing blocks: no restart
