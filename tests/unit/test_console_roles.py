"""Switching role in the console, in-process (Flask's test client, an IAM user's session): the switch as
the user through STS, the header, the history, going back, the role session's end, and STS's refusals.
The browser test (tests/console/test_console_switch_role.py) drives the same through the pages."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from flask.testing import FlaskClient

from controller import service_calls
from controller.api import Principal
from controller.auth.store import root_principal
from controller.cloud import Cloud
from controller.console import role_switch, state
from controller.console.sessions import COOKIE
from controller.console.state import ActiveRole, RoleChoice
from controller.iam.console_signin import ConsoleSession
from controller.sts.limits import new_session_token
from controller.wsgi import create_app
from tests.unit import test_console

cloud = test_console.cloud  # the same fixture: a cloud with its management account

#: A policy that lets the user ask for any role (the trust policy still decides).
MAY_ASSUME = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                       "Resource": "*"}]}


def iam(cloud: Cloud, operation: str, params: dict[str, Any]) -> dict[str, Any]:
    """A call as the management account's root user, outside the console."""
    return service_calls.call(cloud, root_principal(account_of(cloud)), "iam", operation, params,
                              invoked_by="test")


def account_of(cloud: Cloud) -> str:
    account = cloud.credentials.management_account()
    assert account is not None
    return account


def make_role(cloud: Cloud, name: str, *, trusted: str | None = None, mfa: bool = False) -> None:
    """A role trusting the account (or only ``trusted``), allowed to list S3 buckets (which alice is not)."""
    statement: dict[str, Any] = {"Effect": "Allow", "Action": "sts:AssumeRole",
                                 "Principal": {"AWS": trusted or f"arn:aws:iam::{account_of(cloud)}:root"}}
    if mfa:
        statement["Condition"] = {"Bool": {"aws:MultiFactorAuthPresent": "true"}}
    iam(cloud, "CreateRole", {"RoleName": name, "AssumeRolePolicyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": [statement]})})
    iam(cloud, "PutRolePolicy", {"RoleName": name, "PolicyName": "list", "PolicyDocument": json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:ListAllMyBuckets",
                                                 "Resource": "*"}]})})


def signed_in_user(cloud: Cloud, *, lasting: dt.timedelta = dt.timedelta(hours=12),
                   mfa: bool = False) -> ConsoleSession:
    """What sign-in answers for alice, an IAM user allowed sts:AssumeRole (with MFA when ``mfa``)."""
    user = iam(cloud, "CreateUser", {"UserName": "alice"})["User"]
    iam(cloud, "PutUserPolicy", {"UserName": "alice", "PolicyName": "assume", "PolicyDocument": json.dumps(MAY_ASSUME)})
    principal = Principal(account_id=user["Arn"].split(":")[4], arn=user["Arn"], kind="user",
                          user_id=user["UserId"], name="alice")
    now = dt.datetime.now(dt.UTC)
    expiration = now.replace(microsecond=0) + lasting
    token = new_session_token()
    key_id, secret = cloud.credentials.create_key(
        principal, prefix="ASIA", expires_at=expiration, session_token=token,
        session={"console": True, "mfa_authenticated_at": now.isoformat() if mfa else None})
    return ConsoleSession(account_id=principal.account_id, principal_arn=principal.arn, user_name="alice",
                          access_key_id=key_id, secret_access_key=secret, session_token=token,
                          expiration=expiration, password_reset_required=False, mfa_authenticated=mfa)


def console_of(cloud: Cloud, signed_in: ConsoleSession) -> tuple[FlaskClient, str, str]:
    """A test client with the session's cookie, its CSRF token, and the cookie's token."""
    token = state.create(cloud.db, cloud.secrets, signed_in)
    found = state.find(cloud.db, cloud.secrets, token)
    assert found is not None
    client = create_app(cloud).test_client()
    client.set_cookie(COOKIE, token, path="/console")
    return client, found.csrf_token, token


def session(cloud: Cloud, token: str) -> state.StoredSession:
    found = state.find(cloud.db, cloud.secrets, token)
    assert found is not None
    return found


def switch(client: FlaskClient, csrf: str, cloud: Cloud, role: str, **form: str) -> Any:
    return client.post("/console/switchrole", data={"_csrf": csrf, "account": account_of(cloud),
                                                    "role_name": role, **form})


def test_the_session_acts_as_the_role_and_goes_back_to_the_user(cloud: Cloud) -> None:
    make_role(cloud, "Reader")
    client, csrf, token = console_of(cloud, signed_in_user(cloud, lasting=dt.timedelta(minutes=30)))
    assert client.get("/console/s3").status_code == 403  # alice may not list buckets
    switched = switch(client, csrf, cloud, "Reader", display_name="Prod reader", colour="red")
    assert switched.status_code == 303
    role = session(cloud, token).role
    assert role is not None and role.principal_arn.endswith(":assumed-role/Reader/alice")  # named after her
    assert role.expiration <= session(cloud, token).signed_in.expiration  # not past the console session
    page = client.get("/console/s3")
    assert page.status_code == 200  # as the role
    text = page.get_data(as_text=True)
    assert "Prod reader" in text and f"Reader @ {account_of(cloud)} (via alice)" in text and "role-red" in text
    assert client.post("/console/switchrole/back", data={"_csrf": csrf}).status_code == 303
    assert session(cloud, token).role is None
    assert cloud.credentials.resolve(role.access_key_id) is None  # the role session is retired
    assert client.get("/console/s3").status_code == 403
    assert [choice.display_name for choice in session(cloud, token).history] == ["Prod reader"]


def test_sts_refusals_are_shown_with_aws_words(cloud: Cloud) -> None:
    make_role(cloud, "Strangers", trusted="arn:aws:iam::123456789012:root")
    client, csrf, token = console_of(cloud, signed_in_user(cloud))
    refused = switch(client, csrf, cloud, "Strangers")
    assert refused.status_code == 403
    assert "AccessDenied" in refused.get_data(as_text=True)
    assert "is not authorized to perform: sts:AssumeRole" in refused.get_data(as_text=True)
    assert switch(client, csrf, cloud, "NoSuchRole").status_code == 403
    unknown = client.post("/console/switchrole", data={"_csrf": csrf, "account": "no-such-alias",
                                                       "role_name": "Strangers"})
    assert unknown.status_code == 400 and role_switch.INVALID in unknown.get_data(as_text=True)
    assert switch(client, "forged", cloud, "Strangers").status_code == 403
    assert session(cloud, token).role is None


@pytest.mark.parametrize("mfa", [False, True])
def test_the_sessions_mfa_carries_into_the_switch(cloud: Cloud, mfa: bool) -> None:
    make_role(cloud, "NeedsMfa", mfa=True)
    client, csrf, token = console_of(cloud, signed_in_user(cloud, mfa=mfa))
    assert switch(client, csrf, cloud, "NeedsMfa").status_code == (303 if mfa else 403)
    assert (session(cloud, token).role is not None) is mfa


def test_an_ended_role_session_returns_to_the_user_and_refuses_what_was_meant_for_the_role(cloud: Cloud) -> None:
    make_role(cloud, "Reader")
    client, csrf, token = console_of(cloud, signed_in_user(cloud))
    assert switch(client, csrf, cloud, "Reader").status_code == 303
    role = session(cloud, token).role
    assert role is not None
    cloud.credentials.delete_key(role.access_key_id)  # as when it expires
    refused = client.post("/console/s3/some-bucket/policy", data={"_csrf": csrf, "policy": "{}"})
    assert refused.status_code == 403 and "nothing was done" in refused.get_data(as_text=True)
    assert session(cloud, token).role is None
    assert switch(client, csrf, cloud, "Reader").status_code == 303
    again = session(cloud, token).role
    assert again is not None
    cloud.credentials.delete_key(again.access_key_id)
    page = client.get("/console/")
    assert page.status_code == 200 and "Your session as Reader @" in page.get_data(as_text=True)
    assert "(via alice)" not in page.get_data(as_text=True)


def test_sign_out_retires_the_role_session_too(cloud: Cloud) -> None:
    make_role(cloud, "Reader")
    client, csrf, token = console_of(cloud, signed_in_user(cloud))
    assert switch(client, csrf, cloud, "Reader").status_code == 303
    role = session(cloud, token).role
    assert role is not None
    assert client.post("/console/signout", data={"_csrf": csrf}).status_code == 303
    assert cloud.credentials.resolve(role.access_key_id) is None
    with cloud.db.read() as conn:
        assert conn.execute(state.console_roles.select()).first() is None


def test_the_history_keeps_the_last_five_roles_once_each(cloud: Cloud) -> None:
    token = state.create(cloud.db, cloud.secrets, test_console.signed_in(cloud))
    token_hash = state.hash_token(token)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    for name in ("A", "B", "C", "D", "E", "F", "C"):
        choice = RoleChoice(account_id="123456789012", role_name=name, display_name=name, colour="")
        state.enter_role(cloud.db, cloud.secrets, token_hash, ActiveRole(
            choice=choice, principal_arn="arn", access_key_id=f"ASIA{name}", secret_access_key="s",
            session_token="t", expiration=later))
    found = session(cloud, token)
    assert [choice.role_name for choice in found.history] == ["C", "F", "E", "D", "B"]
    assert found.role is not None and found.role.choice.role_name == "C"
    state.leave_role(cloud.db, token_hash)
    assert session(cloud, token).role is None and len(session(cloud, token).history) == state.HISTORY_LENGTH


def test_a_console_session_about_to_end_cannot_switch(cloud: Cloud) -> None:
    make_role(cloud, "Reader")
    client, csrf, _ = console_of(cloud, signed_in_user(cloud, lasting=dt.timedelta(minutes=10)))
    refused = switch(client, csrf, cloud, "Reader")
    assert refused.status_code == 400 and "Sign in again" in refused.get_data(as_text=True)
