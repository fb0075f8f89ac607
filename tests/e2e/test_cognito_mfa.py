"""TOTP MFA for pool users over boto3 against a real ``cloudlet up``: a user enrols an authenticator (codes
computed by pyotp from the secret the pool hands out), then signs in with USER_PASSWORD_AUTH and with
pycognito's SRP, each answering SOFTWARE_TOKEN_MFA with a code; wrong and replayed codes are refused; in
a pool that requires MFA a new user sets it up through MFA_SETUP before getting tokens."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pyotp
import pytest
from botocore import UNSIGNED
from botocore.exceptions import ClientError
from jose import jwt as jose_jwt
from pycognito import Cognito
from pycognito.exceptions import SoftwareTokenMFAChallengeException

from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e
PASSWORD = "Passw0rd!"
FLOWS = ["ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]


@pytest.fixture
def idp(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("cognito-idp")


@pytest.fixture
def public(cloudlet: CloudletProcess) -> Any:
    """An unsigned client: sign-in, the software token calls and SetUserMFAPreference need no IAM signature."""
    return cloudlet.client("cognito-idp", signature_version=UNSIGNED)


@pytest.fixture
def pool(idp: Any, unique: str) -> Iterator[str]:
    """A pool made with MFA OFF and TOTP turned on afterwards, the order Cognito needs."""
    pool_id = idp.create_user_pool(PoolName=unique)["UserPool"]["Id"]
    yield pool_id
    idp.delete_user_pool(UserPoolId=pool_id)


def make_user(idp: Any, pool_id: str, name: str) -> None:
    idp.admin_create_user(UserPoolId=pool_id, Username=name, MessageAction="SUPPRESS")
    idp.admin_set_user_password(UserPoolId=pool_id, Username=name, Password=PASSWORD, Permanent=True)


def password_login(public: Any, client_id: str, name: str) -> dict[str, Any]:
    return public.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                AuthParameters={"USERNAME": name, "PASSWORD": PASSWORD})


def enrol(public: Any, client_id: str, name: str) -> tuple[pyotp.TOTP, float]:
    """Register an authenticator for ``name`` with its access token and turn TOTP on; the authenticator and
    the moment whose code VerifySoftwareToken used (that code will not be accepted again)."""
    access = password_login(public, client_id, name)["AuthenticationResult"]["AccessToken"]
    totp, now = pyotp.TOTP(public.associate_software_token(AccessToken=access)["SecretCode"]), time.time()
    assert public.verify_software_token(AccessToken=access, UserCode=totp.at(now))["Status"] == "SUCCESS"
    public.set_user_mfa_preference(AccessToken=access, SoftwareTokenMfaSettings={"Enabled": True,
                                                                                 "PreferredMfa": True})
    return totp, now


def other_code(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


def error_of(excinfo: pytest.ExceptionInfo[ClientError]) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def test_totp_enrolment_then_password_and_srp_sign_in(cloudlet: CloudletProcess, idp: Any, public: Any,
                                                      pool: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="OPTIONAL")
    assert error_of(excinfo)[0] == "InvalidParameterException"
    config = idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="OPTIONAL",
                                          SoftwareTokenMfaConfiguration={"Enabled": True})
    assert config["MfaConfiguration"] == "OPTIONAL" and config["SoftwareTokenMfaConfiguration"]["Enabled"]
    assert idp.get_user_pool_mfa_config(UserPoolId=pool)["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    client_id = idp.create_user_pool_client(UserPoolId=pool, ClientName="app",
                                            ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    make_user(idp, pool, "dana")

    access = password_login(public, client_id, "dana")["AuthenticationResult"]["AccessToken"]
    with pytest.raises(ClientError) as excinfo:  # no authenticator yet
        public.set_user_mfa_preference(AccessToken=access, SoftwareTokenMfaSettings={"Enabled": True})
    assert error_of(excinfo) == ("InvalidParameterException",
                                 "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA")
    secret = public.associate_software_token(AccessToken=access)["SecretCode"]
    assert len(secret) == 32
    totp, now = pyotp.TOTP(secret), time.time()
    with pytest.raises(ClientError) as excinfo:
        public.verify_software_token(AccessToken=access, UserCode=other_code(totp.at(now)))
    assert error_of(excinfo) == ("EnableSoftwareTokenMFAException", "Code mismatch and fail enable Software Token MFA")
    assert public.verify_software_token(AccessToken=access, UserCode=totp.at(now),
                                        FriendlyDeviceName="phone")["Status"] == "SUCCESS"
    public.set_user_mfa_preference(AccessToken=access, SoftwareTokenMfaSettings={"Enabled": True,
                                                                                 "PreferredMfa": True})
    me = public.get_user(AccessToken=access)
    assert me["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"] and me["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"

    challenge = password_login(public, client_id, "dana")
    assert challenge["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert challenge["ChallengeParameters"]["USER_ID_FOR_SRP"] == "dana"
    assert "AuthenticationResult" not in challenge
    answer = {"ClientId": client_id, "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": challenge["Session"]}
    for code in (other_code(totp.at(now)), totp.at(now)):  # a wrong code, then the one already used
        with pytest.raises(ClientError) as excinfo:
            public.respond_to_auth_challenge(**answer, ChallengeResponses={"USERNAME": "dana",
                                                                           "SOFTWARE_TOKEN_MFA_CODE": code})
        assert error_of(excinfo) == ("CodeMismatchException", "Invalid code received for user")
    result = public.respond_to_auth_challenge(**answer, ChallengeResponses={
        "USERNAME": "dana", "SOFTWARE_TOKEN_MFA_CODE": totp.at(now + 30)})["AuthenticationResult"]
    claims = jose_jwt.get_unverified_claims(result["IdToken"])
    assert claims["cognito:username"] == "dana" and "amr" not in claims

    idp.admin_set_user_mfa_preference(UserPoolId=pool, Username="dana",
                                      SoftwareTokenMfaSettings={"Enabled": False, "PreferredMfa": False})
    assert "UserMFASettingList" not in idp.admin_get_user(UserPoolId=pool, Username="dana")
    assert "AuthenticationResult" in password_login(public, client_id, "dana")


def test_pycognito_srp_then_software_token_mfa(cloudlet: CloudletProcess, idp: Any, public: Any,
                                               pool: str) -> None:
    """pycognito signs in with SRP, raises the SOFTWARE_TOKEN_MFA challenge, and answers it with a code."""
    idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="OPTIONAL",
                                 SoftwareTokenMfaConfiguration={"Enabled": True})
    client_id = idp.create_user_pool_client(UserPoolId=pool, ClientName="app",
                                            ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    make_user(idp, pool, "frank")
    totp, now = enrol(public, client_id, "frank")
    srp = Cognito(pool, client_id, username="frank", boto3_client_kwargs={"endpoint_url": cloudlet.endpoint})
    srp.client = public  # unsigned, as an app calls; pycognito verifies the tokens against the served JWKS
    with pytest.raises(SoftwareTokenMFAChallengeException):
        srp.authenticate(password=PASSWORD)
    assert srp.mfa_tokens["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    with pytest.raises(ClientError) as excinfo:
        srp.respond_to_software_token_mfa_challenge(other_code(totp.at(now + 30)))
    assert error_of(excinfo)[0] == "CodeMismatchException"
    srp.respond_to_software_token_mfa_challenge(totp.at(now + 30))  # the same session takes another try
    assert public.get_user(AccessToken=srp.access_token)["Username"] == "frank"


def test_mfa_setup_when_the_pool_requires_it(idp: Any, public: Any, pool: str) -> None:
    idp.set_user_pool_mfa_config(UserPoolId=pool, MfaConfiguration="ON",
                                 SoftwareTokenMfaConfiguration={"Enabled": True})
    assert idp.describe_user_pool(UserPoolId=pool)["UserPool"]["MfaConfiguration"] == "ON"
    client_id = idp.create_user_pool_client(UserPoolId=pool, ClientName="app",
                                            ExplicitAuthFlows=FLOWS)["UserPoolClient"]["ClientId"]
    make_user(idp, pool, "erin")
    challenge = password_login(public, client_id, "erin")
    assert challenge["ChallengeName"] == "MFA_SETUP"
    assert "SOFTWARE_TOKEN_MFA" in challenge["ChallengeParameters"]["MFAS_CAN_SETUP"]
    associated = public.associate_software_token(Session=challenge["Session"])
    totp = pyotp.TOTP(associated["SecretCode"])
    now = time.time()
    with pytest.raises(ClientError) as excinfo:
        public.verify_software_token(Session=associated["Session"], UserCode=other_code(totp.at(now)))
    assert error_of(excinfo)[0] == "EnableSoftwareTokenMFAException"
    verified = public.verify_software_token(Session=associated["Session"], UserCode=totp.at(now))
    assert verified["Status"] == "SUCCESS" and verified["Session"]
    result = public.respond_to_auth_challenge(ClientId=client_id, ChallengeName="MFA_SETUP",
                                              Session=verified["Session"],
                                              ChallengeResponses={"USERNAME": "erin"})["AuthenticationResult"]
    assert {"IdToken", "AccessToken", "RefreshToken"} <= set(result)

    challenge = password_login(public, client_id, "erin")  # set up: from now on a code every time
    assert challenge["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    result = public.respond_to_auth_challenge(
        ClientId=client_id, ChallengeName="SOFTWARE_TOKEN_MFA", Session=challenge["Session"],
        ChallengeResponses={"USERNAME": "erin", "SOFTWARE_TOKEN_MFA_CODE": totp.at(now + 30)})
    assert "AccessToken" in result["AuthenticationResult"]


def test_create_user_pool_with_mfa_on_answers_as_cognito(idp: Any, unique: str) -> None:
    with pytest.raises(ClientError) as excinfo:
        idp.create_user_pool(PoolName=unique, MfaConfiguration="ON")
    assert error_of(excinfo) == (
        "InvalidParameterException",
        "SMS configuration and Auto verification for phone_number are required when MFA is required/optional")
