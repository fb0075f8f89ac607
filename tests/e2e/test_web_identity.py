"""STS AssumeRoleWithWebIdentity against a real ``cloudlet up``: an IAM OIDC provider for one of the cloud's
user pools (its issuer is ``{endpoint}/{pool_id}``), a role trusting it with aud/sub conditions, an id
token from USER_PASSWORD_AUTH -> credentials that work; an audience the provider knows but the role does
not trust -> AccessDenied; one the provider does not know -> InvalidIdentityToken. (Expiry and remote
issuers are covered by tests/unit/test_oidc.py with a JWKS served on 127.0.0.1.)"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.support import CloudletProcess, Credentials

pytestmark = pytest.mark.e2e

PASSWORD = "Passw0rd!"
FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


@pytest.fixture
def pool(cloudlet: CloudletProcess, unique: str) -> Iterator[str]:
    idp = cloudlet.client("cognito-idp")
    pool_id = idp.create_user_pool(PoolName=unique)["UserPool"]["Id"]
    yield pool_id
    idp.delete_user_pool(UserPoolId=pool_id)


def _id_token(cloudlet: CloudletProcess, pool: str, client_id: str) -> str:
    idp = cloudlet.client("cognito-idp")
    idp.admin_create_user(UserPoolId=pool, Username="alice", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="alice", Password=PASSWORD, Permanent=True)
    public = cloudlet.client("cognito-idp", signature_version=UNSIGNED)
    return public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})[
        "AuthenticationResult"]["IdToken"]


def test_web_identity_token_becomes_role_credentials(cloudlet: CloudletProcess, pool: str, unique: str) -> None:
    idp, iam = cloudlet.client("cognito-idp"), cloudlet.client("iam")
    trusted = idp.create_user_pool_client(UserPoolId=pool, ClientName="web",
                                          ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    other = idp.create_user_pool_client(UserPoolId=pool, ClientName="other",
                                        ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    unknown = idp.create_user_pool_client(UserPoolId=pool, ClientName="unknown",
                                          ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    issuer = f"{cloudlet.endpoint}/{pool}"
    key = issuer.split("://", 1)[1]
    provider = iam.create_open_id_connect_provider(Url=issuer, ClientIDList=[trusted, other],
                                                   ThumbprintList=["a" * 40])["OpenIDConnectProviderArn"]
    try:
        described = iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
        assert described["Url"] == key and sorted(described["ClientIDList"]) == sorted([trusted, other])
        with pytest.raises(ClientError) as excinfo:
            iam.create_open_id_connect_provider(Url=issuer, ClientIDList=[trusted])
        assert excinfo.value.response["Error"]["Code"] == "EntityAlreadyExists"
        trust = {"Version": "2012-10-17", "Statement": [{
            "Effect": "Allow", "Principal": {"Federated": provider}, "Action": "sts:AssumeRoleWithWebIdentity",
            "Condition": {"StringEquals": {f"{key}:aud": trusted}, "StringLike": {f"{key}:sub": "*-*"}}}]}
        role = iam.create_role(RoleName=unique, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
        sts = cloudlet.client("sts", signature_version=UNSIGNED)

        token = _id_token(cloudlet, pool, trusted)
        answer = sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="alice", WebIdentityToken=token)
        assert answer["Audience"] == trusted and answer["Provider"] == issuer
        creds = answer["Credentials"]
        who = cloudlet.client("sts", Credentials(creds["AccessKeyId"], creds["SecretAccessKey"],
                                                 creds["SessionToken"])).get_caller_identity()
        assert who["Arn"] == answer["AssumedRoleUser"]["Arn"] and who["Arn"].endswith(f"{unique}/alice")

        public = cloudlet.client("cognito-idp", signature_version=UNSIGNED)
        for client_id, code in ((other, "AccessDenied"), (unknown, "InvalidIdentityToken")):
            wrong = public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                         AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})[
                "AuthenticationResult"]["IdToken"]
            with pytest.raises(ClientError) as excinfo:
                sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="xx", WebIdentityToken=wrong)
            assert excinfo.value.response["Error"]["Code"] == code
        with pytest.raises(ClientError) as excinfo:
            sts.assume_role_with_web_identity(RoleArn=role, RoleSessionName="xx", WebIdentityToken=token[:-4] + "AAAA")
        assert excinfo.value.response["Error"]["Code"] == "InvalidIdentityToken"
        iam.delete_role(RoleName=unique)
    finally:
        iam.delete_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    with pytest.raises(ClientError) as excinfo:
        iam.get_open_id_connect_provider(OpenIDConnectProviderArn=provider)
    assert excinfo.value.response["Error"]["Code"] == "NoSuchEntity"
