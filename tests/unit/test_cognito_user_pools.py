"""User pools in-process on a real Cloud: sign-up and sign-in flows, admin users, groups in tokens, token
revocation and key rotation, ListUsers, and the well-known documents through the Flask blueprint."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import jwt
import pytest
from flask import Flask
from sqlalchemy import update

from controller.cognito_idp import state, tokens, wellknown
from controller.cognito_idp.passwords import secret_hash
from tests.unit.cognito_harness import PASSWORD, CognitoCloud, make


@pytest.fixture
def cognito(tmp_path: Path) -> Iterator[CognitoCloud]:
    harness = make(tmp_path)
    yield harness
    harness.close()


def _sign_up(c: CognitoCloud, client: dict, username: str = "alice", **extra: str) -> dict:
    params = {"ClientId": client["ClientId"], "Username": username, "Password": PASSWORD,
              "UserAttributes": [{"Name": "email", "Value": f"{username}@example.com"}], **extra}
    return c.call("SignUp", params)


def _login(c: CognitoCloud, client: dict, username: str = "alice", password: str = PASSWORD) -> dict:
    return c.call("InitiateAuth", {"ClientId": client["ClientId"], "AuthFlow": "USER_PASSWORD_AUTH",
                                   "AuthParameters": {"USERNAME": username, "PASSWORD": password}})


def test_sign_up_confirm_sign_in(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    client = cognito.client(pool_id)
    out = _sign_up(cognito, client)
    assert out["UserConfirmed"] is False
    assert out["CodeDeliveryDetails"] == {"Destination": "a***@e***", "DeliveryMedium": "EMAIL",
                                          "AttributeName": "email"}
    cognito.refused("InitiateAuth", {"ClientId": client["ClientId"], "AuthFlow": "USER_PASSWORD_AUTH",
                                     "AuthParameters": {"USERNAME": "alice", "PASSWORD": PASSWORD}},
                    "UserNotConfirmedException")
    code = cognito.last_code("alice")
    wrong = "000000" if code != "000000" else "111111"
    cognito.refused("ConfirmSignUp", {"ClientId": client["ClientId"], "Username": "alice",
                                      "ConfirmationCode": wrong}, "CodeMismatchException")
    cognito.call("ConfirmSignUp", {"ClientId": client["ClientId"], "Username": "alice", "ConfirmationCode": code})
    result = _login(cognito, client)["AuthenticationResult"]
    claims = tokens.verify(cognito.cloud, result["IdToken"], client_ids=[client["ClientId"]], token_use="id")
    assert claims["cognito:username"] == "alice" and claims["email_verified"] is True
    assert claims["sub"] == out["UserSub"] and claims["iss"].endswith("/" + pool_id)
    access = tokens.verify(cognito.cloud, result["AccessToken"], token_use="access")
    assert access["client_id"] == client["ClientId"] and access["scope"] == "aws.cognito.signin.user.admin"
    with pytest.raises(tokens.InvalidToken, match="token_use"):
        tokens.verify(cognito.cloud, result["AccessToken"], token_use="id")
    with pytest.raises(tokens.InvalidToken, match="audience"):
        tokens.verify(cognito.cloud, result["IdToken"], client_ids=["other"])
    assert cognito.call("GetUser", {"AccessToken": result["AccessToken"]})["Username"] == "alice"


def test_sign_in_errors(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool(Policies={"PasswordPolicy": {"MinimumLength": 10}},
                           UsernameConfiguration={"CaseSensitive": False})
    client = cognito.client(pool_id)
    error = cognito.refused("SignUp", {"ClientId": client["ClientId"], "Username": "bob", "Password": "Sh0rt!"},
                            "InvalidPasswordException")
    assert error.message == "Password did not conform with policy: Password not long enough"
    assert cognito.call("ListUsers", {"UserPoolId": pool_id})["Users"] == []  # nothing was created
    cognito.call("AdminCreateUser", {"UserPoolId": pool_id, "Username": "bob", "MessageAction": "SUPPRESS",
                                     "TemporaryPassword": "Passw0rd!xx"})
    cognito.call("AdminSetUserPassword", {"UserPoolId": pool_id, "Username": "bob", "Password": "Passw0rd!xx",
                                          "Permanent": True})
    cognito.refused("SignUp", {"ClientId": client["ClientId"], "Username": "BOB", "Password": "Passw0rd!xx"},
                    "UsernameExistsException")  # a case-insensitive pool
    sensitive = cognito.client(cognito.pool())
    cognito.call("SignUp", {"ClientId": sensitive["ClientId"], "Username": "bob", "Password": "Passw0rd!xx"})
    cognito.call("SignUp", {"ClientId": sensitive["ClientId"], "Username": "BOB", "Password": "Passw0rd!xx"})
    auth = {"ClientId": client["ClientId"], "AuthFlow": "USER_PASSWORD_AUTH"}
    assert cognito.refused("InitiateAuth", {**auth, "AuthParameters": {"USERNAME": "bob", "PASSWORD": "nope"}},
                           "NotAuthorizedException").message == "Incorrect username or password."
    cognito.refused("InitiateAuth", {**auth, "AuthParameters": {"USERNAME": "carol", "PASSWORD": "x"}},
                    "UserNotFoundException")
    cognito.refused("InitiateAuth", {**auth, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH",
                                     "AuthParameters": {"USERNAME": "bob", "PASSWORD": "Passw0rd!xx"}},
                    "InvalidParameterException")
    srp_only = cognito.client(pool_id, ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH"])
    assert "not enabled" in cognito.refused(
        "InitiateAuth", {**auth, "ClientId": srp_only["ClientId"],
                         "AuthParameters": {"USERNAME": "bob", "PASSWORD": "Passw0rd!xx"}},
        "InvalidParameterException").message
    cognito.call("AdminDisableUser", {"UserPoolId": pool_id, "Username": "bob"})
    assert cognito.refused("InitiateAuth", {**auth, "AuthParameters": {"USERNAME": "bob", "PASSWORD": "Passw0rd!xx"}},
                           "NotAuthorizedException").message == "User is disabled."


def test_secret_hash_client(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    client = cognito.client(pool_id, GenerateSecret=True)
    secret = client["ClientSecret"]
    params = {"ClientId": client["ClientId"], "Username": "dora", "Password": PASSWORD}
    assert "SECRET_HASH was not received" in cognito.refused("SignUp", params, "NotAuthorizedException").message
    cognito.refused("SignUp", {**params, "SecretHash": secret_hash(secret, "eve", client["ClientId"])},
                    "NotAuthorizedException")
    cognito.call("SignUp", {**params, "SecretHash": secret_hash(secret, "dora", client["ClientId"])})
    cognito.call("AdminConfirmSignUp", {"UserPoolId": pool_id, "Username": "dora"})
    good = secret_hash(secret, "dora", client["ClientId"])
    out = cognito.call("InitiateAuth", {"ClientId": client["ClientId"], "AuthFlow": "USER_PASSWORD_AUTH",
                                        "AuthParameters": {"USERNAME": "dora", "PASSWORD": PASSWORD,
                                                           "SECRET_HASH": good}})
    refresh = out["AuthenticationResult"]["RefreshToken"]
    again = cognito.call("InitiateAuth", {"ClientId": client["ClientId"], "AuthFlow": "REFRESH_TOKEN_AUTH",
                                          "AuthParameters": {"REFRESH_TOKEN": refresh, "SECRET_HASH": good}})
    assert "RefreshToken" not in again["AuthenticationResult"]


def test_admin_create_user_new_password_required(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    client = cognito.client(pool_id)
    user = cognito.call("AdminCreateUser", {"UserPoolId": pool_id, "Username": "frank",
                                            "UserAttributes": [{"Name": "email", "Value": "frank@example.com"}],
                                            "DesiredDeliveryMediums": ["EMAIL"]})["User"]
    assert user["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    temporary = cognito.last_code("frank")
    challenge = _login(cognito, client, "frank", temporary)
    assert challenge["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    respond = {"ClientId": client["ClientId"], "ChallengeName": "NEW_PASSWORD_REQUIRED"}
    cognito.refused("RespondToAuthChallenge", {**respond, "Session": "bogus",
                                               "ChallengeResponses": {"USERNAME": "frank", "NEW_PASSWORD": PASSWORD}},
                    "NotAuthorizedException")
    cognito.refused("RespondToAuthChallenge", {**respond, "Session": challenge["Session"],
                                               "ChallengeResponses": {"USERNAME": "frank", "NEW_PASSWORD": "weak"}},
                    "InvalidPasswordException")
    done = cognito.call("RespondToAuthChallenge", {**respond, "Session": challenge["Session"],
                                                   "ChallengeResponses": {"USERNAME": "frank",
                                                                          "NEW_PASSWORD": PASSWORD}})
    assert "IdToken" in done["AuthenticationResult"]
    assert cognito.call("AdminGetUser", {"UserPoolId": pool_id, "Username": "frank"})["UserStatus"] == "CONFIRMED"
    cognito.refused("RespondToAuthChallenge", {**respond, "Session": challenge["Session"],  # not replayable
                                               "ChallengeResponses": {"USERNAME": "frank", "NEW_PASSWORD": PASSWORD}},
                    "NotAuthorizedException")


def test_groups_claims_refresh_and_revocation(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    client = cognito.client(pool_id)
    cognito.call("AdminCreateUser", {"UserPoolId": pool_id, "Username": "gina", "MessageAction": "SUPPRESS"})
    cognito.call("AdminSetUserPassword", {"UserPoolId": pool_id, "Username": "gina", "Password": PASSWORD,
                                          "Permanent": True})
    for name, precedence in (("admins", 1), ("staff", 5)):
        cognito.call("CreateGroup", {"UserPoolId": pool_id, "GroupName": name, "Precedence": precedence,
                                     "RoleArn": f"arn:aws:iam::111111111111:role/{name}"})
        cognito.call("AdminAddUserToGroup", {"UserPoolId": pool_id, "Username": "gina", "GroupName": name})
    cognito.refused("CreateGroup", {"UserPoolId": pool_id, "GroupName": "staff"}, "GroupExistsException")
    result = _login(cognito, client, "gina")["AuthenticationResult"]
    claims = jwt.decode(result["IdToken"], options={"verify_signature": False})
    assert claims["cognito:groups"] == ["admins", "staff"]
    assert claims["cognito:preferred_role"] == "arn:aws:iam::111111111111:role/admins"
    refreshed = cognito.call("InitiateAuth", {"ClientId": client["ClientId"], "AuthFlow": "REFRESH_TOKEN_AUTH",
                                              "AuthParameters": {"REFRESH_TOKEN": result["RefreshToken"]}})
    new_claims = tokens.verify(cognito.cloud, refreshed["AuthenticationResult"]["IdToken"])
    assert new_claims["origin_jti"] == claims["origin_jti"] and new_claims["auth_time"] == claims["auth_time"]
    users = cognito.call("ListUsersInGroup", {"UserPoolId": pool_id, "GroupName": "admins"})["Users"]
    assert [u["Username"] for u in users] == ["gina"]
    cognito.call("GlobalSignOut", {"AccessToken": result["AccessToken"]})
    with pytest.raises(tokens.InvalidToken, match="revoked"):
        tokens.verify(cognito.cloud, result["AccessToken"])
    cognito.refused("InitiateAuth", {"ClientId": client["ClientId"], "AuthFlow": "REFRESH_TOKEN_AUTH",
                                     "AuthParameters": {"REFRESH_TOKEN": result["RefreshToken"]}},
                    "NotAuthorizedException")
    fresh = _login(cognito, client, "gina")["AuthenticationResult"]
    tokens.verify(cognito.cloud, fresh["AccessToken"])  # a new sign-in after the sign-out is valid
    cognito.call("RevokeToken", {"ClientId": client["ClientId"], "Token": fresh["RefreshToken"]})
    with pytest.raises(tokens.InvalidToken, match="revoked"):
        tokens.verify(cognito.cloud, fresh["IdToken"])


def test_list_users_filter_and_pages(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    for index in range(7):
        cognito.call("AdminCreateUser", {"UserPoolId": pool_id, "Username": f"user{index}",
                                         "MessageAction": "SUPPRESS",
                                         "UserAttributes": [{"Name": "email",
                                                             "Value": f"{'a' if index % 2 else 'b'}{index}@x.org"}]})
    seen, token = [], None
    while True:
        page = cognito.call("ListUsers", {"UserPoolId": pool_id, "Limit": 3,
                                          **({"PaginationToken": token} if token else {})})
        seen += [u["Username"] for u in page["Users"]]
        token = page.get("PaginationToken")
        if not token:
            break
    assert seen == [f"user{i}" for i in range(7)]
    found = cognito.call("ListUsers", {"UserPoolId": pool_id, "Filter": 'email ^= "a"',
                                       "AttributesToGet": ["email"]})["Users"]
    assert [u["Username"] for u in found] == ["user1", "user3", "user5"]
    assert all([a["Name"] for a in u["Attributes"]] == ["email"] for u in found)
    cognito.refused("ListUsers", {"UserPoolId": pool_id, "Filter": "email = a"}, "InvalidParameterException")


def test_email_as_username_and_aliases(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool(UsernameAttributes=["email"])
    client = cognito.client(pool_id)
    out = cognito.call("SignUp", {"ClientId": client["ClientId"], "Username": "Hana@Example.com",
                                  "Password": PASSWORD})
    cognito.call("ConfirmSignUp", {"ClientId": client["ClientId"], "Username": "hana@example.com",
                                   "ConfirmationCode": cognito.deliveries()[-1]["code"]})
    result = _login(cognito, client, "hana@example.com")["AuthenticationResult"]
    claims = tokens.verify(cognito.cloud, result["IdToken"])
    assert claims["cognito:username"] == out["UserSub"] and claims["email"] == "Hana@Example.com"
    cognito.refused("SignUp", {"ClientId": client["ClientId"], "Username": "hana@example.com",
                               "Password": PASSWORD}, "UsernameExistsException")


def test_forgot_password(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    client = cognito.client(pool_id)
    _sign_up(cognito, client, "ivan")
    cognito.call("ConfirmSignUp", {"ClientId": client["ClientId"], "Username": "ivan",
                                   "ConfirmationCode": cognito.last_code("ivan")})
    cognito.call("ForgotPassword", {"ClientId": client["ClientId"], "Username": "ivan"})
    code = cognito.last_code("ivan")
    cognito.call("ConfirmForgotPassword", {"ClientId": client["ClientId"], "Username": "ivan",
                                           "ConfirmationCode": code, "Password": "N3w-Passw0rd"})
    cognito.refused("ConfirmForgotPassword", {"ClientId": client["ClientId"], "Username": "ivan",
                                              "ConfirmationCode": code, "Password": "N3w-Passw0rd"},
                    "CodeMismatchException")
    _login(cognito, client, "ivan", "N3w-Passw0rd")


def test_key_rotation_keeps_old_tokens_verifiable(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    client = cognito.client(pool_id)
    cognito.call("AdminCreateUser", {"UserPoolId": pool_id, "Username": "jo", "MessageAction": "SUPPRESS"})
    cognito.call("AdminSetUserPassword", {"UserPoolId": pool_id, "Username": "jo", "Password": PASSWORD,
                                          "Permanent": True})
    old = _login(cognito, client, "jo")["AuthenticationResult"]["IdToken"]
    with cognito.db.begin() as conn:  # the key is past its lifetime: the next sign-in rotates
        conn.execute(update(state.keys).values(created_at=time.time() - tokens.KEY_LIFETIME - 1))
    new = _login(cognito, client, "jo")["AuthenticationResult"]["IdToken"]
    kids = [key["kid"] for key in tokens.jwks(cognito.cloud, pool_id)["keys"]]
    assert len(kids) == 2 and jwt.get_unverified_header(new)["kid"] == kids[0]
    tokens.verify(cognito.cloud, old)
    with cognito.db.begin() as conn:  # retired longer than any token lives: gone from the JWKS
        conn.execute(update(state.keys).where(state.keys.c.retired_at.is_not(None))
                     .values(retired_at=time.time() - tokens.RETIRED_KEPT - 1))
    assert len(tokens.jwks(cognito.cloud, pool_id)["keys"]) == 1
    with pytest.raises(tokens.InvalidToken):
        tokens.verify(cognito.cloud, old)


def test_wellknown_blueprint(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    app = Flask("test")
    app.config["CLOUD"] = cognito.cloud
    app.register_blueprint(wellknown.blueprint)
    web = app.test_client()
    keys = web.get(f"/{pool_id}/.well-known/jwks.json").get_json()
    assert keys == tokens.jwks(cognito.cloud, pool_id)
    discovery = web.get(f"/{pool_id}/.well-known/openid-configuration").get_json()
    assert discovery["issuer"] == tokens.issuer(cognito.cloud, pool_id)
    assert discovery["jwks_uri"].endswith(f"/{pool_id}/.well-known/jwks.json")
    assert web.get("/home-1_nope/.well-known/jwks.json").status_code == 404
    assert web.get("/my-bucket/.well-known/jwks.json").status_code == 404  # no rule: S3 keeps such keys


def test_changed_email_is_verified_with_a_code(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    client = cognito.client(pool_id)
    _sign_up(cognito, client, "kim")
    cognito.call("ConfirmSignUp", {"ClientId": client["ClientId"], "Username": "kim",
                                   "ConfirmationCode": cognito.last_code("kim")})
    access = _login(cognito, client, "kim")["AuthenticationResult"]["AccessToken"]
    out = cognito.call("UpdateUserAttributes", {"AccessToken": access,
                                                "UserAttributes": [{"Name": "email", "Value": "kim@new.org"}]})
    assert out["CodeDeliveryDetailsList"] == [{"Destination": "k***@n***", "DeliveryMedium": "EMAIL",
                                               "AttributeName": "email"}]
    record = cognito.deliveries()[-1]
    assert (record["kind"], record["destination"]) == ("verify:email", "kim@new.org")
    attributes = {a["Name"]: a["Value"] for a in cognito.call("GetUser", {"AccessToken": access})["UserAttributes"]}
    assert attributes["email"] == "kim@new.org" and attributes["email_verified"] == "false"
    cognito.refused("VerifyUserAttribute", {"AccessToken": access, "AttributeName": "email",
                                            "Code": "000000" if record["code"] != "000000" else "111111"},
                    "CodeMismatchException")
    cognito.call("VerifyUserAttribute", {"AccessToken": access, "AttributeName": "email", "Code": record["code"]})
    attributes = {a["Name"]: a["Value"] for a in cognito.call("GetUser", {"AccessToken": access})["UserAttributes"]}
    assert attributes["email_verified"] == "true"


def test_client_token_validity(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    client = cognito.client(pool_id, AccessTokenValidity=5, IdTokenValidity=2,
                            TokenValidityUnits={"AccessToken": "minutes", "IdToken": "hours"})
    cognito.call("AdminCreateUser", {"UserPoolId": pool_id, "Username": "lee", "MessageAction": "SUPPRESS"})
    cognito.call("AdminSetUserPassword", {"UserPoolId": pool_id, "Username": "lee", "Password": PASSWORD,
                                          "Permanent": True})
    result = _login(cognito, client, "lee")["AuthenticationResult"]
    assert result["ExpiresIn"] == 300
    access = jwt.decode(result["AccessToken"], options={"verify_signature": False})
    identity = jwt.decode(result["IdToken"], options={"verify_signature": False})
    assert access["exp"] - access["iat"] == 300 and identity["exp"] - identity["iat"] == 7200
    cognito.refused("CreateUserPoolClient", {"UserPoolId": pool_id, "ClientName": "x", "AccessTokenValidity": 2,
                                             "TokenValidityUnits": {"AccessToken": "days"}},
                    "InvalidParameterException")


def test_user_lifecycle_calls(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool(Schema=[{"Name": "tier", "AttributeDataType": "Number"}])
    client = cognito.client(pool_id)
    _sign_up(cognito, client, "max")
    first = cognito.last_code("max")
    resent = cognito.call("ResendConfirmationCode", {"ClientId": client["ClientId"], "Username": "max"})
    assert resent["CodeDeliveryDetails"]["AttributeName"] == "email"
    if first != cognito.last_code("max"):  # the resent code replaced the first (unless they happen to match)
        cognito.refused("ConfirmSignUp", {"ClientId": client["ClientId"], "Username": "max",
                                          "ConfirmationCode": first}, "CodeMismatchException")
    cognito.call("ConfirmSignUp", {"ClientId": client["ClientId"], "Username": "max",
                                   "ConfirmationCode": cognito.last_code("max")})
    cognito.refused("ResendConfirmationCode", {"ClientId": client["ClientId"], "Username": "max"},
                    "InvalidParameterException")
    access = _login(cognito, client, "max")["AuthenticationResult"]["AccessToken"]
    cognito.refused("ChangePassword", {"AccessToken": access, "PreviousPassword": "wrong",
                                       "ProposedPassword": "Other-Passw0rd"}, "NotAuthorizedException")
    cognito.call("ChangePassword", {"AccessToken": access, "PreviousPassword": PASSWORD,
                                    "ProposedPassword": "Other-Passw0rd"})
    cognito.refused("InitiateAuth", {"ClientId": client["ClientId"], "AuthFlow": "USER_PASSWORD_AUTH",
                                     "AuthParameters": {"USERNAME": "max", "PASSWORD": PASSWORD}},
                    "NotAuthorizedException")
    cognito.call("AdminUpdateUserAttributes", {"UserPoolId": pool_id, "Username": "max",
                                               "UserAttributes": [{"Name": "custom:tier", "Value": "2"}]})
    cognito.refused("AdminUpdateUserAttributes", {"UserPoolId": pool_id, "Username": "max",
                                                  "UserAttributes": [{"Name": "custom:tier", "Value": "x"}]},
                    "InvalidParameterException")
    user = cognito.call("AdminGetUser", {"UserPoolId": pool_id, "Username": "max"})
    assert {"Name": "custom:tier", "Value": "2"} in user["UserAttributes"]
    cognito.call("CreateGroup", {"UserPoolId": pool_id, "GroupName": "g", "Description": "first"})
    cognito.call("AdminAddUserToGroup", {"UserPoolId": pool_id, "Username": "max", "GroupName": "g"})
    updated = cognito.call("UpdateGroup", {"UserPoolId": pool_id, "GroupName": "g", "Precedence": 4})["Group"]
    assert (updated["Description"], updated["Precedence"]) == ("first", 4)
    cognito.call("AdminRemoveUserFromGroup", {"UserPoolId": pool_id, "Username": "max", "GroupName": "g"})
    assert cognito.call("AdminListGroupsForUser", {"UserPoolId": pool_id, "Username": "max"})["Groups"] == []
    cognito.call("DeleteGroup", {"UserPoolId": pool_id, "GroupName": "g"})
    cognito.refused("GetGroup", {"UserPoolId": pool_id, "GroupName": "g"}, "ResourceNotFoundException")
    fresh = _login(cognito, client, "max", "Other-Passw0rd")["AuthenticationResult"]["AccessToken"]
    cognito.call("DeleteUser", {"AccessToken": fresh})
    cognito.refused("AdminGetUser", {"UserPoolId": pool_id, "Username": "max"}, "UserNotFoundException")
    cognito.refused("GetUser", {"AccessToken": fresh}, "NotAuthorizedException")


def test_pools_and_clients_read_back(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool(Policies={"PasswordPolicy": {"MinimumLength": 12, "RequireSymbols": False}},
                           UserPoolTags={"team": "a"})
    described = cognito.call("DescribeUserPool", {"UserPoolId": pool_id})["UserPool"]
    assert described["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert described["Policies"]["PasswordPolicy"]["RequireUppercase"] is True  # Cognito's default
    assert described["UserPoolTags"] == {"team": "a"} and described["EstimatedNumberOfUsers"] == 0
    assert described["Arn"] == f"arn:aws:cognito-idp:{cognito.config.region}:{cognito.account}:userpool/{pool_id}"
    other = cognito.pool(PoolName="second")
    pages = cognito.call("ListUserPools", {"MaxResults": 1})
    assert len(pages["UserPools"]) == 1 and pages.get("NextToken")
    rest = cognito.call("ListUserPools", {"MaxResults": 1, "NextToken": pages["NextToken"]})
    assert {pages["UserPools"][0]["Id"], rest["UserPools"][0]["Id"]} == {pool_id, other}
    cognito.call("UpdateUserPool", {"UserPoolId": pool_id, "AutoVerifiedAttributes": ["email"]})
    after = cognito.call("DescribeUserPool", {"UserPoolId": pool_id})["UserPool"]
    assert after["Policies"]["PasswordPolicy"]["MinimumLength"] == 8  # left out of the update: the default
    client = cognito.client(pool_id, GenerateSecret=True)
    assert len(client["ClientSecret"]) == 51
    updated = cognito.call("UpdateUserPoolClient", {"UserPoolId": pool_id, "ClientId": client["ClientId"],
                                                    "ClientName": "renamed"})["UserPoolClient"]
    assert updated["ClientSecret"] == client["ClientSecret"] and updated["ClientName"] == "renamed"
    listed = cognito.call("ListUserPoolClients", {"UserPoolId": pool_id})["UserPoolClients"]
    assert [c["ClientId"] for c in listed] == [client["ClientId"]]
    cognito.call("DeleteUserPoolClient", {"UserPoolId": pool_id, "ClientId": client["ClientId"]})
    cognito.refused("DescribeUserPoolClient", {"UserPoolId": pool_id, "ClientId": client["ClientId"]},
                    "ResourceNotFoundException")
    cognito.refused("DescribeUserPool", {"UserPoolId": pool_id}, "ResourceNotFoundException",
                    account="222222222222")  # another account does not see it
    cognito.call("DeleteUserPool", {"UserPoolId": pool_id})
    cognito.refused("DescribeUserPool", {"UserPoolId": pool_id}, "ResourceNotFoundException")
    assert tokens.jwks(cognito.cloud, pool_id) == {"keys": []}


def test_client_credentials_access_token(cognito: CognitoCloud) -> None:
    """What H2's /oauth2/token client_credentials grant gets from tokens.issue: an access token alone."""
    pool_id = cognito.pool()
    client = cognito.client(pool_id, GenerateSecret=True)
    pool = cognito.call("DescribeUserPool", {"UserPoolId": pool_id})["UserPool"]
    result = tokens.issue(cognito.cloud, pool, client, None, scopes=["orders/read"])
    assert set(result) == {"AccessToken", "ExpiresIn", "TokenType"}
    claims = tokens.verify(cognito.cloud, result["AccessToken"], pool_id=pool_id, client_ids=[client["ClientId"]],
                           token_use="access")
    assert claims["sub"] == client["ClientId"] and claims["scope"] == "orders/read"
    with pytest.raises(tokens.InvalidToken, match="issuer"):
        tokens.verify(cognito.cloud, result["AccessToken"], pool_id="home-1_other")
