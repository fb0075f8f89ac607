"""Cognito identity pools against a real ``cloudlet up``: an unauthenticated guest gets credentials that read
S3 but cannot write; a user of one of the cloud's user pools (USER_PASSWORD_AUTH) gets the authenticated
role, which may write; with a Token role mapping, a user in a group gets the group's role
(``cognito:preferred_role``). Roles trust ``cognito-identity.amazonaws.com`` with the pool id as aud."""

from __future__ import annotations

import json
from typing import Any

import jwt
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError

from tests.support import CloudletProcess, Credentials

pytestmark = pytest.mark.e2e

PASSWORD = "Passw0rd!"


def _role(iam: Any, name: str, pool_id: str, amr: str, actions: list[str], bucket: str) -> str:
    trust = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Principal": {"Federated": "cognito-identity.amazonaws.com"},
        "Action": "sts:AssumeRoleWithWebIdentity",
        "Condition": {"StringEquals": {"cognito-identity.amazonaws.com:aud": pool_id},
                      "ForAnyValue:StringLike": {"cognito-identity.amazonaws.com:amr": amr}}}]}
    arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"]["Arn"]
    iam.put_role_policy(RoleName=name, PolicyName="s3", PolicyDocument=json.dumps({
        "Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": actions,
                                                "Resource": [f"arn:aws:s3:::{bucket}/*"]}]}))
    return arn


def _s3(cloudlet: CloudletProcess, answer: dict[str, Any]) -> Any:
    creds = answer["Credentials"]
    return cloudlet.client("s3", Credentials(creds["AccessKeyId"], creds["SecretKey"], creds["SessionToken"]))


def test_guest_reads_and_user_writes(cloudlet: CloudletProcess, unique: str) -> None:
    iam, s3, idp = cloudlet.client("iam"), cloudlet.client("s3"), cloudlet.client("cognito-idp")
    identity = cloudlet.client("cognito-identity")
    public = cloudlet.client("cognito-identity", signature_version=UNSIGNED)
    bucket = f"b{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hi")
    user_pool = idp.create_user_pool(PoolName=unique)["UserPool"]["Id"]
    client_id = idp.create_user_pool_client(UserPoolId=user_pool, ClientName="app",
                                            ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH",
                                                               "ALLOW_REFRESH_TOKEN_AUTH"])["UserPoolClient"]["ClientId"]
    provider = f"cognito-idp.{cloudlet.region}.amazonaws.com/{user_pool}"
    pool_id = identity.create_identity_pool(
        IdentityPoolName=unique, AllowUnauthenticatedIdentities=True,
        CognitoIdentityProviders=[{"ProviderName": provider, "ClientId": client_id}])["IdentityPoolId"]
    guest = _role(iam, f"{unique}-guest", pool_id, "unauthenticated", ["s3:GetObject"], bucket)
    member = _role(iam, f"{unique}-member", pool_id, "authenticated", ["s3:GetObject", "s3:PutObject"], bucket)
    admin = _role(iam, f"{unique}-admin", pool_id, "authenticated", ["s3:*"], bucket)
    identity.set_identity_pool_roles(IdentityPoolId=pool_id, Roles={"unauthenticated": guest,
                                                                    "authenticated": member})
    assert identity.get_identity_pool_roles(IdentityPoolId=pool_id)["Roles"]["authenticated"] == member

    guest_id = public.get_id(IdentityPoolId=pool_id)["IdentityId"]
    guest_s3 = _s3(cloudlet, public.get_credentials_for_identity(IdentityId=guest_id))
    assert guest_s3.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hi"
    with pytest.raises(ClientError) as excinfo:
        guest_s3.put_object(Bucket=bucket, Key="guest.txt", Body=b"no")
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"

    idp.admin_create_user(UserPoolId=user_pool, Username="alice", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=user_pool, Username="alice", Password=PASSWORD, Permanent=True)
    auth = cloudlet.client("cognito-idp", signature_version=UNSIGNED)

    def id_token() -> str:
        return auth.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})[
            "AuthenticationResult"]["IdToken"]

    logins = {provider: id_token()}
    user_id = public.get_id(IdentityPoolId=pool_id, Logins=logins)["IdentityId"]
    assert public.get_id(IdentityPoolId=pool_id, Logins=logins)["IdentityId"] == user_id != guest_id
    user_s3 = _s3(cloudlet, public.get_credentials_for_identity(IdentityId=user_id, Logins=logins))
    user_s3.put_object(Bucket=bucket, Key="alice.txt", Body=b"yes")
    with pytest.raises(ClientError):
        user_s3.delete_object(Bucket=bucket, Key="alice.txt")

    # A Token mapping: the group's role (cognito:preferred_role) instead of the authenticated one.
    idp.create_group(UserPoolId=user_pool, GroupName="admins", RoleArn=admin, Precedence=1)
    idp.admin_add_user_to_group(UserPoolId=user_pool, Username="alice", GroupName="admins")
    identity.set_identity_pool_roles(IdentityPoolId=pool_id, Roles={"unauthenticated": guest,
                                                                    "authenticated": member},
                                     RoleMappings={provider: {"Type": "Token",
                                                              "AmbiguousRoleResolution": "AuthenticatedRole"}})
    logins = {provider: id_token()}
    admin_s3 = _s3(cloudlet, public.get_credentials_for_identity(IdentityId=user_id, Logins=logins))
    admin_s3.delete_object(Bucket=bucket, Key="alice.txt")

    with pytest.raises(ClientError) as excinfo:
        public.get_credentials_for_identity(IdentityId=user_id, Logins={provider: logins[provider][:-4] + "AAAA"})
    assert excinfo.value.response["Error"]["Code"] == "NotAuthorizedException"
    listed = identity.list_identities(IdentityPoolId=pool_id, MaxResults=10)["Identities"]
    assert {item["IdentityId"] for item in listed} == {guest_id, user_id}
    identity.delete_identity_pool(IdentityPoolId=pool_id)
    idp.delete_user_pool(UserPoolId=user_pool)


def test_the_basic_flow_through_get_open_id_token(cloudlet: CloudletProcess, unique: str) -> None:
    """GetOpenIdToken's token, given to STS AssumeRoleWithWebIdentity (no IAM OIDC provider needed), gets the
    role that trusts cognito-identity.amazonaws.com for this pool and this kind of identity, and no other."""
    iam, s3 = cloudlet.client("iam"), cloudlet.client("s3")
    public = cloudlet.client("cognito-identity", signature_version=UNSIGNED)
    sts = cloudlet.client("sts", signature_version=UNSIGNED)
    bucket = f"b{unique}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="hello.txt", Body=b"hi")
    pool_id = cloudlet.client("cognito-identity").create_identity_pool(
        IdentityPoolName=unique, AllowUnauthenticatedIdentities=True)["IdentityPoolId"]
    guest = _role(iam, f"{unique}-guest", pool_id, "unauthenticated", ["s3:GetObject"], bucket)
    members_only = _role(iam, f"{unique}-member", pool_id, "authenticated", ["s3:*"], bucket)

    identity_id = public.get_id(IdentityPoolId=pool_id)["IdentityId"]
    answer = public.get_open_id_token(IdentityId=identity_id)
    assert answer["IdentityId"] == identity_id
    claims = jwt.decode(answer["Token"], options={"verify_signature": False})
    assert (claims["iss"], claims["aud"], claims["sub"], claims["amr"]) == (
        "https://cognito-identity.amazonaws.com", pool_id, identity_id, ["unauthenticated"])
    assumed = sts.assume_role_with_web_identity(RoleArn=guest, RoleSessionName="guest",
                                                WebIdentityToken=answer["Token"])
    assert assumed["SubjectFromWebIdentityToken"] == identity_id
    creds = assumed["Credentials"]
    reader = cloudlet.client("s3", Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"]))
    assert reader.get_object(Bucket=bucket, Key="hello.txt")["Body"].read() == b"hi"
    with pytest.raises(ClientError) as refused:        # the guest's token is not an authenticated identity's
        sts.assume_role_with_web_identity(RoleArn=members_only, RoleSessionName="guest",
                                          WebIdentityToken=answer["Token"])
    assert refused.value.response["Error"]["Code"] == "AccessDenied"
    forged = answer["Token"][:-8] + ("AAAAAAAA" if not answer["Token"].endswith("AAAAAAAA") else "BBBBBBBB")
    with pytest.raises(ClientError) as bad:
        sts.assume_role_with_web_identity(RoleArn=guest, RoleSessionName="guest", WebIdentityToken=forged)
    assert bad.value.response["Error"]["Code"] == "InvalidIdentityToken"
    with pytest.raises(ClientError) as unknown:
        public.get_open_id_token(IdentityId=f"{cloudlet.region}:00000000-0000-0000-0000-000000000000")
    assert unknown.value.response["Error"]["Code"] == "ResourceNotFoundException"
