"""EC2 Instance Connect Endpoint tunnels, the pure parts: the endpoint's ENI in the document and its
namespace, the agent's header line, the controller's check of the openTunnel query."""

from __future__ import annotations

import json

import pytest

from agent.network import endpoints, naming
from agent.network.tunnel import TunnelRequest, TunnelRequestError, parse_request
from controller.ec2.vpc import desired_network
from controller.ec2.vpc.desired_network import HostInfo
from controller.ec2_instance_connect.tunnel import TunnelQuery, check_query
from controller.errors import ServiceError
from tests.unit.harness import Clouds, VpcCloud

TOKEN = "s3cret"


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc(nat_gateway_transition_seconds=0.0)


def test_the_endpoint_eni_is_plugged_in_a_namespace_without_a_relay(cloud: VpcCloud) -> None:
    call = cloud.call
    vpc = call("CreateVpc", {"CidrBlock": "10.6.0.0/16"})["Vpc"]["VpcId"]
    subnet = call("CreateSubnet", {"VpcId": vpc, "CidrBlock": "10.6.1.0/24", "AvailabilityZone": "home-1a"})[
        "Subnet"]["SubnetId"]
    made = call("CreateInstanceConnectEndpoint", {"SubnetId": subnet})["InstanceConnectEndpoint"]
    eni = made["NetworkInterfaceIds"][0]
    address = call("DescribeNetworkInterfaces", {"NetworkInterfaceIds": [eni]})["NetworkInterfaces"][0][
        "PrivateIpAddress"]
    with cloud.db.read() as conn:
        rows = desired_network.load_network(conn)
    doc = desired_network.compile_host_network(rows, "h1", cloud.config, [HostInfo("h1", "home-1a")])
    doc.name_prefix = "cl-t-"
    [endpoint] = doc.vpc(vpc).endpoints
    assert (endpoint.id, endpoint.kind, endpoint.address, endpoint.eni_id, endpoint.subnet_id) == (
        made["InstanceConnectEndpointId"], "instance-connect", address, eni, subnet)
    assert eni in {item.id for item in doc.vpc(vpc).enis}
    [namespace] = endpoints.wanted_namespaces(doc)
    assert (namespace.netns, namespace.addresses, namespace.gateway) == (
        naming.service_netns("cl-t-", eni), (f"{address}/24",), "10.6.1.1")
    assert endpoints.relay_listeners(doc) == []
    call("DeleteInstanceConnectEndpoint", {"InstanceConnectEndpointId": made["InstanceConnectEndpointId"]})
    with cloud.db.read() as conn:
        rows = desired_network.load_network(conn)
    doc = desired_network.compile_host_network(rows, "h1", cloud.config, [HostInfo("h1", "home-1a")])
    assert all(v.endpoints == [] for v in doc.vpcs)


def _line(**fields: object) -> bytes:
    return json.dumps({"token": TOKEN, "eni": "eni-0123456789abcdef0", "address": "10.6.1.10", "port": 22,
                       **fields}).encode() + b"\n"


def test_the_agent_enters_only_an_endpoint_namespace_with_the_token() -> None:
    assert parse_request(_line(), TOKEN, "cl-") == TunnelRequest("cl-svc-eni-0123456789abcdef0", "10.6.1.10", 22)
    for bad in (_line(token="nope"), _line(eni="../../proc/1/ns/net"), _line(eni="cl-vpc-1"),
                _line(address="::1"), _line(port=0), b"not json\n", b"[]\n"):
        with pytest.raises(TunnelRequestError):
            parse_request(bad, TOKEN, "cl-")
    with pytest.raises(TunnelRequestError):
        parse_request(_line(token=""), "", "cl-")


def test_the_open_tunnel_query_is_checked_as_aws_does() -> None:
    good = {"instanceConnectEndpointId": "eice-0123456789abcdef0", "privateIpAddress": "10.6.1.10",
            "remotePort": "22"}
    assert check_query(good) == TunnelQuery("eice-0123456789abcdef0", "10.6.1.10", 22, 3600)
    assert check_query({**good, "maxTunnelDuration": "60"}).max_duration == 60
    for bad in ({"maxTunnelDuration": "3601"}, {"maxTunnelDuration": "0"}, {"remotePort": "70000"},
                {"remotePort": "ssh"}, {"privateIpAddress": "10.6.1"}, {"instanceConnectEndpointId": "vpce-1"}):
        with pytest.raises(ServiceError) as caught:
            check_query({**good, **bad})
        assert caught.value.code == "ValidationException"
