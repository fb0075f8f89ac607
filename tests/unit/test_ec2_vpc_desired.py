"""The desired network document: what each host gets from the controller's VPC state."""

from __future__ import annotations

import pytest

from agent.contract import codec
from agent.contract import network as model
from agent.network import validate
from controller.ec2.vpc import desired_network, eni_records, state
from controller.ec2.vpc.desired_network import HostInfo
from tests.unit.harness import Clouds, VpcCloud

HOSTS = [HostInfo("h1", "home-1a"), HostInfo("h2", "home-1a", vtep="10.99.0.2"), HostInfo("h3", "home-1b")]


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc(nat_gateway_transition_seconds=0.0)


def veth(port: str) -> dict:
    return {"port": port, "kind": "veth", "instance_netns": f"ns-{port}", "guest_ifname": "eth0"}


def compile_for(cloud: VpcCloud, host_id: str, hosts: list[HostInfo] = HOSTS) -> model.HostNetwork:
    with cloud.db.read() as conn:
        rows = desired_network.load_network(conn)
    return desired_network.compile_host_network(rows, host_id, cloud.config, hosts)


@pytest.fixture
def lab(cloud: VpcCloud) -> dict[str, str]:
    """VPC A (public+private subnets, IGW, NAT, an instance on h1 and one on h2), B peered with A, C with B."""
    call = cloud.call
    ids: dict[str, str] = {}
    ids["a"] = call("CreateVpc", {"CidrBlock": "10.0.0.0/16"})["Vpc"]["VpcId"]
    ids["b"] = call("CreateVpc", {"CidrBlock": "10.1.0.0/16"})["Vpc"]["VpcId"]
    ids["c"] = call("CreateVpc", {"CidrBlock": "10.2.0.0/16"})["Vpc"]["VpcId"]
    ids["public"] = call("CreateSubnet", {"VpcId": ids["a"], "CidrBlock": "10.0.1.0/24",
                                          "AvailabilityZone": "home-1a"})["Subnet"]["SubnetId"]
    ids["private"] = call("CreateSubnet", {"VpcId": ids["a"], "CidrBlock": "10.0.2.0/24",
                                           "AvailabilityZone": "home-1a"})["Subnet"]["SubnetId"]
    ids["b_subnet"] = call("CreateSubnet", {"VpcId": ids["b"], "CidrBlock": "10.1.1.0/24"})["Subnet"]["SubnetId"]
    ids["igw"] = call("CreateInternetGateway")["InternetGateway"]["InternetGatewayId"]
    call("AttachInternetGateway", {"InternetGatewayId": ids["igw"], "VpcId": ids["a"]})
    eip = call("AllocateAddress")["AllocationId"]
    ids["nat"] = call("CreateNatGateway", {"SubnetId": ids["public"], "AllocationId": eip})["NatGateway"][
        "NatGatewayId"]
    ids["public_rt"] = call("CreateRouteTable", {"VpcId": ids["a"]})["RouteTable"]["RouteTableId"]
    call("CreateRoute", {"RouteTableId": ids["public_rt"], "DestinationCidrBlock": "0.0.0.0/0",
                         "GatewayId": ids["igw"]})
    call("AssociateRouteTable", {"RouteTableId": ids["public_rt"], "SubnetId": ids["public"]})
    ids["private_rt"] = call("CreateRouteTable", {"VpcId": ids["a"]})["RouteTable"]["RouteTableId"]
    call("CreateRoute", {"RouteTableId": ids["private_rt"], "DestinationCidrBlock": "0.0.0.0/0",
                         "NatGatewayId": ids["nat"]})
    call("AssociateRouteTable", {"RouteTableId": ids["private_rt"], "SubnetId": ids["private"]})
    ids["web"] = call("CreateSecurityGroup", {"GroupName": "web", "Description": "w", "VpcId": ids["a"]})["GroupId"]
    ids["db"] = call("CreateSecurityGroup", {"GroupName": "db", "Description": "d", "VpcId": ids["a"]})["GroupId"]
    ids["pl"] = call("CreateManagedPrefixList", {"PrefixListName": "office", "AddressFamily": "IPv4",
                                                 "MaxEntries": 2, "Entries": [{"Cidr": "203.0.113.0/28"}]})[
        "PrefixList"]["PrefixListId"]
    call("AuthorizeSecurityGroupIngress", {"GroupId": ids["web"], "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]},
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": ids["pl"]}]},
        {"IpProtocol": "-1", "UserIdGroupPairs": [{"GroupId": ids["db"]}]}]})
    cloud.call("ModifySubnetAttribute", {"SubnetId": ids["public"], "MapPublicIpOnLaunch": {"Value": True}})
    ids["web_eni"] = cloud.launch(ids["public"], "i-000000000000000a1", group_ids=[ids["web"]], host_id="h1",
                                  port=veth("cl-web"))
    ids["db_eni"] = cloud.launch(ids["private"], "i-000000000000000a2", group_ids=[ids["db"]], host_id="h2",
                                 port=veth("cl-db"))
    ids["peer_ab"] = call("CreateVpcPeeringConnection", {"VpcId": ids["a"], "PeerVpcId": ids["b"]})[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    call("AcceptVpcPeeringConnection", {"VpcPeeringConnectionId": ids["peer_ab"]})
    ids["peer_bc"] = call("CreateVpcPeeringConnection", {"VpcId": ids["b"], "PeerVpcId": ids["c"]})[
        "VpcPeeringConnection"]["VpcPeeringConnectionId"]
    call("AcceptVpcPeeringConnection", {"VpcPeeringConnectionId": ids["peer_bc"]})
    call("CreateRoute", {"RouteTableId": ids["private_rt"], "DestinationCidrBlock": "10.1.0.0/16",
                         "VpcPeeringConnectionId": ids["peer_ab"]})
    call("CreateRoute", {"RouteTableId": ids["private_rt"], "DestinationCidrBlock": "192.168.0.0/16",
                         "InstanceId": "i-000000000000000a1"})
    call("CreateRoute", {"RouteTableId": ids["public_rt"], "DestinationPrefixListId": ids["pl"],
                         "GatewayId": ids["igw"]})
    return ids


def test_a_host_gets_the_vpcs_it_runs_and_their_peers_only(cloud: VpcCloud, lab: dict[str, str]) -> None:
    doc = compile_for(cloud, "h1")
    assert [v.id for v in doc.vpcs] == sorted([lab["a"], lab["b"]])  # C peers with B only: not transitive
    vpc_b = doc.vpc(lab["b"])
    assert [p.id for p in vpc_b.peerings] == [lab["peer_ab"]] and vpc_b.enis == []
    assert validate.problems(doc) == []
    assert codec.from_json(model.HostNetwork, codec.to_json(doc)) == doc


def test_the_vpc_document_mirrors_the_api_state(cloud: VpcCloud, lab: dict[str, str]) -> None:
    doc = compile_for(cloud, "h1")
    vpc = doc.vpc(lab["a"])
    assert vpc.cidrs == ["10.0.0.0/16"] and vpc.internet_gateway_id == lab["igw"]
    subnets = {s.id: s for s in vpc.subnets}
    assert subnets[lab["public"]].route_table_id == lab["public_rt"]
    assert subnets[lab["private"]].network_acl_id == vpc.default_network_acl_id
    [eni] = vpc.enis
    assert eni.id == lab["web_eni"] and eni.attachment == model.Attachment("cl-web", "veth", "ns-cl-web", "eth0")
    assert eni.security_group_ids == [lab["web"]] and eni.instance_id == "i-000000000000000a1"
    assert eni.private_ips == ["10.0.1.5"] and eni.hostname == "ip-10-0-1-5"  # .4 is the NAT gateway's
    [group] = vpc.security_groups
    assert [(r.protocol, r.from_port, r.cidr, r.prefix_list_id, r.group_id) for r in group.ingress] == [
        ("tcp", 22, "0.0.0.0/0", None, None), ("tcp", 443, None, lab["pl"], None), ("-1", -1, None, None, lab["db"])]
    assert doc.group_members == {lab["db"]: ["10.0.2.4"]}  # the member on h2 counts too
    assert doc.prefix_lists == {lab["pl"]: ["203.0.113.0/28"]}
    tables = {t.id: t for t in vpc.route_tables}
    private_routes = {r.destination: r for r in tables[lab["private_rt"]].routes}
    assert private_routes["0.0.0.0/0"] == model.Route("0.0.0.0/0", lab["nat"], "active")
    assert private_routes["10.1.0.0/16"].target == lab["peer_ab"]
    assert private_routes["192.168.0.0/16"] == model.Route("192.168.0.0/16", lab["web_eni"], "active", "10.0.1.5")
    public_routes = {r.destination: r for r in tables[lab["public_rt"]].routes}
    assert public_routes["203.0.113.0/28"].target == lab["igw"]  # the prefix-list route, expanded
    [nat] = vpc.nat_gateways
    assert (nat.private_ip, nat.public_ip, nat.subnet_id) == ("10.0.1.4", "198.51.100.2", lab["public"])
    eips = {e.public_ip: e for e in vpc.elastic_ips}
    assert eips["198.51.100.2"].private_ip == "10.0.1.4"
    assert eips["198.51.100.3"] == model.ElasticIp("", "198.51.100.3", "10.0.1.5", lab["web_eni"])
    assert vpc.dhcp.domain_name_servers == ["10.0.0.2"] and vpc.dhcp.domain_name == "home-1.compute.internal"
    assert doc.uplink.public_pool == "198.51.100.0/24"


def test_interfaces_on_other_hosts_are_remote_ports_behind_their_vtep(cloud: VpcCloud, lab: dict[str, str]) -> None:
    doc = compile_for(cloud, "h1")
    private = next(s for s in doc.vpc(lab["a"]).subnets if s.id == lab["private"])
    [port] = private.remote_ports
    assert port.vtep == "10.99.0.2" and private.vni is not None
    assert doc.vpc(lab["a"]).remote_vteps == ["10.99.0.2"]
    # The private instance on h2 comes with its address, which h1's router pins (it cannot ARP across hosts).
    assert len(port.addresses) == 1 and port.addresses[0].startswith("10.0.2.")
    # The public subnet has a remote port only when its NAT gateway runs on h2; it carries the VPC's VXLAN
    # either way, as h2's instances reach a NAT gateway on h1 through it.
    for gateway in ("h1", "h2"):
        hosts = [HostInfo(h.host_id, h.zone, vtep=h.vtep, gateway=h.host_id == gateway) for h in HOSTS]
        vpc = compile_for(cloud, "h1", hosts).vpc(lab["a"])
        public = next(s for s in vpc.subnets if s.id == lab["public"])
        [nat] = vpc.nat_gateways
        assert public.vni is not None and nat.local == (gateway == "h1")
        assert public.remote_ports == ([] if nat.local else [model.RemotePort(nat.mac, "10.99.0.2", [nat.private_ip])])
    # Without a known underlay address the other host's interfaces cannot be reached: no VXLAN at all.
    alone = compile_for(cloud, "h1", [HostInfo("h1", "home-1a"), HostInfo("h2", "home-1a")])
    assert all(s.vni is None and not s.remote_ports for v in alone.vpcs for s in v.subnets)


def test_nat_gateways_run_on_exactly_one_live_host_of_their_zone(cloud: VpcCloud, lab: dict[str, str]) -> None:
    local = {h.host_id: [n.local for n in compile_for(cloud, h.host_id).vpc(lab["a"]).nat_gateways]
             for h in HOSTS[:2]}
    runs_on = [h for h, flags in local.items() if flags == [True]]
    assert len(runs_on) == 1
    assert desired_network.place_nat_gateway(lab["nat"], "home-1a", HOSTS, HOSTS[0]) == runs_on[0]
    # h3 is in another zone: it never runs the NAT gateway and, with no interfaces, gets no VPC.
    assert compile_for(cloud, "h3").vpcs == []
    # When the chosen host goes down, the other host of the zone takes over.
    down = [HostInfo(h.host_id, h.zone, up=h.host_id != runs_on[0], vtep=h.vtep) for h in HOSTS]
    survivor = next(h.host_id for h in HOSTS[:2] if h.host_id != runs_on[0])
    assert desired_network.place_nat_gateway(lab["nat"], "home-1a", down, next(h for h in down if h.host_id == survivor)) \
        == survivor


def test_nat_gateways_run_on_the_designated_gateway_host(cloud: VpcCloud, lab: dict[str, str]) -> None:
    hashed = desired_network.place_nat_gateway(lab["nat"], "home-1a", HOSTS, HOSTS[0])
    # Designate the host the hash would not pick: the NAT gateway moves there, whoever asks.
    other = next(h.host_id for h in HOSTS[:2] if h.host_id != hashed)
    hosts = [HostInfo(h.host_id, h.zone, vtep=h.vtep, gateway=h.host_id == other) for h in HOSTS]
    for asking in hosts:
        assert desired_network.place_on_gateway(lab["nat"], "home-1a", hosts, asking) == other
    flags = {h.host_id: [n.local for n in compile_for(cloud, h.host_id, hosts).vpc(lab["a"]).nat_gateways]
             for h in hosts[:2]}
    assert flags == {other: [True], hashed: [False]}
    # A gateway host of another zone still beats a non-gateway host of the NAT gateway's zone.
    far = [HostInfo(h.host_id, h.zone, gateway=h.host_id == "h3") for h in HOSTS]
    assert desired_network.place_on_gateway(lab["nat"], "home-1a", far, far[0]) == "h3"
    # With every gateway host down, the NAT gateway falls back to the live hosts of its zone.
    down = [HostInfo(h.host_id, h.zone, up=h.host_id != other, gateway=h.host_id == other) for h in HOSTS]
    asking = next(h for h in down if h.host_id == hashed)
    assert desired_network.place_on_gateway(lab["nat"], "home-1a", down, asking) == hashed


def test_changes_show_up_with_a_new_generation(cloud: VpcCloud, lab: dict[str, str]) -> None:
    before = compile_for(cloud, "h1")
    cloud.call("RevokeSecurityGroupIngress", {"GroupId": lab["web"], "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]})
    after = compile_for(cloud, "h1")
    assert after.generation > before.generation
    assert len(after.vpc(lab["a"]).security_groups[0].ingress) == 2


def test_routes_to_gone_targets_are_blackholes_in_the_document(cloud: VpcCloud, lab: dict[str, str]) -> None:
    cloud.call("DeleteVpcPeeringConnection", {"VpcPeeringConnectionId": lab["peer_ab"]})
    cloud.call("DeleteNatGateway", {"NatGatewayId": lab["nat"]})
    doc = compile_for(cloud, "h1")
    assert [v.id for v in doc.vpcs] == [lab["a"]]
    routes = {r.destination: r for t in doc.vpc(lab["a"]).route_tables for r in t.routes if t.id == lab["private_rt"]}
    assert routes["0.0.0.0/0"].state == "blackhole" and routes["10.1.0.0/16"].state == "blackhole"
    assert doc.vpc(lab["a"]).nat_gateways == [] and validate.problems(doc) == []


def test_stopped_instances_leave_the_host(cloud: VpcCloud, lab: dict[str, str]) -> None:
    with state.write(cloud.db) as conn:
        eni_records.place_instance(conn, "i-000000000000000a1", None)
    doc = compile_for(cloud, "h1")
    assert all(v.enis == [] for v in doc.vpcs)
    with state.write(cloud.db) as conn:
        eni_records.place_instance(conn, "i-000000000000000a1", "h3", {lab["web_eni"]: veth("cl-web")})
    assert [e.id for v in compile_for(cloud, "h3").vpcs for e in v.enis] == [lab["web_eni"]]


def test_the_rpc_entry_point_returns_json(cloud: VpcCloud, lab: dict[str, str]) -> None:
    document = desired_network.desired_network_for_host(cloud.db, "h1", cloud.config)
    assert document["host_id"] == "h1" and document["version"] == model.SCHEMA_VERSION
    parsed = codec.from_json(model.HostNetwork, document)
    assert validate.problems(parsed) == []


def test_a_service_interface_whose_service_chose_its_host_is_plugged_there(cloud: VpcCloud,
                                                                          lab: dict[str, str]) -> None:
    """A Batch job's ENI goes where its attempt runs (h3, even in another zone), not where hashing would put it."""
    with cloud.db.begin() as conn:
        subnet = conn.execute(state.subnets.select().where(state.subnets.c.subnet_id == lab["b_subnet"])
                              ).mappings().one()
        eni_id, _, _ = eni_records.create_service_interface(conn, cloud.config, subnet["account_id"], subnet,
                                                            requester_id="amazon-ecs", description="job",
                                                            group_ids=[])
        conn.execute(state.network_interfaces.update().where(
            state.network_interfaces.c.network_interface_id == eni_id).values(host_id="h3"))
    plugged = {h.host_id: [e.id for v in compile_for(cloud, h.host_id).vpcs for e in v.enis if e.id == eni_id]
               for h in HOSTS}
    assert plugged == {"h1": [], "h2": [], "h3": [eni_id]}
    assert compile_for(cloud, "h3").vpc(lab["b"]).enis[0].attachment.kind == "service"
