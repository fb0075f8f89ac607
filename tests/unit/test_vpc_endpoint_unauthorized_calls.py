"""Calls IAM never authorizes (sts:GetCallerIdentity, sts:GetSessionToken) still come through a VPC endpoint
only if it is an endpoint of their own service: the gateway asks the authorizer for every call, and the
authorizer keeps the endpoint's service check for these."""

from __future__ import annotations

import dataclasses

import pytest

from controller.errors import ServiceError
from controller.gateway import Gateway
from tests.unit.harness import Clouds, VpcCloud
from tests.unit.test_vpc_endpoints import gateway, interface, new_subnet, new_vpc


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc()


def through(cloud: VpcCloud, endpoint_id: str | None, operation: str) -> str | None:
    """The error code of STS ``operation`` called through ``endpoint_id`` by the gateway; None if answered."""
    ctx = dataclasses.replace(cloud.context(operation), service="sts", source_vpce=endpoint_id, source_vpc="vpc-x")
    try:
        Gateway(cloud.cloud)._invoke(ctx, cloud.cloud.services["sts"].operations[operation], {})
    except ServiceError as exc:
        return exc.code
    return None


def test_unauthorized_calls_still_need_an_endpoint_of_their_service(cloud: VpcCloud) -> None:
    vpc_id = new_vpc(cloud)
    s3_endpoint = gateway(cloud, vpc_id, [])["VpcEndpointId"]
    sts_endpoint = interface(cloud, vpc_id, [new_subnet(cloud, vpc_id, "10.9.1.0/24")])["VpcEndpointId"]
    assert through(cloud, None, "GetCallerIdentity") is None  # the Internet way
    assert through(cloud, sts_endpoint, "GetCallerIdentity") is None
    for operation in ("GetCallerIdentity", "GetSessionToken"):  # refused before the handler runs
        assert through(cloud, s3_endpoint, operation) == "AccessDenied"
        assert through(cloud, "vpce-0123456789abcdef0", operation) == "AccessDenied"
