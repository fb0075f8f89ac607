"""Virtual MFA over HTTP: the device lifecycle, and STS sessions that only a code from the device opens.

Codes are computed with pyotp from the seed CreateVirtualMFADevice returns, as an
authenticator app would. A code is accepted once, for its own 30-second step (give or
take one), so the tests take codes of the previous and current steps to enable a
device and the next step's code to open a session, and never wait for a step to pass.
"""

from __future__ import annotations

import contextlib
import json
import struct
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pyotp
import pytest

from tests.e2e.helpers import Cleanup, allow, denied, document, new_user
from tests.support import CloudletProcess, Credentials

UNKNOWN_DEVICE = ("MultiFactorAuthentication failed, unable to validate MFA code.  Please verify your MFA serial "
                  "number is valid and associated with this user.")
INVALID_CODE = "MultiFactorAuthentication failed with invalid MFA one time pass code. "
STEP = 30


class Devices:
    """Creates virtual MFA devices and removes them (deactivated first) before their users go."""

    def __init__(self, iam: Any) -> None:
        self.iam = iam
        self.serials: list[str] = []

    def create(self, name: str, **extra: Any) -> tuple[str, pyotp.TOTP, dict[str, Any]]:
        device = self.iam.create_virtual_mfa_device(VirtualMFADeviceName=name, **extra)["VirtualMFADevice"]
        self.serials.append(device["SerialNumber"])
        return device["SerialNumber"], pyotp.TOTP(device["Base32StringSeed"].decode()), device

    def enable(self, user: str, serial: str, totp: pyotp.TOTP) -> float:
        """Enable with the previous and current steps' codes; returns the moment they were computed."""
        now = steady_now()
        self.iam.enable_mfa_device(UserName=user, SerialNumber=serial, AuthenticationCode1=totp.at(now - STEP),
                                   AuthenticationCode2=totp.at(now))
        return now

    def remove_all(self) -> None:
        assigned = {device["SerialNumber"]: device["User"]["UserName"]
                    for device in self.iam.list_virtual_mfa_devices(AssignmentStatus="Assigned",
                                                                    MaxItems=1000)["VirtualMFADevices"]}
        for serial in self.serials:
            if serial in assigned:
                self.iam.deactivate_mfa_device(UserName=assigned[serial], SerialNumber=serial)
            with contextlib.suppress(self.iam.exceptions.NoSuchEntityException):  # the test deleted it
                self.iam.delete_virtual_mfa_device(SerialNumber=serial)


@pytest.fixture
def devices(iam: Any, cleanup: Cleanup) -> Iterator[Devices]:
    tracker = Devices(iam)
    yield tracker
    tracker.remove_all()  # before ``cleanup`` deletes the users (a user with a device cannot be deleted)


def steady_now() -> float:
    """Now, at least 3 seconds before the next 30-second step: codes computed now stay current for the call."""
    now = time.time()
    left = STEP - now % STEP
    if left < 3:
        time.sleep(left + 0.1)
        now = time.time()
    return now


def session_credentials(response: dict[str, Any]) -> Credentials:
    creds = response["Credentials"]
    return Credentials(creds["AccessKeyId"], creds["SecretAccessKey"], creds["SessionToken"])


def test_device_lifecycle(cloudlet: CloudletProcess, iam: Any, unique: str, cleanup: Cleanup,
                          devices: Devices) -> None:
    name, other = f"{unique}-owner", f"{unique}-other"
    for user in (name, other):
        cleanup.users.append(user)
        iam.create_user(UserName=user)
    serial, totp, created = devices.create(f"{unique}-phone", Path="/team/", Tags=[{"Key": "k", "Value": "v"}])
    assert serial == f"arn:aws:iam::{cloudlet.account_id}:mfa/team/{unique}-phone"
    assert len(totp.secret) == 64 and created["Tags"] == [{"Key": "k", "Value": "v"}]
    png = created["QRCodePNG"]
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    width, height = struct.unpack(">II", png[16:24])
    assert width == height and 100 <= width <= 1000
    assert denied(iam.create_virtual_mfa_device, VirtualMFADeviceName=f"{unique}-PHONE", Path="/team/")[:3] == \
        ("EntityAlreadyExists", 409, "MFADevice entity at the same path and name already exists.")
    too_long = "d" * (256 - len(f"arn:aws:iam::{cloudlet.account_id}:mfa/") + 1)  # no call could name it
    assert denied(iam.create_virtual_mfa_device, VirtualMFADeviceName=too_long)[:2] == ("ValidationError", 400)

    def listed(status: str) -> dict[str, Any]:
        pages = iam.get_paginator("list_virtual_mfa_devices").paginate(AssignmentStatus=status,
                                                                      PaginationConfig={"PageSize": 1})
        return {device["SerialNumber"]: device for page in pages for device in page["VirtualMFADevices"]}

    assert serial in listed("Unassigned") and serial not in listed("Assigned")
    assert "Base32StringSeed" not in listed("Any")[serial]

    now = steady_now()
    wrong = f"{(int(totp.at(now)) + 1) % 1_000_000:06d}"
    assert denied(iam.enable_mfa_device, UserName=name, SerialNumber=serial, AuthenticationCode1=totp.at(now),
                  AuthenticationCode2=wrong)[:3] == \
        ("InvalidAuthenticationCode", 403, "Authentication code for device is not valid.")
    assert denied(iam.enable_mfa_device, UserName=name, SerialNumber=serial, AuthenticationCode1=totp.at(now),
                  AuthenticationCode2=totp.at(now))[0] == "InvalidAuthenticationCode"  # not consecutive
    missing = f"arn:aws:iam::{cloudlet.account_id}:mfa/{unique}-nothing"
    assert denied(iam.enable_mfa_device, UserName=name, SerialNumber=missing, AuthenticationCode1="123456",
                  AuthenticationCode2="654321")[:3] == \
        ("NoSuchEntity", 404, f"VirtualMFADevice with serial number {missing} doesn't exist.")
    devices.enable(name, serial, totp)

    [mfa] = iam.list_mfa_devices(UserName=name)["MFADevices"]
    assert (mfa["UserName"], mfa["SerialNumber"]) == (name, serial) and mfa["EnableDate"]
    assert iam.get_mfa_device(SerialNumber=serial, UserName=name)["UserName"] == name
    assigned = listed("Assigned")[serial]
    assert assigned["User"]["UserName"] == name and assigned["EnableDate"] and serial not in listed("Unassigned")
    assert iam.list_mfa_devices(UserName=other)["MFADevices"] == []

    now = steady_now()
    assert denied(iam.enable_mfa_device, UserName=other, SerialNumber=serial, AuthenticationCode1=totp.at(now),
                  AuthenticationCode2=totp.at(now + STEP))[:3] == \
        ("EntityAlreadyExists", 409, "MFA Device is already in use.")
    assert denied(iam.delete_virtual_mfa_device, SerialNumber=serial)[:2] == ("DeleteConflict", 409)
    assert denied(iam.delete_user, UserName=name)[:3] == \
        ("DeleteConflict", 409, "Cannot delete entity, must delete MFA device first.")
    assert denied(iam.deactivate_mfa_device, UserName=other, SerialNumber=serial)[:3] == \
        ("NoSuchEntity", 404, "MFA Device invalid for user.")

    iam.tag_mfa_device(SerialNumber=serial, Tags=[{"Key": "team", "Value": "blue"}, {"Key": "k", "Value": "w"}])
    iam.untag_mfa_device(SerialNumber=serial, TagKeys=["team"])
    assert iam.list_mfa_device_tags(SerialNumber=serial)["Tags"] == [{"Key": "k", "Value": "w"}]
    assert denied(iam.list_mfa_device_tags, SerialNumber=missing)[:2] == ("NoSuchEntity", 404)

    iam.deactivate_mfa_device(UserName=name, SerialNumber=serial)
    assert iam.list_mfa_devices(UserName=name)["MFADevices"] == []
    assert serial in listed("Unassigned")
    assert denied(iam.get_mfa_device, SerialNumber=serial, UserName=name)[:2] == ("NoSuchEntity", 404)
    iam.delete_virtual_mfa_device(SerialNumber=serial)
    assert serial not in listed("Any")
    assert denied(iam.delete_virtual_mfa_device, SerialNumber=serial)[:2] == ("NoSuchEntity", 404)
    iam.delete_user(UserName=name)  # no device left: the user goes
    cleanup.users.remove(name)


def test_user_manages_own_devices_and_resync_follows_the_clock(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                               cleanup: Cleanup, devices: Devices) -> None:
    name = f"{unique}-self"
    creds = new_user(iam, cleanup, name)
    iam.put_user_policy(UserName=name, PolicyName="OwnMfa", PolicyDocument=document(
        allow(["iam:ListMFADevices", "iam:ResyncMFADevice"], f"arn:aws:iam::{cloudlet.account_id}:user/{name}")))
    serial, totp, _ = devices.create(f"{unique}-self")
    enabled_at = devices.enable(name, serial, totp)
    own = cloudlet.client("iam", creds)
    assert [d["SerialNumber"] for d in own.list_mfa_devices()["MFADevices"]] == [serial]  # defaults to the caller

    # the device's clock runs 5 steps ahead: codes of now are no longer its codes, resync measures the drift
    ahead = enabled_at + 5 * STEP
    own.resync_mfa_device(UserName=name, SerialNumber=serial, AuthenticationCode1=totp.at(ahead),
                          AuthenticationCode2=totp.at(ahead + STEP))
    sts = cloudlet.client("sts", creds)
    assert denied(sts.get_session_token, SerialNumber=serial, TokenCode=totp.at(time.time()))[2] == INVALID_CODE
    session = sts.get_session_token(SerialNumber=serial, TokenCode=totp.at(ahead + 2 * STEP))
    assert session["Credentials"]["AccessKeyId"].startswith("ASIA")
    assert denied(own.resync_mfa_device, UserName=name, SerialNumber=serial, AuthenticationCode1=totp.at(ahead),
                  AuthenticationCode2=totp.at(ahead + STEP))[:2] == ("InvalidAuthenticationCode", 403)  # spent


def test_seed_mfa_example_denies_everything_without_mfa(cloudlet: CloudletProcess, iam: Any, unique: str,
                                                        cleanup: Cleanup, devices: Devices) -> None:
    """The seed's example: a Deny on everything unless MFA is present lets a user act only through MFA."""
    name = f"{unique}-mfa"
    creds = new_user(iam, cleanup, name)
    iam.put_user_policy(UserName=name, PolicyName="RequireMfa", PolicyDocument=document(
        {"Sid": "DenyAllWithoutMFA", "Effect": "Deny", "Action": "*", "Resource": "*",
         "Condition": {"BoolIfExists": {"aws:MultiFactorAuthPresent": "false"}}},
        allow("ec2:DescribeAvailabilityZones", Condition={"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"}}),
        allow("ec2:DescribeRegions", Condition={"NumericGreaterThan": {"aws:MultiFactorAuthAge": "3600"}})))
    assert denied(cloudlet.client("ec2", creds).describe_availability_zones)[0] == "UnauthorizedOperation"
    sts = cloudlet.client("sts", creds)
    plain = session_credentials(sts.get_session_token(DurationSeconds=900))
    assert denied(cloudlet.client("ec2", plain).describe_availability_zones)[0] == "UnauthorizedOperation"

    serial, totp, _ = devices.create(f"{unique}-mfa")
    enabled_at = devices.enable(name, serial, totp)
    code = totp.at(enabled_at + STEP)  # the next step's code: the two before it were spent enabling
    assert denied(sts.get_session_token, SerialNumber=serial, TokenCode=totp.at(enabled_at))[:3] == \
        ("AccessDenied", 403, INVALID_CODE)  # a code used to enable the device is spent
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    assert denied(sts.get_session_token, SerialNumber=serial, TokenCode=wrong)[2] == INVALID_CODE
    elsewhere = f"arn:aws:iam::{cloudlet.account_id}:mfa/{unique}-unknown"
    assert denied(sts.get_session_token, SerialNumber=elsewhere, TokenCode=code)[:3] == \
        ("AccessDenied", 403, UNKNOWN_DEVICE)
    stranger = new_user(iam, cleanup, f"{unique}-stranger")  # someone else's device is not the caller's MFA
    assert denied(cloudlet.client("sts", stranger).get_session_token, SerialNumber=serial,
                  TokenCode=code)[2] == UNKNOWN_DEVICE

    response = sts.get_session_token(DurationSeconds=900, SerialNumber=serial, TokenCode=code)
    mfa_session = session_credentials(response)
    ec2 = cloudlet.client("ec2", mfa_session)
    assert ec2.describe_availability_zones()["AvailabilityZones"]  # MFA present, authenticated just now
    assert denied(ec2.describe_regions)[0] == "UnauthorizedOperation"  # its age is not above an hour
    # IAM takes GetSessionToken credentials once they carry MFA; here no policy allows the call
    assert denied(cloudlet.client("iam", mfa_session).list_mfa_devices)[:2] == ("AccessDenied", 403)
    assert denied(sts.get_session_token, SerialNumber=serial, TokenCode=code)[2] == INVALID_CODE  # replayed

    request_id = response["ResponseMetadata"]["RequestId"]
    events = cloudlet.client("cloudtrail").lookup_events(LookupAttributes=[
        {"AttributeKey": "EventName", "AttributeValue": "GetSessionToken"}])["Events"]
    [event] = [json.loads(e["CloudTrailEvent"]) for e in events if request_id in e["CloudTrailEvent"]]
    assert event["requestParameters"]["TokenCode"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert code not in json.dumps(event)
    # the calls made with the session say whether it was opened with MFA, as CloudTrail's sessionContext does
    trail = cloudlet.client("cloudtrail")
    authenticated = {}
    for key in (plain.access_key_id, mfa_session.access_key_id):
        found = trail.lookup_events(LookupAttributes=[{"AttributeKey": "AccessKeyId", "AttributeValue": key}])
        identity = json.loads(found["Events"][0]["CloudTrailEvent"])["userIdentity"]
        authenticated[key] = identity["sessionContext"]["attributes"]["mfaAuthenticated"]
    assert authenticated == {plain.access_key_id: "false", mfa_session.access_key_id: "true"}


def test_assume_role_whose_trust_requires_mfa(cloudlet: CloudletProcess, iam: Any, unique: str,
                                              cleanup: Cleanup, devices: Devices) -> None:
    name, role = f"{unique}-op", f"{unique}-mfa-role"
    creds = new_user(iam, cleanup, name)
    user_arn = f"arn:aws:iam::{cloudlet.account_id}:user/{name}"
    role_arn = f"arn:aws:iam::{cloudlet.account_id}:role/{role}"
    cleanup.roles.append(role)
    iam.create_role(RoleName=role, AssumeRolePolicyDocument=document(
        {"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "sts:AssumeRole",
         "Condition": {"Bool": {"aws:MultiFactorAuthPresent": "true"}}}))
    iam.put_role_policy(RoleName=role, PolicyName="Zones", PolicyDocument=document(
        allow("ec2:DescribeAvailabilityZones", Condition={"Bool": {"aws:MultiFactorAuthPresent": "true"}})))
    sts = cloudlet.client("sts", creds)
    assert denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="plain")[:2] == ("AccessDenied", 403)

    serial, totp, _ = devices.create(f"{unique}-op")
    enabled_at = devices.enable(name, serial, totp)
    code = totp.at(enabled_at + STEP)
    assert denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="bad", SerialNumber=serial,
                  TokenCode=f"{(int(code) + 1) % 1_000_000:06d}")[2] == INVALID_CODE
    session = session_credentials(sts.assume_role(RoleArn=role_arn, RoleSessionName="mfa", SerialNumber=serial,
                                                  TokenCode=code))
    assert cloudlet.client("sts", session).get_caller_identity()["Arn"].endswith(f":assumed-role/{role}/mfa")
    # the role session carries the MFA: the role's MFA-conditioned allow holds on later calls
    assert cloudlet.client("ec2", session).describe_availability_zones()["AvailabilityZones"]
    assert denied(sts.assume_role, RoleArn=role_arn, RoleSessionName="again", SerialNumber=serial,
                  TokenCode=code)[2] == INVALID_CODE  # the code is spent


def test_aws_cli_walk_through(cloudlet: CloudletProcess, iam: Any, unique: str, cleanup: Cleanup,
                              devices: Devices, tmp_path: Path) -> None:
    """The README's commands: a QR code file, a seed file, enable-mfa-device, get-session-token --token-code."""
    name = f"{unique}-cli"
    creds = new_user(iam, cleanup, name)
    qr_file, seed_file = tmp_path / "qr.png", tmp_path / "seed.txt"
    out = cloudlet.aws("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", f"{name}-qr",
                       "--outfile", str(qr_file), "--bootstrap-method", "QRCodePNG")
    devices.serials.append(json.loads(out.stdout)["VirtualMFADevice"]["SerialNumber"])
    assert qr_file.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    out = cloudlet.aws("iam", "create-virtual-mfa-device", "--virtual-mfa-device-name", name,
                       "--outfile", str(seed_file), "--bootstrap-method", "Base32StringSeed")
    serial = json.loads(out.stdout)["VirtualMFADevice"]["SerialNumber"]
    devices.serials.append(serial)
    totp = pyotp.TOTP(seed_file.read_text().strip())
    now = steady_now()
    cloudlet.aws("iam", "enable-mfa-device", "--user-name", name, "--serial-number", serial,
                 "--authentication-code1", totp.at(now - STEP), "--authentication-code2", totp.at(now))
    env = {**cloudlet.cli_env(), "AWS_ACCESS_KEY_ID": creds.access_key_id,
           "AWS_SECRET_ACCESS_KEY": creds.secret_access_key}
    out = subprocess.run([str(Path(sys.executable).parent / "aws"), "sts", "get-session-token", "--serial-number",
                          serial, "--token-code", totp.at(now + STEP)], env=env, capture_output=True, text=True,
                         check=True, timeout=120)
    session = session_credentials(json.loads(out.stdout))
    assert cloudlet.client("sts", session).get_caller_identity()["Arn"].endswith(f":user/{name}")
