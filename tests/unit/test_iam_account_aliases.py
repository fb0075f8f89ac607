"""Account aliases (controller/iam/account_aliases.py) and the console's sign-in by alias.

AWS's rules: one alias per account (CreateAccountAlias replaces it), unique across accounts
(EntityAlreadyExists), the model's name pattern, NoSuchEntity for an alias the account does not have,
and ListAccountAliases' IsTruncated/Marker paging.
"""

from __future__ import annotations

import pytest

from controller.iam.console_signin import SignInRefused, sign_in
from tests.unit.harness import Clouds, IamCloud

PASSWORD = "Correct-Horse-9"


@pytest.fixture
def iam(clouds: Clouds) -> IamCloud:
    return clouds.iam()


def aliases(iam: IamCloud, account: str | None = None) -> list[str]:
    return iam.call("ListAccountAliases", {}, account=account)["AccountAliases"]


def test_one_alias_per_account_replaced_by_the_next(iam: IamCloud) -> None:
    assert iam.call("ListAccountAliases") == {"AccountAliases": [], "IsTruncated": False}
    iam.call("CreateAccountAlias", {"AccountAlias": "acme-prod"})
    iam.call("CreateAccountAlias", {"AccountAlias": "acme-prod"})  # the same again changes nothing
    assert aliases(iam) == ["acme-prod"]
    iam.call("CreateAccountAlias", {"AccountAlias": "acme-main"})
    page = iam.call("ListAccountAliases", {"MaxItems": 1})
    assert page == {"AccountAliases": ["acme-main"], "IsTruncated": False}


def test_an_alias_belongs_to_one_account(iam: IamCloud) -> None:
    other = iam.cloud.credentials.create_account("other", "other@example.com")
    iam.call("CreateAccountAlias", {"AccountAlias": "shared-name"})
    error = iam.refused("CreateAccountAlias", {"AccountAlias": "shared-name"}, "EntityAlreadyExists",
                        account=other)
    assert error.status == 409 and error.message == "The account alias shared-name already exists."
    assert aliases(iam, other) == []
    iam.call("DeleteAccountAlias", {"AccountAlias": "shared-name"})
    iam.call("CreateAccountAlias", {"AccountAlias": "shared-name"}, account=other)  # free once deleted
    assert aliases(iam, other) == ["shared-name"] and aliases(iam) == []


@pytest.mark.parametrize("alias", ["ab", "Acme", "-acme", "acme-", "ac--me", "acme_prod", "a" * 64, "123456789012"])
def test_malformed_aliases_are_refused(iam: IamCloud, alias: str) -> None:
    iam.refused("CreateAccountAlias", {"AccountAlias": alias}, "ValidationError")
    assert aliases(iam) == []


def test_deleting_an_alias_the_account_lacks(iam: IamCloud) -> None:
    error = iam.refused("DeleteAccountAlias", {"AccountAlias": "nothing-here"}, "NoSuchEntity")
    assert error.status == 404 and error.message == "The account alias nothing-here cannot be found."
    iam.call("CreateAccountAlias", {"AccountAlias": "mine-now"})
    iam.refused("DeleteAccountAlias", {"AccountAlias": "not-mine"}, "NoSuchEntity")
    assert aliases(iam) == ["mine-now"]


def test_the_console_signs_in_by_alias_or_id(iam: IamCloud) -> None:
    iam.call("CreateUser", {"UserName": "alice"})
    iam.call("CreateLoginProfile", {"UserName": "alice", "Password": PASSWORD})
    iam.call("CreateAccountAlias", {"AccountAlias": "acme-prod"})
    by_alias = sign_in(iam.cloud, account="acme-prod", user_name="alice", password=PASSWORD)
    by_id = sign_in(iam.cloud, account=iam.account, user_name="alice", password=PASSWORD)
    assert by_alias.account_id == by_id.account_id == iam.account
    assert by_alias.principal_arn == f"arn:aws:iam::{iam.account}:user/alice"
    with pytest.raises(SignInRefused):
        sign_in(iam.cloud, account="acme-other", user_name="alice", password=PASSWORD)
    iam.call("DeleteAccountAlias", {"AccountAlias": "acme-prod"})
    with pytest.raises(SignInRefused):
        sign_in(iam.cloud, account="acme-prod", user_name="alice", password=PASSWORD)
