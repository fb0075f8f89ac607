"""EBS's pure rules: sizes, IOPS and throughput per volume type, device names, modifications, iotune caps."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.ec2.volumes import modifications, rules
from controller.ec2.volumes.rules import VolumeSpec
from controller.errors import ServiceError


def refused(code: str, message_part: str, *args: object, **kwargs: object) -> None:
    with pytest.raises(ServiceError) as excinfo:
        rules.check_spec(*args, **kwargs)  # type: ignore[arg-type]
    assert excinfo.value.code == code
    assert message_part in excinfo.value.message


def test_defaults_of_each_type() -> None:
    assert rules.check_spec("gp3", 10, None, None) == VolumeSpec("gp3", 10, 3000, 125)
    assert rules.check_spec("gp2", 10, None, None) == VolumeSpec("gp2", 10, None, None)
    assert rules.check_spec("io2", 10, 5000, None) == VolumeSpec("io2", 10, 5000, None)
    assert rules.check_spec("st1", 125, None, None) == VolumeSpec("st1", 125, None, None)
    assert rules.check_spec("gp2", None, None, None, snapshot_size=8).size_gib == 8


def test_size_limits_per_type() -> None:
    refused("InvalidParameterValue", "minimum is 125GiB", "st1", 100, None, None)
    refused("InvalidParameterValue", "minimum is 125GiB", "sc1", 124, None, None)
    refused("InvalidParameterValue", "minimum is 4GiB", "io1", 3, 100, None)
    refused("InvalidParameterValue", "maximum is 16384GiB", "gp3", 16385, None, None)
    refused("InvalidParameterValue", "maximum is 1024GiB", "standard", 1025, None, None)
    refused("InvalidParameterValue", "minimum is 1GiB", "gp2", 0, None, None)
    assert rules.check_spec("io2", 65536, 100, None).size_gib == 65536
    refused("InvalidParameterValue", "expect size >= 8GiB", "gp2", 4, None, None, snapshot_size=8)
    refused("MissingParameter", "size", "gp2", None, None, None)


def test_iops_rules() -> None:
    refused("InvalidParameterCombination", "iops is not supported for gp2", "gp2", 10, 300, None)
    refused("InvalidParameterCombination", "iops is not supported for st1", "st1", 500, 300, None)
    refused("InvalidParameterCombination", "iops is not supported for standard", "standard", 10, 300, None)
    refused("MissingParameter", "iops", "io1", 10, None, None)
    refused("InvalidParameterValue", "too low; minimum is 100", "io1", 10, 50, None)
    refused("InvalidParameterValue", "too high; maximum is 64000", "io1", 2000, 64001, None)
    refused("InvalidParameterValue", "ratio of 60.000000 is too high; maximum is 50.000000", "io1", 10, 600, None)
    assert rules.check_spec("io1", 10, 500, None).iops == 500
    refused("InvalidParameterValue", "maximum is 1000.000000", "io2", 10, 10001, None)
    assert rules.check_spec("io2", 256, 256000, None).iops == 256000
    refused("InvalidParameterValue", "too low; minimum is 3000", "gp3", 100, 2000, None)
    refused("InvalidParameterValue", "too high; maximum is 16000", "gp3", 100, 16001, None)
    refused("InvalidParameterValue", "maximum is 500.000000", "gp3", 8, 5000, None)
    assert rules.check_spec("gp3", 1, 3000, None).iops == 3000  # the baseline is allowed on any size


def test_throughput_rules() -> None:
    refused("InvalidParameterCombination", "throughput is not supported for io1", "io1", 10, 100, 200)
    refused("InvalidParameterCombination", "throughput is not supported for gp2", "gp2", 10, None, 200)
    refused("InvalidParameterValue", "too low; minimum is 125", "gp3", 10, None, 100)
    refused("InvalidParameterValue", "too high; maximum is 1000", "gp3", 100, 16000, 1001)
    refused("InvalidParameterValue", "ratio of 0.333333 is too high; maximum is 0.250000", "gp3", 100, 3000, 1000)
    assert rules.check_spec("gp3", 100, 4000, 1000) == VolumeSpec("gp3", 100, 4000, 1000)


def test_multi_attach_only_on_provisioned_iops_types() -> None:
    refused("InvalidParameterCombination", "only io1 and io2", "gp3", 10, None, None, multi_attach=True)
    assert rules.check_spec("io2", 10, 1000, None, multi_attach=True).multi_attach


def test_io_caps_per_type() -> None:
    assert rules.io_caps("gp2", 10, None, None) == (100, 128)  # 3 IOPS/GiB, 100 at least
    assert rules.io_caps("gp2", 1000, None, None) == (3000, 250)
    assert rules.io_caps("gp2", 16384, None, None) == (16000, 250)
    assert rules.io_caps("gp3", 10, 4000, 500) == (4000, 500)
    assert rules.io_caps("io2", 10, 500, None) == (500, None)
    assert rules.io_caps("st1", 1024, None, None) == (None, 40)  # 40 MiB/s per TiB
    assert rules.io_caps("st1", 16384, None, None) == (None, 500)
    assert rules.io_caps("sc1", 2048, None, None) == (None, 24)
    assert rules.io_caps("standard", 10, None, None) == (None, None)
    assert rules.shown_iops("gp2", 50, None) == 150 and rules.shown_iops("st1", 500, None) is None


def test_device_names() -> None:
    for good in ("/dev/sdf", "/dev/sdp", "/dev/xvdf", "/dev/xvdba", "/dev/sdf1", "/dev/hdb"):
        assert rules.check_device_name(good) == good
    for bad in ("/dev/vdb", "sdf", "/dev/sd", "/dev/xvdzz", "", None):
        with pytest.raises(ServiceError) as excinfo:
            rules.check_device_name(bad)
        assert excinfo.value.code == "InvalidParameterValue"


def test_modifications() -> None:
    gp2 = VolumeSpec("gp2", 10, None, None)
    assert rules.check_modification(gp2, 20, None, None, None, None) == VolumeSpec("gp2", 20, None, None)
    assert rules.check_modification(gp2, None, "gp3", None, None, None) == VolumeSpec("gp3", 10, 3000, 125)
    with pytest.raises(ServiceError, match="New size cannot be smaller than existing size"):
        rules.check_modification(gp2, 5, None, None, None, None)
    with pytest.raises(ServiceError, match="must differ"):
        rules.check_modification(gp2, 10, "gp2", None, None, None)
    io1 = VolumeSpec("io1", 10, 400, None)
    assert rules.check_modification(io1, 20, None, None, None, None).iops == 400  # IOPS kept within the type
    with pytest.raises(ServiceError) as excinfo:
        rules.check_modification(io1, None, "gp2", 400, None, None)
    assert excinfo.value.code == "InvalidParameterCombination"


def test_modification_states_change_with_time() -> None:
    now = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    assert modifications.modification_state(None, now) == ("modifying", 0)
    assert modifications.modification_state(now, now)[0] == "optimizing"
    assert modifications.modification_state(now - modifications.OPTIMIZING, now) == ("completed", 100)
