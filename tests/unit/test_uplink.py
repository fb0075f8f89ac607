"""The uplink's pure parts: public pool forms, document checks per mode, and the nat/bridge leg's plan."""

from __future__ import annotations

import pytest

from agent.contract import cidr
from agent.contract.network import ElasticIp, HostNetwork, RouteTable, Uplink, Vpc
from agent.network import naming
from agent.network.plan import MAIN_TABLE, Neighbour, Proxy, plan_host
from agent.network.routes import KernelRoute
from agent.network.uplink import (
    HostFacts,
    HostUplink,
    UplinkError,
    from_flags,
    host_link_name,
    owned_proxy,
    plan_uplink,
)
from agent.network.validate import problems

POOL = "198.18.5.200-198.18.5.220"


# --- pool forms ------------------------------------------------------------------------------------------------------


def test_a_cidr_pool_keeps_todays_rule() -> None:
    assert list(cidr.public_addresses("198.51.100.0/29"))[:2] == ["198.51.100.2", "198.51.100.3"]
    assert cidr.pool_first("198.51.100.0/24") == "198.51.100.1"
    assert cidr.in_pool("198.51.100.0/24", "198.51.100.254")
    assert not cidr.in_pool("198.51.100.0/24", "198.51.100.255")


def test_a_range_pool_hands_out_all_but_its_very_first_address() -> None:
    assert cidr.pool_first(POOL) == "198.18.5.200"
    addresses = list(cidr.public_addresses(POOL))
    assert addresses[0] == "198.18.5.201" and addresses[-1] == "198.18.5.220" and len(addresses) == 20
    assert cidr.in_pool(POOL, "198.18.5.220")
    assert not cidr.in_pool(POOL, "198.18.5.200")
    assert not cidr.in_pool(POOL, "198.18.5.221")
    assert not cidr.in_pool(POOL, "2001:db8::1")


def test_mixed_pools_chain_their_parts_in_order_without_repeats() -> None:
    pool = "10.9.0.10-10.9.0.11, 10.9.1.0/30, 10.9.0.11-10.9.0.12"
    assert cidr.pool_first(pool) == "10.9.0.10"
    assert list(cidr.public_addresses(pool)) == ["10.9.0.11", "10.9.1.1", "10.9.1.2", "10.9.0.12"]
    assert cidr.in_pool(pool, "10.9.1.2") and not cidr.in_pool(pool, "10.9.1.3")
    assert cidr.pool_networks("10.9.0.10-10.9.0.13") == ["10.9.0.10/31", "10.9.0.12/31"]


@pytest.mark.parametrize("pool", ["10.0.0.9-10.0.0.1", "10.0.0.1", "10.0.0.1/24", "x-y", "", "2001:db8::/64"])
def test_malformed_pools_are_refused(pool: str) -> None:
    with pytest.raises(cidr.CidrError):
        cidr.pool_parts(pool)


# --- document checks -------------------------------------------------------------------------------------------------


def vpc(*eips: str, igw: bool = True) -> Vpc:
    return Vpc("vpc-1", ["10.0.0.0/16"], "rtb-1", "acl-1", route_tables=[RouteTable("rtb-1")],
               internet_gateway_id="igw-1" if igw else None,
               elastic_ips=[ElasticIp(f"eipalloc-{i}", ip, f"10.0.1.{10 + i}") for i, ip in enumerate(eips)])


def lan_doc(*eips: str, mode: str = "nat", igw: bool = True, pool: str = POOL) -> HostNetwork:
    return HostNetwork("h-1", [vpc(*eips, igw=igw)], name_prefix="cl-t1-",
                       uplink=Uplink(mode=mode, public_pool=pool, lan_pool=True))


def test_the_pool_may_overlap_the_host_network_only_off_the_lab() -> None:
    host = ["198.18.5.0/24"]
    assert not [p for p in problems(lan_doc("198.18.5.201"), host) if "overlap" in p]
    lab = HostNetwork("h-1", uplink=Uplink(public_pool="198.18.5.0/24"))
    assert any("public pool 198.18.5.0/24 overlaps the host's network" in p for p in problems(lab, host))


def test_a_lan_pool_must_stay_off_the_lab_internet() -> None:
    found = problems(lan_doc(pool="203.0.113.100-203.0.113.110"))
    assert any("overlaps the lab Internet 203.0.113.0/24" in p for p in found)


def test_an_eip_on_the_pools_first_address_is_refused() -> None:
    assert any("198.18.5.200 is outside the public pool" in p for p in problems(lan_doc("198.18.5.200")))
    assert not problems(lan_doc("198.18.5.201"))


def test_a_malformed_pool_is_reported_not_raised() -> None:
    found = problems(lan_doc("198.18.5.201", pool="nonsense"))
    assert found[0] == "public pool: pool part 'nonsense' is neither a range A-B nor a CIDR"
    assert any("198.18.5.201 is outside the public pool nonsense" in p for p in found)


# --- the nat and bridge legs -----------------------------------------------------------------------------------------


def test_lab_mode_plans_nothing_on_the_host() -> None:
    assert plan_uplink(lan_doc("198.18.5.201"), HostUplink(), HostFacts("eth0", "198.18.5.1")) is None
    internet = plan_host(HostNetwork("h-1"), "/run/x").namespaces[0]
    assert "lan" not in [link.name for link in internet.links]
    assert internet.ruleset is None and not internet.proxies


def test_a_lab_pool_keeps_the_host_out_even_when_the_agent_asks_for_nat() -> None:
    doc = HostNetwork("h-1", [vpc("198.51.100.7")])
    assert plan_uplink(doc, HostUplink("nat"), HostFacts("eth0", "198.18.5.1")) is None


def test_nat_routes_and_proxies_every_public_address_in_use() -> None:
    doc = lan_doc("198.18.5.201", "198.18.5.202")
    doc.vpcs.append(Vpc("vpc-2", ["10.1.0.0/16"], "rtb-2", "acl-2",
                        elastic_ips=[ElasticIp("eipalloc-x", "198.18.5.203", "10.1.0.10")]))  # no IGW: not routed
    plan = plan_uplink(doc, HostUplink("nat"), HostFacts("eth0", "198.18.5.1"))
    assert plan is not None
    link = host_link_name("cl-t1-")
    assert link == "cl-t1-uplink" and plan.interface == "eth0" and plan.public_ips == ("198.18.5.201", "198.18.5.202")
    assert plan.host_routes == tuple(KernelRoute(MAIN_TABLE, f"198.18.5.20{i}/32", device=link, via=naming.P2P_NEAR_V4)
                                     for i in (1, 2))
    assert plan.host_proxies == (Proxy("eth0", "198.18.5.201"), Proxy("eth0", "198.18.5.202"))
    assert plan.host_neighbours == (Neighbour(link, naming.P2P_NEAR_V4, plan.internet_mac),)
    assert dict(plan.host_sysctls)["net/ipv4/ip_forward"] == "1"
    assert plan.host_ruleset is not None
    assert (f'iifname "{link}" oifname "eth0" ip saddr != {{ 198.18.5.200-198.18.5.220 }} masquerade'
            in plan.host_ruleset)
    assert plan.host_ruleset.startswith("table inet cl_t1_uplink\ndelete table inet cl_t1_uplink\n")
    internet = plan_host(doc, "/run/x", plan).namespaces[0]
    lan = next(link for link in internet.links if link.name == "lan")
    assert lan.kind == "peer" and lan.addresses == ()
    assert KernelRoute(MAIN_TABLE, "0.0.0.0/0", device="lan", via=naming.P2P_FAR_V4) in internet.routes
    assert Neighbour("lan", naming.P2P_FAR_V4, plan.host_mac) in internet.neighbours
    assert internet.sysctls["net/ipv6/conf/lan/disable_ipv6"] == "1"
    assert "masquerade" not in (internet.ruleset or "")


def test_nat_takes_the_interface_from_the_flag_first_and_needs_one() -> None:
    plan = plan_uplink(lan_doc(), HostUplink("nat", interface="br0"), HostFacts("eth0"))
    assert plan is not None and plan.interface == "br0"
    with pytest.raises(UplinkError, match="--uplink-interface"):
        plan_uplink(lan_doc(), HostUplink("nat"), HostFacts())


def test_bridge_puts_the_pools_first_address_and_the_proxies_in_the_internet_namespace() -> None:
    doc = lan_doc("198.18.5.201", mode="bridge")
    plan = plan_uplink(doc, HostUplink("bridge", bridge="br0"), HostFacts("br0", "198.18.5.1", ("198.18.5.0/24",)))
    assert plan is not None and plan.master == "br0"
    assert not (plan.host_routes or plan.host_proxies or plan.host_sysctls or plan.host_ruleset)
    internet = plan_host(doc, "/run/x", plan).namespaces[0]
    assert next(link for link in internet.links if link.name == "lan").addresses == ("198.18.5.200/32",)
    assert internet.proxies == [Proxy("lan", "198.18.5.201")]
    assert KernelRoute(MAIN_TABLE, "198.18.5.0/24", device="lan") in internet.routes
    assert KernelRoute(MAIN_TABLE, "0.0.0.0/0", device="lan", via="198.18.5.1") in internet.routes
    assert 'oifname "lan" ip saddr != { 198.18.5.200-198.18.5.220 } masquerade' in (internet.ruleset or "")
    gateway = plan_uplink(doc, HostUplink("bridge", bridge="br0", gateway="198.18.5.254"), HostFacts())
    assert gateway is not None and gateway.internet_routes == (
        KernelRoute(MAIN_TABLE, "0.0.0.0/0", device="lan", via="198.18.5.254"),)


def test_bridge_mode_needs_a_bridge_and_modes_are_checked() -> None:
    with pytest.raises(UplinkError):
        HostUplink("bridge")
    with pytest.raises(UplinkError):
        HostUplink("macvlan")


def test_only_the_agents_proxy_entries_are_removed() -> None:
    owned = owned_proxy(POOL, "eth0", {("br9", "198.18.7.7")})
    assert owned(Proxy("eth0", "198.18.5.210")) and owned(Proxy("eth0", "198.18.5.200"))
    assert owned(Proxy("br9", "198.18.7.7"))
    assert not owned(Proxy("eth0", "198.18.5.10")) and not owned(Proxy("eth1", "198.18.5.210"))


def test_long_prefixes_still_give_a_valid_interface_name() -> None:
    name = host_link_name("cl-averylongprefix-")
    assert name.startswith("cl-up") and len(name) == naming.IFNAMSIZ


def test_dns_upstreams_default_to_the_hosts_non_loopback_resolvers(tmp_path) -> None:
    resolv = tmp_path / "resolv.conf"
    resolv.write_text("# comment\nnameserver 127.0.0.53\nnameserver 198.18.5.1\nnameserver fe80::1%eth0\n"
                      "nameserver ::1\nsearch lan\n")
    assert from_flags("nat", resolv_conf=str(resolv)).dns_upstreams == ("198.18.5.1",)
    assert from_flags("nat", dns_upstreams=["9.9.9.9"], resolv_conf=str(resolv)).dns_upstreams == ("9.9.9.9",)
    assert from_flags("lab", resolv_conf=str(resolv)).dns_upstreams == ()
    assert from_flags("bridge", bridge="br0", host_netns="", resolv_conf=str(tmp_path / "none")).host_netns is None
