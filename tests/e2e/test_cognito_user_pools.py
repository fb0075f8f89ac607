"""Cognito user pools over boto3 against a real ``cloudlet up``: sign-up with the code from the delivery log,
sign-in flows, tokens verified by python-jose (an independent library) against the JWKS served over
HTTP, admin-created users, groups in tokens, ListUsers, and the errors Cognito answers."""

from __future__ import annotations

import json
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from jose import jwt as jose_jwt

from controller.cognito_idp.passwords import secret_hash
from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e
PASSWORD = "Passw0rd!"
FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


@pytest.fixture
def idp(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("cognito-idp")


@pytest.fixture
def public(cloudlet: CloudletProcess) -> Any:
    """An unsigned client, as browsers and mobile apps call SignUp and InitiateAuth."""
    return cloudlet.client("cognito-idp", signature_version=UNSIGNED)


@pytest.fixture
def pool(idp: Any, unique: str) -> Iterator[str]:
    pool_id = idp.create_user_pool(PoolName=unique, AutoVerifiedAttributes=["email"])["UserPool"]["Id"]
    yield pool_id
    idp.delete_user_pool(UserPoolId=pool_id)


def code_for(cloudlet: CloudletProcess, pool_id: str, username: str) -> str:
    """The last code the delivery log received for ``username`` (where Cognito would have sent a mail)."""
    path = cloudlet.data_dir / "cognito" / "deliveries.log"
    records = [json.loads(line) for line in path.read_text().splitlines()]
    return [r for r in records if r["pool"] == pool_id and r["username"] == username][-1]["code"]


def fetch_json(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url, timeout=5) as response:  # noqa: S310 (the test's own 127.0.0.1 server)
        return json.load(response)


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_sign_up_confirm_and_sign_in(cloudlet: CloudletProcess, idp: Any, public: Any, pool: str) -> None:
    client_id = idp.create_user_pool_client(UserPoolId=pool, ClientName="web",
                                            ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    out = public.sign_up(ClientId=client_id, Username="alice", Password=PASSWORD,
                         UserAttributes=[{"Name": "email", "Value": "alice@example.com"}])
    assert out["UserConfirmed"] is False and out["CodeDeliveryDetails"]["DeliveryMedium"] == "EMAIL"
    with pytest.raises(ClientError) as excinfo:
        public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})
    assert error_of(excinfo) == ("UserNotConfirmedException", "User is not confirmed.")
    code = code_for(cloudlet, pool, "alice")
    with pytest.raises(ClientError) as excinfo:
        public.confirm_sign_up(ClientId=client_id, Username="alice",
                               ConfirmationCode="000000" if code != "000000" else "111111")
    assert error_of(excinfo)[0] == "CodeMismatchException"
    public.confirm_sign_up(ClientId=client_id, Username="alice", ConfirmationCode=code)
    result = public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})["AuthenticationResult"]
    assert result["TokenType"] == "Bearer" and result["ExpiresIn"] == 3600
    claims = jose_jwt.get_unverified_claims(result["IdToken"])
    assert claims["sub"] == out["UserSub"] and claims["email_verified"] is True
    assert public.get_user(AccessToken=result["AccessToken"])["Username"] == "alice"


def test_tokens_verify_with_jose_against_served_jwks(cloudlet: CloudletProcess, idp: Any, public: Any,
                                                     pool: str) -> None:
    """python-jose (not the PyJWT that signs) checks signature, issuer, audience against the JWKS as served."""
    client_id = idp.create_user_pool_client(UserPoolId=pool, ClientName="web",
                                            ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="alice", MessageAction="SUPPRESS",
                          UserAttributes=[{"Name": "email", "Value": "alice@example.com"},
                                          {"Name": "email_verified", "Value": "true"}])
    idp.admin_set_user_password(UserPoolId=pool, Username="alice", Password=PASSWORD, Permanent=True)
    result = public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD})["AuthenticationResult"]
    issuer = f"{cloudlet.endpoint}/{pool}"
    discovery = fetch_json(f"{issuer}/.well-known/openid-configuration")
    assert discovery["issuer"] == issuer
    jwks = fetch_json(discovery["jwks_uri"])
    claims = jose_jwt.decode(result["IdToken"], jwks, algorithms=["RS256"], audience=client_id, issuer=issuer)
    assert claims["token_use"] == "id" and claims["cognito:username"] == "alice"
    assert claims["email"] == "alice@example.com" and claims["email_verified"] is True
    access = jose_jwt.decode(result["AccessToken"], jwks, algorithms=["RS256"], issuer=issuer)
    assert access["token_use"] == "access" and access["client_id"] == client_id and access["username"] == "alice"
    assert jose_jwt.get_unverified_header(result["IdToken"])["kid"] in {key["kid"] for key in jwks["keys"]}
    with pytest.raises(jose_jwt.JWTError):  # another audience, or a tampered token, does not verify
        jose_jwt.decode(result["IdToken"], jwks, algorithms=["RS256"], audience="other-client", issuer=issuer)
    header, payload, signature = result["IdToken"].split(".")
    with pytest.raises(jose_jwt.JWTError):
        jose_jwt.decode(f"{header}.{payload}.{signature[:-4]}AAAA", jwks, algorithms=["RS256"],
                        audience=client_id, issuer=issuer)


def test_client_with_secret_needs_secret_hash(cloudlet: CloudletProcess, idp: Any, public: Any, pool: str) -> None:
    client = idp.create_user_pool_client(UserPoolId=pool, ClientName="server", GenerateSecret=True,
                                         ExplicitAuthFlows=FLOWS)["UserPoolClient"]
    client_id, secret = client["ClientId"], client["ClientSecret"]
    assert idp.describe_user_pool_client(UserPoolId=pool, ClientId=client_id)["UserPoolClient"]["ClientSecret"] \
        == secret
    with pytest.raises(ClientError) as excinfo:
        public.sign_up(ClientId=client_id, Username="bob", Password=PASSWORD,
                       UserAttributes=[{"Name": "email", "Value": "bob@example.com"}])
    assert error_of(excinfo) == ("NotAuthorizedException",
                                 f"Client {client_id} is configured with secret but SECRET_HASH was not received")
    good = secret_hash(secret, "bob", client_id)
    public.sign_up(ClientId=client_id, Username="bob", Password=PASSWORD, SecretHash=good,
                   UserAttributes=[{"Name": "email", "Value": "bob@example.com"}])
    public.confirm_sign_up(ClientId=client_id, Username="bob", SecretHash=good,
                           ConfirmationCode=code_for(cloudlet, pool, "bob"))
    with pytest.raises(ClientError) as excinfo:
        public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                             AuthParameters={"USERNAME": "bob", "PASSWORD": PASSWORD,
                                             "SECRET_HASH": secret_hash(secret, "mallory", client_id)})
    assert error_of(excinfo) == ("NotAuthorizedException", f"Unable to verify secret hash for client {client_id}")
    result = public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                  AuthParameters={"USERNAME": "bob", "PASSWORD": PASSWORD, "SECRET_HASH": good})
    assert "IdToken" in result["AuthenticationResult"]


def test_admin_created_user_must_choose_a_password(cloudlet: CloudletProcess, idp: Any, pool: str) -> None:
    client_id = idp.create_user_pool_client(UserPoolId=pool, ClientName="admin",
                                            ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    user = idp.admin_create_user(UserPoolId=pool, Username="carol", DesiredDeliveryMediums=["EMAIL"],
                                 UserAttributes=[{"Name": "email", "Value": "carol@example.com"}])["User"]
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    temporary = code_for(cloudlet, pool, "carol")
    challenge = idp.admin_initiate_auth(UserPoolId=pool, ClientId=client_id, AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                                        AuthParameters={"USERNAME": "carol", "PASSWORD": temporary})
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    assert json.loads(challenge["ChallengeParameters"]["userAttributes"])["email"] == "carol@example.com"
    with pytest.raises(ClientError) as excinfo:
        idp.admin_respond_to_auth_challenge(
            UserPoolId=pool, ClientId=client_id, ChallengeName="NEW_PASSWORD_REQUIRED",
            Session=challenge["Session"], ChallengeResponses={"USERNAME": "carol", "NEW_PASSWORD": "password"})
    assert error_of(excinfo) == ("InvalidPasswordException",
                                 "Password did not conform with policy: Password must have uppercase characters")
    done = idp.admin_respond_to_auth_challenge(
        UserPoolId=pool, ClientId=client_id, ChallengeName="NEW_PASSWORD_REQUIRED", Session=challenge["Session"],
        ChallengeResponses={"USERNAME": "carol", "NEW_PASSWORD": PASSWORD})
    assert "AccessToken" in done["AuthenticationResult"]
    assert idp.admin_get_user(UserPoolId=pool, Username="carol")["UserStatus"] == "CONFIRMED"


def test_refresh_and_groups_claims(idp: Any, public: Any, pool: str) -> None:
    client_id = idp.create_user_pool_client(UserPoolId=pool, ClientName="app",
                                            ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="dave", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="dave", Password=PASSWORD, Permanent=True)
    role = "arn:aws:iam::000000000000:role/readers"
    idp.create_group(UserPoolId=pool, GroupName="readers", Precedence=3, RoleArn=role)
    idp.admin_add_user_to_group(UserPoolId=pool, Username="dave", GroupName="readers")
    assert [g["GroupName"] for g in idp.admin_list_groups_for_user(UserPoolId=pool, Username="dave")["Groups"]] \
        == ["readers"]
    first = public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": "dave", "PASSWORD": PASSWORD})["AuthenticationResult"]
    claims = jose_jwt.get_unverified_claims(first["IdToken"])
    assert claims["cognito:groups"] == ["readers"] and claims["cognito:preferred_role"] == role
    refreshed = public.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                                     AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]})["AuthenticationResult"]
    assert "RefreshToken" not in refreshed
    again = jose_jwt.get_unverified_claims(refreshed["IdToken"])
    assert again["origin_jti"] == claims["origin_jti"] and again["jti"] != claims["jti"]
    public.global_sign_out(AccessToken=first["AccessToken"])
    with pytest.raises(ClientError) as excinfo:
        public.get_user(AccessToken=refreshed["AccessToken"])
    assert error_of(excinfo) == ("NotAuthorizedException", "Access Token has been revoked")
    with pytest.raises(ClientError) as excinfo:
        public.initiate_auth(ClientId=client_id, AuthFlow="REFRESH_TOKEN_AUTH",
                             AuthParameters={"REFRESH_TOKEN": first["RefreshToken"]})
    assert error_of(excinfo) == ("NotAuthorizedException", "Invalid Refresh Token")


def test_errors(idp: Any, public: Any, pool: str) -> None:
    client_id = idp.create_user_pool_client(UserPoolId=pool, ClientName="app",
                                            ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    idp.admin_create_user(UserPoolId=pool, Username="erin", MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool, Username="erin", Password=PASSWORD, Permanent=True)
    cases = [
        (lambda: public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                      AuthParameters={"USERNAME": "erin", "PASSWORD": "Wrong-Passw0rd"}),
         ("NotAuthorizedException", "Incorrect username or password.")),
        (lambda: public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                      AuthParameters={"USERNAME": "nobody", "PASSWORD": PASSWORD}),
         ("UserNotFoundException", "User does not exist.")),
        (lambda: idp.admin_get_user(UserPoolId=pool, Username="nobody"),
         ("UserNotFoundException", "User does not exist.")),
        (lambda: public.sign_up(ClientId=client_id, Username="erin", Password=PASSWORD),
         ("UsernameExistsException", "User already exists")),
        (lambda: public.sign_up(ClientId=client_id, Username="frank", Password="short"),
         ("InvalidPasswordException", "Password did not conform with policy: Password not long enough")),
        (lambda: public.confirm_sign_up(ClientId=client_id, Username="erin", ConfirmationCode="123456"),
         ("NotAuthorizedException", "User cannot be confirmed. Current status is CONFIRMED")),
        (lambda: public.initiate_auth(ClientId="nosuchclient", AuthFlow="USER_PASSWORD_AUTH",
                                      AuthParameters={"USERNAME": "erin", "PASSWORD": PASSWORD}),
         ("ResourceNotFoundException", "User pool client nosuchclient does not exist.")),
        (lambda: idp.describe_user_pool(UserPoolId="home-1_nosuchpool"),
         ("ResourceNotFoundException", "User pool home-1_nosuchpool does not exist.")),
        (lambda: public.get_user(AccessToken="not-a-token"), ("NotAuthorizedException", "Invalid token")),
    ]
    for call, expected in cases:
        with pytest.raises(ClientError) as excinfo:
            call()
        assert error_of(excinfo) == expected
        assert excinfo.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert [u["Username"] for u in idp.list_users(UserPoolId=pool)["Users"]] == ["erin"]  # nothing was added


def test_list_users_filter_and_pagination(idp: Any, pool: str) -> None:
    for index in range(5):
        idp.admin_create_user(UserPoolId=pool, Username=f"user{index}", MessageAction="SUPPRESS",
                              UserAttributes=[{"Name": "email", "Value": f"{'x' if index < 3 else 'y'}{index}@e.org"},
                                              {"Name": "given_name", "Value": f"Name{index}"}])
    pages = list(idp.get_paginator("list_users").paginate(UserPoolId=pool, PaginationConfig={"PageSize": 2}))
    assert [len(page["Users"]) for page in pages] == [2, 2, 1]
    assert [u["Username"] for page in pages for u in page["Users"]] == [f"user{i}" for i in range(5)]
    found = idp.list_users(UserPoolId=pool, Filter='email ^= "x"')["Users"]
    assert [u["Username"] for u in found] == ["user0", "user1", "user2"]
    exact = idp.list_users(UserPoolId=pool, Filter='given_name = "Name4"', AttributesToGet=["given_name"])["Users"]
    assert exact[0]["Username"] == "user4" and exact[0]["Attributes"] == [{"Name": "given_name", "Value": "Name4"}]
    status = idp.list_users(UserPoolId=pool, Filter='cognito:user_status = "FORCE_CHANGE_PASSWORD"')["Users"]
    assert len(status) == 5
    with pytest.raises(ClientError) as excinfo:
        idp.list_users(UserPoolId=pool, Filter="email = x")
    assert error_of(excinfo) == ("InvalidParameterException", "Error while parsing filter.")
