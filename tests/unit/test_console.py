"""The console's server side in-process: which requests are the console's, its sessions in the state
database, and the MFA step's pending token. The pages themselves are driven in a browser (tests/console)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from controller.auth.store import root_principal
from controller.cloud import Cloud
from controller.config import Config
from controller.console import is_console_request, sessions, state
from controller.iam.console_signin import ConsoleSession
from controller.sts.limits import new_session_token
from controller.wsgi import create_app


@pytest.fixture
def cloud(tmp_path: Path) -> Iterator[Cloud]:
    made = Cloud(Config(data_dir=tmp_path / "data"))
    made.credentials.create_account("cloudlet", "root@cloudlet.local", is_management=True)
    yield made
    made.close()


def signed_in(cloud: Cloud, *, lasting: dt.timedelta = dt.timedelta(hours=1)) -> ConsoleSession:
    """What sign-in answers: temporary credentials of the management account's root user."""
    account = cloud.credentials.management_account()
    assert account is not None
    expiration = dt.datetime.now(dt.UTC) + lasting
    token = new_session_token()
    key_id, secret = cloud.credentials.create_key(root_principal(account), prefix="ASIA",
                                                  expires_at=expiration, session_token=token, session={})
    return ConsoleSession(account_id=account, principal_arn=f"arn:aws:iam::{account}:root", user_name="root",
                          access_key_id=key_id, secret_access_key=secret, session_token=token,
                          expiration=expiration, password_reset_required=False, mfa_authenticated=False)


@pytest.mark.parametrize(("path", "authorization", "query", "expected"), [
    ("/console", "", "", True),
    ("/console/ec2/instances", "", "next=abc", True),
    ("/consoles/key", "", "", False),  # a bucket of another name
    ("/console/key", "AWS4-HMAC-SHA256 Credential=AKIA/20260101/home-1/s3/aws4_request", "", False),
    ("/console/key", "AWS AKIA:signature", "", False),  # SigV2, which S3 clients may still send
    ("/console/key", "", "X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F", False),
    ("/console/key", "", "x-amz-signature=00", False),
    ("/", "", "", False),
])
def test_only_unsigned_requests_under_console_are_the_consoles(path: str, authorization: str, query: str,
                                                                expected: bool) -> None:
    assert is_console_request(path, authorization, query) is expected


def test_signed_calls_to_a_bucket_named_console_reach_s3(cloud: Cloud) -> None:
    client = create_app(cloud).test_client()
    page = client.get("/console/")
    assert page.status_code == 302 and page.headers["Location"].endswith("/console/signin")
    signed = client.get("/console/key", headers={
        "Authorization": "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20260101/home-1/s3/aws4_request, "
                         "SignedHeaders=host;x-amz-date, Signature=" + "0" * 64,
        "X-Amz-Date": "20260101T000000Z"})
    assert signed.status_code == 400 and b"<Error><Code>InvalidRequest</Code>" in signed.data  # S3's
    presigned = client.get("/console/key?X-Amz-Algorithm=AWS4-HMAC-SHA256"
                           "&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20260101%2Fhome-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z"
                           "&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=" + "0" * 64)
    assert presigned.status_code == 403 and b"<Error><Code>" in presigned.data


def test_a_session_is_found_by_its_token_alone_which_is_stored_hashed(cloud: Cloud) -> None:
    session = signed_in(cloud)
    token = state.create(cloud.db, cloud.secrets, session)
    found = state.find(cloud.db, cloud.secrets, token)
    assert found is not None and found.signed_in == session and len(found.csrf_token) >= 43
    with cloud.db.read() as conn:
        row = conn.execute(select(state.console_sessions)).mappings().one()
    assert token not in row.values() and session.session_token not in row.values()
    assert session.secret_access_key not in row.values()
    principal = sessions.principal_of(cloud, found, dt.datetime.now(dt.UTC))
    assert principal is not None and principal.arn == session.principal_arn
    assert state.find(cloud.db, cloud.secrets, token + "x") is None
    assert state.find(cloud.db, cloud.secrets, "") is None
    state.remove(cloud.db, found.token_hash)
    assert state.find(cloud.db, cloud.secrets, token) is None


def test_a_session_ends_with_its_credentials(cloud: Cloud) -> None:
    token = state.create(cloud.db, cloud.secrets, signed_in(cloud, lasting=dt.timedelta(minutes=5)))
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=6)
    assert state.find(cloud.db, cloud.secrets, token, later) is None
    found = state.find(cloud.db, cloud.secrets, token)
    assert found is not None
    cloud.credentials.delete_key(found.signed_in.access_key_id)  # retired elsewhere: the session is worthless
    assert sessions.principal_of(cloud, found, dt.datetime.now(dt.UTC)) is None


def test_expired_sessions_are_dropped_when_another_signs_in(cloud: Cloud) -> None:
    state.create(cloud.db, cloud.secrets, signed_in(cloud, lasting=dt.timedelta(seconds=-1)))
    state.create(cloud.db, cloud.secrets, signed_in(cloud))
    with cloud.db.read() as conn:
        assert len(conn.execute(select(state.console_sessions)).all()) == 1


def test_the_mfa_step_carries_the_first_step_encrypted_and_briefly(cloud: Cloud,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pending = sessions.pending_step(cloud.secrets, "123456789012", "alice", "hunter2-secret")
    assert "hunter2" not in pending
    assert sessions.open_pending_step(cloud.secrets, pending) == ("123456789012", "alice", "hunter2-secret")
    assert sessions.open_pending_step(cloud.secrets, pending[:-4] + "AAAA") is None
    assert sessions.open_pending_step(cloud.secrets, "not a token") is None
    started = time.time()
    monkeypatch.setattr(sessions.time, "time", lambda: started + sessions.MFA_STEP_SECONDS + 1)
    assert sessions.open_pending_step(cloud.secrets, pending) is None
