"""EC2 launch templates over the wire: boto3 and the AWS CLI against the shared ``cloudlet up``.

Templates and versions are read back exactly as written (in the response shape), with AWS's errors, filters
and paging. RunInstances from a template runs on a fake host (no VMs): it registers through the agent RPC as
an agent would, and nothing runs there, as in test_ec2_instances_api.py.
"""

from __future__ import annotations

import base64
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import Client, agent_rpc, refused
from tests.support import CloudletProcess

USER_DATA = base64.b64encode(b"#!/bin/sh\necho hello\n").decode()


@pytest.fixture
def fake_host(cloudlet: CloudletProcess, unique: str) -> str:
    host_id = f"h-{unique[1:]}fake1"[:19]
    agent_rpc(cloudlet, "POST", "/hosts", {
        "host_id": host_id, "hostname": f"{unique}-no-vms", "zone": "home-1b", "vcpus": 8, "memory_mib": 16384,
        "disk_gib": 100, "hypervisor": "qemu", "agent_version": "test", "capabilities": ["compute"]})
    return host_id


@pytest.fixture
def image_id(ec2: Client, unique: str, tmp_path: Path) -> Iterator[str]:
    """A built-in AMI when images/ built one (``make up``); otherwise a blank disk registered from a local path
    for the test (no VM boots, so what the disk holds does not matter)."""
    built = ec2.describe_images(Owners=["amazon"])["Images"]
    if built:
        yield built[0]["ImageId"]
        return
    disk = tmp_path / "blank.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(disk), "64M"], check=True)
    registered = ec2.register_image(Name=f"{unique}-blank", ImageLocation=str(disk))["ImageId"]
    yield registered
    ec2.deregister_image(ImageId=registered)


def _data(ec2: Client, image_id: str) -> dict[str, Any]:
    """Template data using the members whose response shape differs from the request's."""
    group_id = ec2.describe_security_groups(Filters=[{"Name": "group-name", "Values": ["default"]}])[
        "SecurityGroups"][0]["GroupId"]
    return {
        "ImageId": image_id, "InstanceType": "t3.micro", "UserData": USER_DATA,
        "IamInstanceProfile": {"Name": "web-profile"},
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True, "Groups": [group_id],
                               "DeleteOnTermination": True}],
        "BlockDeviceMappings": [{"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 20, "VolumeType": "gp3",
                                                                    "DeleteOnTermination": True}}],
        "MetadataOptions": {"HttpTokens": "required", "HttpPutResponseHopLimit": 2},
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"}]}],
    }


def test_create_version_read_back_and_default(ec2: Client, unique: str, image_id: str) -> None:
    data = _data(ec2, image_id)
    created = ec2.create_launch_template(
        LaunchTemplateName=f"{unique}-web", VersionDescription="first", LaunchTemplateData=data,
        TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "team", "Value": unique}]}])
    template = created["LaunchTemplate"]
    template_id = template["LaunchTemplateId"]
    assert template_id.startswith("lt-") and template["CreatedBy"].startswith("arn:aws:iam::")
    assert (template["DefaultVersionNumber"], template["LatestVersionNumber"]) == (1, 1)
    assert template["Tags"] == [{"Key": "team", "Value": unique}]

    first = ec2.describe_launch_template_versions(LaunchTemplateId=template_id)["LaunchTemplateVersions"]
    assert len(first) == 1 and first[0]["LaunchTemplateData"] == data  # read back exactly as written
    assert first[0]["DefaultVersion"] and first[0]["VersionDescription"] == "first"

    second = ec2.create_launch_template_version(
        LaunchTemplateName=f"{unique}-web", SourceVersion="1", VersionDescription="bigger",
        LaunchTemplateData={"InstanceType": "t3.small"})["LaunchTemplateVersion"]
    assert second["VersionNumber"] == 2 and not second["DefaultVersion"]
    assert second["LaunchTemplateData"] == {**data, "InstanceType": "t3.small"}
    bare = ec2.create_launch_template_version(LaunchTemplateId=template_id,
                                              LaunchTemplateData={"InstanceType": "t3.large"})
    assert bare["LaunchTemplateVersion"]["LaunchTemplateData"] == {"InstanceType": "t3.large"}  # no source

    def numbers(**params: Any) -> list[int]:
        return [v["VersionNumber"] for v in ec2.describe_launch_template_versions(
            LaunchTemplateId=template_id, **params)["LaunchTemplateVersions"]]

    assert numbers() == [3, 2, 1]
    assert numbers(Versions=["$Latest"]) == [3] and numbers(Versions=["$Default", "2"]) == [2, 1]
    assert numbers(MinVersion="2") == [3, 2] and numbers(MaxVersion="2") == [2, 1]
    assert numbers(Filters=[{"Name": "instance-type", "Values": ["t3.s*"]}]) == [2]
    assert numbers(Filters=[{"Name": "is-default-version", "Values": ["true"]}]) == [1]
    assert numbers(Filters=[{"Name": "http-tokens", "Values": ["required"]}]) == [2, 1]

    modified = ec2.modify_launch_template(LaunchTemplateId=template_id, DefaultVersion="2")["LaunchTemplate"]
    assert (modified["DefaultVersionNumber"], modified["LatestVersionNumber"]) == (2, 3)
    assert numbers(Versions=["$Default"]) == [2]

    deleted = ec2.delete_launch_template_versions(LaunchTemplateId=template_id, Versions=["2", "3", "9"])
    assert [(d["VersionNumber"], d["LaunchTemplateName"]) for d in
            deleted["SuccessfullyDeletedLaunchTemplateVersions"]] == [(3, f"{unique}-web")]
    errors = {e["VersionNumber"]: e["ResponseError"]["Code"]
              for e in deleted["UnsuccessfullyDeletedLaunchTemplateVersions"]}
    assert errors == {2: "unexpectedError", 9: "launchTemplateVersionDoesNotExist"}
    assert numbers() == [2, 1]
    again = ec2.create_launch_template_version(LaunchTemplateId=template_id, LaunchTemplateData={"KeyName": "k"})
    assert again["LaunchTemplateVersion"]["VersionNumber"] == 4  # numbers are never given twice

    gone = ec2.delete_launch_template(LaunchTemplateName=f"{unique}-web")["LaunchTemplate"]
    assert gone["LaunchTemplateId"] == template_id
    refused(ec2.describe_launch_templates, "InvalidLaunchTemplateId.NotFound", LaunchTemplateIds=[template_id])


def test_awss_errors(ec2: Client, unique: str) -> None:
    name = f"{unique}-errors"
    template_id = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    message = refused(ec2.create_launch_template, "InvalidLaunchTemplateName.AlreadyExistsException",
                      LaunchTemplateName=name, LaunchTemplateData={"InstanceType": "t3.micro"})
    assert message == "Launch template name already in use."
    refused(ec2.create_launch_template, "InvalidLaunchTemplateName.MalformedException",
            LaunchTemplateName="a b", LaunchTemplateData={"InstanceType": "t3.micro"})
    refused(ec2.create_launch_template, "InvalidParameterValue", LaunchTemplateName=f"{unique}-tags",
            LaunchTemplateData={"InstanceType": "t3.micro"},
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": "k", "Value": "v"}]}])
    refused(ec2.create_launch_template, "InvalidUserData.Malformed", LaunchTemplateName=f"{unique}-ud",
            LaunchTemplateData={"UserData": "not base64!"})
    refused(ec2.create_launch_template, "InvalidParameterValue", LaunchTemplateName=f"{unique}-enum",
            LaunchTemplateData={"InstanceInitiatedShutdownBehavior": "explode"})
    missing_id = "lt-0123456789abcdef0"
    message = refused(ec2.describe_launch_template_versions, "InvalidLaunchTemplateId.NotFound",
                      LaunchTemplateId=missing_id)
    assert missing_id in message
    refused(ec2.describe_launch_template_versions, "InvalidLaunchTemplateId.Malformed", LaunchTemplateId="lt-xyz")
    refused(ec2.describe_launch_template_versions, "InvalidLaunchTemplateName.NotFoundException",
            LaunchTemplateName=f"{unique}-none")
    refused(ec2.describe_launch_templates, "InvalidLaunchTemplateName.NotFoundException",
            LaunchTemplateNames=[f"{unique}-none"])
    refused(ec2.describe_launch_template_versions, "InvalidLaunchTemplateId.VersionNotFound",
            LaunchTemplateId=template_id, Versions=["7"])
    refused(ec2.modify_launch_template, "InvalidLaunchTemplateId.VersionNotFound", LaunchTemplateId=template_id,
            DefaultVersion="7")
    refused(ec2.create_launch_template_version, "InvalidLaunchTemplateId.VersionNotFound",
            LaunchTemplateId=template_id, SourceVersion="7", LaunchTemplateData={"KeyName": "k"})
    refused(ec2.create_launch_template_version, "MissingParameter", LaunchTemplateData={"KeyName": "k"})
    refused(ec2.modify_launch_template, "InvalidParameterCombination", LaunchTemplateId=template_id,
            LaunchTemplateName=name, DefaultVersion="1")
    refused(ec2.describe_launch_template_versions, "MissingParameter")
    refused(ec2.describe_launch_template_versions, "InvalidParameterValue", Versions=["1"])
    refused(ec2.delete_launch_template, "InvalidLaunchTemplateName.NotFoundException",
            LaunchTemplateName=f"{unique}-none")
    orphan = ec2.delete_launch_template_versions(LaunchTemplateId=missing_id, Versions=["1"])
    assert orphan["UnsuccessfullyDeletedLaunchTemplateVersions"][0]["ResponseError"]["Code"] == \
        "launchTemplateIdDoesNotExist"
    malformed = ec2.delete_launch_template_versions(LaunchTemplateId="lt-xyz", Versions=["1"])
    assert malformed["UnsuccessfullyDeletedLaunchTemplateVersions"][0]["ResponseError"]["Code"] == \
        "launchTemplateIdMalformed"
    ec2.delete_launch_template(LaunchTemplateId=template_id)


def test_client_token_describe_filters_and_paging(ec2: Client, unique: str) -> None:
    token = f"{unique}-token"
    first = ec2.create_launch_template(LaunchTemplateName=f"{unique}-a", ClientToken=token,
                                       LaunchTemplateData={"InstanceType": "t3.micro"})["LaunchTemplate"]
    repeat = ec2.create_launch_template(LaunchTemplateName=f"{unique}-a", ClientToken=token,
                                        LaunchTemplateData={"InstanceType": "t3.micro"})["LaunchTemplate"]
    assert repeat["LaunchTemplateId"] == first["LaunchTemplateId"]
    refused(ec2.create_launch_template, "IdempotentParameterMismatch", LaunchTemplateName=f"{unique}-other",
            ClientToken=token, LaunchTemplateData={"InstanceType": "t3.micro"})
    version_token = f"{unique}-v"
    made = [ec2.create_launch_template_version(LaunchTemplateId=first["LaunchTemplateId"], ClientToken=version_token,
                                               LaunchTemplateData={"KeyName": "k"})["LaunchTemplateVersion"]
            for _ in range(2)]
    assert [v["VersionNumber"] for v in made] == [2, 2]
    ids = [first["LaunchTemplateId"]]
    for suffix in ("b", "c"):
        ids.append(ec2.create_launch_template(
            LaunchTemplateName=f"{unique}-{suffix}", LaunchTemplateData={"InstanceType": "t3.micro"},
            TagSpecifications=[{"ResourceType": "launch-template", "Tags": [{"Key": "run", "Value": unique}]}])[
            "LaunchTemplate"]["LaunchTemplateId"])
    ec2.create_tags(Resources=[ids[0]], Tags=[{"Key": "run", "Value": unique}, {"Key": "first", "Value": "yes"}])

    def names(**params: Any) -> list[str]:
        found = ec2.describe_launch_templates(**params)["LaunchTemplates"]
        return sorted(t["LaunchTemplateName"] for t in found)

    everyone = [f"{unique}-a", f"{unique}-b", f"{unique}-c"]
    assert names(Filters=[{"Name": "tag:run", "Values": [unique]}]) == everyone
    assert names(Filters=[{"Name": "tag-key", "Values": ["first"]}, {"Name": "tag:run", "Values": [unique]}]) == \
        [f"{unique}-a"]
    assert names(Filters=[{"Name": "launch-template-name", "Values": [f"{unique}-[bc]", f"{unique}-?"]}]) == everyone
    assert names(LaunchTemplateIds=ids[1:]) == everyone[1:]
    assert names(LaunchTemplateNames=[f"{unique}-c"]) == [f"{unique}-c"]
    day = first["CreateTime"].strftime("%Y-%m-%dT*")
    assert f"{unique}-a" in names(Filters=[{"Name": "create-time", "Values": [day]}])
    seen, token_in = [], None
    while True:
        page = ec2.describe_launch_templates(Filters=[{"Name": "tag:run", "Values": [unique]}], MaxResults=1,
                                             **({"NextToken": token_in} if token_in else {}))
        seen += [t["LaunchTemplateName"] for t in page["LaunchTemplates"]]
        token_in = page.get("NextToken")
        if not token_in:
            break
    assert sorted(seen) == everyone and len(seen) == 3
    latest = ec2.describe_launch_template_versions(Versions=["$Latest"])["LaunchTemplateVersions"]
    assert {(v["LaunchTemplateName"], v["VersionNumber"]) for v in latest if v["LaunchTemplateName"] in everyone} \
        == {(f"{unique}-a", 2), (f"{unique}-b", 1), (f"{unique}-c", 1)}
    tags = ec2.describe_tags(Filters=[{"Name": "resource-id", "Values": [ids[0]]}])["Tags"]
    assert {t["ResourceType"] for t in tags} == {"launch-template"}
    for template_id in ids:
        ec2.delete_launch_template(LaunchTemplateId=template_id)


def test_the_cli_walk_through(cloudlet: CloudletProcess, unique: str) -> None:
    def aws(*args: str) -> Any:
        return json.loads(cloudlet.aws("ec2", *args).stdout or "{}")

    name = f"{unique}-cli"
    data = {"InstanceType": "t3.micro", "MetadataOptions": {"HttpTokens": "required"},
            "BlockDeviceMappings": [{"DeviceName": "/dev/xvdb", "Ebs": {"VolumeSize": 10}}]}
    created = aws("create-launch-template", "--launch-template-name", name, "--version-description", "v1",
                  "--launch-template-data", json.dumps(data))
    template_id = created["LaunchTemplate"]["LaunchTemplateId"]
    aws("create-launch-template-version", "--launch-template-name", name, "--source-version", "1",
        "--launch-template-data", '{"InstanceType": "t3.small"}')
    aws("modify-launch-template", "--launch-template-id", template_id, "--default-version", "2")
    default = aws("describe-launch-template-versions", "--launch-template-id", template_id, "--versions", "$Default")
    assert default["LaunchTemplateVersions"][0]["LaunchTemplateData"] == {**data, "InstanceType": "t3.small"}
    listed = aws("describe-launch-templates", "--launch-template-names", name)["LaunchTemplates"]
    assert (listed[0]["DefaultVersionNumber"], listed[0]["LatestVersionNumber"]) == (2, 2)
    for _ in range(3):
        aws("create-launch-template-version", "--launch-template-id", template_id, "--launch-template-data",
            '{"KeyName": "k"}')
    paged = aws("describe-launch-template-versions", "--launch-template-id", template_id, "--page-size", "2")
    assert [v["VersionNumber"] for v in paged["LaunchTemplateVersions"]] == [5, 4, 3, 2, 1]  # followed NextToken
    refused_default = cloudlet.aws("ec2", "delete-launch-template-versions", "--launch-template-id", template_id,
                                   "--versions", "2", "3")
    result = json.loads(refused_default.stdout)
    assert [v["VersionNumber"] for v in result["SuccessfullyDeletedLaunchTemplateVersions"]] == [3]
    assert result["UnsuccessfullyDeletedLaunchTemplateVersions"][0]["VersionNumber"] == 2
    missing = cloudlet.aws("ec2", "describe-launch-templates", "--launch-template-names", f"{unique}-none",
                           check=False)
    assert missing.returncode != 0 and "InvalidLaunchTemplateName.NotFoundException" in missing.stderr
    aws("delete-launch-template", "--launch-template-name", name)


def _settle(cloudlet: CloudletProcess, ec2: Client, host_id: str, instance_ids: list[str]) -> None:
    """Terminate the test's instances and report the fake host empty, so it keeps no guests."""
    ec2.terminate_instances(InstanceIds=instance_ids)
    agent_rpc(cloudlet, "POST", f"/hosts/{host_id}/instances", {"complete": True, "instances": []})


def test_run_instances_from_a_template_with_overrides(cloudlet: CloudletProcess, ec2: Client, fake_host: str,
                                                      unique: str, image_id: str) -> None:
    name = f"{unique}-run"
    template_id = ec2.create_launch_template(LaunchTemplateName=name, LaunchTemplateData={
        "ImageId": image_id, "InstanceType": "t3.micro", "Placement": {"AvailabilityZone": "home-1b"},
        "MetadataOptions": {"HttpTokens": "required"},
        "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "role", "Value": "web"},
                                                                    {"Key": "run", "Value": "template"}]}]},
    )["LaunchTemplate"]["LaunchTemplateId"]
    ec2.create_launch_template_version(LaunchTemplateId=template_id, SourceVersion="1",
                                       LaunchTemplateData={"InstanceType": "t3.small"})
    launched = []

    plain = ec2.run_instances(LaunchTemplate={"LaunchTemplateName": name}, MinCount=1, MaxCount=1,
                              TagSpecifications=[{"ResourceType": "instance",
                                                  "Tags": [{"Key": "run", "Value": unique}]}])["Instances"][0]
    launched.append(plain["InstanceId"])
    assert plain["InstanceType"] == "t3.micro"  # the default version, 1
    assert plain["Placement"]["AvailabilityZone"] == "home-1b"
    assert plain["MetadataOptions"]["HttpTokens"] == "required"
    tags = {t["Key"]: t["Value"] for t in plain["Tags"]}
    assert tags == {"role": "web", "run": unique, "aws:ec2launchtemplate:id": template_id,
                    "aws:ec2launchtemplate:version": "1"}

    data = ec2.get_launch_template_data(InstanceId=plain["InstanceId"])["LaunchTemplateData"]
    assert (data["ImageId"], data["InstanceType"], data["Placement"]["AvailabilityZone"]) == (
        image_id, "t3.micro", "home-1b")
    assert data["MetadataOptions"]["HttpTokens"] == "required"
    assert data["TagSpecifications"] == [{"ResourceType": "instance", "Tags": [
        {"Key": "role", "Value": "web"}, {"Key": "run", "Value": unique}]}]  # without AWS's own tags
    assert data["NetworkInterfaces"][0]["NetworkInterfaceId"] == plain["NetworkInterfaces"][0]["NetworkInterfaceId"]
    copy = ec2.create_launch_template(LaunchTemplateName=f"{unique}-copy", LaunchTemplateData=data)
    copy_id = copy["LaunchTemplate"]["LaunchTemplateId"]
    assert ec2.describe_launch_template_versions(LaunchTemplateId=copy_id)["LaunchTemplateVersions"][0][
        "LaunchTemplateData"] == {k: v for k, v in data.items() if v not in ({}, [])}  # (the wire drops empty ones)
    ec2.delete_launch_template(LaunchTemplateId=copy_id)
    refused(ec2.get_launch_template_data, "InvalidInstanceID.NotFound", InstanceId="i-0123456789abcdef0")

    latest = ec2.run_instances(LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"},
                               MinCount=1, MaxCount=1)["Instances"][0]
    launched.append(latest["InstanceId"])
    assert latest["InstanceType"] == "t3.small"
    overridden = json.loads(cloudlet.aws(
        "ec2", "run-instances", "--launch-template", f"LaunchTemplateId={template_id},Version=2",
        "--instance-type", "t3.medium").stdout)["Instances"][0]
    launched.append(overridden["InstanceId"])
    assert overridden["InstanceType"] == "t3.medium"

    found = ec2.describe_instances(Filters=[{"Name": "tag:aws:ec2launchtemplate:id", "Values": [template_id]}])
    described = {i["InstanceId"]: i for r in found["Reservations"] for i in r["Instances"]}
    assert sorted(described) == sorted(launched)
    versions = {i: {t["Key"]: t["Value"] for t in described[i]["Tags"]}["aws:ec2launchtemplate:version"]
                for i in launched}
    assert [versions[i] for i in launched] == ["1", "2", "2"]

    refused(ec2.run_instances, "InvalidLaunchTemplateId.NotFound", MinCount=1, MaxCount=1,
            LaunchTemplate={"LaunchTemplateId": "lt-0123456789abcdef0"})
    refused(ec2.run_instances, "InvalidLaunchTemplateName.NotFoundException", MinCount=1, MaxCount=1,
            LaunchTemplate={"LaunchTemplateName": f"{unique}-none"})
    refused(ec2.run_instances, "InvalidLaunchTemplateId.VersionNotFound", MinCount=1, MaxCount=1,
            LaunchTemplate={"LaunchTemplateId": template_id, "Version": "9"})
    partial = ec2.create_launch_template(LaunchTemplateName=f"{unique}-partial", LaunchTemplateData={
        "InstanceType": "t3.micro"})["LaunchTemplate"]["LaunchTemplateId"]
    refused(ec2.run_instances, "MissingParameter", MinCount=1, MaxCount=1,
            LaunchTemplate={"LaunchTemplateId": partial})  # neither the template nor the request has an AMI
    ec2.create_launch_template_version(LaunchTemplateId=partial, LaunchTemplateData={
        "InstanceType": "t3.micro", "SecurityGroupIds": ["sg-nothex"]})  # templates are checked at launch
    refused(ec2.run_instances, "InvalidGroupId.Malformed", MinCount=1, MaxCount=1, ImageId=image_id,
            LaunchTemplate={"LaunchTemplateId": partial, "Version": "2"})  # the merged request is checked
    ec2.delete_launch_template(LaunchTemplateId=partial)
    with_interfaces = ec2.create_launch_template(LaunchTemplateName=f"{unique}-nic", LaunchTemplateData={
        "ImageId": image_id, "InstanceType": "t3.micro",
        "NetworkInterfaces": [{"DeviceIndex": 0, "AssociatePublicIpAddress": True}]})["LaunchTemplate"]
    subnet_id = ec2.describe_subnets(Filters=[{"Name": "default-for-az", "Values": ["true"]},
                                              {"Name": "availability-zone", "Values": ["home-1b"]}])[
        "Subnets"][0]["SubnetId"]
    refused(ec2.run_instances, "InvalidParameterCombination", MinCount=1, MaxCount=1, SubnetId=subnet_id,
            LaunchTemplate={"LaunchTemplateId": with_interfaces["LaunchTemplateId"]})
    _settle(cloudlet, ec2, fake_host, launched)
    for template in (template_id, with_interfaces["LaunchTemplateId"]):
        ec2.delete_launch_template(LaunchTemplateId=template)
