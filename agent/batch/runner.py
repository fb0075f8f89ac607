"""The host's container runner for Batch job attempts: podman, driven through its command line.

Podman is daemonless, so containers outlive the agent: conmon keeps each one running and records its
exit. An agent restart therefore never kills a job; the new agent finds its containers by label
(``adopt``) and keeps following them. What the runner itself must remember across a restart lives on
disk or in podman: the timeout is a label, the start time is podman's, and each attempt has a directory
``state_dir/<name>/`` holding its log (``log``) and the reason it was stopped for (``stop``).

That directory is also ``podman run``'s working directory, for OOM detection: conmon 2.1 on cgroup v1
sees the OOM event but writes its ``oom`` marker into its working directory instead of the container's
persist directory, so podman's ``OOMKilled`` stays false. The runner takes that marker, or podman's flag,
or the kernel's ``oom-kill:`` record naming the container's cgroup (``/dev/kmsg``) as proof of an OOM kill.

Stops (TerminateJob, timeouts) run ``podman stop`` in its own session, detached: it sends SIGTERM and,
after the grace, SIGKILL, as AWS does, without blocking the agent for 30 seconds, and it survives an
agent restart in the middle of the grace.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import resource
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from agent.batch import podman as pm
from agent.batch.podman import AttemptSpec, HostLimits, LogLine, Outcome, Podman

#: Longest slice of a log one ``logs`` call reads (CloudWatch Logs takes at most 1 MiB per batch).
MAX_LOG_READ = 1024 * 1024


class RunnerError(Exception):
    """Podman refused a command; the message carries its stderr."""


@dataclass(frozen=True)
class Container:
    """A handle on one attempt's container: enough to poll, stop, read and remove it."""

    name: str
    id: str
    job_id: str
    attempt: int
    timeout_s: int | None
    log_path: Path

    @property
    def directory(self) -> Path:
        return self.log_path.parent


def default_podman() -> Podman:
    """runc where it is installed (see ``agent.batch.podman`` for why not crun), crun otherwise."""
    return Podman(runtime="runc" if shutil.which("runc") else "crun")


def host_limits() -> HostLimits:
    """The agent's own hard limits: containers inherit them and can be given no more."""
    nofile = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
    nproc = resource.getrlimit(resource.RLIMIT_NPROC)[1]
    unlimited = resource.RLIM_INFINITY
    return HostLimits(nofile=1 << 20 if nofile == unlimited else nofile, nproc=1 << 22 if nproc == unlimited else nproc)


def kernel_log() -> str:
    """The kernel's log ring as text (``/dev/kmsg`` read without blocking; empty if unreadable)."""
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return ""
    records: list[str] = []
    try:
        while True:
            try:
                records.append(os.read(fd, 8192).decode("utf-8", "replace"))
            except BlockingIOError:
                break
            except OSError as error:
                if error.errno != errno.EPIPE:  # EPIPE: a record was overwritten while reading; go on
                    break
    finally:
        os.close(fd)
    return "".join(records)


class ContainerRunner:
    """Starts, follows, stops and removes Batch containers; every answer comes from podman itself."""

    def __init__(self, state_dir: Path, podman: Podman | None = None, *, stop_grace_s: int = pm.STOP_GRACE_S,
                 clock: Callable[[], float] = time.time, kernel_log: Callable[[], str] = kernel_log) -> None:
        self.state_dir = state_dir
        self.state_dir.mkdir(parents=True, exist_ok=True)
        self.podman = podman or default_podman()
        self.stop_grace_s = stop_grace_s
        self.clock = clock
        self.kernel_log = kernel_log
        self.limits = host_limits()
        self._images: dict[str, str] = {}
        self._stoppers: list[subprocess.Popen[bytes]] = []

    # -- images -----------------------------------------------------------------------------------------
    def ensure_image(self, archive: Path, digest: str | None = None) -> str:
        """Load an image archive (OCI or docker-archive) once and return its image id.

        Archives are known by the sha256 of their bytes (``digest`` when the caller already has it), so
        the same image under another path is not loaded again, and an id podman has since lost is."""
        digest = digest or _sha256(archive)
        known = self._images.get(digest) or self._read_image_cache().get(digest)
        if known and self._run(pm.image_exists_argv(self.podman, known), check=False).returncode == 0:
            self._images[digest] = known
            return known
        loaded = self._run(pm.load_argv(self.podman, str(archive)))
        refs = pm.loaded_references(loaded.stdout)
        if not refs:
            raise RunnerError(f"podman load named no image: {loaded.stdout.strip()}")
        image_id = self._run(pm.image_inspect_argv(self.podman, refs[0])).stdout.strip()
        self._images[digest] = image_id
        cache = self._read_image_cache()
        cache[digest] = image_id
        _write_atomically(self.state_dir / "images.json", json.dumps(cache))
        return image_id

    # -- containers -------------------------------------------------------------------------------------
    def start(self, spec: AttemptSpec) -> Container:
        """Create and start the attempt's container. A leftover of the same name (an earlier agent died
        between start and report) is removed first: the controller asked for this attempt again. Such a
        leftover has its directory (made before ``podman run``, removed only after ``podman rm``), so without
        one there is no ``podman rm`` to pay for on the way to a start."""
        name = pm.container_name(spec.job_id, spec.attempt)
        directory = self.state_dir / name
        if directory.exists():
            self._run(pm.rm_argv(self.podman, name), check=False)
            shutil.rmtree(directory, ignore_errors=True)
        directory.mkdir()
        log_path = directory / "log"
        for mount in spec.mounts:
            if mount.source is None:
                pm.scratch_path(directory, mount.volume).mkdir(parents=True, exist_ok=True)
        result = self._run(pm.run_argv(self.podman, spec, str(log_path), self.limits), check=False, cwd=directory,
                           env=pm.secret_environment(spec, os.environ) if spec.secrets else None)
        if result.returncode != 0:
            if self._run(pm.rm_argv(self.podman, name), check=False).returncode == 0:
                shutil.rmtree(directory, ignore_errors=True)
            raise RunnerError(f"podman run failed for {name}: {result.stderr.strip()}")
        return Container(name, result.stdout.strip().splitlines()[-1], spec.job_id, spec.attempt, spec.timeout_s,
                         log_path)

    def poll(self, container: Container) -> Outcome:
        """The attempt's state now; stops it (with AWS's timeout reason) once it has run past its timeout."""
        self._reap_stoppers()
        state = self._inspect(container.name)
        if state is None:
            return Outcome(pm.FAILED, None, pm.MISSING_REASON)
        status = str(state.get("Status", ""))
        stop_reason = self._stop_reason(container)
        if status == "running" and container.timeout_s is not None and stop_reason is None:
            started = pm.parse_podman_time(str(state.get("StartedAt")))
            if self.clock() - started >= container.timeout_s:
                self.stop(container, pm.TIMEOUT_REASON)
        exit_code = state.get("ExitCode")
        oom = False
        if status in ("exited", "stopped") and exit_code != 0:
            oom = bool(state.get("OOMKilled")) or (container.directory / "oom").exists() or any(
                pm.is_oom_kill_of(record, container.id) for record in self.kernel_log().splitlines())
        return pm.outcome(status, exit_code if isinstance(exit_code, int) else None, oom_killed=oom,
                          stop_reason=stop_reason)

    def stop(self, container: Container, reason: str) -> None:
        """SIGTERM now and SIGKILL after the grace, in the background; the attempt then fails with
        ``reason``. A second stop keeps the first reason (a timeout during a TerminateJob, say)."""
        stop_file = container.directory / "stop"
        if stop_file.exists():
            return
        state = self._inspect(container.name)
        if state is None or state.get("Status") in ("exited", "stopped"):
            return  # it ended on its own first: its own outcome stands
        container.directory.mkdir(parents=True, exist_ok=True)
        _write_atomically(stop_file, reason)
        self._stoppers.append(subprocess.Popen(
            pm.stop_argv(self.podman, container.name, self.stop_grace_s), stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True, cwd=self.state_dir))

    def logs(self, container: Container, since_offset: int = 0) -> tuple[list[LogLine], int]:
        """Complete log lines written after byte ``since_offset`` and the offset to ask from next time."""
        try:
            with container.log_path.open("rb") as log:
                log.seek(since_offset)
                data = log.read(MAX_LOG_READ)
        except FileNotFoundError:
            return [], since_offset
        lines, consumed = pm.parse_k8s_log(data)
        if consumed == 0 and len(data) == MAX_LOG_READ:  # one record longer than a read: skip it whole
            consumed = len(data)
        return [line._replace(end=since_offset + line.end) for line in lines], since_offset + consumed

    def adopt(self) -> list[Container]:
        """Every Batch container on this host, running or exited but not yet removed, as handles: what
        an agent follows after a restart (and reports, for those that finished while it was away)."""
        listed = json.loads(self._run(pm.ps_argv(self.podman)).stdout or "[]")
        found = []
        for entry in listed:
            labels = entry.get("Labels") or {}
            names = entry.get("Names") or []
            if not names or not str(names[0]).startswith(pm.NAME_PREFIX) or pm.LABEL_JOB not in labels:
                continue
            timeout = labels.get(pm.LABEL_TIMEOUT)
            found.append(Container(names[0], entry["Id"], labels[pm.LABEL_JOB], int(labels.get(pm.LABEL_ATTEMPT, 1)),
                                   int(timeout) if timeout else None, self.state_dir / names[0] / "log"))
        return found

    def remove(self, *containers: Container) -> None:
        """Remove the containers (killing any still running) and their directories. Logs must have been
        shipped before. One ``podman rm`` for all of them: a podman process costs about as much as a removal,
        and a busy host ends many tiny jobs at once. A directory stays while podman keeps its container (a
        failed ``rm``, then tried one by one): a container never outlives its directory, which ``start`` and
        ``adopt`` rely on."""
        if not containers:
            return
        if self._run(pm.rm_argv(self.podman, *(c.name for c in containers)), check=False).returncode == 0:
            for container in containers:
                shutil.rmtree(container.directory, ignore_errors=True)
        elif len(containers) > 1:
            for container in containers:
                self.remove(container)
        self._reap_stoppers()

    # -- helpers ----------------------------------------------------------------------------------------
    def _inspect(self, name: str) -> dict[str, Any] | None:
        result = self._run(pm.inspect_argv(self.podman, name), check=False)
        if result.returncode != 0:
            if "no such" in result.stderr.lower():
                return None
            raise RunnerError(f"podman inspect {name}: {result.stderr.strip()}")
        entries = json.loads(result.stdout or "[]")
        return entries[0].get("State", {}) if entries else None

    @staticmethod
    def _stop_reason(container: Container) -> str | None:
        with contextlib.suppress(FileNotFoundError):
            return (container.directory / "stop").read_text() or None
        return None

    def _reap_stoppers(self) -> None:
        self._stoppers = [proc for proc in self._stoppers if proc.poll() is None]

    def _read_image_cache(self) -> dict[str, str]:
        try:
            return dict(json.loads((self.state_dir / "images.json").read_text()))
        except (FileNotFoundError, ValueError):
            return {}

    def _run(self, argv: list[str], *, check: bool = True, cwd: Path | None = None,
             env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        """Run podman from ``cwd`` (the state directory by default), never from the agent's own working
        directory, where conmon would drop its files; ``env`` replaces the agent's environment."""
        result = subprocess.run(argv, capture_output=True, text=True, timeout=300, stdin=subprocess.DEVNULL,
                                cwd=cwd or self.state_dir, env=env)
        if check and result.returncode != 0:
            raise RunnerError(f"{' '.join(argv[:6])}...: {result.stderr.strip()}")
        return result


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for block in iter(lambda: source.read(1 << 20), b""):
            digest.update(block)
    return "sha256:" + digest.hexdigest()


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
