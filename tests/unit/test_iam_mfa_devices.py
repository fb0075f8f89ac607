"""MFA devices and STS's code check as plain functions, at chosen moments (controller/iam/mfa.py, sts/mfa.py).

The e2e tests cannot choose the clock; here every call gets its own ``received_at``, so
the tolerance window, replay refusal, resync drift and the seed kept encrypted at rest
are checked exactly, step by step.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

import controller.iam as iam
from controller.api import Principal, RequestContext
from controller.cloud import Cloud
from controller.config import Config
from controller.errors import ServiceError
from controller.iam import mfa_codes, state
from controller.iam.mfa_devices import claim_step
from controller.sts import mfa as sts_mfa

T0 = dt.datetime(2026, 3, 1, 12, 0, 10, tzinfo=dt.UTC)  # 10 seconds into a step
STEP = dt.timedelta(seconds=mfa_codes.STEP_SECONDS)


class MfaHarness:
    def __init__(self, cloud: Cloud, account: str) -> None:
        self.cloud = cloud
        self.account = account
        self.root = Principal(account_id=account, arn=f"arn:aws:iam::{account}:root", kind="root", user_id=account)

    def call(self, operation: str, params: dict[str, Any], at: dt.datetime = T0,
             principal: Principal | None = None) -> dict[str, Any]:
        return iam.api.operations[operation].handler(self.context(operation, at, principal), params)

    def context(self, operation: str, at: dt.datetime, principal: Principal | None = None) -> RequestContext:
        return RequestContext(cloud=self.cloud, service="iam", operation=operation, request_id="req-test",
                              region=self.cloud.config.region, principal=principal or self.root, received_at=at)

    def refused(self, operation: str, params: dict[str, Any], code: str, at: dt.datetime = T0) -> ServiceError:
        with pytest.raises(ServiceError) as excinfo:
            self.call(operation, params, at)
        assert excinfo.value.code == code, excinfo.value.message
        return excinfo.value

    def user(self, name: str) -> Principal:
        row = self.call("CreateUser", {"UserName": name})["User"]
        return Principal(account_id=self.account, arn=row["Arn"], kind="user", user_id=row["UserId"], name=name,
                         access_key_id="AKIATESTTESTTESTTEST")

    def device(self, name: str) -> tuple[str, str]:
        created = self.call("CreateVirtualMFADevice", {"VirtualMFADeviceName": name})["VirtualMFADevice"]
        return created["SerialNumber"], created["Base32StringSeed"].decode()

    def sts_login(self, principal: Principal, serial: str, code: str, at: dt.datetime) -> dt.datetime | None:
        ctx = RequestContext(cloud=self.cloud, service="sts", operation="GetSessionToken", request_id="req-test",
                             region=self.cloud.config.region, principal=principal, received_at=at)
        return sts_mfa.authenticate(ctx, {"SerialNumber": serial, "TokenCode": code})


@pytest.fixture
def harness(tmp_path: Path) -> Iterator[MfaHarness]:
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    account = cloud.credentials.create_account("owner", "owner@example.com", is_management=True)
    yield MfaHarness(cloud, account)
    cloud.close()


def code(seed: str, moment: dt.datetime) -> str:
    return mfa_codes.code_at_step(seed, mfa_codes.time_step(moment))


def enable(harness: MfaHarness, user: Principal, serial: str, seed: str, at: dt.datetime = T0) -> None:
    harness.call("EnableMFADevice", {"UserName": user.name, "SerialNumber": serial, "AuthenticationCode1":
                                     code(seed, at - STEP), "AuthenticationCode2": code(seed, at)}, at)


def test_the_seed_is_stored_encrypted(harness: MfaHarness) -> None:
    serial, seed = harness.device("phone")
    with harness.cloud.db.read() as conn:
        stored = conn.execute(select(state.mfa_devices.c.seed_encrypted).where(
            state.mfa_devices.c.serial_number == serial)).scalar_one()
    assert seed not in stored and harness.cloud.secrets.decrypt(stored) == seed
    files = list(harness.cloud.db.path.parent.glob(harness.cloud.db.path.name + "*"))  # the database, its WAL
    assert files and not any(seed.encode() in path.read_bytes() for path in files)


def test_codes_are_accepted_once_within_their_window(harness: MfaHarness) -> None:
    alice = harness.user("alice")
    serial, seed = harness.device("alice")
    enable(harness, alice, serial, seed)
    later = T0 + STEP
    with pytest.raises(ServiceError, match="invalid MFA one time pass code"):
        harness.sts_login(alice, serial, code(seed, T0), later)  # spent by EnableMFADevice
    assert harness.sts_login(alice, serial, code(seed, later), later) == later
    with pytest.raises(ServiceError, match="invalid MFA one time pass code") as replay:
        harness.sts_login(alice, serial, code(seed, later), later)
    assert (replay.value.code, replay.value.status) == ("AccessDenied", 403)
    # one step late is tolerated, two are not
    assert harness.sts_login(alice, serial, code(seed, later + STEP), later + 2 * STEP)
    with pytest.raises(ServiceError, match="invalid MFA"):
        harness.sts_login(alice, serial, code(seed, later + 2 * STEP), later + 4 * STEP)


def test_only_the_callers_enabled_device_counts(harness: MfaHarness) -> None:
    alice, bob = harness.user("alice"), harness.user("bob")
    serial, seed = harness.device("alice")
    with pytest.raises(ServiceError, match="unable to validate MFA code"):
        harness.sts_login(alice, serial, code(seed, T0), T0)  # not enabled yet
    enable(harness, alice, serial, seed)
    moment = T0 + STEP
    for caller in (bob, harness.root):
        with pytest.raises(ServiceError, match="unable to validate MFA code"):
            harness.sts_login(caller, serial, code(seed, moment), moment)
    assert harness.sts_login(alice, serial, code(seed, moment), moment)


def test_resync_measures_the_drift(harness: MfaHarness) -> None:
    alice = harness.user("alice")
    serial, seed = harness.device("alice")
    enable(harness, alice, serial, seed)
    now = T0 + 10 * STEP
    ahead = now + 7 * STEP  # the device's clock runs 7 steps ahead
    harness.refused("ResyncMFADevice", {"UserName": "alice", "SerialNumber": serial,
                                        "AuthenticationCode1": code(seed, ahead + STEP),
                                        "AuthenticationCode2": code(seed, ahead)}, "InvalidAuthenticationCode", now)
    harness.call("ResyncMFADevice", {"UserName": "alice", "SerialNumber": serial,
                                     "AuthenticationCode1": code(seed, ahead - STEP),
                                     "AuthenticationCode2": code(seed, ahead)}, now)
    with pytest.raises(ServiceError, match="invalid MFA"):
        harness.sts_login(alice, serial, code(seed, now + STEP), now + STEP)  # the server's own clock: no longer
    assert harness.sts_login(alice, serial, code(seed, ahead + STEP), now + STEP)


def test_a_step_is_claimed_by_one_request_only(harness: MfaHarness) -> None:
    serial, _ = harness.device("race")
    with harness.cloud.db.begin() as conn:
        assert claim_step(conn, serial, 100)
        assert not claim_step(conn, serial, 100)
        assert not claim_step(conn, serial, 99)
        assert claim_step(conn, serial, 101)


def test_enable_refusals_change_nothing(harness: MfaHarness) -> None:
    alice, bob = harness.user("alice"), harness.user("bob")
    serial, seed = harness.device("shared")
    bad = {"UserName": "alice", "SerialNumber": serial, "AuthenticationCode1": code(seed, T0),
           "AuthenticationCode2": code(seed, T0 - STEP)}
    harness.refused("EnableMFADevice", bad, "InvalidAuthenticationCode")
    assert harness.call("ListMFADevices", {"UserName": "alice"})["MFADevices"] == []
    enable(harness, alice, serial, seed)  # the refused codes were not spent
    harness.refused("EnableMFADevice", {**bad, "UserName": bob.name}, "EntityAlreadyExists")
    for index in range(1, 8):
        other_serial, other_seed = harness.device(f"extra{index}")
        enable(harness, alice, other_serial, other_seed)
    ninth, ninth_seed = harness.device("ninth")
    error = harness.refused("EnableMFADevice", {"UserName": "alice", "SerialNumber": ninth,
                                                "AuthenticationCode1": code(ninth_seed, T0 - STEP),
                                                "AuthenticationCode2": code(ninth_seed, T0)}, "LimitExceeded")
    assert error.message == "Cannot exceed quota for MFADevicesPerUser: 8."
    harness.refused("DeleteUser", {"UserName": "alice"}, "DeleteConflict")
