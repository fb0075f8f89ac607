"""Identity pools in-process: read-back of what was written, tags, roles checks, and errors that change nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.cloud import Cloud
from controller.config import Config
from tests.unit.harness import CloudHarness

ACCOUNT, OTHER = "111111111111", "222222222222"


class IdentityCloud(CloudHarness):
    service = "cognito-identity"


@pytest.fixture
def pools(tmp_path: Path) -> Iterator[IdentityCloud]:
    harness = IdentityCloud(Cloud(Config(data_dir=tmp_path)), ACCOUNT)
    yield harness
    harness.close()


def test_pool_reads_back_and_tags(pools: IdentityCloud) -> None:
    created = pools.call("CreateIdentityPool", {"IdentityPoolName": "x", "AllowUnauthenticatedIdentities": True,
                                                "IdentityPoolTags": {"a": "1"}}, account=ACCOUNT)
    pool_id = created["IdentityPoolId"]
    arn = f"arn:aws:cognito-identity:home-1:{ACCOUNT}:identitypool/{pool_id}"
    pools.call("TagResource", {"ResourceArn": arn, "Tags": {"b": "2"}}, account=ACCOUNT)
    pools.call("UntagResource", {"ResourceArn": arn, "TagKeys": ["a"]}, account=ACCOUNT)
    assert pools.call("ListTagsForResource", {"ResourceArn": arn}, account=ACCOUNT) == {"Tags": {"b": "2"}}
    assert pools.call("DescribeIdentityPool", {"IdentityPoolId": pool_id}, account=ACCOUNT) == {
        "IdentityPoolId": pool_id, "IdentityPoolName": "x", "AllowUnauthenticatedIdentities": True,
        "IdentityPoolTags": {"b": "2"}}
    listed = pools.call("ListIdentityPools", {"MaxResults": 5}, account=ACCOUNT)["IdentityPools"]
    assert listed == [{"IdentityPoolId": pool_id, "IdentityPoolName": "x"}]
    assert pools.call("ListIdentityPools", {"MaxResults": 5}, account=OTHER)["IdentityPools"] == []
    pools.refused("DescribeIdentityPool", {"IdentityPoolId": pool_id}, "ResourceNotFoundException", account=OTHER)
    pools.refused("SetIdentityPoolRoles", {"IdentityPoolId": pool_id, "Roles": {"admin": "arn:aws:iam::1:role/r"}},
                  "InvalidParameterException", account=ACCOUNT)
    assert pools.call("GetIdentityPoolRoles", {"IdentityPoolId": pool_id}, account=ACCOUNT)["Roles"] == {}


def test_guests_only_where_allowed(pools: IdentityCloud) -> None:
    closed = pools.call("CreateIdentityPool", {"IdentityPoolName": "c", "AllowUnauthenticatedIdentities": False},
                        account=ACCOUNT)["IdentityPoolId"]
    pools.refused("GetId", {"IdentityPoolId": closed}, "NotAuthorizedException", account=ACCOUNT)
    opened = pools.call("CreateIdentityPool", {"IdentityPoolName": "o", "AllowUnauthenticatedIdentities": True},
                        account=ACCOUNT)["IdentityPoolId"]
    identity = pools.call("GetId", {"IdentityPoolId": opened}, account=ACCOUNT)["IdentityId"]
    # no unauthenticated role set: the pool's configuration is what is wrong
    pools.refused("GetCredentialsForIdentity", {"IdentityId": identity},
                  "InvalidIdentityPoolConfigurationException", account=ACCOUNT)
    pools.refused("GetId", {"IdentityPoolId": opened, "Logins": {"accounts.example.com": "x"}},
                  "NotAuthorizedException", account=ACCOUNT)
    assert pools.call("DescribeIdentity", {"IdentityId": identity}, account=ACCOUNT)["IdentityId"] == identity
