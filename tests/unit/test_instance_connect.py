"""EC2 Instance Connect in process: key checks, SendSSHPublicKey's refusals, and what IMDS then serves."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from controller.ec2.instances.metadata import metadata_for_interface
from controller.ec2_instance_connect import keys, records
from controller.state import utcnow
from tests.unit.harness import CloudHarness, InstanceCloud


def openssh(private: Any, comment: str = "me@laptop") -> str:
    line = private.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return f"{line.decode()} {comment}"


ED25519 = openssh(ed25519.Ed25519PrivateKey.generate())


class ConnectHarness(CloudHarness):
    service = "ec2-instance-connect"


@pytest.fixture
def eic(ic: InstanceCloud) -> ConnectHarness:
    return ConnectHarness(ic.cloud, ic.account)


def running(ic: InstanceCloud) -> dict[str, Any]:
    [instance] = ic.run(Placement={"AvailabilityZone": "home-1a"})
    ic.report(ic.hosts[0], {instance["InstanceId"]: "running"})
    described = ic.instance(instance["InstanceId"])
    assert described["State"]["Name"] == "running"
    return described


@pytest.mark.parametrize("text", [
    ED25519, openssh(rsa.generate_private_key(65537, 2048)), openssh(ec.generate_private_key(ec.SECP256R1())),
    openssh(ec.generate_private_key(ec.SECP521R1()), comment=""),
])
def test_supported_keys_pass(text: str) -> None:
    assert keys.key_problem(text) is None


@pytest.mark.parametrize(("text", "words"), [
    ("ssh-ed25519", "OpenSSH format"),
    ("ssh-dss AAAAB3NzaC1kc3MAAACBAP== me", "Unsupported"),
    ("ssh-ed25519 !!!notbase64 me", "key blob"),
    (ED25519.replace("ssh-ed25519", "ssh-rsa", 1), "does not match"),
    (openssh(rsa.generate_private_key(65537, 1024)), "2048 bits or more, not 1024"),
    (ED25519 + "\nssh-ed25519 AAAA second", "OpenSSH format"),
])
def test_bad_keys_say_why(text: str, words: str) -> None:
    problem = keys.key_problem(text)
    assert problem is not None and words in problem


def test_active_keys_list_unexpired_pushes_per_user_in_aws_format() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    row = {"key_id": 1, "instance_id": "i-0123456789abcdef0", "os_user": "root", "public_key": "ssh-ed25519  AAAA c",
           "caller_arn": "arn:aws:iam::111111111111:user/u", "request_id": "r1",
           "expires_at": now + dt.timedelta(seconds=60)}
    expired = {**row, "key_id": 2, "expires_at": now, "public_key": "ssh-ed25519 OLD"}
    other = {**row, "key_id": 3, "os_user": "debian"}
    served = keys.active_keys([other, expired, row], now)
    assert served["root"] == (f"#Timestamp={int(now.timestamp()) + 60}\n#Instance=i-0123456789abcdef0\n"
                              "#Caller=arn:aws:iam::111111111111:user/u\n#Request=r1\nssh-ed25519 AAAA c\n\n")
    assert set(served) == {"root", "debian"} and "OLD" not in "".join(served.values())


def test_key_seconds_reads_the_test_override(monkeypatch: pytest.MonkeyPatch) -> None:
    assert keys.key_seconds() == 60
    monkeypatch.setenv(keys.KEY_SECONDS_ENV, "3")
    assert keys.key_seconds() == 3
    monkeypatch.setenv(keys.KEY_SECONDS_ENV, "soon")
    assert keys.key_seconds() == 60


def test_a_pushed_key_is_in_the_instance_metadata_for_sixty_seconds(ic: InstanceCloud, eic: ConnectHarness) -> None:
    instance = running(ic)
    eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
    before = metadata_for_interface(ic.cloud, eni)
    assert before is not None and "managed-ssh-keys" not in before["meta_data"] and before["ttl_seconds"] == 5
    answer = eic.call("SendSSHPublicKey", {"InstanceId": instance["InstanceId"], "InstanceOSUser": "root",
                                           "SSHPublicKey": ED25519, "AvailabilityZone": "home-1a"})
    assert answer == {"RequestId": "test", "Success": True}
    data = metadata_for_interface(ic.cloud, eni)
    assert data is not None and data["ttl_seconds"] == 1
    served = data["meta_data"]["managed-ssh-keys"]["active-keys"]["root"]
    assert f"#Instance={instance['InstanceId']}\n" in served and f"\n{ED25519}\n\n" in served
    assert f"#Caller=arn:aws:iam::{ic.account}:root\n" in served
    with ic.db.read() as conn:
        assert records.active_keys_for(conn, instance["InstanceId"], utcnow() + dt.timedelta(seconds=59))
        assert records.active_keys_for(conn, instance["InstanceId"], utcnow() + dt.timedelta(seconds=61)) == {}


def test_refusals(ic: InstanceCloud, eic: ConnectHarness) -> None:
    instance = running(ic)
    good = {"InstanceId": instance["InstanceId"], "InstanceOSUser": "root", "SSHPublicKey": ED25519}
    eic.refused("SendSSHPublicKey", {**good, "SSHPublicKey": "ssh-ed25519 AAAA"}, "InvalidArgsException")
    eic.refused("SendSSHPublicKey", {**good, "InstanceId": "i-0000000000000000f"}, "EC2InstanceNotFoundException")
    eic.refused("SendSSHPublicKey", {**good, "AvailabilityZone": "home-1b"}, "EC2InstanceNotFoundException")
    eic.refused("SendSSHPublicKey", good, "EC2InstanceNotFoundException", account="999999999999")
    eic.refused("SendSerialConsoleSSHPublicKey", {"InstanceId": instance["InstanceId"], "SSHPublicKey": ED25519},
                "SerialConsoleAccessDisabledException")
    ic.call("StopInstances", {"InstanceIds": [instance["InstanceId"]]})
    error = eic.refused("SendSSHPublicKey", good, "EC2InstanceStateInvalidException")
    assert "stopping" in error.message
    with ic.db.read() as conn:
        assert records.active_keys_for(conn, instance["InstanceId"], utcnow()) == {}


def test_patterns_are_checked_in_corals_words_but_not_the_zone() -> None:
    from controller.ec2_instance_connect.send import InvalidArgsException, check_patterns

    check_patterns({"InstanceId": "i-0123456789abcdef0", "InstanceOSUser": "ec2-user", "AvailabilityZone": "home-1a"})
    with pytest.raises(InvalidArgsException) as excinfo:
        check_patterns({"InstanceId": "mi-1", "InstanceOSUser": "a/b"})
    assert excinfo.value.message.startswith("2 validation errors detected: Value 'mi-1' at 'instanceId' failed")
    assert "; Value 'a/b' at 'instanceOSUser' failed to satisfy constraint" in excinfo.value.message
