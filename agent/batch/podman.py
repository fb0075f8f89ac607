"""Podman command lines for Batch job attempts, and the parsing of what podman says back (pure: no I/O).

Every podman call carries the same global options (``Podman.base``): a container created with one
storage root, runtime or cgroup manager is invisible or broken under another. Hosts run without
systemd, so the cgroup manager is ``cgroupfs`` and events go to a file (journald may be absent).

The runtime is ``runc``, not podman's default ``crun``: these hosts mount cgroup v1 with a cgroup2
hierarchy beside it that still holds a controller (hugetlb), and crun 1.8 refuses that "hybrid" layout
("cgroups in hybrid mode not supported, drop all controllers from cgroupv2"); runc runs there and on
pure v1 or v2 hosts alike.

Ulimits are always explicit: podman as root otherwise asks for ``nofile=1048576`` and the agent may run
without CAP_SYS_RESOURCE under a lower hard limit, and then every container fails with "setrlimit
RLIMIT_NOFILE: Operation not permitted". Requests are clamped to the host's hard limits (``HostLimits``).

A container is never started with ``--rm``: its exit code and OOM state must be read after it exits,
then the runner removes it. Names, labels and log files all start with ``cloudlet-batch-`` /
``cloudlet.batch.`` so leftovers are easy to find (``ps_argv``) and clean.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import NamedTuple

NAME_PREFIX = "cloudlet-batch-"
LABEL_JOB = "cloudlet.batch.job"
LABEL_ATTEMPT = "cloudlet.batch.attempt"
LABEL_TIMEOUT = "cloudlet.batch.timeout"
RESERVED_LABEL_PREFIX = "cloudlet."
#: Beside the attempt's log: the pid of its conmon, which exits when the container does (``agent.batch.exits``).
CONMON_PIDFILE = "conmon.pid"

#: Fargate's default ``nofile`` (soft and hard) for tasks on platform 1.4.
DEFAULT_NOFILE = 65535
#: Podman 4.3 lowers its own RLIMIT_NPROC hard limit to 32768 before starting the runtime, so more fails.
NPROC_CEILING = 32768
DEFAULT_PIDS_LIMIT = 4096
#: AWS sends SIGTERM, then SIGKILL 30 seconds later (TerminateJob, timeouts).
STOP_GRACE_S = 30

SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
RUNNING = "RUNNING"
STARTING = "STARTING"
EXITED_REASON = "Essential container in task exited"
OOM_REASON = "OutOfMemoryError: Container killed due to memory usage"
TIMEOUT_REASON = "Job attempt duration exceeded timeout"
MISSING_REASON = "CannotInspectContainerError: the container is gone from the host"


@dataclass(frozen=True)
class Ulimit:
    """One ``containerProperties.ulimits`` entry (``name`` as Docker spells it: nofile, nproc, core, ...)."""

    name: str
    soft: int
    hard: int


@dataclass(frozen=True)
class Mount:
    """One mount point: a host directory (``source``) or, with ``source`` None, the attempt's scratch volume
    ``volume`` (a directory beside its log, removed with it)."""

    volume: str
    source: str | None
    target: str
    read_only: bool = False


@dataclass(frozen=True)
class AttemptSpec:
    """What the controller sends to run one attempt of one job (or array child) on this host."""

    job_id: str
    attempt: int
    #: A local image id (what ``ContainerRunner.ensure_image`` returns) or a reference already loaded.
    image: str
    command: tuple[str, ...] = ()
    environment: Mapping[str, str] = field(default_factory=dict)
    vcpus: float = 1.0
    memory_mib: int = 2048
    timeout_s: int | None = None
    workdir: str | None = None
    user: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    #: ``none`` without a job ENI, ``ns:/run/netns/<name>`` for the attempt's namespace (``job_network``).
    network: str = "none"
    #: The resolvers of the job's ``/etc/resolv.conf`` (the VPC's Amazon-provided DNS).
    dns: tuple[str, ...] = ()
    ulimits: tuple[Ulimit, ...] = ()
    read_only_root: bool = False
    #: ``linuxParameters.initProcessEnabled`` (needs catatonit on the host).
    init_process: bool = False
    shared_memory_mib: int | None = None
    pids_limit: int = DEFAULT_PIDS_LIMIT
    #: ``containerProperties.secrets`` read for this attempt: named on podman's command line, their values
    #: handed to podman in its own environment (``secret_environment``), never in an argv ``ps`` shows.
    secrets: Mapping[str, str] = field(default_factory=dict)
    mounts: tuple[Mount, ...] = ()
    #: ``host:container:rwm`` (``linuxParameters.devices``)
    devices: tuple[str, ...] = ()
    #: ``path:size=<n>m[,options]`` (``linuxParameters.tmpfs``)
    tmpfs: tuple[str, ...] = ()


@dataclass(frozen=True)
class Podman:
    """The global options every podman call of the agent shares."""

    runtime: str = "runc"
    cgroup_manager: str = "cgroupfs"
    events_backend: str = "file"
    #: Separate storage (tests, or to keep Batch images apart from an operator's own podman use).
    root: str | None = None
    runroot: str | None = None

    def base(self) -> list[str]:
        argv = ["podman", f"--runtime={self.runtime}", f"--cgroup-manager={self.cgroup_manager}",
                f"--events-backend={self.events_backend}"]
        if self.root:
            argv.append(f"--root={self.root}")
        if self.runroot:
            argv.append(f"--runroot={self.runroot}")
        return argv


@dataclass(frozen=True)
class HostLimits:
    """The hard limits the agent runs under: no container can be given more."""

    nofile: int
    nproc: int


class Outcome(NamedTuple):
    """A poll's answer: a Batch state, the container's exit code once it exited, and the status reason."""

    state: str
    exit_code: int | None
    reason: str | None


class LogLine(NamedTuple):
    timestamp_ms: int
    stream: str
    message: str
    #: the byte just past this line in what was parsed (the runner makes it the log file's offset): the
    #: controller ingests a line once, whatever an unanswered report made the agent send again
    end: int = 0


def container_name(job_id: str, attempt: int) -> str:
    """``cloudlet-batch-<jobid>-<attempt>``, with what podman refuses in names (``:`` of array children,
    ``#`` of node indexes, ...) turned into ``_``; the exact job id is in the labels."""
    safe = re.sub(r"[^a-zA-Z0-9_.-]", "_", job_id)[:200]
    return f"{NAME_PREFIX}{safe}-{attempt}"


def effective_ulimits(spec: AttemptSpec, limits: HostLimits) -> list[Ulimit]:
    """The job's ulimits plus the defaults for nofile and nproc, each clamped to the host's hard limit."""
    ceilings = {"nofile": limits.nofile, "nproc": min(limits.nproc, NPROC_CEILING)}
    wanted = {"nofile": Ulimit("nofile", DEFAULT_NOFILE, DEFAULT_NOFILE),
              "nproc": Ulimit("nproc", NPROC_CEILING, NPROC_CEILING)}
    for ulimit in spec.ulimits:
        wanted[ulimit.name] = ulimit
    result = []
    for name, ulimit in wanted.items():
        ceiling = ceilings.get(name)
        hard = ulimit.hard if ceiling is None else min(ulimit.hard, ceiling)
        result.append(Ulimit(name, min(ulimit.soft, hard), hard))
    return result


def run_argv(podman: Podman, spec: AttemptSpec, log_path: str, limits: HostLimits) -> list[str]:
    """``podman run --detach`` for the attempt; prints the container id. Memory is a hard limit without
    swap, as in Batch: going over it is an OOM kill (exit 137)."""
    labels = {key: value for key, value in spec.labels.items() if not key.startswith(RESERVED_LABEL_PREFIX)}
    labels[LABEL_JOB] = spec.job_id
    labels[LABEL_ATTEMPT] = str(spec.attempt)
    if spec.timeout_s is not None:
        labels[LABEL_TIMEOUT] = str(spec.timeout_s)
    environment = dict(spec.environment)
    environment["AWS_BATCH_JOB_ID"] = spec.job_id
    environment["AWS_BATCH_JOB_ATTEMPT"] = str(spec.attempt)
    argv = [*podman.base(), "run", "--detach", "--pull=never", "--name", container_name(spec.job_id, spec.attempt),
            "--network", spec.network, f"--cpus={spec.vcpus:g}", f"--memory={spec.memory_mib}m",
            f"--memory-swap={spec.memory_mib}m", f"--pids-limit={spec.pids_limit}",
            "--log-driver=k8s-file", f"--log-opt=path={log_path}",
            f"--conmon-pidfile={Path(log_path).parent / CONMON_PIDFILE}"]
    for server in spec.dns:
        argv.append(f"--dns={server}")
    for ulimit in effective_ulimits(spec, limits):
        argv.append(f"--ulimit={ulimit.name}={ulimit.soft}:{ulimit.hard}")
    for key, value in sorted(labels.items()):
        argv += ["--label", f"{key}={value}"]
    for key, value in sorted(environment.items()):
        argv += ["--env", f"{key}={value}"]
    if spec.workdir:
        argv += ["--workdir", spec.workdir]
    if spec.user:
        argv += ["--user", spec.user]
    if spec.read_only_root:
        argv.append("--read-only")
    if spec.init_process:
        argv.append("--init")
    if spec.shared_memory_mib:
        argv.append(f"--shm-size={spec.shared_memory_mib}m")
    for name in sorted(spec.secrets):
        argv += ["--env", name]  # the value comes from podman's environment (secret_environment)
    directory = Path(log_path).parent
    for mount in spec.mounts:
        source = mount.source or str(scratch_path(directory, mount.volume))
        argv += ["--volume", f"{source}:{mount.target}:{'ro' if mount.read_only else 'rw'}"]
    argv += [f"--device={device}" for device in spec.devices]
    argv += [f"--tmpfs={mount}" for mount in spec.tmpfs]
    return [*argv, spec.image, *spec.command]


def scratch_path(directory: Path, volume: str) -> Path:
    """Where the attempt's scratch volume ``volume`` lives: under its own directory, so it goes with it."""
    return directory / "volumes" / re.sub(r"[^a-zA-Z0-9_.-]", "_", volume)


def secret_environment(spec: AttemptSpec, environ: Mapping[str, str]) -> dict[str, str]:
    """The environment ``podman run`` is started in: the agent's own plus the attempt's secrets."""
    return {**environ, **spec.secrets}


def load_argv(podman: Podman, archive: str) -> list[str]:
    return [*podman.base(), "load", "--input", archive]


def image_inspect_argv(podman: Podman, reference: str) -> list[str]:
    return [*podman.base(), "image", "inspect", "--format", "{{.Id}}", reference]


def image_exists_argv(podman: Podman, reference: str) -> list[str]:
    return [*podman.base(), "image", "exists", reference]


def inspect_argv(podman: Podman, container: str) -> list[str]:
    """Full JSON, read for ``State`` (Status, ExitCode, OOMKilled, StartedAt) and ``Config.Labels``."""
    return [*podman.base(), "container", "inspect", "--format", "json", container]


def stop_argv(podman: Podman, container: str, grace_s: int = STOP_GRACE_S) -> list[str]:
    """SIGTERM, then SIGKILL after ``grace_s`` (podman does the waiting)."""
    return [*podman.base(), "stop", f"--time={grace_s}", container]


def rm_argv(podman: Podman, *containers: str) -> list[str]:
    """Force removal without a stop grace (callers stop first when a grace is due)."""
    return [*podman.base(), "rm", "--force", "--time=0", "--ignore", *containers]


def ps_argv(podman: Podman, label: str = LABEL_JOB) -> list[str]:
    """Every container (running or exited) carrying ``label``: what an agent finds after a restart."""
    return [*podman.base(), "ps", "--all", "--no-trunc", "--filter", f"label={label}", "--format", "json"]


def loaded_references(output: str) -> list[str]:
    """The references ``podman load`` reports ("Loaded image: a" or "Loaded image(s): a,b")."""
    refs: list[str] = []
    for line in output.splitlines():
        match = re.match(r"Loaded image(?:\(s\))?:\s*(.+)$", line.strip())
        if match:
            refs += [ref.strip() for ref in match.group(1).split(",") if ref.strip()]
    return refs


def is_oom_kill_of(record: str, container_id: str) -> bool:
    """Whether a kernel log record is the OOM killer acting in the container's memory cgroup.

    Podman's own ``OOMKilled`` stays false on cgroup v1 hosts (conmon misses the event when the killed
    process is the container's main one and exits at once), while the kernel's ``oom-kill:`` record
    always names the cgroup, ``.../libpod-<container id>``."""
    return "oom-kill:" in record and f"libpod-{container_id}" in record


def outcome(status: str, exit_code: int | None, *, oom_killed: bool, stop_reason: str | None) -> Outcome:
    """Batch's view of a container podman reports as ``status``.

    An attempt the agent stopped (TerminateJob, timeout) fails with the stop's reason whatever its exit
    code; an OOM kill fails with AWS's OutOfMemoryError reason; otherwise the exit code decides, and AWS
    gives "Essential container in task exited" as the reason either way."""
    if status in ("created", "configured", "initialized"):
        return Outcome(STARTING, None, None)
    if status in ("running", "paused", "stopping"):
        return Outcome(RUNNING, None, None)
    if stop_reason:
        return Outcome(FAILED, exit_code, stop_reason)
    if oom_killed:
        return Outcome(FAILED, exit_code, OOM_REASON)
    if exit_code == 0:
        return Outcome(SUCCEEDED, 0, EXITED_REASON)
    return Outcome(FAILED, exit_code, EXITED_REASON)


def parse_podman_time(text: str) -> float:
    """Epoch seconds of podman's timestamps (RFC 3339 with nanoseconds, which ``fromisoformat`` refuses)."""
    match = re.match(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(?:\.(\d+))?(Z|[+-]\d\d:\d\d)?", text.strip())
    if not match:
        raise ValueError(f"not a timestamp: {text!r}")
    zone = match.group(3) or "+00:00"
    stamp = datetime.fromisoformat(match.group(1) + ("+00:00" if zone == "Z" else zone))
    return stamp.timestamp() + float("0." + (match.group(2) or "0"))


def parse_k8s_log(data: bytes) -> tuple[list[LogLine], int]:
    """Complete lines of a k8s-file log (``<time> <stream> <F|P> <text>``) and how many bytes they span.

    ``P`` records are pieces of one long line and are joined up to their ``F`` record; an unfinished
    record or line is left for the next read, so the returned length is always a safe next offset."""
    lines: list[LogLine] = []
    consumed = 0
    pending: list[str] = []
    position = 0
    while True:
        end = data.find(b"\n", position)
        if end < 0:
            break
        record = data[position:end].decode("utf-8", "replace")
        position = end + 1
        parts = record.split(" ", 3)
        if len(parts) < 3:
            consumed = position
            continue
        stamp, stream, tag = parts[0], parts[1], parts[2]
        pending.append(parts[3] if len(parts) == 4 else "")
        if tag == "P":
            continue
        try:
            timestamp_ms = int(parse_podman_time(stamp) * 1000)
        except ValueError:
            timestamp_ms = 0
        lines.append(LogLine(timestamp_ms, stream, "".join(pending), position))
        pending = []
        consumed = position
    return lines, consumed
