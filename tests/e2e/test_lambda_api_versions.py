"""Lambda's control plane over HTTP: versions, aliases, layers, function policies, concurrency, tags, settings."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest

from tests.e2e.helpers import Client, allow, denied, document, member_account, new_user
from tests.e2e.lambda_helpers import execution_role, zip_of
from tests.support import CloudletProcess

SOURCE = {"app.py": "def handler(event, context):\n    return event\n"}


@pytest.fixture
def lam(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("lambda")


@pytest.fixture
def function(lam: Client, iam: Client, unique: str) -> str:
    lam.create_function(FunctionName=unique, Runtime="python3.11", Role=execution_role(iam, f"{unique}-exec"),
                        Handler="app.handler", Code={"ZipFile": zip_of(SOURCE)})
    return unique


def _new_code(lam: Client, name: str, value: int) -> None:
    lam.update_function_code(FunctionName=name, ZipFile=zip_of({"app.py": f"def handler(e, c):\n    return {value}\n"}))


def test_versions_are_immutable_snapshots_and_unchanged_code_publishes_nothing(lam: Client, function: str) -> None:
    first = lam.publish_version(FunctionName=function, Description="one")
    assert (first["Version"], first["Description"]) == ("1", "one")
    assert first["FunctionArn"].endswith(f":function:{function}:1")
    assert lam.publish_version(FunctionName=function)["Version"] == "1"
    lam.update_function_configuration(FunctionName=function, Timeout=9)
    assert lam.get_function_configuration(FunctionName=function, Qualifier="1")["Timeout"] == 3
    stale = denied(lam.publish_version, FunctionName=function, CodeSha256="bm90IHRoZSBzaGE=")
    assert stale[0] == "InvalidParameterValueException" and "CodeSHA256" in stale[2]
    assert denied(lam.publish_version, FunctionName=function, RevisionId="nope")[:2] == \
        ("PreconditionFailedException", 412)
    second = lam.publish_version(FunctionName=function)
    assert second["Version"] == "2" and second["Timeout"] == 9
    lam.delete_function(FunctionName=function, Qualifier="2")
    _new_code(lam, function, 3)
    assert lam.publish_version(FunctionName=function)["Version"] == "3"
    versions = lam.list_versions_by_function(FunctionName=function, MaxItems=2)
    assert [v["Version"] for v in versions["Versions"]] == ["$LATEST", "1"]
    rest = lam.list_versions_by_function(FunctionName=function, Marker=versions["NextMarker"])
    assert [v["Version"] for v in rest["Versions"]] == ["3"]


def test_aliases_route_between_two_versions_with_lambdas_rules(lam: Client, function: str,
                                                               cloudlet: CloudletProcess) -> None:
    lam.publish_version(FunctionName=function)
    _new_code(lam, function, 2)
    lam.publish_version(FunctionName=function)
    alias = lam.create_alias(FunctionName=function, Name="live", FunctionVersion="1",
                             RoutingConfig={"AdditionalVersionWeights": {"2": 0.1}})
    assert alias["AliasArn"] == f"arn:aws:lambda:{cloudlet.region}:{cloudlet.account_id}:function:{function}:live"
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    assert denied(lam.create_alias, FunctionName=function, Name="live", FunctionVersion="1")[:2] == \
        ("ResourceConflictException", 409)
    for routing, code in [({"1": 0.5}, "InvalidParameterValueException"),
                          ({"7": 0.5}, "ResourceNotFoundException"),
                          ({"2": 0.1, "3": 0.1}, "InvalidParameterValueException")]:
        assert denied(lam.update_alias, FunctionName=function, Name="live",
                      RoutingConfig={"AdditionalVersionWeights": routing})[0] == code, routing
    assert denied(lam.create_alias, FunctionName=function, Name="canary", FunctionVersion="$LATEST",
                  RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}})[0] == "InvalidParameterValueException"
    assert denied(lam.update_alias, FunctionName=function, Name="live", FunctionVersion="2",
                  RevisionId="stale")[:2] == ("PreconditionFailedException", 412)
    moved = lam.update_alias(FunctionName=function, Name="live", FunctionVersion="2", RoutingConfig={})
    assert moved["FunctionVersion"] == "2" and "RoutingConfig" not in moved
    assert lam.get_alias(FunctionName=function, Name="live")["RevisionId"] == moved["RevisionId"]
    assert lam.get_function_configuration(FunctionName=function, Qualifier="live")["Version"] == "2"
    assert [a["Name"] for a in lam.list_aliases(FunctionName=function, FunctionVersion="2")["Aliases"]] == ["live"]
    lam.delete_alias(FunctionName=function, Name="live")
    assert denied(lam.get_alias, FunctionName=function, Name="live")[:2] == ("ResourceNotFoundException", 404)


def test_layers_are_versioned_listed_shared_and_used(lam: Client, iam: Client, unique: str,
                                                    cloudlet: CloudletProcess) -> None:
    package = zip_of({"python/shared.py": "VALUE = 1\n"})
    first = lam.publish_layer_version(LayerName=unique, Content={"ZipFile": package},
                                      CompatibleRuntimes=["python3.11"], Description="shared")
    second = lam.publish_layer_version(LayerName=unique, Content={"ZipFile": package})
    assert (first["Version"], second["Version"]) == (1, 2)
    with urllib.request.urlopen(first["Content"]["Location"]) as response:
        assert response.read() == package
    assert lam.get_layer_version_by_arn(Arn=first["LayerVersionArn"])["Description"] == "shared"
    assert [v["Version"] for v in lam.list_layer_versions(LayerName=unique)["LayerVersions"]] == [2, 1]
    matching = [layer for layer in lam.list_layers(CompatibleRuntime="python3.11")["Layers"]
                if layer["LayerName"] == unique]
    assert matching[0]["LatestMatchingVersion"]["Version"] == 1
    created = lam.create_function(FunctionName=unique, Runtime="python3.11", Role=execution_role(iam, unique),
                                  Handler="app.handler", Code={"ZipFile": zip_of(SOURCE)},
                                  Layers=[first["LayerVersionArn"]])
    assert created["Layers"] == [{"Arn": first["LayerVersionArn"], "CodeSize": len(package)}]
    missing = f"{first['LayerArn']}:9"
    assert denied(lam.update_function_configuration, FunctionName=unique, Layers=[missing])[0] == \
        "InvalidParameterValueException"
    statement = json.loads(lam.add_layer_version_permission(
        LayerName=unique, VersionNumber=1, StatementId="everyone", Action="lambda:GetLayerVersion",
        Principal="*")["Statement"])
    assert statement == {"Sid": "everyone", "Effect": "Allow", "Principal": "*", "Action": "lambda:GetLayerVersion",
                         "Resource": first["LayerVersionArn"]}
    assert json.loads(lam.get_layer_version_policy(LayerName=unique, VersionNumber=1)["Policy"])["Statement"] == \
        [statement]
    lam.delete_layer_version(LayerName=unique, VersionNumber=2)
    lam.delete_layer_version(LayerName=unique, VersionNumber=2)
    assert denied(lam.get_layer_version, LayerName=unique, VersionNumber=2)[:2] == ("ResourceNotFoundException", 404)
    assert lam.publish_layer_version(LayerName=unique, Content={"ZipFile": package})["Version"] == 3


def test_another_account_reads_and_uses_a_layer_only_once_shared(lam: Client, cloudlet: CloudletProcess,
                                                                 unique: str) -> None:
    layer = lam.publish_layer_version(LayerName=unique, Content={"ZipFile": zip_of({"python/x.py": "X = 1\n"})})
    account, credentials = member_account(cloudlet, f"{unique}-l")
    other = cloudlet.client("lambda", credentials)
    other_role = execution_role(cloudlet.client("iam", credentials), f"{unique}-other")
    assert denied(other.get_layer_version_by_arn, Arn=layer["LayerVersionArn"])[:2] == ("AccessDeniedException", 403)
    params = {"FunctionName": unique, "Runtime": "python3.11", "Role": other_role, "Handler": "app.handler",
              "Code": {"ZipFile": zip_of(SOURCE)}, "Layers": [layer["LayerVersionArn"]]}
    assert denied(other.create_function, **params)[0] == "InvalidParameterValueException"
    lam.add_layer_version_permission(LayerName=unique, VersionNumber=1, StatementId="partner",
                                     Action="lambda:GetLayerVersion", Principal=account)
    assert other.get_layer_version_by_arn(Arn=layer["LayerVersionArn"])["Version"] == 1
    assert other.create_function(**params)["Layers"][0]["Arn"] == layer["LayerVersionArn"]


def test_add_permission_builds_aws_statements_and_guards_them(lam: Client, function: str,
                                                              cloudlet: CloudletProcess) -> None:
    arn = f"arn:aws:lambda:{cloudlet.region}:{cloudlet.account_id}:function:{function}"
    answer = lam.add_permission(FunctionName=function, StatementId="sns", Action="lambda:InvokeFunction",
                                Principal="sns.amazonaws.com", SourceArn="arn:aws:sns:home-1:123456789012:topic",
                                SourceAccount="123456789012")
    assert json.loads(answer["Statement"]) == {
        "Sid": "sns", "Effect": "Allow", "Principal": {"Service": "sns.amazonaws.com"},
        "Action": "lambda:InvokeFunction", "Resource": arn,
        "Condition": {"StringEquals": {"AWS:SourceAccount": "123456789012"},
                      "ArnLike": {"AWS:SourceArn": "arn:aws:sns:home-1:123456789012:topic"}}}
    assert denied(lam.add_permission, FunctionName=function, StatementId="sns", Action="lambda:InvokeFunction",
                  Principal="sns.amazonaws.com")[:2] == ("ResourceConflictException", 409)
    assert denied(lam.add_permission, FunctionName=function, StatementId="other", Action="lambda:InvokeFunction",
                  Principal="111122223333", RevisionId="stale")[:2] == ("PreconditionFailedException", 412)
    lam.add_permission(FunctionName=function, StatementId="account", Action="lambda:GetFunction",
                       Principal="111122223333")
    policy = lam.get_policy(FunctionName=function)
    statements = json.loads(policy["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["sns", "account"]
    assert statements[1]["Principal"] == {"AWS": "arn:aws:iam::111122223333:root"}
    assert policy["RevisionId"] == lam.get_function_configuration(FunctionName=function)["RevisionId"]
    lam.remove_permission(FunctionName=function, StatementId="sns")
    assert denied(lam.remove_permission, FunctionName=function, StatementId="sns")[:2] == \
        ("ResourceNotFoundException", 404)
    lam.remove_permission(FunctionName=function, StatementId="account")
    assert denied(lam.get_policy, FunctionName=function)[:2] == ("ResourceNotFoundException", 404)
    lam.publish_version(FunctionName=function)
    alias = lam.create_alias(FunctionName=function, Name="live", FunctionVersion="1")
    lam.add_permission(FunctionName=function, Qualifier="live", StatementId="s3", Action="lambda:InvokeFunction",
                       Principal="s3.amazonaws.com")
    on_alias = lam.get_policy(FunctionName=function, Qualifier="live")
    assert json.loads(on_alias["Policy"])["Statement"][0]["Resource"] == f"{arn}:live"
    assert on_alias["RevisionId"] == alias["RevisionId"]
    assert denied(lam.get_policy, FunctionName=function)[:2] == ("ResourceNotFoundException", 404)
    assert denied(lam.add_permission, FunctionName=function, Qualifier="9", StatementId="x",
                  Action="lambda:InvokeFunction", Principal="s3.amazonaws.com")[:2] == ("ResourceNotFoundException", 404)


def test_a_function_policy_lets_another_account_in(lam: Client, function: str, cloudlet: CloudletProcess,
                                                   unique: str) -> None:
    account, credentials = member_account(cloudlet, unique)
    other = cloudlet.client("lambda", credentials)
    arn = f"arn:aws:lambda:{cloudlet.region}:{cloudlet.account_id}:function:{function}"
    assert denied(other.get_function_configuration, FunctionName=arn)[:2] == ("AccessDeniedException", 403)
    lam.add_permission(FunctionName=function, StatementId="partner", Action="lambda:GetFunctionConfiguration",
                       Principal=account)
    assert other.get_function_configuration(FunctionName=arn)["FunctionArn"] == arn


def test_an_identity_policy_scopes_callers_to_named_functions(lam: Client, function: str, iam: Client,
                                                              cleanup: Any, cloudlet: CloudletProcess) -> None:
    credentials = new_user(iam, cleanup, f"{function}-reader")
    iam.put_user_policy(UserName=f"{function}-reader", PolicyName="read", PolicyDocument=document(
        allow("lambda:GetFunction*", f"arn:aws:lambda:*:*:function:{function}")))
    reader = cloudlet.client("lambda", credentials)
    assert reader.get_function_configuration(FunctionName=function)["FunctionName"] == function
    assert denied(reader.delete_function, FunctionName=function)[:2] == ("AccessDeniedException", 403)


def test_creating_a_function_needs_pass_role_on_its_role(lam: Client, iam: Client, cleanup: Any, unique: str,
                                                        cloudlet: CloudletProcess) -> None:
    role = execution_role(iam, f"{unique}-exec")
    credentials = new_user(iam, cleanup, f"{unique}-dev")
    iam.put_user_policy(UserName=f"{unique}-dev", PolicyName="lambda", PolicyDocument=document(allow("lambda:*")))
    developer = cloudlet.client("lambda", credentials)
    params = {"FunctionName": unique, "Runtime": "python3.11", "Role": role, "Handler": "app.handler",
              "Code": {"ZipFile": zip_of(SOURCE)}}
    code, status, message = denied(developer.create_function, **params)
    assert (code, status) == ("AccessDeniedException", 403) and "iam:PassRole" in message
    iam.put_user_policy(UserName=f"{unique}-dev", PolicyName="pass", PolicyDocument=document(
        allow("iam:PassRole", role, Condition={"StringEquals": {"iam:PassedToService": "lambda.amazonaws.com"}})))
    assert developer.create_function(**params)["Role"] == role


def test_reserved_concurrency_keeps_100_unreserved(lam: Client, function: str) -> None:
    before = lam.get_account_settings()["AccountLimit"]
    assert before["ConcurrentExecutions"] == 1000
    assert lam.put_function_concurrency(FunctionName=function, ReservedConcurrentExecutions=5)[
        "ReservedConcurrentExecutions"] == 5
    assert lam.get_function_concurrency(FunctionName=function)["ReservedConcurrentExecutions"] == 5
    assert lam.get_function(FunctionName=function)["Concurrency"] == {"ReservedConcurrentExecutions": 5}
    after = lam.get_account_settings()["AccountLimit"]
    assert after["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"] - 5
    too_many = denied(lam.put_function_concurrency, FunctionName=function, ReservedConcurrentExecutions=950)
    assert too_many[0] == "InvalidParameterValueException" and "minimum value of [100]" in too_many[2]
    lam.delete_function_concurrency(FunctionName=function)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=function)


def test_tags_on_functions(lam: Client, function: str, cloudlet: CloudletProcess) -> None:
    arn = f"arn:aws:lambda:{cloudlet.region}:{cloudlet.account_id}:function:{function}"
    lam.tag_resource(Resource=arn, Tags={"team": "a", "env": "dev"})
    lam.untag_resource(Resource=arn, TagKeys=["env"])
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "a"}
    assert denied(lam.tag_resource, Resource=f"{arn}:1", Tags={"a": "b"})[0] == "InvalidParameterValueException"
    assert denied(lam.list_tags, Resource=f"{arn}-gone")[:2] == ("ResourceNotFoundException", 404)


def test_account_settings_count_functions_and_code(lam: Client, function: str) -> None:
    usage = lam.get_account_settings()["AccountUsage"]
    assert usage["FunctionCount"] >= 1 and usage["TotalCodeSize"] >= len(zip_of(SOURCE))
    limits = lam.get_account_settings()["AccountLimit"]
    assert (limits["CodeSizeZipped"], limits["CodeSizeUnzipped"]) == (52428800, 262144000)


def test_settings_tools_read_after_create_have_awss_defaults(lam: Client, function: str) -> None:
    assert lam.get_function_code_signing_config(FunctionName=function)["CodeSigningConfigArn"] == ""
    assert lam.get_runtime_management_config(FunctionName=function)["UpdateRuntimeOn"] == "Auto"
    assert lam.get_function_recursion_config(FunctionName=function)["RecursiveLoop"] == "Terminate"
    assert lam.list_provisioned_concurrency_configs(FunctionName=function)["ProvisionedConcurrencyConfigs"] == []
    assert lam.list_function_url_configs(FunctionName=function)["FunctionUrlConfigs"] == []
    assert denied(lam.get_function_code_signing_config, FunctionName=f"{function}-gone")[:2] == \
        ("ResourceNotFoundException", 404)
