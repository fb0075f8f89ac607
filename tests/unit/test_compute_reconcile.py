"""Reconciliation planning (pure) and its execution against the in-memory driver."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from agent.compute.driver import InstanceExists, InstanceNotFound, InvalidInstanceState, VolumeNotAttached
from agent.compute.memory import InMemoryComputeDriver
from agent.compute.reconcile import Action, Desired, Step, Wanted, apply, plan
from agent.compute.spec import (
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
from agent.contract.naming import tap_name

BOOT = BootSpec(BootMode.DIRECT_KERNEL, Path("/k"), Path("/i"), "console=ttyS0")


def spec(n: int, *, vcpus: int = 1, memory_mib: int = 256) -> InstanceSpec:
    instance_id = f"i-{n:08x}{n:09x}"  # distinct first 8 hex digits: distinct taps
    return InstanceSpec(instance_id, vcpus, memory_mib, BOOT, RootDiskSpec(Path("/base"), 2**30, f"vol-{n:017x}"),
                        nics=(NicSpec(0, f"02:00:00:00:00:{n:02x}", f"eni-{n:017x}"),))


def info(s: InstanceSpec, state: PowerState, *, by_guest: bool = False) -> InstanceInfo:
    return InstanceInfo(s.instance_id, state, s.vcpus, s.memory_mib, stopped_by_guest=by_guest)


def tap(s: InstanceSpec) -> str:
    return tap_name(s.instance_id, 0)


def inventory(*domains: tuple[InstanceSpec, PowerState], disks: tuple[InstanceSpec, ...] = (),
              unplugged: tuple[str, ...] = (), plugged: tuple[str, ...] = (),
              by_guest: tuple[InstanceSpec, ...] = ()) -> Inventory:
    return Inventory(
        domains={s.instance_id: info(s, state, by_guest=s in by_guest) for s, state in domains},
        domain_taps={s.instance_id: (tap(s),) for s, _ in domains},
        disks=frozenset(s.instance_id for s in disks) | frozenset(s.instance_id for s, _ in domains),
        unplugged_taps=frozenset(unplugged), plugged_taps=frozenset(plugged))


def steps(actions: list[Action]) -> list[tuple[Step, str]]:
    return [(a.step, a.instance_id) for a in actions]


A, B, C = spec(1), spec(2), spec(3)


def test_running_instance_is_adopted_untouched() -> None:
    actions = plan({A.instance_id: Desired(Wanted.RUNNING, A)},
                   inventory((A, PowerState.RUNNING), plugged=(tap(A),)))
    assert steps(actions) == [(Step.ADOPT, A.instance_id)]


def test_interrupted_plug_is_replugged() -> None:
    actions = plan({A.instance_id: Desired(Wanted.RUNNING, A)},
                   inventory((A, PowerState.RUNNING), unplugged=(tap(A),)))
    assert steps(actions) == [(Step.REPLUG, A.instance_id), (Step.ADOPT, A.instance_id)]
    assert actions[0].taps == (tap(A),)


def test_after_a_host_reboot_instances_that_should_run_are_started() -> None:
    actions = plan({A.instance_id: Desired(Wanted.RUNNING, A), B.instance_id: Desired(Wanted.STOPPED, B)},
                   inventory((A, PowerState.SHUTOFF), (B, PowerState.SHUTOFF)))
    assert steps(actions) == [(Step.START, A.instance_id)]


def test_guest_initiated_poweroff_is_reported_not_undone() -> None:
    actions = plan({A.instance_id: Desired(Wanted.RUNNING, A)},
                   inventory((A, PowerState.SHUTOFF), by_guest=(A,)))
    assert steps(actions) == [(Step.GUEST_STOPPED, A.instance_id)]


def test_missing_domains_are_spawned_started_or_not() -> None:
    actions = plan({A.instance_id: Desired(Wanted.RUNNING, A), B.instance_id: Desired(Wanted.STOPPED, B)},
                   inventory(disks=(A,)))
    assert steps(actions) == [(Step.SPAWN, A.instance_id), (Step.SPAWN_STOPPED, B.instance_id)]
    assert actions[0].spec == A


def test_stop_requested_while_away_is_carried_out() -> None:
    actions = plan({A.instance_id: Desired(Wanted.STOPPED, A)}, inventory((A, PowerState.RUNNING), plugged=(tap(A),)))
    assert steps(actions) == [(Step.STOP, A.instance_id)]


def test_instance_type_changed_while_away_is_redefined_before_start() -> None:
    bigger = dataclasses.replace(A, vcpus=2, memory_mib=512)
    actions = plan({A.instance_id: Desired(Wanted.RUNNING, bigger)}, inventory((A, PowerState.SHUTOFF)))
    assert steps(actions) == [(Step.REDEFINE, A.instance_id), (Step.START, A.instance_id)]
    assert actions[0].spec == bigger
    # A running instance is never redefined under the guest: that waits for its next stop.
    running = plan({A.instance_id: Desired(Wanted.RUNNING, bigger)}, inventory((A, PowerState.RUNNING)))
    assert steps(running) == [(Step.ADOPT, A.instance_id)]


def test_terminated_and_unknown_instances_are_removed_with_their_leftovers() -> None:
    actions = plan({A.instance_id: Desired(Wanted.TERMINATED)},
                   inventory((A, PowerState.RUNNING), (B, PowerState.SHUTOFF), disks=(C,), plugged=(tap(A),)))
    assert steps(actions) == [(Step.DESTROY, A.instance_id), (Step.DESTROY, B.instance_id),
                              (Step.REMOVE_DISK, C.instance_id)]
    # A's tap goes with its domain: no separate REMOVE_TAPS for it.
    assert all(a.step is not Step.REMOVE_TAPS for a in actions)


def test_orphan_and_stale_taps_are_removed_before_any_start() -> None:
    orphan = tap_name("i-000000990000000aa", 0)
    actions = plan({A.instance_id: Desired(Wanted.RUNNING, A)},
                   inventory((A, PowerState.SHUTOFF), unplugged=(orphan,), plugged=(tap(A),)))
    assert steps(actions) == [(Step.REMOVE_TAPS, ""), (Step.START, A.instance_id)]
    assert actions[0].taps == tuple(sorted((orphan, tap(A))))


def test_nothing_to_do_on_an_empty_host() -> None:
    assert plan({}, Inventory()) == []


def test_desired_needs_a_spec_unless_terminated() -> None:
    with pytest.raises(ValueError):
        Desired(Wanted.RUNNING)


# -- execution against the in-memory driver -------------------------------------------------------------------


def converge(driver: InMemoryComputeDriver, desired: dict[str, Desired]) -> list[Action]:
    actions = plan(desired, driver.inventory())
    assert all(outcome.ok for outcome in apply(driver, actions))
    return actions


def test_converges_after_a_host_loss_and_is_then_idle() -> None:
    driver = InMemoryComputeDriver()
    driver.spawn(A)
    driver.spawn(B)
    driver.spawn(C)
    driver.lose_host()
    desired = {A.instance_id: Desired(Wanted.RUNNING, A), B.instance_id: Desired(Wanted.STOPPED, B)}
    converge(driver, desired)
    assert driver.get_info(A.instance_id).state is PowerState.RUNNING
    assert driver.get_info(B.instance_id).state is PowerState.SHUTOFF
    assert C.instance_id not in driver.list_instances() and C.instance_id not in driver.disks
    assert driver.plugged == {tap(A)} and driver.root_taps == set()
    # A second pass finds nothing to change.
    assert {a.step for a in plan(desired, driver.inventory())} == {Step.ADOPT}


def test_a_failed_action_does_not_stop_the_others() -> None:
    driver = InMemoryComputeDriver()
    driver.spawn(A)
    driver.root_taps.add(tap(B))  # B's tap exists already: spawning B must fail
    outcomes = apply(driver, [Action(Step.SPAWN, B.instance_id, B), Action(Step.DESTROY, A.instance_id)])
    assert [o.ok for o in outcomes] == [False, True]
    assert "already exists" in outcomes[0].error
    assert driver.list_instances() == [] and driver.disks == set()


def test_in_memory_driver_keeps_the_driver_contracts() -> None:
    driver = InMemoryComputeDriver()
    driver.spawn(A)
    with pytest.raises(InstanceExists):
        driver.spawn(A)
    with pytest.raises(InvalidInstanceState):
        driver.update_instance(dataclasses.replace(A, vcpus=4))
    assert driver.power_off(A.instance_id) is True
    driver.update_instance(dataclasses.replace(A, vcpus=4))
    driver.power_on(A.instance_id)
    assert driver.get_info(A.instance_id).vcpus == 4
    volume = VolumeSpec("vol-000000000000000aa", Path("/v"))
    assert driver.attach_volume(A.instance_id, volume) == "vdb"
    assert driver.attach_volume(A.instance_id, volume) == "vdb"
    driver.detach_volume(A.instance_id, volume.volume_id)
    with pytest.raises(VolumeNotAttached):
        driver.detach_volume(A.instance_id, volume.volume_id)
    assert b"boot 2" in driver.get_console_output(A.instance_id)
    driver.guest_poweroff(A.instance_id)
    assert driver.get_info(A.instance_id).stopped_by_guest
    with pytest.raises(InvalidInstanceState):
        driver.reboot(A.instance_id)
    assert driver.destroy(A.instance_id) is None
    driver.destroy(A.instance_id)
    with pytest.raises(InstanceNotFound):
        driver.get_info(A.instance_id)
    assert driver.inventory() == Inventory()
