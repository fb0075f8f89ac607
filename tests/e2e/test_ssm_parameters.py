"""Parameter Store against a real ``cloudlet up``, with boto3 and the AWS CLI: String/StringList/SecureString
round trips (SecureString under KMS, readable with decryption only by callers allowed kms:Decrypt), versions,
labels and history, paths with recursion and pagination, DescribeParameters filters, tags, expiration
policies, AWS's errors, and the public parameter naming the cloud's latest AMI."""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import Cleanup, Client, allow, document, new_user, refused
from tests.support import CloudletProcess
from tests.unit.harness import write_manifest

pytestmark = pytest.mark.e2e


@pytest.fixture
def ssm(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("ssm")


@pytest.fixture
def kms(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("kms")


def _values(parameters: list[dict[str, Any]]) -> dict[str, str]:
    return {item["Name"]: item["Value"] for item in parameters}


def test_string_and_string_list_round_trip(ssm: Client, cloudlet: CloudletProcess, unique: str) -> None:
    name = f"/{unique}/app/hosts"
    assert ssm.put_parameter(Name=name, Value="a.example,b.example", Type="StringList",
                             Description="upstreams")["Version"] == 1
    parameter = ssm.get_parameter(Name=name)["Parameter"]
    assert (parameter["Value"], parameter["Type"], parameter["Version"], parameter["DataType"]) == \
        ("a.example,b.example", "StringList", 1, "text")
    assert parameter["ARN"] == f"arn:aws:ssm:{cloudlet.region}:{cloudlet.account_id}:parameter/{unique}/app/hosts"
    plain = f"plain-{unique}"   # a name without a path
    ssm.put_parameter(Name=plain, Value="hello", Type="String")
    got = ssm.get_parameters(Names=[name, plain, f"/{unique}/missing", f"{plain}:7"])
    assert _values(got["Parameters"]) == {name: "a.example,b.example", plain: "hello"}
    assert sorted(got["InvalidParameters"]) == sorted([f"/{unique}/missing", f"{plain}:7"])
    assert ssm.get_parameter(Name=parameter["ARN"])["Parameter"]["Value"] == "a.example,b.example"
    assert ssm.get_parameter(Name=f"/{plain}")["Parameter"]["Name"] == plain   # one level: the slash is dropped
    refused(ssm.put_parameter, "ParameterAlreadyExists", Name=f"/{plain}", Value="again", Type="String")

    cli = json.loads(cloudlet.aws("ssm", "put-parameter", "--name", f"/{unique}/cli", "--value", "from-cli",
                                  "--type", "String").stdout)
    assert cli == {"Version": 1, "Tier": "Standard"}
    value = cloudlet.aws("ssm", "get-parameter", "--name", f"/{unique}/cli", "--query", "Parameter.Value",
                         "--output", "text").stdout.strip()
    assert value == "from-cli"
    ssm.delete_parameter(Name=plain)
    refused(ssm.get_parameter, "ParameterNotFound", Name=plain)
    deleted = ssm.delete_parameters(Names=[name, f"/{unique}/cli", f"/{unique}/never"])
    assert (sorted(deleted["DeletedParameters"]), deleted["InvalidParameters"]) == \
        (sorted([name, f"/{unique}/cli"]), [f"/{unique}/never"])


def test_secure_string_under_the_default_key(ssm: Client, kms: Client, cloudlet: CloudletProcess,
                                             unique: str) -> None:
    name = f"/{unique}/db/password"
    ssm.put_parameter(Name=name, Value="s3cret!", Type="SecureString")
    hidden = ssm.get_parameter(Name=name)["Parameter"]
    assert hidden["Type"] == "SecureString" and hidden["Value"] != "s3cret!"
    assert ssm.get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == "s3cret!"
    [described] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [name]}])["Parameters"]
    assert described["KeyId"] == "alias/aws/ssm"
    aliases = {alias["AliasName"]: alias for alias in kms.list_aliases()["Aliases"]}
    key = kms.describe_key(KeyId=aliases["alias/aws/ssm"]["TargetKeyId"])["KeyMetadata"]
    assert (key["KeyManager"], key["Description"]) == \
        ("AWS", "Default key that protects my SSM parameters when no other key is defined")
    # The AWS managed key serves callers only through SSM: its policy requires kms:ViaService.
    refused(kms.decrypt, "AccessDeniedException", CiphertextBlob=base64.b64decode(hidden["Value"]),
            EncryptionContext={"PARAMETER_ARN": hidden["ARN"]})
    text = cloudlet.aws("ssm", "get-parameters-by-path", "--path", f"/{unique}/db", "--with-decryption",
                        "--query", "Parameters[0].Value", "--output", "text").stdout.strip()
    assert text == "s3cret!"


def test_decryption_needs_kms_decrypt_on_the_key(ssm: Client, kms: Client, iam: Client, cleanup: Cleanup,
                                                 cloudlet: CloudletProcess, unique: str) -> None:
    key = kms.create_key(Description="ssm test key")["KeyMetadata"]
    name = f"/{unique}/api/token"
    ssm.put_parameter(Name=name, Value="tok-123", Type="SecureString", KeyId=key["KeyId"])
    read_only = new_user(iam, cleanup, f"{unique}-reader")
    iam.put_user_policy(UserName=f"{unique}-reader", PolicyName="ssm",
                        PolicyDocument=document(allow(["ssm:GetParameter*", "ssm:PutParameter"])))
    reader = cloudlet.client("ssm", read_only)
    hidden = reader.get_parameter(Name=name)["Parameter"]
    # The value without decryption is the KMS ciphertext blob, bound to the parameter's ARN as on AWS.
    opened = kms.decrypt(CiphertextBlob=base64.b64decode(hidden["Value"]),
                         EncryptionContext={"PARAMETER_ARN": hidden["ARN"]})
    assert opened["Plaintext"] == b"tok-123"
    message = refused(reader.get_parameter, "AccessDeniedException", Name=name, WithDecryption=True)
    assert "kms:Decrypt" in message and key["Arn"] in message
    refused(reader.put_parameter, "AccessDeniedException", Name=f"/{unique}/api/other", Value="x",
            Type="SecureString", KeyId=key["Arn"])
    trusted = new_user(iam, cleanup, f"{unique}-trusted")
    iam.put_user_policy(UserName=f"{unique}-trusted", PolicyName="ssm", PolicyDocument=document(
        allow("ssm:GetParameter"), allow("kms:Decrypt", key["Arn"])))
    assert cloudlet.client("ssm", trusted).get_parameter(Name=name, WithDecryption=True)["Parameter"]["Value"] == \
        "tok-123"
    outsider = new_user(iam, cleanup, f"{unique}-outsider")
    iam.put_user_policy(UserName=f"{unique}-outsider", PolicyName="ssm", PolicyDocument=document(
        allow("ssm:GetParameter", f"arn:aws:ssm:{cloudlet.region}:{cloudlet.account_id}:parameter/{unique}/app/*")))
    refused(cloudlet.client("ssm", outsider).get_parameter, "AccessDeniedException", Name=name)
    refused(ssm.put_parameter, "InvalidKeyId", Name=f"/{unique}/x", Value="x", Type="SecureString",
            KeyId="alias/does-not-exist")


def test_versions_labels_and_history(ssm: Client, cloudlet: CloudletProcess, unique: str) -> None:
    name = f"/{unique}/feature/flag"
    ssm.put_parameter(Name=name, Value="off", Type="String", Description="the flag")
    refused(ssm.put_parameter, "ParameterAlreadyExists", Name=name, Value="on", Type="String")
    assert ssm.put_parameter(Name=name, Value="on", Overwrite=True)["Version"] == 2
    assert ssm.put_parameter(Name=name, Value="canary", Type="String", Overwrite=True)["Version"] == 3
    assert ssm.get_parameter(Name=f"{name}:1")["Parameter"]["Value"] == "off"
    refused(ssm.get_parameter, "ParameterVersionNotFound", Name=f"{name}:9")

    labelled = ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["prod", "9lives", "awsx"])
    assert (labelled["ParameterVersion"], sorted(labelled["InvalidLabels"])) == (1, ["9lives", "awsx"])
    got = ssm.get_parameter(Name=f"{name}:prod")["Parameter"]
    assert (got["Value"], got["Selector"], got["Version"]) == ("off", ":prod", 1)
    assert ssm.label_parameter_version(Name=name, Labels=["prod"])["ParameterVersion"] == 3   # moves to latest
    history = ssm.get_parameter_history(Name=name)["Parameters"]
    assert [(item["Version"], item["Value"], item.get("Labels")) for item in history] == \
        [(1, "off", None), (2, "on", None), (3, "canary", ["prod"])]
    assert all(item["Description"] == "the flag" for item in history)   # the description carries over
    assert history[0]["LastModifiedUser"] == f"arn:aws:iam::{cloudlet.account_id}:root"
    assert ssm.get_parameter(Name=f"{name}:prod")["Parameter"]["Version"] == 3

    ssm.label_parameter_version(Name=name, ParameterVersion=2, Labels=[f"l{i}" for i in range(10)])
    refused(ssm.label_parameter_version, "ParameterVersionLabelLimitExceeded", Name=name, ParameterVersion=2,
            Labels=["one-more"])
    refused(ssm.label_parameter_version, "ParameterVersionNotFound", Name=name, ParameterVersion=7, Labels=["x"])
    removed = ssm.unlabel_parameter_version(Name=name, ParameterVersion=3, Labels=["prod", "l1"])
    assert (removed["RemovedLabels"], removed["InvalidLabels"]) == (["prod"], ["l1"])
    refused(ssm.get_parameter, "ParameterVersionNotFound", Name=f"{name}:prod")

    page = ssm.get_parameter_history(Name=name, MaxResults=2)
    assert [item["Version"] for item in page["Parameters"]] == [1, 2]
    rest = ssm.get_parameter_history(Name=name, MaxResults=2, NextToken=page["NextToken"])
    assert [item["Version"] for item in rest["Parameters"]] == [3] and "NextToken" not in rest
    cli = json.loads(cloudlet.aws("ssm", "get-parameter-history", "--name", name).stdout)
    assert [item["Version"] for item in cli["Parameters"]] == [1, 2, 3]


def test_the_hundredth_version_drops_the_oldest_unless_labelled(ssm: Client, unique: str) -> None:
    name = f"/{unique}/counter"
    ssm.put_parameter(Name=name, Value="0", Type="String")
    for number in range(2, 101):
        ssm.put_parameter(Name=name, Value=str(number), Overwrite=True)
    ssm.label_parameter_version(Name=name, ParameterVersion=1, Labels=["first"])
    message = refused(ssm.put_parameter, "ParameterMaxVersionLimitExceeded", Name=name, Value="101",
                      Overwrite=True)
    assert "Version 1, the oldest version, can't be deleted" in message
    ssm.unlabel_parameter_version(Name=name, ParameterVersion=1, Labels=["first"])
    assert ssm.put_parameter(Name=name, Value="101", Overwrite=True)["Version"] == 101
    versions = [item["Version"] for item in ssm.get_paginator("get_parameter_history").paginate(Name=name)
                .build_full_result()["Parameters"]]
    assert versions == list(range(2, 102))


def test_paths_recursion_and_pagination(ssm: Client, cloudlet: CloudletProcess, unique: str) -> None:
    for index in range(23):
        ssm.put_parameter(Name=f"/{unique}/svc/config/k{index:02d}", Value=str(index), Type="String")
    ssm.put_parameter(Name=f"/{unique}/svc/top", Value="top", Type="String")
    ssm.put_parameter(Name=f"/{unique}/svc/secret", Value="hush", Type="SecureString")
    one_level = ssm.get_parameters_by_path(Path=f"/{unique}/svc")["Parameters"]
    assert sorted(item["Name"] for item in one_level) == [f"/{unique}/svc/secret", f"/{unique}/svc/top"]

    names, token, pages = [], None, 0
    while True:
        page = ssm.get_parameters_by_path(Path=f"/{unique}/svc/", Recursive=True, MaxResults=10,
                                          **({"NextToken": token} if token else {}))
        assert len(page["Parameters"]) <= 10
        names.extend(item["Name"] for item in page["Parameters"])
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    assert pages == 3 and len(names) == 25 == len(set(names))
    described = ssm.describe_parameters(ParameterFilters=[{"Key": "Path", "Option": "Recursive",
                                                           "Values": [f"/{unique}/svc"]}])
    assert len(described["Parameters"]) == 10 and described["NextToken"]   # 10 a page unless asked otherwise
    refused(ssm.get_parameters_by_path, "ValidationException", Path=f"/{unique}", MaxResults=11)
    refused(ssm.get_parameters_by_path, "ValidationException", Path=f"{unique}/svc")
    refused(ssm.get_parameters_by_path, "InvalidNextToken", Path=f"/{unique}", NextToken="bogus")

    secure = ssm.get_parameters_by_path(Path=f"/{unique}/svc", ParameterFilters=[
        {"Key": "Type", "Values": ["SecureString"]}], WithDecryption=True)["Parameters"]
    assert _values(secure) == {f"/{unique}/svc/secret": "hush"}
    refused(ssm.get_parameters_by_path, "InvalidFilterKey", Path=f"/{unique}/svc",
            ParameterFilters=[{"Key": "Name", "Values": ["x"]}])
    ssm.label_parameter_version(Name=f"/{unique}/svc/top", Labels=["live"])
    labelled = ssm.get_parameters_by_path(Path=f"/{unique}", Recursive=True,
                                          ParameterFilters=[{"Key": "Label", "Values": ["live"]}])["Parameters"]
    assert [item["Name"] for item in labelled] == [f"/{unique}/svc/top"]

    everything = json.loads(cloudlet.aws("ssm", "get-parameters-by-path", "--path", f"/{unique}/svc",
                                         "--recursive", "--page-size", "4").stdout)
    assert len(everything["Parameters"]) == 25


def test_describe_parameters_filters(ssm: Client, cloudlet: CloudletProcess, unique: str) -> None:
    ssm.put_parameter(Name=f"/{unique}/web/port", Value="80", Type="String", Tags=[{"Key": "env", "Value": "prod"}])
    ssm.put_parameter(Name=f"/{unique}/web/tls/key", Value="k", Type="SecureString",
                      Tags=[{"Key": "env", "Value": "dev"}])
    ssm.put_parameter(Name=f"/{unique}/web/big", Value="x" * 5000, Type="String", Tier="Advanced")

    def described(**params: Any) -> list[str]:
        pages = ssm.get_paginator("describe_parameters").paginate(**params, PaginationConfig={"PageSize": 2})
        return sorted(item["Name"] for item in pages.build_full_result()["Parameters"])

    mine = [{"Key": "Name", "Option": "BeginsWith", "Values": [f"/{unique}/"]}]
    assert described(ParameterFilters=mine) == [f"/{unique}/web/big", f"/{unique}/web/port",
                                                f"/{unique}/web/tls/key"]
    assert described(ParameterFilters=[{"Key": "Path", "Values": [f"/{unique}/web"]}]) == \
        [f"/{unique}/web/big", f"/{unique}/web/port"]
    assert described(ParameterFilters=[{"Key": "Path", "Option": "Recursive", "Values": [f"/{unique}"]},
                                       {"Key": "Type", "Values": ["SecureString"]}]) == [f"/{unique}/web/tls/key"]
    assert described(ParameterFilters=[*mine, {"Key": "tag:env", "Values": ["prod"]}]) == [f"/{unique}/web/port"]
    assert described(ParameterFilters=[*mine, {"Key": "Tier", "Values": ["Advanced"]}]) == [f"/{unique}/web/big"]
    assert described(ParameterFilters=[*mine, {"Key": "KeyId", "Values": ["alias/aws/ssm"]}]) == \
        [f"/{unique}/web/tls/key"]
    assert described(Filters=[{"Key": "Name", "Values": [f"/{unique}/web/p"]}]) == [f"/{unique}/web/port"]
    [port] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [f"/{unique}/web/port"]}]
                                     )["Parameters"]
    assert "Value" not in port and (port["Type"], port["Tier"], port["Version"]) == ("String", "Standard", 1)
    refused(ssm.describe_parameters, "InvalidFilterKey", ParameterFilters=[{"Key": "Label", "Values": ["x"]}])
    refused(ssm.describe_parameters, "InvalidFilterOption",
            ParameterFilters=[{"Key": "Path", "Option": "BeginsWith", "Values": ["/x"]}])
    refused(ssm.describe_parameters, "InvalidFilterValue", ParameterFilters=[{"Key": "Type", "Values": ["Int"]}])
    refused(ssm.describe_parameters, "ValidationException", Filters=[{"Key": "Name", "Values": ["a"]}],
            ParameterFilters=mine)
    refused(ssm.describe_parameters, "ValidationException", MaxResults=51)
    cli = json.loads(cloudlet.aws("ssm", "describe-parameters", "--parameter-filters",
                                  f"Key=Name,Option=BeginsWith,Values=/{unique}/").stdout)
    assert len(cli["Parameters"]) == 3


def test_tags(ssm: Client, unique: str) -> None:
    name = f"/{unique}/tagged"
    ssm.put_parameter(Name=name, Value="v", Type="String", Tags=[{"Key": "team", "Value": "core"}])
    refused(ssm.put_parameter, "ValidationException", Name=name, Value="w", Overwrite=True,
            Tags=[{"Key": "a", "Value": "b"}])
    ssm.add_tags_to_resource(ResourceType="Parameter", ResourceId=name,
                             Tags=[{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "platform"}])
    tags = ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"]
    assert tags == [{"Key": "env", "Value": "prod"}, {"Key": "team", "Value": "platform"}]
    ssm.remove_tags_from_resource(ResourceType="Parameter", ResourceId=name, TagKeys=["env"])
    assert ssm.list_tags_for_resource(ResourceType="Parameter", ResourceId=name)["TagList"] == \
        [{"Key": "team", "Value": "platform"}]
    refused(ssm.list_tags_for_resource, "InvalidResourceId", ResourceType="Parameter", ResourceId=f"/{unique}/no")
    refused(ssm.add_tags_to_resource, "InvalidResourceType", ResourceType="MaintenanceWindow", ResourceId=name,
            Tags=[{"Key": "a", "Value": "b"}])
    refused(ssm.add_tags_to_resource, "TooManyTagsError", ResourceType="Parameter", ResourceId=name,
            Tags=[{"Key": f"k{i}", "Value": "v"} for i in range(50)])


def test_tiers_patterns_and_expiration(ssm: Client, unique: str) -> None:
    name = f"/{unique}/tiered"
    refused(ssm.put_parameter, "ValidationException", Name=name, Value="x" * 4097, Type="String")
    assert ssm.put_parameter(Name=name, Value="x" * 4097, Type="String", Tier="Intelligent-Tiering")["Tier"] == \
        "Advanced"
    refused(ssm.put_parameter, "ValidationException", Name=name, Value="x", Overwrite=True, Tier="Standard")
    assert ssm.put_parameter(Name=name, Value="small", Overwrite=True)["Tier"] == "Advanced"
    refused(ssm.put_parameter, "ValidationException", Name=name, Value="x" * 8193, Overwrite=True)

    port = f"/{unique}/port"
    refused(ssm.put_parameter, "ParameterPatternMismatchException", Name=port, Value="eighty", Type="String",
            AllowedPattern=r"^\d+$")
    ssm.put_parameter(Name=port, Value="8080", Type="String", AllowedPattern=r"^\d+$")
    refused(ssm.put_parameter, "ParameterPatternMismatchException", Name=port, Value="x", Overwrite=True)
    refused(ssm.put_parameter, "InvalidAllowedPatternException", Name=f"/{unique}/re", Value="x", Type="String",
            AllowedPattern="([")

    expiring = f"/{unique}/temporary"
    at = (datetime.now(UTC) + timedelta(seconds=3)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    policy = json.dumps([{"Type": "Expiration", "Version": "1.0", "Attributes": {"Timestamp": at}}])
    refused(ssm.put_parameter, "ValidationException", Name=expiring, Value="v", Type="String", Policies=policy)
    refused(ssm.put_parameter, "InvalidPolicyTypeException", Name=expiring, Value="v", Type="String",
            Tier="Advanced", Policies=json.dumps([{"Type": "Rotate", "Version": "1.0", "Attributes": {}}]))
    ssm.put_parameter(Name=expiring, Value="v", Type="String", Tier="Advanced", Policies=policy)
    [described] = ssm.describe_parameters(ParameterFilters=[{"Key": "Name", "Values": [expiring]}])["Parameters"]
    assert [item["PolicyType"] for item in described["Policies"]] == ["Expiration"]
    assert ssm.get_parameter(Name=expiring)["Parameter"]["Value"] == "v"
    time.sleep(3.5)
    refused(ssm.get_parameter, "ParameterNotFound", Name=expiring)
    assert ssm.put_parameter(Name=expiring, Value="again", Type="String")["Version"] == 1


@pytest.mark.parametrize(("params", "code"), [
    ({"Name": "awsconfig", "Value": "v", "Type": "String"}, "ValidationException"),
    ({"Name": "/ssm/x", "Value": "v", "Type": "String"}, "ValidationException"),
    ({"Name": "/aws/mine", "Value": "v", "Type": "String"}, "AccessDeniedException"),
    ({"Name": "/empty", "Value": "", "Type": "String"}, "ValidationException"),
    ({"Name": "/tier", "Value": "v", "Type": "String", "Tier": "Premium"}, "ValidationException"),
    ({"Name": "no/leading/slash", "Value": "v", "Type": "String"}, "ValidationException"),
    ({"Name": "/bad name", "Value": "v", "Type": "String"}, "ValidationException"),
    ({"Name": "/" + "/".join(f"l{i}" for i in range(16)), "Value": "v", "Type": "String"},
     "HierarchyLevelLimitExceededException"),
    ({"Name": "/typed", "Value": "v", "Type": "Number"}, "UnsupportedParameterType"),
    ({"Name": "/untyped", "Value": "v"}, "ValidationException"),
    ({"Name": "/keyed", "Value": "v", "Type": "String", "KeyId": "alias/aws/ssm"}, "ValidationException"),
    ({"Name": "/dt", "Value": "v", "Type": "String", "DataType": "aws:ec2:widget"}, "ValidationException"),
])
def test_put_parameter_errors(ssm: Client, params: dict[str, Any], code: str) -> None:
    refused(ssm.put_parameter, code, **params)


def test_unknown_names_and_selectors(ssm: Client, unique: str) -> None:
    refused(ssm.get_parameter, "ParameterNotFound", Name=f"/{unique}/nothing")
    refused(ssm.delete_parameter, "ParameterNotFound", Name=f"/{unique}/nothing")
    refused(ssm.get_parameter_history, "ParameterNotFound", Name=f"/{unique}/nothing")
    refused(ssm.label_parameter_version, "ParameterNotFound", Name=f"/{unique}/nothing", Labels=["a"])
    ssm.put_parameter(Name=f"/{unique}/here", Value="v", Type="String")
    refused(ssm.get_parameter, "ValidationException", Name=f"/{unique}/here:1:2")
    refused(ssm.get_parameters, "ValidationException", Names=[f"/{unique}/p{i}" for i in range(11)])


@pytest.fixture(scope="module")
def imaged_cloud(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    """A ``cloudlet up`` whose images dir holds one built image (family ``cloudlet-tiny``)."""
    root = tmp_path_factory.mktemp("ssm-images")
    write_manifest(root / "images" / "tiny")
    data_dir = root / "data"
    data_dir.mkdir()
    (data_dir / "cloudlet.json").write_text(json.dumps({"builtin_images_dir": str(root / "images")}))
    process = CloudletProcess(data_dir).start()
    try:
        yield process
    finally:
        process.stop()


def test_public_ami_parameter_names_an_image_describe_images_knows(imaged_cloud: CloudletProcess,
                                                                   tmp_path: Path) -> None:
    ssm, ec2 = imaged_cloud.client("ssm"), imaged_cloud.client("ec2")
    path = "/aws/service/cloudlet/ami/cloudlet-tiny/latest"
    parameter = ssm.get_parameter(Name=path)["Parameter"]
    assert (parameter["Type"], parameter["DataType"]) == ("String", "aws:ec2:image")
    assert parameter["ARN"] == f"arn:aws:ssm:{imaged_cloud.region}::parameter{path}"
    [image] = ec2.describe_images(ImageIds=[parameter["Value"]])["Images"]
    assert image["Name"].startswith("cloudlet-tiny-") and image["Public"] is True
    listed = ssm.get_parameters_by_path(Path="/aws/service/cloudlet/ami", Recursive=True)["Parameters"]
    assert _values(listed) == {path: image["ImageId"]}
    value = imaged_cloud.aws("ssm", "get-parameters", "--names", path, "--query", "Parameters[0].Value",
                             "--output", "text").stdout.strip()
    assert value == image["ImageId"]
    refused(ssm.put_parameter, "AccessDeniedException", Name="/aws/service/cloudlet/ami/mine/latest",
            Value=image["ImageId"], Type="String", Overwrite=True)
    ssm.put_parameter(Name="/golden/ami", Value=image["ImageId"], Type="String", DataType="aws:ec2:image")
    assert ssm.get_parameter(Name="/golden/ami")["Parameter"]["DataType"] == "aws:ec2:image"
    refused(ssm.put_parameter, "ValidationException", Name="/golden/other", Value="ami-0123456789abcdef0",
            Type="String", DataType="aws:ec2:image")
