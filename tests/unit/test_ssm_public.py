"""Public AMI parameters and ``resolve:ssm:`` image ids, in-process on a cloud with a built-in AMI."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from controller.api import RequestContext
from controller.errors import ServiceError
from controller.ssm.resolve import resolve_image
from tests.unit.harness import Clouds, InstanceCloud

LATEST = "/aws/service/cloudlet/ami/cloudlet-tiny/latest"


@pytest.fixture
def cloud(clouds: Clouds) -> InstanceCloud:
    return clouds.instances()


def _ctx(cloud: InstanceCloud, operation: str) -> RequestContext:
    return replace(cloud.context(operation), service="ssm")


def ssm(cloud: InstanceCloud, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    return cloud.cloud.services["ssm"].operations[operation].handler(_ctx(cloud, operation), params)


def test_latest_ami_parameter_names_the_built_in_image(cloud: InstanceCloud) -> None:
    image_id = cloud.tiny_image()
    parameter = ssm(cloud, "GetParameter", {"Name": LATEST})["Parameter"]
    assert parameter["Value"] == image_id
    assert (parameter["Type"], parameter["DataType"], parameter["Version"]) == ("String", "aws:ec2:image", 1)
    assert parameter["ARN"] == f"arn:aws:ssm:{cloud.config.region}::parameter{LATEST}"
    listed = ssm(cloud, "GetParametersByPath", {"Path": "/aws/service/cloudlet", "Recursive": True})["Parameters"]
    assert [item["Name"] for item in listed] == [LATEST]
    assert ssm(cloud, "GetParametersByPath", {"Path": "/aws/service/cloudlet"})["Parameters"] == []
    assert ssm(cloud, "GetParameters", {"Names": [LATEST, f"{LATEST}:2"]})["InvalidParameters"] == [f"{LATEST}:2"]
    history = ssm(cloud, "GetParameterHistory", {"Name": LATEST})["Parameters"]
    assert [(item["Version"], item["Value"]) for item in history] == [(1, image_id)]


def test_public_parameters_are_not_the_accounts(cloud: InstanceCloud) -> None:
    assert all(not item["Name"].startswith("/aws/")
               for item in ssm(cloud, "DescribeParameters", {})["Parameters"])
    with pytest.raises(ServiceError) as raised:
        ssm(cloud, "PutParameter", {"Name": LATEST, "Value": "ami-12345678", "Type": "String", "Overwrite": True})
    assert raised.value.code == "AccessDeniedException"
    with pytest.raises(ServiceError) as raised:
        ssm(cloud, "DeleteParameter", {"Name": LATEST})
    assert raised.value.code == "ParameterNotFound"


def test_resolve_image(cloud: InstanceCloud) -> None:
    image_id = cloud.tiny_image()
    ctx = cloud.context("RunInstances")
    assert resolve_image(ctx, f"resolve:ssm:{LATEST}") == image_id
    assert resolve_image(ctx, f"resolve:ssm:{LATEST}:1") == image_id
    assert resolve_image(ctx, image_id) == image_id
    ssm(cloud, "PutParameter", {"Name": "/golden/ami", "Value": image_id, "Type": "String",
                                "DataType": "aws:ec2:image"})
    ssm(cloud, "LabelParameterVersion", {"Name": "/golden/ami", "Labels": ["blessed"]})
    assert resolve_image(ctx, "resolve:ssm:/golden/ami:blessed") == image_id
    ssm(cloud, "PutParameter", {"Name": "/not/ami", "Value": "hello", "Type": "String"})
    for reference in (f"resolve:ssm:{LATEST}:2", "resolve:ssm:/missing", "resolve:ssm:/not/ami",
                      "resolve:ssm:/golden/ami:other"):
        with pytest.raises(ServiceError) as raised:
            resolve_image(ctx, reference)
        assert raised.value.code == "InvalidParameterValue", reference


def test_image_data_type_needs_an_ami_the_account_can_launch(cloud: InstanceCloud) -> None:
    for value in ("not-an-ami", "ami-0123456789abcdef0"):
        with pytest.raises(ServiceError) as raised:
            ssm(cloud, "PutParameter", {"Name": "/img", "Value": value, "Type": "String", "DataType": "aws:ec2:image"})
        assert raised.value.code == "ValidationException"
    with pytest.raises(ServiceError) as raised:
        ssm(cloud, "PutParameter", {"Name": "/img", "Value": cloud.tiny_image(), "Type": "StringList",
                                    "DataType": "aws:ec2:image"})
    assert raised.value.code == "ValidationException"


def test_run_instances_reads_a_resolve_ssm_image_id(cloud: InstanceCloud) -> None:
    """RunInstances takes ``resolve:ssm:`` where an AMI id goes, checked for shape only once resolved."""
    image_id = cloud.tiny_image()
    cloud.add_host("h-0000000000000000a", "home-1a")
    reservation = cloud.call("RunInstances", {"ImageId": f"resolve:ssm:{LATEST}", "InstanceType": "t3.micro",
                                              "MinCount": 1, "MaxCount": 1})
    assert reservation["Instances"][0]["ImageId"] == image_id
    refused = cloud.refused("RunInstances", {"ImageId": "resolve:ssm:/missing", "InstanceType": "t3.micro",
                                             "MinCount": 1, "MaxCount": 1}, "InvalidParameterValue")
    assert "/missing" in refused.message
