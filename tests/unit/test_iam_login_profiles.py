"""Login profiles, the account password policy and ChangePassword, as plain calls on a real cloud.

Errors are checked by code and by AWS's wording; passwords are checked to be stored only as scrypt hashes.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import pytest
from sqlalchemy import select

from controller.api import Principal
from controller.auth import passwords
from controller.iam import password_policy, state
from tests.unit.harness import Clouds, IamCloud

GOOD = "Correct-Horse-9"


@pytest.fixture
def iam(clouds: Clouds) -> IamCloud:
    return clouds.iam()


def user(iam: IamCloud, name: str, password: str | None = GOOD, **profile: Any) -> Principal:
    """A user (with a password unless ``password`` is None), and the principal its long-term key signs as."""
    row = iam.call("CreateUser", {"UserName": name})["User"]
    if password is not None:
        iam.call("CreateLoginProfile", {"UserName": name, "Password": password, **profile})
    return Principal(account_id=iam.account, arn=row["Arn"], kind="user", user_id=row["UserId"], name=name,
                     access_key_id="AKIAEXAMPLEEXAMPLE01")


def allow(iam: IamCloud, name: str, action: str) -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}
    iam.call("PutUserPolicy", {"UserName": name, "PolicyName": "p", "PolicyDocument": json.dumps(document)})


# -- login profiles ---------------------------------------------------------------------------------
def test_a_login_profile_is_created_read_updated_and_deleted(iam: IamCloud) -> None:
    iam.call("CreateUser", {"UserName": "alice"})
    created = iam.call("CreateLoginProfile", {"UserName": "alice", "Password": GOOD,
                                              "PasswordResetRequired": True})["LoginProfile"]
    assert created["UserName"] == "alice" and created["PasswordResetRequired"] is True
    assert isinstance(created["CreateDate"], dt.datetime)
    profile = iam.call("GetLoginProfile", {"UserName": "alice"})["LoginProfile"]
    assert profile == created

    iam.call("UpdateLoginProfile", {"UserName": "alice", "PasswordResetRequired": False})
    assert iam.call("GetLoginProfile", {"UserName": "alice"})["LoginProfile"]["PasswordResetRequired"] is False

    iam.call("DeleteLoginProfile", {"UserName": "alice"})
    error = iam.refused("GetLoginProfile", {"UserName": "alice"}, "NoSuchEntity")
    assert error.message == "Login Profile for User alice cannot be found."
    assert error.status == 404
    iam.refused("DeleteLoginProfile", {"UserName": "alice"}, "NoSuchEntity")
    iam.refused("UpdateLoginProfile", {"UserName": "alice", "Password": GOOD}, "NoSuchEntity")
    iam.call("CreateLoginProfile", {"UserName": "alice", "Password": GOOD})  # a deleted profile can come back


def test_a_second_profile_and_unknown_users_are_refused(iam: IamCloud) -> None:
    user(iam, "bob")
    error = iam.refused("CreateLoginProfile", {"UserName": "bob", "Password": GOOD}, "EntityAlreadyExists")
    assert error.message == "Login Profile for user bob already exists." and error.status == 409
    error = iam.refused("CreateLoginProfile", {"UserName": "nobody", "Password": GOOD}, "NoSuchEntity")
    assert error.message == "The user with name nobody cannot be found."
    iam.refused("GetLoginProfile", {}, "ValidationError")  # the root user names no user


def test_the_password_is_stored_only_as_a_salted_scrypt_hash(iam: IamCloud) -> None:
    user(iam, "carol")
    user(iam, "dave")
    with iam.db.read() as conn:
        hashes = list(conn.execute(select(state.login_profiles.c.password_hash)).scalars())
    assert len(set(hashes)) == 2 and all(h.startswith("scrypt$16384$8$1$") and GOOD not in h for h in hashes)
    assert passwords.verify(GOOD, hashes[0]) and not passwords.verify(GOOD + "x", hashes[0])
    assert not passwords.verify(GOOD, None) and not passwords.verify(GOOD, "md5$nonsense")


def test_delete_user_refuses_while_a_login_profile_exists(iam: IamCloud) -> None:
    user(iam, "erin")
    error = iam.refused("DeleteUser", {"UserName": "erin"}, "DeleteConflict")
    assert error.message == "Cannot delete entity, must delete login profile first." and error.status == 409
    iam.call("DeleteLoginProfile", {"UserName": "erin"})
    iam.call("DeleteUser", {"UserName": "erin"})
    iam.refused("GetUser", {"UserName": "erin"}, "NoSuchEntity")


# -- the password policy ----------------------------------------------------------------------------
def test_without_a_policy_aws_default_rules_apply(iam: IamCloud) -> None:
    iam.call("CreateUser", {"UserName": "frank"})
    for weak in ("short1A", "alllowercase1", "owner@example.com", "Owner"):
        error = iam.refused("CreateLoginProfile", {"UserName": "frank", "Password": weak}, "PasswordPolicyViolation")
        assert error.message == password_policy.DEFAULT_POLICY_MESSAGE and error.status == 400
    error = iam.refused("GetAccountPasswordPolicy", {}, "NoSuchEntity")
    assert error.message == f"The Password Policy with domain name {iam.account} cannot be found."
    error = iam.refused("DeleteAccountPasswordPolicy", {}, "NoSuchEntity")
    assert error.message == "The account policy with name PasswordPolicy cannot be found."


def test_the_policy_is_replaced_whole_with_defaults_for_what_is_omitted(iam: IamCloud) -> None:
    iam.call("UpdateAccountPasswordPolicy", {"MinimumPasswordLength": 12, "RequireSymbols": True,
                                             "MaxPasswordAge": 90, "PasswordReusePrevention": 3, "HardExpiry": True})
    policy = iam.call("GetAccountPasswordPolicy")["PasswordPolicy"]
    assert policy == {"MinimumPasswordLength": 12, "RequireSymbols": True, "RequireNumbers": False,
                      "RequireUppercaseCharacters": False, "RequireLowercaseCharacters": False,
                      "AllowUsersToChangePassword": False, "ExpirePasswords": True, "MaxPasswordAge": 90,
                      "PasswordReusePrevention": 3, "HardExpiry": True}
    iam.call("UpdateAccountPasswordPolicy", {"RequireNumbers": True})
    policy = iam.call("GetAccountPasswordPolicy")["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 6 and policy["ExpirePasswords"] is False
    assert "MaxPasswordAge" not in policy and "HardExpiry" not in policy
    iam.call("DeleteAccountPasswordPolicy")
    iam.refused("GetAccountPasswordPolicy", {}, "NoSuchEntity")


@pytest.mark.parametrize(("member", "value", "bound"), [("MinimumPasswordLength", 5, "greater than or equal to 6"),
                                                         ("MinimumPasswordLength", 129, "less than or equal to 128"),
                                                         ("MaxPasswordAge", 1096, "less than or equal to 1095"),
                                                         ("PasswordReusePrevention", 0, "greater than or equal to 1"),
                                                         ("PasswordReusePrevention", 25, "less than or equal to 24")])
def test_out_of_range_policy_values_are_refused(iam: IamCloud, member: str, value: int, bound: str) -> None:
    error = iam.refused("UpdateAccountPasswordPolicy", {member: value}, "ValidationError")
    assert bound in error.message and member[1:] in error.message
    iam.refused("GetAccountPasswordPolicy", {}, "NoSuchEntity")  # nothing was stored


@pytest.mark.parametrize(("policy", "password", "message"), [
    ({"MinimumPasswordLength": 14}, "Short-pass-1", "Password should have a minimum length of 14"),
    ({"RequireUppercaseCharacters": True}, "lower-only-1", "Password should have at least one uppercase letter"),
    ({"RequireLowercaseCharacters": True}, "UPPER-ONLY-1", "Password should have at least one lowercase letter"),
    ({"RequireNumbers": True}, "No-Numbers-Here", "Password should have at least one number"),
    ({"RequireSymbols": True}, "NoSymbols123", "Password should have at least one symbol"),
])
def test_a_custom_policy_is_enforced_in_awss_words(iam: IamCloud, policy: dict[str, Any], password: str,
                                                    message: str) -> None:
    iam.call("UpdateAccountPasswordPolicy", policy)
    iam.call("CreateUser", {"UserName": "gina"})
    error = iam.refused("CreateLoginProfile", {"UserName": "gina", "Password": password}, "PasswordPolicyViolation")
    assert error.message == message
    iam.call("CreateLoginProfile", {"UserName": "gina", "Password": "Long-Enough-Pass-1!"})
    error = iam.refused("UpdateLoginProfile", {"UserName": "gina", "Password": password}, "PasswordPolicyViolation")
    assert error.message == message


def test_a_custom_policy_may_be_weaker_than_the_default(iam: IamCloud) -> None:
    iam.call("UpdateAccountPasswordPolicy", {})
    user(iam, "hank", password="simple")


def test_expiry_counts_days_from_when_the_password_was_set() -> None:
    set_at = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    policy = {"MaxPasswordAge": 30}
    assert not password_policy.expired(policy, set_at, set_at + dt.timedelta(days=29, hours=23))
    assert password_policy.expired(policy, set_at, set_at + dt.timedelta(days=30))
    assert not password_policy.expired(None, set_at, set_at + dt.timedelta(days=3000))


# -- ChangePassword ---------------------------------------------------------------------------------
def test_change_password_needs_permission_unless_the_policy_grants_it(iam: IamCloud) -> None:
    ivan = user(iam, "ivan")
    change = {"OldPassword": GOOD, "NewPassword": "Another-Pass-2"}
    iam.refused("ChangePassword", change, "AccessDenied", principal=ivan)
    iam.refused("GetAccountPasswordPolicy", {}, "AccessDenied", principal=ivan)
    iam.call("UpdateAccountPasswordPolicy", {"AllowUsersToChangePassword": True})
    assert iam.call("GetAccountPasswordPolicy", principal=ivan)["PasswordPolicy"]["AllowUsersToChangePassword"]
    session_token_keys = dataclasses.replace(ivan, access_key_id="ASIAEXAMPLEEXAMPLE01")  # GetSessionToken's
    iam.refused("ChangePassword", change, "InvalidClientTokenId", principal=session_token_keys)
    iam.call("ChangePassword", change, principal=ivan)
    with iam.db.read() as conn:
        stored = conn.execute(select(state.login_profiles.c.password_hash)).scalar()
    assert passwords.verify("Another-Pass-2", stored)


def test_change_password_with_an_identity_policy_or_a_required_reset(iam: IamCloud) -> None:
    judy = user(iam, "judy")
    allow(iam, "judy", "iam:ChangePassword")
    iam.call("ChangePassword", {"OldPassword": GOOD, "NewPassword": "Second-Pass-2"}, principal=judy)
    kate = user(iam, "kate", PasswordResetRequired=True)
    iam.call("ChangePassword", {"OldPassword": GOOD, "NewPassword": "Second-Pass-2"}, principal=kate)
    assert iam.call("GetLoginProfile", {"UserName": "kate"})["LoginProfile"]["PasswordResetRequired"] is False


def test_change_password_refusals(iam: IamCloud) -> None:
    iam.call("UpdateAccountPasswordPolicy", {"AllowUsersToChangePassword": True, "PasswordReusePrevention": 2,
                                             "MinimumPasswordLength": 8})
    leo = user(iam, "leo")
    error = iam.refused("ChangePassword", {"OldPassword": GOOD, "NewPassword": "x"}, "InvalidUserType")
    assert error.message == "Only IAM Users can change their own password."
    role = Principal(account_id=iam.account, arn=f"arn:aws:sts::{iam.account}:assumed-role/r/s",
                     kind="assumed-role", user_id="AROAEXAMPLE:s", name="r")
    iam.refused("ChangePassword", {"OldPassword": GOOD, "NewPassword": "x"}, "InvalidUserType", principal=role)
    iam.refused("ChangePassword", {"OldPassword": "wrong-one", "NewPassword": "Fresh-Pass-3"}, "AccessDenied",
                principal=leo)
    error = iam.refused("ChangePassword", {"OldPassword": GOOD, "NewPassword": "short"},
                        "PasswordPolicyViolation", principal=leo)
    assert error.message == "Password should have a minimum length of 8"
    error = iam.refused("ChangePassword", {"OldPassword": GOOD, "NewPassword": GOOD}, "PasswordPolicyViolation",
                        principal=leo)
    assert "reuse prevention" in error.message
    iam.call("ChangePassword", {"OldPassword": GOOD, "NewPassword": "Second-Pass-2"}, principal=leo)
    iam.refused("ChangePassword", {"OldPassword": "Second-Pass-2", "NewPassword": GOOD}, "PasswordPolicyViolation",
                principal=leo)  # still among the last two
    iam.call("ChangePassword", {"OldPassword": "Second-Pass-2", "NewPassword": "Third-Pass-3"}, principal=leo)
    iam.call("ChangePassword", {"OldPassword": "Third-Pass-3", "NewPassword": GOOD}, principal=leo)
    mona = user(iam, "mona", password=None)
    error = iam.refused("ChangePassword", {"OldPassword": GOOD, "NewPassword": "Fresh-Pass-3"}, "NoSuchEntity",
                        principal=mona)
    assert error.message == "Login Profile for User mona cannot be found."
