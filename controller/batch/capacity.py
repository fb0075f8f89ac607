"""How many instances a MANAGED EC2 or SPOT compute environment should run: pure rules, no I/O.

AWS Batch sizes such an environment to its queues' demand: "desiredvCpus" follows the vCPUs its RUNNABLE jobs
and its running jobs need, never below ``minvCpus`` nor above ``maxvCpus``, in whole instances of the types it
may launch (AWS may exceed ``maxvCpus`` by less than one instance to round up; so does :func:`plan`). An
instance no job has used for the scale-down delay is terminated while the environment holds more than it
needs; AWS scales down the same way, never below ``minvCpus``. The scaler (``controller.batch.scaler``) reads
the facts, asks :func:`plan`, and launches and terminates what it answers.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

#: What "optimal" (and an instance type Cloudlet does not offer) launches: the smallest burstable type of the
#: EC2 catalogue with two vCPUs, so that a guest stays small under emulation.
DEFAULT_INSTANCE_TYPE = "t3.micro"


@dataclass(frozen=True)
class Member:
    """An instance the environment launched (or one that registered with it), as the scaler sees it."""

    instance_id: str
    #: when it last ran no attempt (ms); None while it runs one
    idle_since: int | None


@dataclass(frozen=True)
class Fleet:
    """One environment's bounds, demand and instances."""

    environment_arn: str
    min_vcpus: int
    max_vcpus: int
    #: vCPUs of one instance of the type it launches
    instance_vcpus: int
    #: vCPUs its RUNNABLE jobs and its placed attempts need
    demand_vcpus: float
    members: tuple[Member, ...]
    #: desiredvCpus as it stands (the caller's at creation or update, else the last pass's)
    requested_vcpus: int = 0


@dataclass(frozen=True)
class Plan:
    environment_arn: str
    desired_vcpus: int
    launch: int
    terminate: tuple[str, ...]


def choose_instance_type(instance_types: Sequence[str], catalogue: Mapping[str, int]) -> str:
    """The type to launch: the first of ``instanceTypes`` the catalogue (name -> vCPUs) offers, the default for
    "optimal" or a family name Cloudlet cannot size."""
    for name in instance_types:
        if name in catalogue:
            return name
    return DEFAULT_INSTANCE_TYPE


def desired_vcpus(min_vcpus: int, max_vcpus: int, demand_vcpus: float, instance_vcpus: int) -> int:
    """The environment's desiredvCpus: demand clamped to [min, max], rounded up to whole instances."""
    wanted = min(max(float(min_vcpus), demand_vcpus), float(max_vcpus))
    return instances_for(wanted, instance_vcpus) * instance_vcpus


def instances_for(vcpus: float, instance_vcpus: int) -> int:
    return max(0, math.ceil(vcpus / max(instance_vcpus, 1) - 1e-9))


def plan(fleet: Fleet, now_ms: int, scale_down_delay_ms: int) -> Plan:
    """What to launch and terminate now, and the desiredvCpus that results.

    Launch up to what the demand needs, or up to the desiredvCpus asked (a caller's CreateComputeEnvironment
    or UpdateComputeEnvironment may ask for capacity before any job); above what the demand needs, terminate
    the instances idle for at least the delay, the longest idle first, never one that runs an attempt. The
    resulting desiredvCpus is what the demand needs or, if more, what is kept (within the asked), so capacity
    asked once is not launched again after it idled away."""
    size = max(fleet.instance_vcpus, 1)
    needed = desired_vcpus(fleet.min_vcpus, fleet.max_vcpus, fleet.demand_vcpus, size)
    asked = desired_vcpus(fleet.min_vcpus, fleet.max_vcpus, fleet.requested_vcpus, size)
    have = len(fleet.members)
    launch = max(0, max(needed, asked) // size - have)
    idle = sorted((member for member in fleet.members
                   if member.idle_since is not None and now_ms - member.idle_since >= scale_down_delay_ms),
                  key=lambda member: (member.idle_since, member.instance_id))
    terminate = tuple(member.instance_id for member in idle[:max(0, have - needed // size)]) if not launch else ()
    kept = (have + launch - len(terminate)) * size
    return Plan(fleet.environment_arn, max(needed, min(asked, kept)), launch, terminate)


def demand_per_environment(jobs: Iterable[tuple[str, float]], queue_environments: Mapping[str, Sequence[str]],
                           scalable: Mapping[str, float]) -> dict[str, float]:
    """Per scalable environment (ARN -> vCPUs of one of its instances), the vCPUs of the RUNNABLE jobs
    ``(queue ARN, vCPUs)`` it would run: each job counts once, for the first scalable environment of its
    queue's order whose instances can hold it (a job no instance can hold asks for nothing)."""
    demand: dict[str, float] = {}
    for queue_arn, vcpus in jobs:
        for arn in queue_environments.get(queue_arn, ()):
            if arn in scalable and vcpus <= scalable[arn] + 1e-9:
                demand[arn] = demand.get(arn, 0.0) + vcpus
                break
    return demand
