"""Console passwords over HTTP: login profiles and the password policy with boto3, and console sign-ins.

The web console signs users in inside the controller (``controller/iam/console_signin.py``); here the test
plays the console, opening the running cloud's data directory as ``cloudlet account create`` does, and
then signs real calls to the running server with the keys the sign-in returned: with boto3 and with the
stock AWS CLI.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from controller.cloud import Cloud
from controller.config import Config
from controller.iam.console_signin import ConsoleSession, SignInRefused, sign_in, sign_out
from controller.workers import paths as worker_paths
from tests.e2e.helpers import Cleanup, denied
from tests.support import REPO, CloudletProcess, Credentials

PASSWORD = "Correct-Horse-9"


@pytest.fixture
def console(cloudlet: CloudletProcess) -> Iterator[Cloud]:
    """The cloud as the console sees it: the same data directory, and the same bus when it has workers."""
    cloud = Cloud(Config.load(cloudlet.data_dir), primary=False)
    bus = worker_paths.bus(cloudlet.data_dir)
    if bus.is_dir():  # a revoked key then stops working in every process of the server at once
        cloud.db.join_bus(bus, name=f"console-test-{os.getpid()}")
    yield cloud
    cloud.close()


@pytest.fixture
def password_policy(iam: Any) -> Iterator[None]:
    """The account's password policy is the whole cloud's: whatever a test sets goes after it."""
    yield
    with contextlib.suppress(iam.exceptions.NoSuchEntityException):
        iam.delete_account_password_policy()


def session_credentials(session: ConsoleSession) -> Credentials:
    return Credentials(session.access_key_id, session.secret_access_key, session.session_token)


def test_login_profiles_and_the_password_policy(cloudlet: CloudletProcess, iam: Any, unique: str, cleanup: Cleanup,
                                                password_policy: None) -> None:
    name = f"{unique}-alice"
    cleanup.users.append(name)
    iam.create_user(UserName=name)
    assert denied(iam.create_login_profile, UserName=name, Password="weak") == (
        "PasswordPolicyViolation", 400, "Password does not conform to the account password policy.")
    created = iam.create_login_profile(UserName=name, Password=PASSWORD, PasswordResetRequired=True)["LoginProfile"]
    assert iam.get_login_profile(UserName=name)["LoginProfile"] == created
    assert denied(iam.create_login_profile, UserName=name, Password=PASSWORD)[:2] == ("EntityAlreadyExists", 409)
    assert denied(iam.delete_user, UserName=name) == (
        "DeleteConflict", 409, "Cannot delete entity, must delete login profile first.")

    assert denied(iam.get_account_password_policy)[:2] == ("NoSuchEntity", 404)
    iam.update_account_password_policy(MinimumPasswordLength=16, RequireNumbers=True, MaxPasswordAge=90)
    policy = iam.get_account_password_policy()["PasswordPolicy"]
    assert policy["MinimumPasswordLength"] == 16 and policy["ExpirePasswords"] and policy["RequireNumbers"]
    assert denied(iam.update_login_profile, UserName=name, Password=PASSWORD) == (
        "PasswordPolicyViolation", 400, "Password should have a minimum length of 16")
    unchecked = cloudlet.client("iam", parameter_validation=False)  # the server's own range check
    assert denied(unchecked.update_account_password_policy, MinimumPasswordLength=5)[:2] == ("ValidationError", 400)
    iam.update_login_profile(UserName=name, Password="a-much-longer-passphrase-1", PasswordResetRequired=False)
    iam.delete_login_profile(UserName=name)
    assert denied(iam.get_login_profile, UserName=name)[0] == "NoSuchEntity"


def test_console_keys_sign_calls_as_the_user(cloudlet: CloudletProcess, iam: Any, console: Cloud, unique: str,
                                             cleanup: Cleanup) -> None:
    name = f"{unique}-bob"
    cleanup.users.append(name)
    iam.create_user(UserName=name)
    iam.create_login_profile(UserName=name, Password=PASSWORD)
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": ["iam:GetUser",
                                                                                      "iam:ChangePassword"],
                                                        "Resource": "*"}]}
    iam.put_user_policy(UserName=name, PolicyName="self", PolicyDocument=json.dumps(document))
    with pytest.raises(SignInRefused):
        sign_in(console, account=cloudlet.account_id, user_name=name, password="wrong")
    session = sign_in(console, account=cloudlet.account_id, user_name=name, password=PASSWORD,
                      source_ip="127.0.0.1")

    as_user = session_credentials(session)
    assert cloudlet.client("sts", as_user).get_caller_identity()["Arn"] == session.principal_arn
    me = cloudlet.client("iam", as_user).get_user()["User"]
    assert me["UserName"] == name and "PasswordLastUsed" in me
    assert denied(cloudlet.client("iam", as_user).list_users)[0] == "AccessDenied"
    cloudlet.client("iam", as_user).change_password(OldPassword=PASSWORD, NewPassword="Second-Horse-10")

    env = {**cloudlet.cli_env(), "AWS_ACCESS_KEY_ID": session.access_key_id,
           "AWS_SECRET_ACCESS_KEY": session.secret_access_key, "AWS_SESSION_TOKEN": session.session_token}
    aws = Path(sys.executable).parent / "aws"
    out = subprocess.run([str(aws), "iam", "get-user", "--output", "json"], env=env, capture_output=True, text=True,
                         check=True, timeout=120).stdout
    assert json.loads(out)["User"]["Arn"] == session.principal_arn

    sign_out(console, session)
    assert denied(cloudlet.client("sts", as_user).get_caller_identity)[0] == "InvalidClientTokenId"


def test_the_root_password_set_with_the_cli_signs_the_root_user_in(cloudlet: CloudletProcess,
                                                                    console: Cloud) -> None:
    done = subprocess.run([sys.executable, "-m", "controller.cli", "account", "root-password", "--generate",
                           "--data-dir", str(cloudlet.data_dir)], cwd=REPO, capture_output=True, text=True,
                          timeout=60, check=True)
    password = done.stdout.splitlines()[-1].strip()
    session = sign_in(console, account=cloudlet.account_id, user_name="root", password=password)
    root = cloudlet.client("iam", session_credentials(session)).get_user()["User"]
    assert root["Arn"] == f"arn:aws:iam::{cloudlet.account_id}:root" and "PasswordLastUsed" in root
    sign_out(console, session)
