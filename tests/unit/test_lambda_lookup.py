"""Contract B in-process: what invocation and event sources read of functions, versions, aliases, policies."""

from __future__ import annotations

from typing import Any

import pytest

from controller.api import RequestContext
from controller.awslambda import code_store, lookup
from controller.awslambda.errors import ResourceNotFoundException
from controller.cloud import Cloud
from controller.config import Config
from tests.e2e.lambda_helpers import LAMBDA_TRUST, zip_of
from tests.unit.harness import CloudHarness, root


class LambdaCloud(CloudHarness):
    service = "lambda"


@pytest.fixture
def lam(tmp_path: Any) -> LambdaCloud:
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    account = cloud.credentials.create_account("owner", "owner@example.com", is_management=True)
    harness = LambdaCloud(cloud, account)
    iam = RequestContext(cloud=cloud, service="iam", operation="CreateRole", request_id="t",
                         region=cloud.config.region, principal=root(account))
    role = cloud.services["iam"].operations["CreateRole"].handler(
        iam, {"RoleName": "exec", "AssumeRolePolicyDocument": LAMBDA_TRUST})["Role"]["Arn"]
    harness.call("CreateFunction", {"FunctionName": "fn", "Runtime": "python3.11", "Role": role,
                                    "Handler": "app.handler", "Code": {"ZipFile": zip_of({"app.py": "x = 1"})},
                                    "Environment": {"Variables": {"GREETING": "hi"}}, "Publish": True})
    yield harness
    harness.close()


def test_targets_resolve_names_versions_and_weighted_aliases(lam: LambdaCloud) -> None:
    lam.call("UpdateFunctionConfiguration", {"FunctionName": "fn", "Timeout": 9})
    lam.call("PublishVersion", {"FunctionName": "fn"})
    lam.call("CreateAlias", {"FunctionName": "fn", "Name": "live", "FunctionVersion": "1",
                             "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}}})
    lam.call("PutFunctionConcurrency", {"FunctionName": "fn", "ReservedConcurrentExecutions": 3})
    plain = lookup.resolve_target(lam.cloud, lam.account, "fn", None)
    assert (plain.routes, plain.alias, plain.reserved_concurrency, plain.state) == (
        (("$LATEST", 1.0),), None, 3, "Active")
    assert plain.invoked_arn == plain.function_arn
    alias = lookup.resolve_target(lam.cloud, lam.account, f"{plain.function_arn}:live", None)
    assert alias.alias == "live" and alias.routes == (("1", 0.75), ("2", 0.25))
    assert alias.invoked_arn == f"{plain.function_arn}:live"
    assert lookup.resolve_target(lam.cloud, lam.account, "fn", "2").routes == (("2", 1.0),)
    for name, qualifier in (("fn", "9"), ("fn", "dead"), ("other", None)):
        with pytest.raises(ResourceNotFoundException):
            lookup.resolve_target(lam.cloud, lam.account, name, qualifier)


def test_versions_load_with_their_environment_decrypted(lam: LambdaCloud) -> None:
    lam.call("UpdateFunctionConfiguration", {"FunctionName": "fn", "Timeout": 9,
                                             "Environment": {"Variables": {"GREETING": "bye"}}})
    first = lookup.load_version(lam.cloud, lam.account, "fn", "1")
    latest = lookup.load_version(lam.cloud, lam.account, "fn", "$LATEST")
    assert (first.environment, first.timeout_s) == ({"GREETING": "hi"}, 3)
    assert (latest.environment, latest.timeout_s) == ({"GREETING": "bye"}, 9)
    assert first.code_sha256_hex == latest.code_sha256_hex and len(first.code_sha256_hex) == 64
    assert (first.runtime, first.handler, first.memory_mb, first.ephemeral_mb, first.log_group) == (
        "python3.11", "app.handler", 128, 512, "/aws/lambda/fn")


def test_service_principals_invoke_only_as_the_policy_says(lam: LambdaCloud) -> None:
    target = lookup.resolve_target(lam.cloud, lam.account, "fn", None)
    topic = f"arn:aws:sns:home-1:{lam.account}:topic"
    assert not lookup.service_may_invoke(lam.cloud, target, "sns.amazonaws.com", topic, lam.account)
    lam.call("AddPermission", {"FunctionName": "fn", "StatementId": "sns", "Action": "lambda:InvokeFunction",
                               "Principal": "sns.amazonaws.com", "SourceArn": topic})
    assert lookup.service_may_invoke(lam.cloud, target, "sns.amazonaws.com", topic, lam.account)
    assert not lookup.service_may_invoke(lam.cloud, target, "sns.amazonaws.com", f"{topic}-other", lam.account)
    assert not lookup.service_may_invoke(lam.cloud, target, "sqs.amazonaws.com", topic, lam.account)


def test_cached_lookups_follow_every_control_plane_write(lam: LambdaCloud) -> None:
    assert lookup.resolve_target(lam.cloud, lam.account, "fn", None).reserved_concurrency is None
    assert lookup.load_version(lam.cloud, lam.account, "fn", "$LATEST").memory_mb == 128
    lam.call("PutFunctionConcurrency", {"FunctionName": "fn", "ReservedConcurrentExecutions": 0})
    lam.call("UpdateFunctionConfiguration", {"FunctionName": "fn", "MemorySize": 512})
    assert lookup.resolve_target(lam.cloud, lam.account, "fn", None).reserved_concurrency == 0
    assert lookup.load_version(lam.cloud, lam.account, "fn", "$LATEST").memory_mb == 512
    lam.call("DeleteFunction", {"FunctionName": "fn"})
    with pytest.raises(ResourceNotFoundException):
        lookup.resolve_target(lam.cloud, lam.account, "fn", None)
    with pytest.raises(ResourceNotFoundException):
        lookup.load_version(lam.cloud, lam.account, "fn", "1")


def test_a_restarted_cloud_keeps_functions_code_and_sealed_environments(lam: LambdaCloud) -> None:
    before = lookup.load_version(lam.cloud, lam.account, "fn", "1")
    data_dir = lam.cloud.config.data_dir
    lam.close()
    again = LambdaCloud(Cloud(Config(data_dir=data_dir)), lam.account)
    try:
        after = lookup.load_version(again.cloud, again.account, "fn", "1")
        assert after == before and after.environment == {"GREETING": "hi"}
        assert code_store.open_path(again.cloud, after.code_sha256_hex) is not None
        assert again.call("GetFunctionConfiguration", {"FunctionName": "fn"})["Environment"] == {
            "Variables": {"GREETING": "hi"}}
    finally:
        again.close()
