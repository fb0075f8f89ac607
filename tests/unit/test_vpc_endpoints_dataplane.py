"""VPC endpoints in the network document and on the host, pure parts: what the controller compiles, the
kernel routes, the router's input rule and the relay's listeners."""

from __future__ import annotations

import pytest

from agent.contract import network as model
from agent.network import endpoints, naming, nft, routes, validate
from controller.ec2.vpc import desired_network
from controller.ec2.vpc.desired_network import HostInfo
from controller.ec2.vpc.endpoint_services import s3_prefix_list_id
from tests.unit.harness import Clouds, VpcCloud

API = "203.0.113.2"


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc(nat_gateway_transition_seconds=0.0)


def compile_for(cloud: VpcCloud, host_id: str = "h1") -> model.HostNetwork:
    with cloud.db.read() as conn:
        rows = desired_network.load_network(conn)
    return desired_network.compile_host_network(rows, host_id, cloud.config, [HostInfo("h1", "home-1a")])


@pytest.fixture
def lab(cloud: VpcCloud) -> dict[str, str]:
    """A VPC with a private subnet routed to an S3 gateway endpoint, another subnet on the main table, and an
    STS interface endpoint (private DNS) in the private subnet."""
    call = cloud.call
    ids = {"vpc": call("CreateVpc", {"CidrBlock": "10.5.0.0/16"})["Vpc"]["VpcId"]}
    call("ModifyVpcAttribute", {"VpcId": ids["vpc"], "EnableDnsHostnames": {"Value": True}})
    for name, block in (("private", "10.5.1.0/24"), ("other", "10.5.2.0/24")):
        ids[name] = call("CreateSubnet", {"VpcId": ids["vpc"], "CidrBlock": block, "AvailabilityZone": "home-1a"})[
            "Subnet"]["SubnetId"]
    ids["table"] = call("CreateRouteTable", {"VpcId": ids["vpc"]})["RouteTable"]["RouteTableId"]
    call("AssociateRouteTable", {"RouteTableId": ids["table"], "SubnetId": ids["private"]})
    ids["gateway"] = call("CreateVpcEndpoint", {"VpcId": ids["vpc"], "ServiceName": "com.amazonaws.home-1.s3",
                                                "RouteTableIds": [ids["table"]]})["VpcEndpoint"]["VpcEndpointId"]
    made = call("CreateVpcEndpoint", {"VpcId": ids["vpc"], "ServiceName": "com.amazonaws.home-1.sts",
                                      "VpcEndpointType": "Interface", "SubnetIds": [ids["private"]]})["VpcEndpoint"]
    ids["interface"], ids["eni"] = made["VpcEndpointId"], made["NetworkInterfaceIds"][0]
    ids["eni_ip"] = call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [ids["eni"]]})[
        "NetworkInterfaces"][0]["PrivateIpAddress"]
    return ids


def test_the_document_carries_both_endpoints_routes_and_names(cloud: VpcCloud, lab: dict[str, str]) -> None:
    doc = compile_for(cloud)
    assert validate.problems(doc) == []
    vpc = doc.vpc(lab["vpc"])
    assert sorted(vpc.endpoints, key=lambda e: e.kind) == [
        model.VpcEndpoint(lab["gateway"], "gateway", API, [lab["table"]]),
        model.VpcEndpoint(lab["interface"], "interface", lab["eni_ip"], eni_id=lab["eni"], subnet_id=lab["private"])]
    table = next(t for t in vpc.route_tables if t.id == lab["table"])
    assert model.Route(f"{API}/32", lab["gateway"], "active") in table.routes
    eni = next(e for e in vpc.enis if e.id == lab["eni"])
    assert eni.attachment is not None and eni.attachment.kind == "service"
    assert vpc.dns is not None
    names = {r.name: r.address for r in vpc.dns.records}
    assert names["sts.home-1.amazonaws.com"] == lab["eni_ip"]
    assert sum(1 for name in names if name.startswith(lab["interface"])) == 2  # regional and zonal
    cloud.call("ModifyVpcEndpoint", {"VpcEndpointId": lab["interface"], "PrivateDnsEnabled": False})
    vpc = compile_for(cloud).vpc(lab["vpc"])
    assert vpc.dns is not None and "sts.home-1.amazonaws.com" not in {r.name for r in vpc.dns.records}
    cloud.call("DeleteVpcEndpoints", {"VpcEndpointIds": [lab["gateway"], lab["interface"]]})
    assert [v.id for v in compile_for(cloud).vpcs] == []  # its only interface here was the endpoint's


def test_only_the_subnets_routed_to_a_gateway_endpoint_deliver_the_api_locally(cloud: VpcCloud,
                                                                               lab: dict[str, str]) -> None:
    vpc = compile_for(cloud).vpc(lab["vpc"])
    by_id = {s.id: s for s in vpc.subnets}
    private = routes.subnet_routes(vpc, by_id[lab["private"]], 1000)
    assert routes.lookup(private, API) == routes.KernelRoute(1000, f"{API}/32", "local", device="lo")
    other = routes.subnet_routes(vpc, by_id[lab["other"]], 1001)
    assert routes.lookup(other, API) is None  # no route: the Internet way, if any, is the subnet's own
    ruleset = nft.router_ruleset(compile_for(cloud), vpc)
    assert f"ip daddr {{ {API} }} tcp dport {{ 80, 443 }} accept" in ruleset


def test_a_route_to_an_endpoint_the_document_does_not_list_is_a_blackhole() -> None:
    vpc = model.Vpc(id="vpc-1", cidrs=["10.0.0.0/16"], main_route_table_id="rtb-1", default_network_acl_id="acl-1",
                    subnets=[model.Subnet("subnet-1", "10.0.1.0/24", "home-1a")],
                    route_tables=[model.RouteTable("rtb-1", [model.Route(f"{API}/32", "vpce-0123456789abcdef0")])])
    assert routes.lookup(routes.subnet_routes(vpc, vpc.subnets[0], 7), API) == routes.KernelRoute(
        7, f"{API}/32", "blackhole")


def test_the_relay_listens_in_the_router_and_in_each_local_endpoint_namespace(cloud: VpcCloud,
                                                                               lab: dict[str, str]) -> None:
    doc = compile_for(cloud)
    doc.name_prefix = "cl-t-"
    listeners = endpoints.relay_listeners(doc)
    service_ns = naming.service_netns("cl-t-", lab["eni"])
    assert sorted((item.netns, item.address, item.via, item.vpc_id) for item in listeners) == sorted([
        (naming.router_netns("cl-t-", lab["vpc"]), API, lab["gateway"], lab["vpc"]),
        (service_ns, lab["eni_ip"], lab["interface"], lab["vpc"])])
    [namespace] = endpoints.wanted_namespaces(doc)
    assert (namespace.netns, namespace.addresses, namespace.gateway) == (
        service_ns, (f"{lab['eni_ip']}/24",), "10.5.1.1")
    doc.vpc(lab["vpc"]).enis = []  # the ENI is plugged on another host
    assert endpoints.wanted_namespaces(doc) == []
    assert [item.via for item in endpoints.relay_listeners(doc)] == [lab["gateway"]]


def test_the_s3_prefix_list_id_is_stable_for_a_region(cloud: VpcCloud) -> None:
    assert s3_prefix_list_id(cloud.config) == s3_prefix_list_id(cloud.config)
    assert s3_prefix_list_id(cloud.config).startswith("pl-") and len(s3_prefix_list_id(cloud.config)) == 11


def test_a_security_group_rule_naming_the_s3_list_resolves_to_the_api_address(cloud: VpcCloud,
                                                                                lab: dict[str, str]) -> None:
    group = cloud.call("DescribeSecurityGroups", {"Filters": [{"Name": "vpc-id", "Values": [lab["vpc"]]}]})[
        "SecurityGroups"][0]["GroupId"]  # the default group, the endpoint interface's
    list_id = s3_prefix_list_id(cloud.config)
    cloud.call("AuthorizeSecurityGroupEgress", {"GroupId": group, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 443, "ToPort": 443, "PrefixListIds": [{"PrefixListId": list_id}]}]})
    doc = compile_for(cloud)
    assert doc.prefix_lists == {list_id: [f"{API}/32"]}
    assert f"{API}/32" in nft.router_ruleset(doc, doc.vpc(lab["vpc"]))
