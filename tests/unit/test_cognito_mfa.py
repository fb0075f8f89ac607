"""TOTP MFA for pool users (controller/cognito_idp/mfa.py): the pure rules (codes, replay, the pool's and
the user's settings, which challenge a sign-in gets), then the flows in-process on a real Cloud."""

from __future__ import annotations

import base64
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from controller.cognito_idp import mfa
from controller.cognito_idp.passwords import secret_hash
from controller.errors import ServiceError
from tests.unit.cognito_harness import PASSWORD, CognitoCloud, make

TOTP_ON = {"SoftwareTokenMfaConfiguration": {"Enabled": True}}


# --- pure rules ---------------------------------------------------------------------------------------

def test_secrets_are_32_base32_characters_and_differ() -> None:
    first, second = mfa.new_secret(), mfa.new_secret()
    assert len(first) == 32 and first != second
    assert len(base64.b32decode(first)) == 20


def test_codes_of_the_previous_current_and_next_step_are_accepted() -> None:
    secret, now = mfa.new_secret(), 1_700_000_000.0
    totp = pyotp.TOTP(secret)
    for offset, accepted in ((-60, False), (-30, True), (0, True), (30, True), (60, False)):
        code = totp.at(now + offset)
        step = mfa.accepted_step(secret, code, now)
        assert (step == int(now + offset) // 30) if accepted else step is None, offset


def test_a_code_is_not_accepted_twice_nor_one_older_than_the_last() -> None:
    secret, now = mfa.new_secret(), 1_700_000_000.0
    code = pyotp.TOTP(secret).at(now)
    step = mfa.accepted_step(secret, code, now)
    assert step is not None
    assert mfa.accepted_step(secret, code, now, after=step) is None
    assert mfa.accepted_step(secret, pyotp.TOTP(secret).at(now - 30), now, after=step) is None
    assert mfa.accepted_step(secret, pyotp.TOTP(secret).at(now + 30), now, after=step) == step + 1


def test_malformed_codes_are_refused() -> None:
    secret = mfa.new_secret()
    for code in ("", "12345", "1234567", "12a456"):
        assert mfa.accepted_step(secret, code, time.time()) is None


def test_pool_settings_merge_and_read_back() -> None:
    config = mfa.merged_mfa_config({}, {"MfaConfiguration": "OPTIONAL", **TOTP_ON})
    assert mfa.pool_mfa_config(config) == {"MfaConfiguration": "OPTIONAL",
                                           "SoftwareTokenMfaConfiguration": {"Enabled": True}}
    config = mfa.merged_mfa_config(config, {"MfaConfiguration": "ON"})  # TOTP stays on
    assert mfa.pool_mfa_config(config)["SoftwareTokenMfaConfiguration"] == {"Enabled": True}
    sms = {"SmsAuthenticationMessage": "code {####}", "SmsConfiguration": {"SnsCallerArn": "arn:aws:iam::1:role/s"}}
    config = mfa.merged_mfa_config(config, {"SmsMfaConfiguration": sms})
    assert config["SmsConfiguration"] == sms["SmsConfiguration"]  # the pool's own, as DescribeUserPool shows
    assert mfa.pool_mfa_config(config)["SmsMfaConfiguration"] == sms
    assert mfa.pool_mfa_config({}) == {"MfaConfiguration": "OFF", "SoftwareTokenMfaConfiguration": {"Enabled": False}}


@pytest.mark.parametrize("params", [
    {"MfaConfiguration": "ON"},
    {"MfaConfiguration": "OPTIONAL", "SoftwareTokenMfaConfiguration": {"Enabled": False}},
    {"MfaConfiguration": "ON", "SmsMfaConfiguration": {"SmsConfiguration": {"SnsCallerArn": "arn:x"}}},
])
def test_mfa_on_or_optional_needs_totp(params: dict[str, Any]) -> None:
    with pytest.raises(ServiceError) as excinfo:
        mfa.merged_mfa_config({}, params)
    assert excinfo.value.code == "InvalidParameterException"


def test_preferences_need_a_verified_authenticator() -> None:
    on = {"SoftwareTokenMfaSettings": {"Enabled": True, "PreferredMfa": True}}
    with pytest.raises(ServiceError) as excinfo:
        mfa.with_preference({}, on, required=False)
    assert excinfo.value.message == "User does not have delivery config set to turn on SOFTWARE_TOKEN_MFA"
    record = {"totp": {"secret": "x", "device": None, "last_step": 1}}
    enabled = mfa.with_preference(record, on, required=False)
    assert enabled["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert enabled["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"
    off = {"SoftwareTokenMfaSettings": {"Enabled": False, "PreferredMfa": False}}
    disabled = mfa.with_preference(enabled, off, required=False)
    assert "UserMFASettingList" not in disabled and "PreferredMfaSetting" not in disabled
    assert disabled["totp"] == record["totp"]  # the authenticator stays registered
    kept = mfa.with_preference(enabled, off, required=True)  # a pool with MFA ON: TOTP cannot go off
    assert kept["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"] and "PreferredMfaSetting" not in kept


@pytest.mark.parametrize("member", ["SMSMfaSettings", "EmailMfaSettings", "WebAuthnMfaSettings"])
def test_factors_that_need_a_message_cannot_be_turned_on(member: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        mfa.with_preference({}, {member: {"Enabled": True}}, required=False)
    assert excinfo.value.code == "InvalidParameterException"
    assert mfa.with_preference({}, {member: {"Enabled": False}}, required=False) == {}


def test_verifying_replaces_the_authenticator_and_turns_totp_on() -> None:
    record = {"pending": {"secret": "new"}, "totp": {"secret": "old", "device": "a", "last_step": 3},
              "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA", "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"]}
    out = mfa.with_verified(record, "new", "phone", 9)
    assert out == {"totp": {"secret": "new", "device": "phone", "last_step": 9},
                   "PreferredMfaSetting": "SOFTWARE_TOKEN_MFA", "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"]}


def test_which_challenge_a_sign_in_gets() -> None:
    token = {"totp": {"secret": "s"}}
    enabled = {**token, "UserMFASettingList": ["SOFTWARE_TOKEN_MFA"]}
    optional, required = {"MfaConfiguration": "OPTIONAL", **TOTP_ON}, {"MfaConfiguration": "ON", **TOTP_ON}
    assert mfa.challenge_for({"MfaConfiguration": "OFF", **TOTP_ON}, enabled) is None
    assert mfa.challenge_for(optional, {}) is None
    assert mfa.challenge_for(optional, token) is None  # registered but turned off
    assert mfa.challenge_for(optional, enabled) == "SOFTWARE_TOKEN_MFA"
    assert mfa.challenge_for(required, token) == "SOFTWARE_TOKEN_MFA"
    assert mfa.challenge_for(required, {}) == "MFA_SETUP"
    assert mfa.challenge_for({"MfaConfiguration": "OPTIONAL"}, enabled) is None  # TOTP off in the pool
    with pytest.raises(ServiceError) as excinfo:  # ON with only an SMS factor, which is never sent
        mfa.challenge_for({"MfaConfiguration": "ON"}, {})
    assert excinfo.value.code == "InvalidUserPoolConfigurationException"


# --- flows in-process ---------------------------------------------------------------------------------

@pytest.fixture
def cognito(tmp_path: Path) -> Iterator[CognitoCloud]:
    harness = make(tmp_path)
    yield harness
    harness.close()


def _user(c: CognitoCloud, pool_id: str, name: str = "alice") -> None:
    c.call("AdminCreateUser", {"UserPoolId": pool_id, "Username": name, "MessageAction": "SUPPRESS"})
    c.call("AdminSetUserPassword", {"UserPoolId": pool_id, "Username": name, "Password": PASSWORD,
                                    "Permanent": True})


def _login(c: CognitoCloud, client: dict, name: str = "alice") -> dict:
    return c.call("InitiateAuth", {"ClientId": client["ClientId"], "AuthFlow": "USER_PASSWORD_AUTH",
                                   "AuthParameters": {"USERNAME": name, "PASSWORD": PASSWORD}})


def _answer(c: CognitoCloud, client: dict, session: str, code: str, name: str = "alice") -> dict:
    return c.call("RespondToAuthChallenge", {
        "ClientId": client["ClientId"], "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": session,
        "ChallengeResponses": {"USERNAME": name, "SOFTWARE_TOKEN_MFA_CODE": code}})


def _wrong(code: str) -> str:
    return f"{(int(code) + 500_000) % 1_000_000:06d}"


def test_enrol_then_sign_in_with_a_code(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    cognito.call("SetUserPoolMfaConfig", {"UserPoolId": pool_id, "MfaConfiguration": "OPTIONAL", **TOTP_ON})
    client = cognito.client(pool_id)
    _user(cognito, pool_id)
    access = _login(cognito, client)["AuthenticationResult"]["AccessToken"]
    secret = cognito.call("AssociateSoftwareToken", {"AccessToken": access})["SecretCode"]
    totp, now = pyotp.TOTP(secret), time.time()
    err = cognito.refused("VerifySoftwareToken", {"AccessToken": access, "UserCode": _wrong(totp.at(now))},
                          "EnableSoftwareTokenMFAException")
    assert err.message == "Code mismatch and fail enable Software Token MFA"
    assert cognito.call("VerifySoftwareToken", {"AccessToken": access, "UserCode": totp.at(now),
                                                "FriendlyDeviceName": "phone"}) == {"Status": "SUCCESS"}
    cognito.call("SetUserMFAPreference", {"AccessToken": access, "SoftwareTokenMfaSettings": {
        "Enabled": True, "PreferredMfa": True}})
    shown = cognito.call("AdminGetUser", {"UserPoolId": pool_id, "Username": "alice"})
    assert shown["UserMFASettingList"] == ["SOFTWARE_TOKEN_MFA"]
    assert shown["PreferredMfaSetting"] == "SOFTWARE_TOKEN_MFA"

    challenge = _login(cognito, client)
    assert challenge["ChallengeName"] == "SOFTWARE_TOKEN_MFA"
    assert challenge["ChallengeParameters"] == {"USER_ID_FOR_SRP": "alice", "FRIENDLY_DEVICE_NAME": "phone"}
    assert "AuthenticationResult" not in challenge
    err = cognito.refused("RespondToAuthChallenge", {
        "ClientId": client["ClientId"], "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": challenge["Session"],
        "ChallengeResponses": {"USERNAME": "alice", "SOFTWARE_TOKEN_MFA_CODE": totp.at(now)}},
        "CodeMismatchException")  # the code VerifySoftwareToken used: no replay
    assert err.message == "Invalid code received for user"
    result = _answer(cognito, client, challenge["Session"], totp.at(now + 30))  # the same session, retried
    assert {"IdToken", "AccessToken", "RefreshToken"} <= set(result["AuthenticationResult"])
    cognito.refused("RespondToAuthChallenge", {
        "ClientId": client["ClientId"], "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": challenge["Session"],
        "ChallengeResponses": {"USERNAME": "alice", "SOFTWARE_TOKEN_MFA_CODE": totp.at(now + 30)}},
        "NotAuthorizedException")  # a session answered is gone


def test_a_session_takes_a_few_wrong_codes_then_ends(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    cognito.call("SetUserPoolMfaConfig", {"UserPoolId": pool_id, "MfaConfiguration": "OPTIONAL", **TOTP_ON})
    client = cognito.client(pool_id)
    _user(cognito, pool_id)
    access = _login(cognito, client)["AuthenticationResult"]["AccessToken"]
    secret = cognito.call("AssociateSoftwareToken", {"AccessToken": access})["SecretCode"]
    cognito.call("VerifySoftwareToken", {"AccessToken": access, "UserCode": pyotp.TOTP(secret).now()})
    session = _login(cognito, client)["Session"]  # verifying turned TOTP on
    wrong = _wrong(pyotp.TOTP(secret).now())
    for _ in range(mfa.MAX_TRIES):
        with pytest.raises(ServiceError) as excinfo:
            _answer(cognito, client, session, wrong)
        assert excinfo.value.code == "CodeMismatchException"
    err = cognito.refused("RespondToAuthChallenge", {
        "ClientId": client["ClientId"], "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": session,
        "ChallengeResponses": {"USERNAME": "alice", "SOFTWARE_TOKEN_MFA_CODE": pyotp.TOTP(secret).at(time.time() + 30)}},
        "NotAuthorizedException")
    assert err.message == "Invalid session for the user, session is expired."


def test_mfa_setup_when_the_pool_requires_mfa(cognito: CognitoCloud) -> None:
    pool_id = cognito.pool()
    cognito.call("SetUserPoolMfaConfig", {"UserPoolId": pool_id, "MfaConfiguration": "ON", **TOTP_ON})
    client = cognito.client(pool_id)
    _user(cognito, pool_id)
    challenge = _login(cognito, client)
    assert challenge["ChallengeName"] == "MFA_SETUP"
    assert challenge["ChallengeParameters"]["MFAS_CAN_SETUP"] == '["SOFTWARE_TOKEN_MFA"]'
    early = {"ClientId": client["ClientId"], "ChallengeName": "MFA_SETUP", "Session": challenge["Session"],
             "ChallengeResponses": {"USERNAME": "alice"}}
    cognito.refused("RespondToAuthChallenge", early, "InvalidParameterException")
    associated = cognito.call("AssociateSoftwareToken", {"Session": challenge["Session"]})
    cognito.refused("AssociateSoftwareToken", {"Session": challenge["Session"]}, "NotAuthorizedException")
    totp = pyotp.TOTP(associated["SecretCode"])
    verified = cognito.call("VerifySoftwareToken", {"Session": associated["Session"], "UserCode": totp.now()})
    assert verified["Status"] == "SUCCESS"
    other = cognito.client(pool_id, ClientName="other")
    cognito.refused("RespondToAuthChallenge", {**early, "ClientId": other["ClientId"],
                                               "Session": verified["Session"]}, "NotAuthorizedException")
    result = cognito.call("RespondToAuthChallenge", {**early, "Session": verified["Session"]})
    assert "AccessToken" in result["AuthenticationResult"]
    assert _login(cognito, client)["ChallengeName"] == "SOFTWARE_TOKEN_MFA"  # from now on, a code


def test_pool_settings_over_the_operations(cognito: CognitoCloud) -> None:
    cognito.refused("CreateUserPool", {"PoolName": "p", "MfaConfiguration": "ON"}, "InvalidParameterException")
    pool_id = cognito.pool()
    assert cognito.call("GetUserPoolMfaConfig", {"UserPoolId": pool_id})["MfaConfiguration"] == "OFF"
    cognito.refused("SetUserPoolMfaConfig", {"UserPoolId": pool_id, "MfaConfiguration": "ON"},
                    "InvalidParameterException")
    out = cognito.call("SetUserPoolMfaConfig", {"UserPoolId": pool_id, "MfaConfiguration": "ON", **TOTP_ON})
    assert out == {"MfaConfiguration": "ON", "SoftwareTokenMfaConfiguration": {"Enabled": True}}
    assert cognito.call("DescribeUserPool", {"UserPoolId": pool_id})["UserPool"]["MfaConfiguration"] == "ON"
    cognito.call("UpdateUserPool", {"UserPoolId": pool_id, "MfaConfiguration": "OPTIONAL"})  # TOTP kept
    assert cognito.call("GetUserPoolMfaConfig", {"UserPoolId": pool_id}) == {
        "MfaConfiguration": "OPTIONAL", "SoftwareTokenMfaConfiguration": {"Enabled": True}}
    off = cognito.pool(PoolName="off")
    client = cognito.client(off)
    _user(cognito, off)
    access = _login(cognito, client)["AuthenticationResult"]["AccessToken"]
    err = cognito.refused("AssociateSoftwareToken", {"AccessToken": access}, "SoftwareTokenMFANotFoundException")
    assert err.message == "Software Token MFA has not been enabled by the userPool."
    cognito.refused("AdminSetUserMFAPreference", {"UserPoolId": off, "Username": "alice",
                                                  "SoftwareTokenMfaSettings": {"Enabled": True}},
                    "InvalidParameterException")


def test_admin_flow_with_a_secret_client_after_a_new_password(cognito: CognitoCloud) -> None:
    """A temporary password is changed first, then MFA_SETUP, then codes; Admin* calls and SECRET_HASH too."""
    pool_id = cognito.pool()
    cognito.call("SetUserPoolMfaConfig", {"UserPoolId": pool_id, "MfaConfiguration": "ON", **TOTP_ON})
    client = cognito.client(pool_id, GenerateSecret=True)
    cognito.call("AdminCreateUser", {"UserPoolId": pool_id, "Username": "bob", "MessageAction": "SUPPRESS",
                                     "TemporaryPassword": "Temp0rary!"})
    digest = secret_hash(client["ClientSecret"], "bob", client["ClientId"])
    base = {"UserPoolId": pool_id, "ClientId": client["ClientId"]}
    first = cognito.call("AdminInitiateAuth", {**base, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH", "AuthParameters": {
        "USERNAME": "bob", "PASSWORD": "Temp0rary!", "SECRET_HASH": digest}})
    assert first["ChallengeName"] == "NEW_PASSWORD_REQUIRED"
    setup = cognito.call("AdminRespondToAuthChallenge", {
        **base, "ChallengeName": "NEW_PASSWORD_REQUIRED", "Session": first["Session"],
        "ChallengeResponses": {"USERNAME": "bob", "NEW_PASSWORD": PASSWORD, "SECRET_HASH": digest}})
    assert setup["ChallengeName"] == "MFA_SETUP"
    associated = cognito.call("AssociateSoftwareToken", {"Session": setup["Session"]})
    totp, now = pyotp.TOTP(associated["SecretCode"]), time.time()
    verified = cognito.call("VerifySoftwareToken", {"Session": associated["Session"], "UserCode": totp.at(now)})
    answer = {**base, "ChallengeName": "MFA_SETUP", "Session": verified["Session"],
              "ChallengeResponses": {"USERNAME": "bob"}}
    cognito.refused("AdminRespondToAuthChallenge", answer, "NotAuthorizedException")  # no SECRET_HASH
    answer["ChallengeResponses"]["SECRET_HASH"] = digest
    assert "IdToken" in cognito.call("AdminRespondToAuthChallenge", answer)["AuthenticationResult"]
    cognito.call("AdminSetUserMFAPreference", {"UserPoolId": pool_id, "Username": "bob",
                                               "SoftwareTokenMfaSettings": {"Enabled": False}})
    again = cognito.call("AdminInitiateAuth", {**base, "AuthFlow": "ADMIN_USER_PASSWORD_AUTH", "AuthParameters": {
        "USERNAME": "bob", "PASSWORD": PASSWORD, "SECRET_HASH": digest}})
    assert again["ChallengeName"] == "SOFTWARE_TOKEN_MFA"  # MFA ON: TOTP cannot be turned off
    result = cognito.call("AdminRespondToAuthChallenge", {
        **base, "ChallengeName": "SOFTWARE_TOKEN_MFA", "Session": again["Session"], "ChallengeResponses": {
            "USERNAME": "bob", "SOFTWARE_TOKEN_MFA_CODE": totp.at(now + 30), "SECRET_HASH": digest}})
    assert "AccessToken" in result["AuthenticationResult"]
