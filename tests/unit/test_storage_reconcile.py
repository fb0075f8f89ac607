"""The pure plans of EBS on a host: the ``volumes`` section against the pool (agent.storage.reconcile) and
an instance's wanted volumes against its domain (agent.compute.attachments)."""

from __future__ import annotations

from pathlib import Path

from agent.compute import attachments
from agent.compute.spec import IoTune
from agent.contract.codec import from_json
from agent.contract.instances import VolumeAttachment
from agent.contract.volumes import DesiredVolume
from agent.storage.reconcile import Action, HostVolumes, Placement, Step, plan, volume_file

POOL = Path("/pool")
GIB = 1 << 30
A, B, C = "vol-000000000000000a1", "vol-000000000000000b2", "vol-000000000000000c3"


def want(volume_id: str, size_gib: int = 1, **extra: object) -> DesiredVolume:
    return from_json(DesiredVolume, {"volume_id": volume_id, "size_bytes": size_gib * GIB, **extra})


def host(pool: dict[str, int] | None = None, placements: dict[str, Placement] | None = None,
         outside: dict[str, int] | None = None, pending_roots: frozenset[str] = frozenset()) -> HostVolumes:
    return HostVolumes(pool or {}, placements or {}, outside or {}, pending_roots)


def test_parse_reads_the_contract_fields_and_nulls() -> None:
    parsed = want(A, 8, snapshot_id=None, encryption_key=None, iops=3000, throughput_mibps=125, encrypted=False)
    assert parsed == DesiredVolume(A, 8 * GIB, None, None, False, 3000, 125)
    assert want(A, iops=None).iops is None


def test_missing_volumes_are_created_blank_or_restored() -> None:
    actions = plan([want(A), want(B, 2, snapshot_id="snap-0123456789abcdef0")], host(), POOL)
    assert actions == [Action(Step.CREATE, A, POOL / f"{A}.qcow2", GIB),
                       Action(Step.RESTORE, B, POOL / f"{B}.qcow2", 2 * GIB)]


def test_an_existing_file_of_the_right_size_needs_nothing_and_is_never_shrunk() -> None:
    assert plan([want(A, 1)], host({A: GIB}), POOL) == []
    assert plan([want(A, 1)], host({A: 4 * GIB}), POOL) == []


def test_growth_is_live_for_a_running_guest_and_in_the_file_otherwise() -> None:
    running = Placement("i-0000000000000000a", POOL / f"{A}.qcow2", running=True)
    stopped = Placement("i-0000000000000000b", POOL / f"{B}.qcow2", running=False)
    actions = plan([want(A, 2), want(B, 3), want(C, 4)], host({A: GIB, B: GIB, C: GIB}, {A: running, B: stopped}), POOL)
    assert actions == [Action(Step.GROW_FILE, B, POOL / f"{B}.qcow2", 3 * GIB),
                       Action(Step.GROW_FILE, C, POOL / f"{C}.qcow2", 4 * GIB),
                       Action(Step.GROW_LIVE, A, POOL / f"{A}.qcow2", 2 * GIB, "i-0000000000000000a")]


def test_unlisted_pool_files_are_deleted_unless_a_domain_still_uses_them() -> None:
    attached = Placement("i-0000000000000000a", POOL / f"{B}.qcow2", running=True)
    actions = plan([], host({A: GIB, B: GIB}, {B: attached}), POOL)
    assert actions == [Action(Step.DELETE, A, POOL / f"{A}.qcow2")]


def test_a_root_volume_lives_in_its_instance_directory_and_grows_there() -> None:
    root = Path("/compute/instances/i-0000000000000000a/root.qcow2")
    placement = Placement("i-0000000000000000a", root, running=True)
    state = host(placements={A: placement}, outside={A: GIB})
    assert volume_file(A, POOL, state) == root
    assert plan([want(A, 1)], state, POOL) == []
    assert plan([want(A, 8)], state, POOL) == [Action(Step.GROW_LIVE, A, root, 8 * GIB, "i-0000000000000000a")]


def test_a_root_volume_gets_the_caps_of_its_type() -> None:
    root = Path("/compute/instances/i-0000000000000000a/root.qcow2")
    placement = Placement("i-0000000000000000a", root, running=True)
    gp3 = want(A, 8, iops=3000, throughput_mibps=125)
    assert IoTune.of(gp3) == IoTune(3000, 125 << 20)
    assert plan([gp3], host(placements={A: placement}, outside={A: 8 * GIB}), POOL) == [
        Action(Step.RETUNE_ROOT, A, root, instance_id="i-0000000000000000a")]
    tuned = Placement("i-0000000000000000a", root, running=True, iotune=IoTune(3000, 125 << 20))
    assert plan([gp3], host(placements={A: tuned}, outside={A: 8 * GIB}), POOL) == []
    assert plan([gp3], host(placements={A: tuned}), POOL) == []  # its size unreadable: nothing is made


def test_a_listed_volume_keeps_its_pool_file_whatever_a_domain_says() -> None:
    root = Path("/compute/instances/i-0000000000000000a/root.qcow2")
    state = host({A: GIB}, {A: Placement("i-0000000000000000a", root, running=False)}, {A: GIB})
    assert plan([want(A, 1)], state, POOL) == []


def test_the_root_of_an_instance_about_to_spawn_is_left_to_compute() -> None:
    assert plan([want(A, 8), want(B)], host(pending_roots=frozenset({A})), POOL) == [
        Action(Step.CREATE, B, POOL / f"{B}.qcow2", GIB)]


# --- attachments -------------------------------------------------------------------------------------------

I1, I2 = "i-0000000000000000a", "i-0000000000000000b"


def attach(volume_id: str, iops: int | None = None, throughput: int | None = None) -> VolumeAttachment:
    return VolumeAttachment(volume_id, "/dev/sdf", iops, throughput, None)


def test_caps_become_libvirt_iotune() -> None:
    assert IoTune.of(attach(A, 3000, 125)) == IoTune(3000, 125 << 20)
    assert IoTune.of(attach(A)) == IoTune(None, None)
    assert IoTune(None, 5).as_libvirt() == {"total_iops_sec": 0, "total_bytes_sec": 5}


def test_wanted_volumes_are_attached_when_their_file_exists() -> None:
    actions = attachments.plan({I1: (attach(A), attach(B))}, {I1: {}}, available={A})
    assert actions == [attachments.Action(attachments.Step.ATTACH, I1, A, attach(A))]


def test_unwanted_volumes_are_detached_and_instances_without_domain_wait() -> None:
    actions = attachments.plan({I1: (), I2: (attach(A),)}, {I1: {B: IoTune()}}, available={A, B})
    assert actions == [attachments.Action(attachments.Step.DETACH, I1, B)]


def test_a_volume_moving_between_instances_is_detached_first_then_attached() -> None:
    actions = attachments.plan({I1: (), I2: (attach(A),)}, {I1: {A: IoTune()}, I2: {}}, available={A})
    assert [(a.step, a.instance_id) for a in actions] == [(attachments.Step.DETACH, I1),
                                                          (attachments.Step.ATTACH, I2)]


def test_a_volume_held_by_an_instance_that_keeps_it_is_not_attached_twice() -> None:
    actions = attachments.plan({I1: (attach(A),), I2: (attach(A),)}, {I1: {A: IoTune()}, I2: {}}, available={A})
    assert actions == []


def test_changed_caps_are_applied_to_the_attached_volume() -> None:
    actions = attachments.plan({I1: (attach(A, 500),)}, {I1: {A: IoTune(3000, None)}}, available={A})
    assert actions == [attachments.Action(attachments.Step.RETUNE, I1, A, attach(A, 500))]
    assert attachments.plan({I1: (attach(A, 500),)}, {I1: {A: IoTune(500, None)}}, available={A}) == []
