"""Live migration's pure parts: the destination XML and how a pass steers the planner for instances in flight."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from agent.compute.domain_xml import NAMESPACE_URI, InstancePaths, domain_xml, parse_domain_xml
from agent.compute.migration import MigrationRefused, destination_xml, endpoint, steer
from agent.compute.reconcile import Action, Desired, Step, Wanted, plan
from agent.compute.spec import (
    Accelerator,
    BootMode,
    BootSpec,
    InstanceInfo,
    InstanceSpec,
    Inventory,
    NicSpec,
    PowerState,
    RootDiskSpec,
    VolumeSpec,
)
from agent.contract.instances import MigrationTarget
from agent.contract.naming import owner_tag, tap_name

SOURCE = Path("/var/lib/cloudlet/compute/aaaaaaaaaaaa")
TARGET = MigrationTarget("h-b", "qemu+tls://b/system", "198.18.0.2", "/srv/cloudlet-b/compute", "bbbbbbbbbbbb")
INSTANCE = "i-0123456789abcdef0"


def spec(instance_id: str = INSTANCE, volumes: tuple[VolumeSpec, ...] = ()) -> InstanceSpec:
    images = SOURCE / "images" / "ami-1"
    return InstanceSpec(instance_id, 1, 256, BootSpec(BootMode.DIRECT_KERNEL, images / "vmlinux", images / "initrd"),
                        RootDiskSpec(images / "root.qcow2", 2**30, "vol-00000000000000001"),
                        (NicSpec(0, "02:aa:bb:cc:dd:ee", "eni-0000000000000000a"),), volumes)


def source_xml(s: InstanceSpec) -> str:
    return domain_xml(s, Accelerator.TCG, InstancePaths.under(SOURCE / "instances", s.instance_id), "aaaaaaaaaaaa")


def test_destination_xml_moves_every_host_path_and_takes_the_targets_owner_tag() -> None:
    moved = destination_xml(source_xml(spec()), SOURCE, TARGET)
    description = parse_domain_xml(moved)
    target_dir = Path(TARGET.compute_dir)
    assert description.owner == "bbbbbbbbbbbb"
    assert [d.source for d in description.disks] == [str(target_dir / "instances" / INSTANCE / "root.qcow2")]
    root = ET.fromstring(moved)
    assert root.findtext("os/kernel") == str(target_dir / "images" / "ami-1" / "vmlinux")
    assert root.findtext("os/initrd") == str(target_dir / "images" / "ami-1" / "initrd")
    assert str(SOURCE) not in moved
    # what the guest sees does not change: its NIC (tap name, MAC), its identity
    assert description.taps == (tap_name(INSTANCE, 0),)
    assert description.nics == spec().nics
    assert root.findtext("name") == INSTANCE
    assert root.find(f"metadata/{{{NAMESPACE_URI}}}instance") is not None


def test_an_instance_with_a_volume_outside_its_directory_is_refused() -> None:
    ebs = VolumeSpec("vol-00000000000000002", SOURCE / "volumes" / "vol-00000000000000002.qcow2")
    with pytest.raises(MigrationRefused, match="vol00000000000000002.*detach it, or stop the instance"):
        destination_xml(source_xml(spec(volumes=(ebs,))), SOURCE, TARGET)


def test_a_domain_without_cloudlet_metadata_is_refused() -> None:
    with pytest.raises(MigrationRefused, match="no Cloudlet metadata"):
        destination_xml("<domain><name>x</name><devices/></domain>", SOURCE, TARGET)


def test_the_endpoint_a_host_registers_names_its_compute_dir_and_owner() -> None:
    assert endpoint(Path("/srv/b/compute"), "qemu+tls://b/system", "10.0.0.2") == {
        "libvirt_uri": "qemu+tls://b/system", "address": "10.0.0.2", "compute_dir": "/srv/b/compute",
        "owner": owner_tag(Path("/srv/b/compute"))}
    with pytest.raises(ValueError, match="--migration-address"):
        endpoint(Path("/srv/b/compute"), "qemu+tls://b/system", None)


def inventory(running: dict[str, PowerState], root_taps: frozenset[str] = frozenset()) -> Inventory:
    return Inventory({i: InstanceInfo(i, state, 1, 256) for i, state in running.items()},
                     {i: (tap_name(i, 0),) for i in running}, frozenset(running), root_taps)


def test_the_target_prepares_instead_of_spawning_and_keeps_its_prepared_taps() -> None:
    arriving, other = spec(), spec("i-0fedcba9876543210")
    inv = inventory({}, root_taps=frozenset({tap_name(INSTANCE, 0), tap_name(other.instance_id, 0)}))
    steering = steer(plan({INSTANCE: Desired(Wanted.RUNNING, arriving)}, inv), inv, {INSTANCE}, {})
    assert steering.prepare == [INSTANCE]
    assert steering.actions == [Action(Step.REMOVE_TAPS, taps=(tap_name(other.instance_id, 0),))]
    assert steering.send == {}


def test_once_arrived_the_target_adopts_and_replugs_the_guest() -> None:
    inv = inventory({INSTANCE: PowerState.RUNNING}, root_taps=frozenset({tap_name(INSTANCE, 0)}))
    steering = steer(plan({INSTANCE: Desired(Wanted.RUNNING, spec())}, inv), inv, {INSTANCE}, {})
    assert [a.step for a in steering.actions] == [Step.REPLUG, Step.ADOPT]
    assert steering.prepare == []


def test_the_source_sends_a_running_guest_and_leaves_a_departed_one_alone() -> None:
    desired = {INSTANCE: Desired(Wanted.RUNNING, spec())}
    running = inventory({INSTANCE: PowerState.RUNNING})
    steering = steer(plan(desired, running), running, set(), {INSTANCE: TARGET})
    assert steering.send == {INSTANCE: TARGET} and steering.actions == []
    gone = inventory({})
    steering = steer(plan(desired, gone), gone, set(), {INSTANCE: TARGET})
    assert steering == type(steering)([], [], {})  # no respawn of the guest that left
    paused = inventory({INSTANCE: PowerState.PAUSED})
    assert steer(plan(desired, paused), paused, set(), {INSTANCE: TARGET}).send == {}
