"""Reconciliation: from what the controller wants and what exists on the host, the actions to take.

Run at agent start (after an agent crash or a host reboot) and periodically. The planner is pure:
:func:`plan` takes the desired instances and an :class:`~agent.compute.spec.Inventory` and returns
actions in a safe order; :func:`apply` carries them out on a driver, one at a time, so one failure does
not stop the rest.

Rules (``desired`` holds every instance the controller has placed on this host; anything of ours
that is not in it is a leftover):
- running domain, wanted running or stopped-later: adopted as is (taps left in the root namespace by an
  interrupted plug are re-plugged);
- wanted running, domain shut off: started, unless the guest powered itself off: EC2 then reports the
  instance stopped instead of restarting it, so the agent reports it (GUEST_STOPPED);
- wanted running or stopped, no domain: spawned (started or not), keeping an existing root disk;
- wanted stopped, domain running: powered off; a shut-off domain whose size differs from the spec (instance
  type changed while the agent was away) is redefined;
- terminated or unknown: domain destroyed, directory and taps removed;
- a domain (running or not) whose NICs differ from the spec's (AttachNetworkInterface and
  DetachNetworkInterface): each NIC the spec lost is detached and each new one attached, compared by device
  index and MAC (an index that now carries another ENI is detached, then attached again). On a running
  domain that is a hot-plug (the tap is made in the root namespace, attached, then handed to the plugger)
  or a hot-unplug (asynchronous: the guest must let go, retried on later passes until it does); the
  definition changes too, so the NICs survive a stop/start. Detaches come first: the new NIC of a reused
  device index needs its tap name back;
- taps that no running or to-be-destroyed domain accounts for are orphans and removed before any start
  (a stale tap of the same name would make the start fail).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from enum import StrEnum

from agent.compute.driver import ComputeDriver, ComputeError
from agent.compute.spec import InstanceSpec, Inventory, NicSpec, PowerState

log = logging.getLogger("cloudlet.agent.compute")

ACTIVE = (PowerState.RUNNING, PowerState.PAUSED, PowerState.SHUTTING_DOWN)
#: How long one pass waits for a guest to release a hot-unplugged NIC (about a second under TCG); a guest that
#: takes longer is asked again on the next pass, without holding up the other instances' work.
NIC_DETACH_WAIT_SECONDS = 5.0


class Wanted(StrEnum):
    RUNNING = "running"
    STOPPED = "stopped"
    TERMINATED = "terminated"


@dataclass(frozen=True)
class Desired:
    """The controller's intent for one instance placed on this host."""

    state: Wanted
    spec: InstanceSpec | None = None

    def __post_init__(self) -> None:
        if self.state is not Wanted.TERMINATED and self.spec is None:
            raise ValueError("a running or stopped instance needs its spec")


class Step(StrEnum):
    #: In the order :func:`plan` emits them.
    DESTROY = "destroy"
    REMOVE_DISK = "remove-disk"
    REMOVE_TAPS = "remove-taps"
    STOP = "stop"
    REDEFINE = "redefine"
    DETACH_NIC = "detach-nic"
    ATTACH_NIC = "attach-nic"
    SPAWN = "spawn"
    SPAWN_STOPPED = "spawn-stopped"
    START = "start"
    REPLUG = "replug"
    ADOPT = "adopt"
    GUEST_STOPPED = "guest-stopped"


@dataclass(frozen=True)
class Action:
    step: Step
    instance_id: str = ""
    spec: InstanceSpec | None = None
    taps: tuple[str, ...] = ()
    nic: NicSpec | None = None


def _resized(spec: InstanceSpec, vcpus: int, memory_mib: int) -> bool:
    return spec.vcpus != vcpus or spec.memory_mib != memory_mib


def nic_changes(wanted: tuple[NicSpec, ...], present: tuple[NicSpec, ...],
                defined: tuple[NicSpec, ...] | None = None) -> tuple[list[NicSpec], list[NicSpec]]:
    """(NICs to detach, NICs to attach), each in device index order. A NIC is its device index and MAC (the
    ENI's identity to the guest): the same ENI at another index, or another ENI at the same index, is a
    detach and an attach. ``present`` is what the guest holds, ``defined`` the domain's definition (None: the
    same): a wanted NIC missing from either is attached (the driver adds only what is missing), one the guest
    holds unwanted is detached (again on every pass until the guest lets go)."""
    def key(nic: NicSpec) -> tuple[int, str]:
        return nic.device_index, nic.mac

    wanted_keys = {key(n) for n in wanted}
    complete = {key(n) for n in present} & {key(n) for n in (present if defined is None else defined)}
    return (sorted((n for n in present if key(n) not in wanted_keys), key=key),
            sorted((n for n in wanted if key(n) not in complete), key=key))


def plan(desired: dict[str, Desired], inventory: Inventory) -> list[Action]:
    """The actions that bring the host to ``desired`` (see the module docstring), in execution order."""
    actions: list[Action] = []
    accounted_taps: set[str] = set()
    running = {i for i, info in inventory.domains.items() if info.state in ACTIVE}

    for instance_id in sorted(set(inventory.domains) | inventory.disks | set(desired)):
        want = desired.get(instance_id, Desired(Wanted.TERMINATED))
        info = inventory.domains.get(instance_id)
        taps = inventory.domain_taps.get(instance_id, ())
        spec = want.spec
        if want.state is Wanted.TERMINATED or spec is None:
            if info is not None:
                actions.append(Action(Step.DESTROY, instance_id, taps=taps))
                accounted_taps.update(taps)
            elif instance_id in inventory.disks:
                actions.append(Action(Step.REMOVE_DISK, instance_id))
            continue
        if info is None:
            step = Step.SPAWN if want.state is Wanted.RUNNING else Step.SPAWN_STOPPED
            actions.append(Action(step, instance_id, spec))
            continue
        present = inventory.domain_nics.get(instance_id)
        if present is not None:
            detach, attach = nic_changes(spec.nics, present, inventory.defined_nics.get(instance_id))
            actions += [Action(Step.DETACH_NIC, instance_id, nic=nic) for nic in detach]
            actions += [Action(Step.ATTACH_NIC, instance_id, nic=nic) for nic in attach]
        if instance_id in running:
            accounted_taps.update(taps)
            if want.state is Wanted.STOPPED:
                actions.append(Action(Step.STOP, instance_id))
                continue
            actions.append(Action(Step.ADOPT, instance_id))
            unplugged = tuple(t for t in taps if t in inventory.unplugged_taps)
            if unplugged:
                actions.append(Action(Step.REPLUG, instance_id, taps=unplugged))
            continue
        if _resized(spec, info.vcpus, info.memory_mib):
            actions.append(Action(Step.REDEFINE, instance_id, spec))
        if want.state is Wanted.RUNNING:
            if info.stopped_by_guest:
                actions.append(Action(Step.GUEST_STOPPED, instance_id))
            else:
                actions.append(Action(Step.START, instance_id))

    orphans = tuple(sorted((inventory.unplugged_taps | inventory.plugged_taps) - accounted_taps))
    if orphans:
        actions.append(Action(Step.REMOVE_TAPS, taps=orphans))
    order = list(Step)
    return sorted(actions, key=lambda action: order.index(action.step))


@dataclass(frozen=True)
class Outcome:
    action: Action
    ok: bool
    error: str = ""


def apply(driver: ComputeDriver, actions: list[Action]) -> list[Outcome]:
    """Carry out ``actions`` in order; a failed action is logged and recorded, the others still run."""
    outcomes = []
    for action in actions:
        try:
            _apply_one(driver, action)
        except (ComputeError, OSError) as exc:
            log.warning("reconcile %s %s failed: %s", action.step.value, action.instance_id or action.taps, exc)
            outcomes.append(Outcome(action, False, str(exc)))
        else:
            if action.step not in (Step.ADOPT, Step.GUEST_STOPPED):
                log.info("reconcile: %s %s", action.step.value, action.instance_id or " ".join(action.taps))
            outcomes.append(Outcome(action, True))
    return outcomes


def _apply_one(driver: ComputeDriver, action: Action) -> None:
    match action.step:
        case Step.DESTROY:
            driver.destroy(action.instance_id)
        case Step.REMOVE_DISK:
            driver.remove_leftovers(action.instance_id)
        case Step.REMOVE_TAPS:
            driver.remove_leftovers(taps=action.taps)
        case Step.STOP:
            driver.power_off(action.instance_id)
        case Step.REDEFINE:
            assert action.spec is not None
            driver.update_instance(action.spec)
        case Step.SPAWN | Step.SPAWN_STOPPED:
            assert action.spec is not None
            driver.spawn(action.spec, start=action.step is Step.SPAWN)
        case Step.DETACH_NIC:
            assert action.nic is not None
            driver.detach_nic(action.instance_id, action.nic, timeout=NIC_DETACH_WAIT_SECONDS)
        case Step.ATTACH_NIC:
            assert action.nic is not None
            driver.attach_nic(action.instance_id, action.nic)
        case Step.START:
            driver.power_on(action.instance_id)
        case Step.REPLUG:
            driver.plug_vifs(action.instance_id)
        case Step.ADOPT | Step.GUEST_STOPPED:
            pass  # nothing to do on the host: the agent reports these to the controller
