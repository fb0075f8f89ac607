"""A gateway endpoint's route belongs to the endpoint: DeleteRoute and ReplaceRoute refuse it (AWS's gateway
endpoints guide: "You cannot explicitly add, modify, or delete an endpoint route in your route table by using
the route table APIs"), with InvalidParameterValue rather than a NotFound for AWS's own prefix list, and
leave it in place; ModifyVpcEndpoint still moves it."""

from __future__ import annotations

import pytest

from controller.ec2.vpc import endpoint_services
from tests.unit.harness import Clouds, VpcCloud
from tests.unit.test_vpc_endpoints import endpoint_routes, gateway, new_table, new_vpc


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc()


def test_route_table_apis_cannot_change_an_endpoint_route(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    table = new_table(cloud, vpc_id)
    endpoint_id = gateway(cloud, vpc_id, [table])["VpcEndpointId"]
    igw = cloud.call("CreateInternetGateway", {})["InternetGateway"]["InternetGatewayId"]
    cloud.call("AttachInternetGateway", {"InternetGatewayId": igw, "VpcId": vpc_id})
    prefix_list = endpoint_services.s3_prefix_list_id(cloud.config)
    route = {"RouteTableId": table, "DestinationPrefixListId": prefix_list}
    error = cloud.refused("DeleteRoute", route, "InvalidParameterValue")
    assert endpoint_id in error.message and prefix_list in error.message
    cloud.refused("ReplaceRoute", {**route, "GatewayId": igw}, "InvalidParameterValue")
    assert endpoint_routes(cloud, table) == [(prefix_list, endpoint_id, "active")]
    cloud.call("ModifyVpcEndpoint", {"VpcEndpointId": endpoint_id, "RemoveRouteTableIds": [table]})
    assert endpoint_routes(cloud, table) == []
