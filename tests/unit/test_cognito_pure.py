"""Pure rules of cognito-idp: password policy wording, SECRET_HASH, ListUsers filters, the attribute schema,
role claims and which flows a client allows."""

from __future__ import annotations

import base64
import hashlib
import hmac

import pytest

from controller.cognito_idp import schema, user_filter
from controller.cognito_idp.auth import flow_allowed
from controller.cognito_idp.passwords import (
    DEFAULT_POLICY,
    check_password,
    hash_password,
    mask,
    policy_problem,
    secret_hash,
    temporary_password,
)
from controller.cognito_idp.tokens import id_attributes, role_claims


@pytest.mark.parametrize(("password", "problem"), [
    ("Ab1!", "Password not long enough"),
    ("ABCDEFG1!", "Password must have lowercase characters"),
    ("abcdefg1!", "Password must have uppercase characters"),
    ("Abcdefgh!", "Password must have numeric characters"),
    ("Abcdefgh1", "Password must have symbol characters"),
    ("Abcdefg1!", None),
])
def test_default_policy_names_the_first_missing_class(password: str, problem: str | None) -> None:
    got = policy_problem(DEFAULT_POLICY, password)
    assert got == (None if problem is None else f"Password did not conform with policy: {problem}")


def test_relaxed_policy() -> None:
    policy = {"MinimumLength": 6, "RequireUppercase": False, "RequireLowercase": True,
              "RequireNumbers": False, "RequireSymbols": False}
    assert policy_problem(policy, "abcdef") is None
    assert policy_problem(policy, "abcde") == "Password did not conform with policy: Password not long enough"


def test_password_hash_round_trip_and_salted() -> None:
    first, second = hash_password("Passw0rd!"), hash_password("Passw0rd!")
    assert first != second
    assert check_password(first, "Passw0rd!") and not check_password(first, "Passw0rd?")
    assert not check_password(None, "Passw0rd!")


def test_secret_hash_is_hmac_of_username_and_client_id() -> None:
    expected = base64.b64encode(hmac.new(b"s3cret", b"aliceclient1", hashlib.sha256).digest()).decode()
    assert secret_hash("s3cret", "alice", "client1") == expected


def test_temporary_password_meets_the_policy() -> None:
    for _ in range(20):
        assert policy_problem(DEFAULT_POLICY, temporary_password(DEFAULT_POLICY)) is None


def test_mask() -> None:
    assert mask("alice@example.com") == "a***@e***"
    assert mask("+15551234567") == "+*******4567"


def _user(**attributes: str) -> dict:
    return {"username": "Alice", "status": "CONFIRMED", "enabled": True, "attributes": attributes}


def test_filter_exact_prefix_and_caseless_username() -> None:
    assert user_filter.parse('username = "alice"').matches(_user())
    assert user_filter.parse('email ^= "ali"').matches(_user(email="alice@x.org"))
    assert not user_filter.parse('email = "ali"').matches(_user(email="alice@x.org"))
    assert user_filter.parse('cognito:user_status = "CONFIRMED"').matches(_user())
    assert user_filter.parse('status = "Enabled"').matches(_user())
    assert not user_filter.parse('given_name = "Bob"').matches(_user())
    assert user_filter.parse('name = "a \\"q\\""').value == 'a "q"'
    assert user_filter.parse("") is None


@pytest.mark.parametrize("text", ['email = alice', 'email == "a"', 'custom:x = "a"', 'email'])
def test_filter_errors(text: str) -> None:
    with pytest.raises(ValueError):
        user_filter.parse(text)


def test_schema_required_custom_and_types() -> None:
    built = schema.build_schema([{"Name": "email", "Required": True, "Mutable": True},
                                 {"Name": "tier", "AttributeDataType": "Number",
                                  "NumberAttributeConstraints": {"MinValue": "1", "MaxValue": "3"}}])
    names = {entry["Name"] for entry in built}
    assert "custom:tier" in names and "email" in names
    schema.check_attributes(built, {"email": "a@b.c", "custom:tier": "2"}, creating=True)
    with pytest.raises(ValueError, match="email: The attribute is required"):
        schema.check_attributes(built, {}, creating=True)
    with pytest.raises(ValueError, match="Number must be at most 3"):
        schema.check_attributes(built, {"email": "a@b.c", "custom:tier": "9"}, creating=True)
    with pytest.raises(ValueError, match="does not exist in the schema"):
        schema.check_attributes(built, {"email": "a@b.c", "custom:nope": "1"}, creating=True)
    with pytest.raises(ValueError, match="already has name"):
        schema.build_schema([{"Name": "tier"}, {"Name": "custom:tier"}])


def test_role_claims_preferred_role_by_precedence_and_ties() -> None:
    groups = [{"name": "b", "precedence": 2, "role_arn": "arn:aws:iam::1:role/B"},
              {"name": "a", "precedence": 1, "role_arn": "arn:aws:iam::1:role/A"},
              {"name": "c", "precedence": None, "role_arn": None}]
    claims = role_claims(groups)
    assert claims == {"cognito:roles": ["arn:aws:iam::1:role/A", "arn:aws:iam::1:role/B"],
                      "cognito:preferred_role": "arn:aws:iam::1:role/A"}
    tie = [{"name": "a", "precedence": 1, "role_arn": "r1"}, {"name": "b", "precedence": 1, "role_arn": "r2"}]
    assert "cognito:preferred_role" not in role_claims(tie)
    assert role_claims([]) == {}


def test_id_attributes_make_verified_flags_booleans() -> None:
    assert id_attributes({"sub": "x", "email": "a@b.c", "email_verified": "true"}) == \
        {"email": "a@b.c", "email_verified": True}


def test_flow_allowed() -> None:
    assert flow_allowed({"ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]}, "USER_PASSWORD_AUTH")
    assert not flow_allowed({"ExplicitAuthFlows": ["ALLOW_USER_PASSWORD_AUTH"]}, "REFRESH_TOKEN_AUTH")
    assert flow_allowed({"ExplicitAuthFlows": ["ADMIN_NO_SRP_AUTH"]}, "REFRESH_TOKEN_AUTH")  # legacy client
    assert flow_allowed({"ExplicitAuthFlows": ["ADMIN_NO_SRP_AUTH"]}, "ADMIN_USER_PASSWORD_AUTH")
    assert not flow_allowed({"ExplicitAuthFlows": []}, "USER_PASSWORD_AUTH")
