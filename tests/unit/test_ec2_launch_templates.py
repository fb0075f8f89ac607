"""Launch templates' pure parts: RunInstances over a template (merge), version selection, and the model-driven
conversion of stored request-shape data to the response and RunInstances shapes."""

from __future__ import annotations

import pytest

from controller.ec2.launch_templates import selection
from controller.ec2.launch_templates.instance_data import template_data
from controller.ec2.launch_templates.merge import merge
from controller.ec2.launch_templates.shapes import response_data, run_instances_params
from controller.errors import ServiceError

TEMPLATE = {
    "ImageId": "ami-0123456789abcdef0", "InstanceType": "t3.micro", "KeyName": "web",
    "RamDiskId": "ari-1", "InstanceRequirements": {"VCpuCount": {"Min": 1}, "MemoryMiB": {"Min": 512}},
    "Placement": {"AvailabilityZone": "home-1a", "Tenancy": "default"},
    "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 1},
    "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "VolumeType": "gp3"}},
                            {"DeviceName": "/dev/sdf", "Ebs": {"VolumeSize": 20}}],
    "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "team", "Value": "web"},
                                                                {"Key": "env", "Value": "prod"}]},
                          {"ResourceType": "volume", "Tags": [{"Key": "backup", "Value": "daily"}]}],
}


def test_the_template_is_the_base_and_the_request_overrides_it() -> None:
    merged = merge(TEMPLATE, {"MinCount": 2, "MaxCount": 2, "InstanceType": "t3.small",
                              "LaunchTemplate": {"LaunchTemplateId": "lt-0123456789abcdef0"}})
    assert merged["InstanceType"] == "t3.small" and merged["ImageId"] == TEMPLATE["ImageId"]
    assert (merged["MinCount"], merged["MaxCount"], merged["KeyName"]) == (2, 2, "web")
    assert "LaunchTemplate" not in merged


def test_members_run_instances_names_otherwise_are_renamed_or_dropped() -> None:
    params = run_instances_params(TEMPLATE)
    assert params["RamdiskId"] == "ari-1" and "RamDiskId" not in params
    assert "InstanceRequirements" not in params  # RunInstances has no such member


def test_structures_merge_member_by_member_so_nothing_in_the_template_is_erased() -> None:
    merged = merge(TEMPLATE, {"Placement": {"AvailabilityZone": "home-1b"},
                              "MetadataOptions": {"HttpPutResponseHopLimit": 2}})
    assert merged["Placement"] == {"AvailabilityZone": "home-1b", "Tenancy": "default"}
    assert merged["MetadataOptions"] == {"HttpTokens": "required", "HttpPutResponseHopLimit": 2}


def test_block_devices_merge_by_device_name() -> None:
    merged = merge(TEMPLATE, {"BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 30}},
                                                      {"DeviceName": "/dev/sdg", "Ebs": {"VolumeSize": 5}}]})
    by_device = {m["DeviceName"]: m["Ebs"] for m in merged["BlockDeviceMappings"]}
    assert by_device == {"/dev/xvda": {"VolumeSize": 30}, "/dev/sdf": {"VolumeSize": 20},
                         "/dev/sdg": {"VolumeSize": 5}}


def test_network_interfaces_merge_by_device_index() -> None:
    template = {"NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-a", "Groups": ["sg-1"]},
                                      {"DeviceIndex": 1, "SubnetId": "subnet-b"}]}
    merged = merge(template, {"NetworkInterfaces": [{"DeviceIndex": 0, "SubnetId": "subnet-c"}]})
    assert sorted((n["DeviceIndex"], n["SubnetId"]) for n in merged["NetworkInterfaces"]) == [
        (0, "subnet-c"), (1, "subnet-b")]


def test_template_interfaces_and_a_request_subnet_are_both_kept_for_run_instances_to_refuse() -> None:
    merged = merge({"NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True}]},
                   {"SubnetId": "subnet-a"})
    assert merged["SubnetId"] == "subnet-a" and merged["NetworkInterfaces"][0]["AssociatePublicIpAddress"]


def test_tags_merge_by_resource_type_and_key_the_request_winning() -> None:
    merged = merge(TEMPLATE, {"TagSpecifications": [
        {"ResourceType": "instance", "Tags": [{"Key": "env", "Value": "dev"}, {"Key": "run", "Value": "1"}]},
        {"ResourceType": "network-interface", "Tags": [{"Key": "nic", "Value": "yes"}]}]})
    tags = {s["ResourceType"]: {t["Key"]: t["Value"] for t in s["Tags"]} for s in merged["TagSpecifications"]}
    assert tags == {"instance": {"team": "web", "env": "dev", "run": "1"}, "volume": {"backup": "daily"},
                    "network-interface": {"nic": "yes"}}


def test_a_request_without_a_parameter_keeps_the_templates_and_none_values_do_not_erase() -> None:
    merged = merge(TEMPLATE, {"KeyName": None, "MinCount": 1, "MaxCount": 1})
    assert merged["KeyName"] == "web"


def test_response_shape_keeps_what_the_response_model_has() -> None:
    data = {"ImageId": "ami-1", "IamInstanceProfile": {"Name": "p"},
            "NetworkInterfaces": [{"DeviceIndex": 0, "Groups": ["sg-1"], "AssociatePublicIpAddress": True}],
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeSize": 8, "Encrypted": False}}],
            "NotAMember": 1}
    shown = response_data(data)
    assert shown == {k: v for k, v in data.items() if k != "NotAMember"}


@pytest.mark.parametrize(("spec", "expected"), [(None, 2), ("$Default", 2), ("$Latest", 5), ("$latest", 5),
                                                ("3", 3), (3, 3)])
def test_a_version_spec_resolves_against_the_existing_versions(spec: object, expected: int) -> None:
    assert selection.resolve(spec, {1, 2, 3, 5}, 2, "lt-1") == expected


def test_a_missing_or_malformed_version_is_refused_with_awss_codes() -> None:
    with pytest.raises(ServiceError) as missing:
        selection.resolve("4", {1, 2, 3, 5}, 2, "lt-1")
    assert missing.value.code == "InvalidLaunchTemplateId.VersionNotFound" and "lt-1" in missing.value.message
    for bad in ("0", "-1", "abc", "$Newest"):
        with pytest.raises(ServiceError) as malformed:
            selection.resolve(bad, {1}, 1, "lt-1")
        assert malformed.value.code == "InvalidParameterValue"


def test_describe_selection_is_newest_first_and_ranges_are_inclusive() -> None:
    existing = {1, 2, 3, 5, 6}
    assert selection.select(existing, 1, "lt-1", None) == [6, 5, 3, 2, 1]
    assert selection.select(existing, 1, "lt-1", None, min_version="2", max_version="5") == [5, 3, 2]
    assert selection.select(existing, 1, "lt-1", ["$Latest", "$Default", "1"]) == [6, 1]
    with pytest.raises(ServiceError):
        selection.select(existing, 1, "lt-1", ["4"])
    with pytest.raises(ServiceError):
        selection.select(existing, 1, "lt-1", None, min_version="$Latest")


def test_an_instance_as_template_data_keeps_its_parameters_and_drops_awss_tags() -> None:
    instance = {
        "ImageId": "ami-1", "InstanceType": "t3.micro", "KeyName": "k", "EbsOptimized": False,
        "Monitoring": {"State": "disabled"}, "Placement": {"AvailabilityZone": "home-1a", "Tenancy": "default"},
        "NetworkInterfaces": [{"Attachment": {"DeviceIndex": 0, "DeleteOnTermination": True},
                               "NetworkInterfaceId": "eni-1", "SubnetId": "subnet-1", "Description": "",
                               "Groups": [{"GroupId": "sg-1", "GroupName": "default"}], "Ipv6Addresses": [],
                               "PrivateIpAddress": "10.0.0.5",
                               "PrivateIpAddresses": [{"Primary": True, "PrivateIpAddress": "10.0.0.5"}]}],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvda", "Ebs": {"VolumeId": "vol-1", "DeleteOnTermination": True}}],
        "MetadataOptions": {"State": "applied", "HttpTokens": "required", "HttpEndpoint": "enabled"},
        "Tags": [{"Key": "aws:ec2launchtemplate:id", "Value": "lt-1"}, {"Key": "role", "Value": "web"}]}
    row = {"disable_api_termination": True, "disable_api_stop": False, "shutdown_behavior": "terminate",
           "user_data": b"#!/bin/sh\n"}
    data = template_data(instance, row)
    assert data["NetworkInterfaces"] == [{"DeviceIndex": 0, "DeleteOnTermination": True, "NetworkInterfaceId": "eni-1",
                                          "SubnetId": "subnet-1", "Description": "", "Groups": ["sg-1"],
                                          "PrivateIpAddress": "10.0.0.5", "PrivateIpAddresses": [
                                              {"Primary": True, "PrivateIpAddress": "10.0.0.5"}]}]
    assert data["BlockDeviceMappings"] == [{"DeviceName": "/dev/xvda", "Ebs": {"DeleteOnTermination": True}}]
    assert data["MetadataOptions"] == {"HttpTokens": "required", "HttpEndpoint": "enabled"}
    assert data["TagSpecifications"] == [{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"}]}]
    assert (data["UserData"], data["Monitoring"], data["DisableApiTermination"]) == ("IyEvYmluL3NoCg==", {}, True)
    assert data["InstanceInitiatedShutdownBehavior"] == "terminate"
