"""The console's sign-in (controller/iam/console_signin.py) on a real cloud, and its keys on a real server.

Sign-ins happen at chosen moments where MFA codes or password ages matter; the credentials they return
are used with boto3 against the cloud's own WSGI app served on a local port, as the console will use them.
"""

from __future__ import annotations

import datetime as dt
import io
import json
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config as BotoConfig
from botocore.exceptions import ClientError
from sqlalchemy import select, update

from controller import cli
from controller.audit.trail import events
from controller.iam import console_signin, mfa_codes, state
from controller.iam.console_signin import ConsoleSession, SignInRefused, sign_in, sign_out
from controller.server import HttpServer
from controller.state import utcnow
from controller.wsgi import create_app
from tests.unit.harness import Clouds, IamCloud

PASSWORD = "Correct-Horse-9"


@pytest.fixture
def iam(clouds: Clouds) -> IamCloud:
    made = clouds.iam()
    made.call("CreateUser", {"UserName": "alice", "Path": "/staff/"})
    made.call("CreateLoginProfile", {"UserName": "alice", "Password": PASSWORD})
    return made


@pytest.fixture
def endpoint(iam: IamCloud) -> Iterator[str]:
    server = HttpServer(create_app(iam.cloud), "127.0.0.1", 0, 4)
    server.start()
    yield f"http://127.0.0.1:{server.port}"
    server.stop()


def client(iam: IamCloud, endpoint: str, service: str, session: ConsoleSession) -> Any:
    return boto3.client(service, endpoint_url=endpoint, region_name=iam.config.region,
                        aws_access_key_id=session.access_key_id, aws_secret_access_key=session.secret_access_key,
                        aws_session_token=session.session_token, config=BotoConfig(retries={"max_attempts": 1}))


def refusal(iam: IamCloud, **attempt: Any) -> SignInRefused:
    with pytest.raises(SignInRefused) as excinfo:
        sign_in(iam.cloud, **{"account": iam.account, "user_name": "alice", "password": PASSWORD, **attempt})
    return excinfo.value


def console_logins(iam: IamCloud) -> list[dict[str, Any]]:
    iam.cloud.audit.flush()
    with iam.db.read() as conn:
        return [row.document for row in conn.execute(select(events.c.document).where(
            events.c.event_name == "ConsoleLogin").order_by(events.c.event_time))]


def enable_device(iam: IamCloud, user_name: str, at: dt.datetime) -> str:
    """An MFA device enabled for the user with the codes of ``at``'s step and the one before; returns its seed.

    Those steps are spent: the next code the device accepts is the next step's."""
    device = iam.call("CreateVirtualMFADevice", {"VirtualMFADeviceName": user_name})["VirtualMFADevice"]
    seed = device["Base32StringSeed"].decode()
    step = mfa_codes.time_step(at)
    iam.call("EnableMFADevice", {"UserName": user_name, "SerialNumber": device["SerialNumber"],
                                 "AuthenticationCode1": mfa_codes.code_at_step(seed, step - 1),
                                 "AuthenticationCode2": mfa_codes.code_at_step(seed, step)})
    return seed


def test_a_user_signs_in_and_its_keys_sign_calls_as_the_user(iam: IamCloud, endpoint: str) -> None:
    document = {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "iam:GetUser",
                                                        "Resource": "*"}]}
    iam.call("PutUserPolicy", {"UserName": "alice", "PolicyName": "read-self", "PolicyDocument": json.dumps(document)})
    before = utcnow()
    session = sign_in(iam.cloud, account=iam.account, user_name="alice", password=PASSWORD, source_ip="192.0.2.7")
    assert session.principal_arn == f"arn:aws:iam::{iam.account}:user/staff/alice"
    assert session.user_name == "alice" and session.account_id == iam.account
    assert session.access_key_id.startswith("ASIA") and not session.mfa_authenticated
    assert not session.password_reset_required
    assert session.expiration.tzinfo is not None
    assert dt.timedelta(hours=11, minutes=59) < session.expiration - before <= dt.timedelta(hours=12)

    identity = client(iam, endpoint, "sts", session).get_caller_identity()
    assert identity["Arn"] == session.principal_arn and identity["Account"] == iam.account
    me = client(iam, endpoint, "iam", session).get_user()["User"]  # console keys may call IAM without MFA
    assert me["UserName"] == "alice" and me["PasswordLastUsed"] >= before.replace(microsecond=0)
    listed = iam.call("ListUsers")["Users"]
    assert abs(listed[0]["PasswordLastUsed"] - me["PasswordLastUsed"]) < dt.timedelta(milliseconds=1)
    with pytest.raises(ClientError) as excinfo:  # the user's own policies, nothing more
        client(iam, endpoint, "iam", session).list_users()
    assert excinfo.value.response["Error"]["Code"] == "AccessDenied"

    sign_out(iam.cloud, session)
    with pytest.raises(ClientError) as excinfo:
        client(iam, endpoint, "sts", session).get_caller_identity()
    assert excinfo.value.response["Error"]["Code"] == "InvalidClientTokenId"
    sign_out(iam.cloud, session)  # a second sign-out finds nothing to revoke

    [event] = console_logins(iam)
    assert event["eventType"] == "AwsConsoleSignIn" and event["eventSource"] == "signin.amazonaws.com"
    assert event["responseElements"] == {"ConsoleLogin": "Success"}
    assert event["additionalEventData"]["MFAUsed"] == "No" and event["sourceIPAddress"] == "192.0.2.7"
    assert event["userIdentity"]["type"] == "IAMUser" and event["userIdentity"]["userName"] == "alice"


def test_every_wrong_part_gets_the_same_refusal(iam: IamCloud) -> None:
    iam.call("CreateUser", {"UserName": "nopass"})
    attempts = [{"password": PASSWORD + "x"}, {"user_name": "nobody"}, {"user_name": "nopass"},
                {"account": "999999999999"}, {"account": "my-alias"}, {"user_name": "root"}]
    for attempt in attempts:
        refused = refusal(iam, **attempt)
        assert refused.reason == console_signin.REFUSED and not refused.mfa_required, attempt
        assert str(refused) == console_signin.REFUSED
    failures = console_logins(iam)  # none for the accounts that do not exist
    assert [event["responseElements"] for event in failures] == [{"ConsoleLogin": "Failure"}] * 4
    assert {event["errorMessage"] for event in failures} == {"Failed authentication"}
    assert failures[1]["userIdentity"]["userName"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    with pytest.raises(ValueError):
        sign_in(iam.cloud, account=iam.account, user_name="alice", password=PASSWORD, duration_seconds=43201)


def test_mfa_is_asked_for_then_checked_and_present_in_the_session(iam: IamCloud, endpoint: str) -> None:
    now = utcnow()
    seed = enable_device(iam, "alice", now)
    asked = refusal(iam)
    assert asked.mfa_required and asked.reason == console_signin.MFA_NEEDED
    valid = {mfa_codes.code_at_step(seed, mfa_codes.time_step(now) + delta) for delta in (-1, 0, 1, 2)}
    wrong = refusal(iam, mfa_code=next(code for code in ("000000", "111111", "222222") if code not in valid))
    assert wrong.mfa_required and wrong.reason == console_signin.REFUSED
    assert refusal(iam, password="nope", mfa_code="123456").mfa_required is False  # the password comes first

    only_with_mfa = {"Version": "2012-10-17", "Statement": [{
        "Effect": "Allow", "Action": "iam:GetUser", "Resource": "*",
        "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}]}
    iam.call("PutUserPolicy", {"UserName": "alice", "PolicyName": "mfa", "PolicyDocument": json.dumps(only_with_mfa)})
    code = mfa_codes.code_at_step(seed, mfa_codes.time_step(now) + 1)
    session = sign_in(iam.cloud, account=iam.account, user_name="alice", password=PASSWORD, mfa_code=code)
    assert session.mfa_authenticated
    credential = iam.cloud.credentials.resolve(session.access_key_id)
    assert credential is not None and credential.principal.mfa_authenticated_at is not None
    assert refusal(iam, mfa_code=code).mfa_required  # a code signs in once
    assert client(iam, endpoint, "iam", session).get_user()["User"]["Arn"] == session.principal_arn
    assert console_logins(iam)[-2]["additionalEventData"]["MFAUsed"] == "Yes"


def test_a_required_reset_or_an_expired_password_is_reported(iam: IamCloud) -> None:
    iam.call("UpdateLoginProfile", {"UserName": "alice", "PasswordResetRequired": True})
    assert sign_in(iam.cloud, account=iam.account, user_name="alice", password=PASSWORD).password_reset_required
    iam.call("UpdateLoginProfile", {"UserName": "alice", "PasswordResetRequired": False})
    iam.call("UpdateAccountPasswordPolicy", {"MaxPasswordAge": 30})
    assert not sign_in(iam.cloud, account=iam.account, user_name="alice", password=PASSWORD).password_reset_required
    with iam.db.begin() as conn:
        conn.execute(update(state.login_profiles).values(password_set_at=utcnow() - dt.timedelta(days=31)))
    assert sign_in(iam.cloud, account=iam.account, user_name="alice", password=PASSWORD).password_reset_required
    iam.call("UpdateAccountPasswordPolicy", {"MaxPasswordAge": 30, "HardExpiry": True})
    assert refusal(iam).reason == console_signin.EXPIRED


def test_the_root_user_signs_in_once_it_has_a_password(iam: IamCloud, endpoint: str,
                                                       monkeypatch: pytest.MonkeyPatch,
                                                       capsys: pytest.CaptureFixture[str]) -> None:
    assert refusal(iam, user_name="root").reason == console_signin.REFUSED
    data_dir = str(iam.config.data_dir)
    monkeypatch.setattr("sys.stdin", io.StringIO("weak\n"))
    assert cli.main(["account", "root-password", "--data-dir", data_dir]) == 1
    assert "three of uppercase" in capsys.readouterr().err
    assert cli.main(["account", "root-password", "--account", "999999999999", "--data-dir", data_dir]) == 1
    monkeypatch.setattr("sys.stdin", io.StringIO("Root-Pass-123\n"))
    assert cli.main(["account", "root-password", "--data-dir", data_dir]) == 0
    assert "Root-Pass-123" not in capsys.readouterr().out
    session = sign_in(iam.cloud, account=iam.account, user_name="root", password="Root-Pass-123")
    assert session.principal_arn == f"arn:aws:iam::{iam.account}:root" and session.user_name == "root"
    root = client(iam, endpoint, "iam", session).get_user()["User"]
    assert root["Arn"] == session.principal_arn and "PasswordLastUsed" in root
    assert console_logins(iam)[-1]["userIdentity"]["type"] == "Root"
    assert cli.main(["account", "root-password", "--generate", "--data-dir", data_dir]) == 0
    generated = capsys.readouterr().out.splitlines()[-1].strip()
    assert len(generated) == 24
    refusal(iam, user_name="root", password="Root-Pass-123")
    sign_in(iam.cloud, account=iam.account, user_name="root", password=generated)
