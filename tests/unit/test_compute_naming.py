"""Host-side names of compute objects: the contract with the VPC dataplane."""

from __future__ import annotations

from pathlib import Path

import pytest

from agent.contract.naming import (
    is_tap_name,
    mac_for_interface,
    owner_tag,
    tap_alias,
    tap_belongs_to,
    tap_name,
    volume_serial,
)


def test_tap_name_fits_linux_and_encodes_instance_and_device() -> None:
    name = tap_name("i-0123456789abcdef0", 0)
    assert name == "cl-t0123456700"
    assert len(tap_name("i-0123456789abcdef0", 255)) <= 15
    assert tap_name("i-0123456789abcdef0", 17) == "cl-t0123456711"
    assert tap_name("i-01234567", 1) == "cl-t0123456701"  # short (old-style) ids work too


@pytest.mark.parametrize("instance_id, index", [("i-XYZ", 0), ("vol-0123456789abcdef0", 0), ("i-0123456789", 256),
                                                 ("i-0123456789", -1)])
def test_tap_name_rejects_what_it_cannot_name(instance_id: str, index: int) -> None:
    with pytest.raises(ValueError):
        tap_name(instance_id, index)


def test_tap_recognition() -> None:
    assert is_tap_name("cl-t0123456700")
    assert not is_tap_name("cl-t01234567")
    assert not is_tap_name("vnet0")
    assert tap_belongs_to("cl-t0123456702", "i-0123456789abcdef0")
    assert not tap_belongs_to("cl-t0123456702", "i-1123456789abcdef0")


def test_volume_serial_fits_virtio_blk() -> None:
    serial = volume_serial("vol-0123456789abcdef0")
    assert serial == "vol0123456789abcdef0"
    assert len(serial) == 20


def test_mac_for_interface_is_stable_local_unicast() -> None:
    mac = mac_for_interface("eni-0a1b2c3d4e5f60718")
    assert mac == "02:0a:1b:2c:3d:4e"
    assert mac == mac_for_interface("eni-0a1b2c3d4e5f60718")
    with pytest.raises(ValueError):
        mac_for_interface("eni-short")


def test_owner_tag_is_per_state_dir_and_labels_taps(tmp_path: Path) -> None:
    first, second = owner_tag(tmp_path / "a"), owner_tag(tmp_path / "b")
    assert first != second and len(first) == 12
    assert owner_tag(tmp_path / "a" / ".." / "a") == first
    assert tap_alias(first, "i-0123456789abcdef0") == f"cloudlet:{first}:i-0123456789abcdef0"
