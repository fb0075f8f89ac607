"""Which RUNNABLE Batch jobs start now, and where: pure rules, no I/O.

The dispatcher (``controller.batch.dispatch``) reads the RUNNABLE jobs, the queues, the compute environments
with the vCPUs their running attempts hold, and the hosts able to run Batch containers with what they have
free; :func:`schedule` answers with placements. AWS's rules, as far as they bind a single scheduler pass:

* job queues are served by ``priority``, the higher first ("job queues with a higher priority are evaluated
  first"); only ENABLED queues are served, and only through their ENABLED, VALID compute environments, in
  the queue's ``computeEnvironmentOrder``;
* within a queue, jobs run in submission order (FIFO); a queue with a scheduling policy is served by fair
  share instead: the share identifier with the least usage relative to its weight goes first (AWS: "a lower
  weight factor gives a share identifier more of the compute resources"), then scheduling priority, then
  submission order;
* an environment never holds more than its ``maxvCpus``, a target never more than its free vCPUs and memory.

Targets are where attempts run: the hosts' agents (FARGATE environments, shared by all of them) and the
container instances of EC2 and SPOT environments (each serving only the environment it registered with, as an
ECS container instance belongs to one cluster): a job of an EC2 environment never lands on a host's agent.

A job that fits nowhere now does not block the jobs behind it (they may be smaller): it stays RUNNABLE.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Job:
    """A RUNNABLE job (or array child) waiting for room."""

    job_id: str
    queue_arn: str
    created_at: int
    vcpus: float
    memory_mib: int
    #: schedulingPriority (fair-share queues only: the higher first)
    priority: int = 0
    share: str | None = None


@dataclass(frozen=True)
class Queue:
    arn: str
    priority: int
    enabled: bool
    #: compute environment ARNs in computeEnvironmentOrder's order
    environments: tuple[str, ...]
    fair_share: bool = False
    #: share identifier -> weightFactor (absent: 1.0)
    weights: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Environment:
    arn: str
    usable: bool
    max_vcpus: float
    #: vCPUs its STARTING and RUNNING attempts hold
    running_vcpus: float = 0.0
    #: whether its jobs run on its own container instances (EC2, SPOT, UNMANAGED) rather than hosts' agents
    on_instances: bool = False


@dataclass(frozen=True)
class Host:
    """A target: a host's agent (``environments`` None) or a container instance of the environments named."""

    host_id: str
    free_vcpus: float
    free_memory_mib: int
    environments: frozenset[str] | None = None


def serves(host: Host, env: Environment) -> bool:
    """Whether attempts of ``env`` may run on ``host``."""
    if host.environments is None:
        return not env.on_instances
    return env.on_instances and env.arn in host.environments


@dataclass(frozen=True)
class Placement:
    job_id: str
    host_id: str
    environment_arn: str


def queue_order(queues: Iterable[Queue]) -> list[Queue]:
    """ENABLED queues, the highest priority first (ties by ARN, so a pass is deterministic)."""
    return sorted((queue for queue in queues if queue.enabled), key=lambda queue: (-queue.priority, queue.arn))


def fifo(jobs: Iterable[Job]) -> list[Job]:
    return sorted(jobs, key=lambda job: (job.created_at, job.job_id))


def fair_share(jobs: Iterable[Job], weights: Mapping[str, float],
               usage: Mapping[str, float] | None = None) -> list[Job]:
    """A fair-share queue's jobs in the order they are offered room: repeatedly the share whose usage
    (vCPUs already running plus those offered so far) times its weight is lowest, and within a share the
    highest scheduling priority, then the oldest."""
    by_share: dict[str, list[Job]] = defaultdict(list)
    for job in sorted(jobs, key=lambda job: (-job.priority, job.created_at, job.job_id)):
        by_share[job.share or ""].append(job)
    used = defaultdict(float, usage or {})
    out: list[Job] = []
    while by_share:
        share = min(by_share, key=lambda name: (used[name] * weights.get(name, 1.0), name))
        job = by_share[share].pop(0)
        out.append(job)
        used[share] += max(job.vcpus, 0.01)
        if not by_share[share]:
            del by_share[share]
    return out


def _fits(host: Host, job: Job, free: dict[str, tuple[float, int]]) -> bool:
    vcpus, memory = free[host.host_id]
    return vcpus + 1e-9 >= job.vcpus and memory >= job.memory_mib


def schedule(jobs: Iterable[Job], queues: Iterable[Queue], environments: Iterable[Environment],
             hosts: Iterable[Host], share_usage: Mapping[str, Mapping[str, float]] | None = None,
             limit: int | None = None) -> list[Placement]:
    """The attempts to start now: each a job, the host it runs on and the environment it counts against.

    ``share_usage`` is, per fair-share queue ARN, the vCPUs each share identifier already runs; ``limit``
    caps how many placements one pass makes (the rest wait for the next pass)."""
    by_queue: dict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        by_queue[job.queue_arn].append(job)
    envs = {env.arn: env for env in environments}
    env_used = {arn: env.running_vcpus for arn, env in envs.items()}
    host_list = list(hosts)
    free = {host.host_id: (host.free_vcpus, host.free_memory_mib) for host in host_list}
    placements: list[Placement] = []
    for queue in queue_order(queues):
        waiting = by_queue.get(queue.arn, [])
        ordered = (fair_share(waiting, queue.weights, (share_usage or {}).get(queue.arn)) if queue.fair_share
                   else fifo(waiting))
        for job in ordered:
            if limit is not None and len(placements) >= limit:
                return placements
            placed = _place(job, queue, envs, env_used, host_list, free)
            if placed is not None:
                placements.append(placed)
    return placements


def _place(job: Job, queue: Queue, envs: Mapping[str, Environment], env_used: dict[str, float],
           hosts: list[Host], free: dict[str, tuple[float, int]]) -> Placement | None:
    """The first environment of the queue with room for ``job`` and, among its targets, the one with the most
    free vCPUs that fits it (spreading attempts); the capacities it takes are subtracted."""
    for arn in queue.environments:
        env = envs.get(arn)
        if env is None or not env.usable or env_used[arn] + job.vcpus > env.max_vcpus + 1e-9:
            continue
        fitting = [host for host in hosts if serves(host, env) and _fits(host, job, free)]
        if not fitting:
            if env.on_instances:
                continue  # its own instances are full: the queue's next environment may have room
            return None  # hosts are shared by every environment: none has room now
        host = max(fitting, key=lambda host: (free[host.host_id][0], host.host_id))
        vcpus, memory = free[host.host_id]
        free[host.host_id] = (vcpus - job.vcpus, memory - job.memory_mib)
        env_used[arn] += job.vcpus
        return Placement(job.job_id, host.host_id, arn)
    return None
