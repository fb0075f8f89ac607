"""Lambda's control plane over HTTP with boto3: functions, code, configuration, versions, errors.

No function runs here (no agent needed): these tests create, read back, update and delete through the
same API the AWS CLI uses, and check Lambda's documented answers and errors.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import io
import json
import re
import time
import urllib.error
import urllib.request
import zipfile
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import Client, allow, denied, document, new_user
from tests.e2e.lambda_helpers import execution_role, zip_of
from tests.support import CloudletProcess

SOURCE = {"app.py": "def handler(event, context):\n    return event\n"}


@pytest.fixture
def lam(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("lambda")


@pytest.fixture
def role(iam: Client, unique: str) -> str:
    return execution_role(iam, f"{unique}-exec")


def _create(lam: Client, name: str, role: str, **config: Any) -> dict[str, Any]:
    params: dict[str, Any] = {"FunctionName": name, "Runtime": "python3.11", "Role": role, "Handler": "app.handler",
                              "Code": {"ZipFile": zip_of(SOURCE)}}
    params.update(config)
    return lam.create_function(**params)


def test_create_reads_back_as_lambda_describes_it(lam: Client, role: str, unique: str, cloudlet: CloudletProcess
                                                  ) -> None:
    package = zip_of(SOURCE)
    created = lam.create_function(FunctionName=unique, Runtime="python3.11", Role=role, Handler="app.handler",
                                  Code={"ZipFile": package}, Description="echo", MemorySize=256, Timeout=30,
                                  Environment={"Variables": {"GREETING": "hello"}}, Tags={"team": "a"})
    assert created["FunctionArn"] == f"arn:aws:lambda:{cloudlet.region}:{cloudlet.account_id}:function:{unique}"
    assert created["CodeSha256"] == base64.b64encode(hashlib.sha256(package).digest()).decode()
    assert created["CodeSize"] == len(package)
    assert (created["Version"], created["State"], created["LastUpdateStatus"]) == ("$LATEST", "Active", "Successful")
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", created["LastModified"])
    assert created["EphemeralStorage"] == {"Size": 512} and created["Architectures"] == ["x86_64"]
    assert created["Environment"] == {"Variables": {"GREETING": "hello"}}
    assert created["LoggingConfig"]["LogGroup"] == f"/aws/lambda/{unique}"
    lam.get_waiter("function_active_v2").wait(FunctionName=unique, WaiterConfig={"Delay": 1, "MaxAttempts": 5})
    got = lam.get_function(FunctionName=unique)
    assert got["Configuration"]["RevisionId"] == created["RevisionId"]
    assert got["Configuration"]["MemorySize"] == 256 and got["Tags"] == {"team": "a"}
    assert got["Code"]["RepositoryType"] == "S3"
    with urllib.request.urlopen(got["Code"]["Location"]) as response:
        assert response.read() == package
    tampered = got["Code"]["Location"].replace("signature=", "signature=0")
    with pytest.raises(urllib.error.HTTPError):
        urllib.request.urlopen(tampered)
    assert lam.get_function_configuration(FunctionName=f"{cloudlet.account_id}:function:{unique}")[
        "Description"] == "echo"


def test_bad_configuration_gets_lambdas_errors_and_changes_nothing(lam: Client, role: str, unique: str,
                                                                   iam: Client) -> None:
    cases: list[tuple[dict[str, Any], str, int, str]] = [
        ({"MemorySize": 20000}, "InvalidParameterValueException", 400, "less than or equal to 10240"),
        ({"Timeout": 901}, "InvalidParameterValueException", 400, "less than or equal to 900"),
        ({"Runtime": "python2.7"}, "InvalidParameterValueException", 400, "no longer supported"),
        ({"Handler": None}, "InvalidParameterValueException", 400, "Runtime and Handler are mandatory"),
        ({"Environment": {"Variables": {"BIG": "x" * 5000}}}, "InvalidParameterValueException", 400, "4KB"),
        ({"Code": {"ZipFile": b"not a zip"}}, "InvalidParameterValueException", 400, "Could not unzip"),
        ({"Code": {"S3Bucket": "no-such-bucket-here", "S3Key": "k.zip"}}, "InvalidParameterValueException", 400,
         "S3 Error Code: NoSuchBucket"),
        ({"VpcConfig": {"SubnetIds": ["subnet-0123456789abcdef0"], "SecurityGroupIds": []}},
         "InvalidParameterValueException", 400, "InvalidSubnetID.NotFound"),
    ]
    for config, code, status, message in cases:
        params: dict[str, Any] = {"FunctionName": unique, "Runtime": "python3.11", "Role": role,
                                  "Handler": "app.handler", "Code": {"ZipFile": zip_of(SOURCE)}, **config}
        params = {key: value for key, value in params.items() if value is not None}
        got = denied(lam.create_function, **params)
        assert got[:2] == (code, status) and message in got[2], (config, got)
    untrusting = iam.create_role(RoleName=f"{unique}-ec2", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Principal": {"Service": "ec2.amazonaws.com"},
                                                "Action": "sts:AssumeRole"}]}))["Role"]["Arn"]
    got = denied(_create, lam, unique, untrusting)
    assert got == ("InvalidParameterValueException", 400, "The role defined for the function cannot be assumed by "
                   "Lambda.")
    assert denied(lam.get_function, FunctionName=unique)[:2] == ("ResourceNotFoundException", 404)


def test_a_trust_policy_may_name_the_function_it_trusts_lambda_for(lam: Client, iam: Client, unique: str,
                                                                   cloudlet: CloudletProcess) -> None:
    arn = f"arn:aws:lambda:{cloudlet.region}:{cloudlet.account_id}:function:{unique}"
    role = iam.create_role(RoleName=f"{unique}-scoped", AssumeRolePolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Service": "lambda.amazonaws.com"}, "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"aws:SourceAccount": cloudlet.account_id},
                          "ArnLike": {"aws:SourceArn": arn}}}]}))["Role"]["Arn"]
    assert denied(_create, lam, f"{unique}-other", role)[0] == "InvalidParameterValueException"
    assert _create(lam, unique, role)["Role"] == role


def test_environment_under_a_customer_key(lam: Client, role: str, unique: str, cloudlet: CloudletProcess,
                                         iam: Client, cleanup: Any) -> None:
    kms = cloudlet.client("kms")
    key_arn = kms.create_key(Description=unique)["KeyMetadata"]["Arn"]
    created = _create(lam, unique, role, KMSKeyArn=key_arn, Environment={"Variables": {"SECRET": "s3cr3t"}})
    assert created["KMSKeyArn"] == key_arn and created["Environment"] == {"Variables": {"SECRET": "s3cr3t"}}
    credentials = new_user(iam, cleanup, f"{unique}-dev")
    iam.put_user_policy(UserName=f"{unique}-dev", PolicyName="dev", PolicyDocument=document(
        allow(["lambda:*", "iam:PassRole"])))
    developer = cloudlet.client("lambda", credentials)
    refused = denied(developer.update_function_configuration, FunctionName=unique,
                     Environment={"Variables": {"OTHER": "x"}})
    assert refused[0] == "InvalidParameterValueException" and "CreateGrant" in refused[2]
    kms.disable_key(KeyId=key_arn)
    environment = lam.get_function_configuration(FunctionName=unique)["Environment"]
    assert "Variables" not in environment and environment["Error"]["ErrorCode"].startswith("Lambda.")
    kms.enable_key(KeyId=key_arn)
    assert lam.get_function_configuration(FunctionName=unique)["Environment"] == {"Variables": {"SECRET": "s3cr3t"}}


def test_duplicate_names_conflict_and_missing_functions_are_named(lam: Client, role: str, unique: str,
                                                                  cloudlet: CloudletProcess) -> None:
    _create(lam, unique, role)
    assert denied(_create, lam, unique, role) == ("ResourceConflictException", 409,
                                                  f"Function already exist: {unique}")
    arn = f"arn:aws:lambda:{cloudlet.region}:{cloudlet.account_id}:function:{unique}-gone"
    assert denied(lam.get_function, FunctionName=f"{unique}-gone") == ("ResourceNotFoundException", 404,
                                                                       f"Function not found: {arn}")
    assert denied(lam.get_function, FunctionName=unique, Qualifier="7")[:2] == ("ResourceNotFoundException", 404)
    assert denied(lam.get_function, FunctionName=f"{unique}:1", Qualifier="2")[0] == "InvalidParameterValueException"


def test_updates_change_the_revision_and_honour_preconditions(lam: Client, role: str, unique: str) -> None:
    created = _create(lam, unique, role)
    stale = created["RevisionId"]
    updated = lam.update_function_configuration(FunctionName=unique, Timeout=60, RevisionId=stale,
                                                Environment={"Variables": {"AB": "1"}})
    assert updated["Timeout"] == 60 and updated["RevisionId"] != stale
    assert denied(lam.update_function_configuration, FunctionName=unique, MemorySize=512,
                  RevisionId=stale)[:2] == ("PreconditionFailedException", 412)
    assert lam.get_function_configuration(FunctionName=unique)["MemorySize"] == 128
    new_package = zip_of({"app.py": "def handler(event, context):\n    return 2\n"})
    dry = lam.update_function_code(FunctionName=unique, ZipFile=new_package, DryRun=True)
    assert dry["CodeSha256"] == base64.b64encode(hashlib.sha256(new_package).digest()).decode()
    assert lam.get_function_configuration(FunctionName=unique)["CodeSha256"] == created["CodeSha256"]
    code = lam.update_function_code(FunctionName=unique, ZipFile=new_package, Publish=True)
    assert code["Version"] == "1" and code["CodeSha256"] == dry["CodeSha256"]
    latest = lam.get_function_configuration(FunctionName=unique)
    assert latest["Environment"] == {"Variables": {"AB": "1"}} and latest["Timeout"] == 60


def test_code_from_s3_is_read_as_the_caller(lam: Client, role: str, unique: str, s3: Client) -> None:
    package = zip_of(SOURCE)
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="code/app.zip", Body=package)
    created = _create(lam, unique, role, Code={"S3Bucket": unique, "S3Key": "code/app.zip"})
    assert created["CodeSize"] == len(package)
    got = denied(lam.update_function_code, FunctionName=unique, S3Bucket=unique, S3Key="code/missing.zip")
    assert got[0] == "InvalidParameterValueException" and "NoSuchKey" in got[2]


def test_unzipped_size_limit(lam: Client, role: str, unique: str) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("app.py", SOURCE["app.py"])
        archive.writestr("zeros.bin", b"\0" * (262144000 + 1))
    got = denied(_create, lam, unique, role, Code={"ZipFile": buffer.getvalue()})
    assert got == ("InvalidParameterValueException", 400, "Unzipped size must be smaller than 262144000 bytes")


def test_list_functions_pages_with_markers(lam: Client, role: str, unique: str) -> None:
    for index in range(3):
        _create(lam, f"{unique}-{index}", role)
    lam.publish_version(FunctionName=f"{unique}-0")
    names: list[str] = []
    for page in lam.get_paginator("list_functions").paginate(PaginationConfig={"PageSize": 1}):
        names += [f["FunctionName"] for f in page["Functions"] if f["FunctionName"].startswith(unique)]
    assert names == [f"{unique}-0", f"{unique}-1", f"{unique}-2"]
    every = [(f["FunctionName"], f["Version"]) for page in lam.get_paginator("list_functions").paginate(
        FunctionVersion="ALL") for f in page["Functions"] if f["FunctionName"].startswith(unique)]
    assert every[:3] == [(f"{unique}-0", "$LATEST"), (f"{unique}-0", "1"), (f"{unique}-1", "$LATEST")]
    assert len(lam.list_functions(MaxItems=1000)["Functions"]) <= 50


def test_vpc_config_is_checked_against_ec2_and_answers_the_vpc(lam: Client, role: str, unique: str,
                                                               ec2: Client) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.9.0.0/16")["Vpc"]["VpcId"]
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.9.1.0/24")["Subnet"]["SubnetId"]
    group_id = ec2.create_security_group(GroupName=unique, Description="fn", VpcId=vpc_id)["GroupId"]
    try:
        created = _create(lam, unique, role, VpcConfig={"SubnetIds": [subnet_id], "SecurityGroupIds": [group_id]})
        assert created["VpcConfig"]["VpcId"] == vpc_id and created["VpcConfig"]["SubnetIds"] == [subnet_id]
        missing = denied(lam.update_function_configuration, FunctionName=unique,
                         VpcConfig={"SubnetIds": [subnet_id], "SecurityGroupIds": ["sg-0123456789abcdef0"]})
        assert missing[0] == "InvalidParameterValueException" and "InvalidGroup.NotFound" in missing[2]
        lam.delete_function(FunctionName=unique)
    finally:
        ec2.delete_security_group(GroupId=group_id)
        ec2.delete_subnet(SubnetId=subnet_id)
        ec2.delete_vpc(VpcId=vpc_id)


def test_policies_can_require_functions_in_a_vpc_and_approved_principals(lam: Client, role: str, unique: str,
                                                                        ec2: Client, iam: Client, cleanup: Any,
                                                                        cloudlet: CloudletProcess,
                                                                        vpc_cleanup: list[str]) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.7.0.0/16")["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc_id)
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.7.1.0/24")["Subnet"]["SubnetId"]
    credentials = new_user(iam, cleanup, f"{unique}-dev")
    iam.put_user_policy(UserName=f"{unique}-dev", PolicyName="dev", PolicyDocument=document(
        allow(["lambda:*", "iam:PassRole"]),
        {"Effect": "Deny", "Action": "lambda:CreateFunction", "Resource": "*",
         "Condition": {"Null": {"lambda:VpcIds": "true"}}},
        {"Effect": "Deny", "Action": "lambda:AddPermission", "Resource": "*",
         "Condition": {"StringNotEquals": {"lambda:Principal": "sns.amazonaws.com"}}}))
    developer = cloudlet.client("lambda", credentials)
    assert denied(_create, developer, unique, role)[:2] == ("AccessDeniedException", 403)
    created = _create(developer, unique, role, VpcConfig={"SubnetIds": [subnet_id], "SecurityGroupIds": []})
    assert created["VpcConfig"]["VpcId"] == vpc_id
    assert denied(developer.add_permission, FunctionName=unique, StatementId="s3", Action="lambda:InvokeFunction",
                  Principal="s3.amazonaws.com")[:2] == ("AccessDeniedException", 403)
    developer.add_permission(FunctionName=unique, StatementId="sns", Action="lambda:InvokeFunction",
                             Principal="sns.amazonaws.com")
    lam.delete_function(FunctionName=unique)


def test_file_systems_need_a_vpc_and_mount_targets_in_its_zones(lam: Client, role: str, unique: str, ec2: Client,
                                                                cloudlet: CloudletProcess, vpc_cleanup: list[str]
                                                                ) -> None:
    efs = cloudlet.client("efs")
    vpc_id = ec2.create_vpc(CidrBlock="10.8.0.0/16")["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc_id)
    subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.8.1.0/24")["Subnet"]["SubnetId"]
    file_system_id = efs.create_file_system(CreationToken=unique)["FileSystemId"]
    while efs.describe_file_systems(FileSystemId=file_system_id)["FileSystems"][0]["LifeCycleState"] != "available":
        time.sleep(0.2)
    access_point = efs.create_access_point(FileSystemId=file_system_id)["AccessPointArn"]
    mount = [{"Arn": access_point, "LocalMountPath": "/mnt/data"}]
    vpc = {"SubnetIds": [subnet_id], "SecurityGroupIds": []}
    try:
        assert "VPC" in denied(_create, lam, unique, role, FileSystemConfigs=mount)[2]
        assert "does not have mount targets" in denied(_create, lam, unique, role, FileSystemConfigs=mount,
                                                       VpcConfig=vpc)[2]
        efs.create_mount_target(FileSystemId=file_system_id, SubnetId=subnet_id)
        created = _create(lam, unique, role, FileSystemConfigs=mount, VpcConfig=vpc)
        assert created["FileSystemConfigs"] == mount
        lam.delete_function(FunctionName=unique)
    finally:
        with contextlib.suppress(botocore.exceptions.ClientError):
            for target in efs.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]:
                efs.delete_mount_target(MountTargetId=target["MountTargetId"])
            efs.delete_access_point(AccessPointId=access_point.rsplit("/", 1)[-1])
            while efs.describe_mount_targets(FileSystemId=file_system_id)["MountTargets"]:
                time.sleep(0.2)
            efs.delete_file_system(FileSystemId=file_system_id)


def test_an_image_function_takes_its_archive_from_s3(lam: Client, role: str, unique: str, s3: Client) -> None:
    archive = b"an OCI image archive"
    s3.create_bucket(Bucket=unique)
    s3.put_object(Bucket=unique, Key="image.tar", Body=archive)
    uri = f"s3://{unique}/image.tar"
    created = lam.create_function(FunctionName=unique, Role=role, PackageType="Image", Code={"ImageUri": uri},
                                  ImageConfig={"Command": ["app.handler"]})
    assert (created["PackageType"], created["CodeSize"]) == ("Image", len(archive))
    assert created["ImageConfigResponse"] == {"ImageConfig": {"Command": ["app.handler"]}}
    assert "Runtime" not in created and "Handler" not in created
    code = lam.get_function(FunctionName=unique)["Code"]
    assert code["RepositoryType"] == "ECR" and code["ImageUri"] == uri
    assert code["ResolvedImageUri"] == f"{uri}@sha256:{hashlib.sha256(archive).hexdigest()}"
    ecr = denied(lam.create_function, FunctionName=f"{unique}-ecr", Role=role, PackageType="Image",
                 Code={"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/app:latest"})
    assert ecr[0] == "InvalidParameterValueException" and "registry" in ecr[2]
    assert denied(lam.update_function_code, FunctionName=unique, ZipFile=zip_of(SOURCE))[0] == \
        "InvalidParameterValueException"


def test_delete_function_and_versions(lam: Client, role: str, unique: str) -> None:
    _create(lam, unique, role, Publish=True)
    lam.create_alias(FunctionName=unique, Name="live", FunctionVersion="1")
    assert denied(lam.delete_function, FunctionName=unique, Qualifier="1")[:2] == ("ResourceConflictException", 409)
    assert denied(lam.delete_function, FunctionName=unique, Qualifier="$LATEST")[0] == \
        "InvalidParameterValueException"
    lam.delete_alias(FunctionName=unique, Name="live")
    lam.delete_function(FunctionName=unique, Qualifier="1")
    lam.delete_function(FunctionName=unique, Qualifier="99")
    assert [v["Version"] for v in lam.list_versions_by_function(FunctionName=unique)["Versions"]] == ["$LATEST"]
    lam.delete_function(FunctionName=unique)
    with pytest.raises(botocore.exceptions.ClientError):
        lam.get_function(FunctionName=unique)
