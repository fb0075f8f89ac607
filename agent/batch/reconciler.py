"""The ``batch`` section's reconciler: runs the Batch attempts the controller placed on this host.

The section lists attempts (``controller.batch.attempts.entry``); this reconciler starts the missing ones
(fetching and loading their image once, by sha256, from the controller's code endpoint), stops those the
section marks ``stop`` or no longer lists, and a thread of its own follows the running ones: every second, and
at once when one exits (``exits``), it reads new log lines and the containers' states and reports them
(``POST /hosts/<id>/batch``). A finished container is removed only after the controller acknowledged its end,
so nothing is lost if the agent or the controller dies in between. Containers outlive the agent (podman is daemonless): a new agent adopts them and
never kills them; what it must remember (log offset, whether RUNNING was reported) lives beside each
container's log in the runner's state directory. An attempt with a job ENI runs in its own namespace, its ENI
plugged there by ``job_network`` as soon as the ruleset guarding it is loaded.

An attempt with secrets asks the controller for their values just before its ``podman run``
(``controller.batch.secrets``): they live only in that podman's environment, never in the section or on disk.
Podman work runs in a small pool (:data:`START_CONCURRENCY`): images are loaded first, each archive once and
one at a time; then the containers start, and later are inspected and removed, a few at once. A container
started just before the agent restarts is adopted by the next agent (by its labels), never started twice.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import shutil
import threading
import time
from collections.abc import Collection, Hashable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from agent.batch import job_network
from agent.batch import podman as pm
from agent.batch.exits import ExitWatch
from agent.batch.job_network import JobNetworks
from agent.batch.podman import AttemptSpec
from agent.batch.runner import Container, ContainerRunner, RunnerError
from agent.client import ControllerClient, ControllerError
from agent.network import netns
from agent.service.reconcilers import AgentContext, ReconcilerRegistry

log = logging.getLogger("cloudlet.agent.batch")
CAPABILITY = "batch"
POLL_SECONDS = 1.0
#: Containers started at once: podman run spends most of its time waiting on runc and conmon, so a few
#: overlap well on two cores; more only queue on podman's storage lock.
START_CONCURRENCY = 4
#: Attempt keys remembered as finished, so a stale section never starts them again.
FINISHED_MEMORY = 10_000

Key = tuple[str, int]


def now_ms() -> int:
    return int(time.time() * 1000)


class BatchReconciler:
    """Converges the host's Batch containers to the ``batch`` section and reports what they do."""

    def __init__(self, runner: ContainerRunner, client: ControllerClient, host_id: str, images_dir: Path, *,
                 networks: JobNetworks, poll_seconds: float = POLL_SECONDS) -> None:
        self.runner, self.client, self.host_id = runner, client, host_id
        self.networks = networks
        self.images_dir = images_dir
        self.images_dir.mkdir(parents=True, exist_ok=True)
        self.poll_seconds = poll_seconds
        self._lock = threading.RLock()
        self._containers: dict[Key, Container] = {}
        #: attempts that could not start: reported FAILED with this reason on the next poll
        self._failed_starts: dict[Key, str] = {}
        self._finished: dict[Key, None] = {}
        self._deferred = False
        #: podman calls of starts, polls and removals: a few at once, never more (two cores; podman's locks)
        self._pool = ThreadPoolExecutor(max_workers=START_CONCURRENCY, thread_name_prefix="batch-podman")
        self._stop = threading.Event()
        self._exits = ExitWatch()
        # Never killed: followed, and reported when they end. Only this agent's own (their directory is in its
        # state directory): podman's storage is the host's, and another agent (another cloud's, a test's) may
        # run Batch containers on the same host.
        for container in runner.adopt():
            if container.directory.is_dir():
                self._containers[(container.job_id, container.attempt)] = container
        self._thread = threading.Thread(target=self._follow, name="batch-follow", daemon=True)
        self._thread.start()

    # -- the section --------------------------------------------------------------------------------------
    @property
    def wants_retry(self) -> bool:
        """Some attempt's start was put off (its secrets could not be asked for, its ENI is not plugged yet):
        reconcile again soon."""
        return self._deferred

    def reconcile(self, desired: Any) -> None:
        entries = {(item["job_id"], int(item["attempt"])): item for item in (desired or {}).get("attempts") or []}
        starting = []
        with self._lock:
            self.networks.keep_only(list(entries.values()))
            for key, container in list(self._containers.items()):
                entry = entries.get(key)
                if entry is None:
                    self.runner.stop(container, "Job attempt no longer placed on this host")
                elif entry.get("stop"):
                    self.runner.stop(container, str(entry["stop"]))
            for key, entry in entries.items():
                if key in self._containers or key in self._finished or key in self._failed_starts:
                    continue
                if entry.get("stop"):
                    self._failed_starts[key] = str(entry["stop"])
                    continue
                starting.append(entry)
            self.networks.serve_adopted([entries[key] for key in self._containers if key in entries])
        self._start_all(starting)

    def _start_all(self, entries: list[dict[str, Any]]) -> None:
        """Start the attempts, :data:`START_CONCURRENCY` at a time: their images first, each archive loaded once
        and one at a time, then the containers concurrently (podman's own locks keep its storage whole)."""
        images: dict[str, str] = {}
        unloadable: dict[str, str] = {}
        for entry in entries:
            digest = entry["image"]["sha256"]
            if digest in images or digest in unloadable:
                continue
            try:
                images[digest] = self._image(entry["image"])
            except (OSError, RunnerError, ValueError) as exc:
                unloadable[digest] = f"CannotPullContainerError: {exc}"[:1000]
                log.warning("batch image %s could not be loaded: %s", entry["image"].get("source"), exc)
        failed = {_key(entry): unloadable[entry["image"]["sha256"]] for entry in entries
                  if entry["image"]["sha256"] in unloadable}
        ready = [entry for entry in entries if entry["image"]["sha256"] in images]
        self._deferred = False
        outcomes = list(self._pool.map(lambda entry: self._start(entry, images[entry["image"]["sha256"]]), ready))
        with self._lock:
            self._failed_starts.update(failed)
            for entry, outcome in zip(ready, outcomes, strict=True):
                if isinstance(outcome, Container):
                    self._containers[_key(entry)] = outcome
                elif isinstance(outcome, str):
                    self._failed_starts[_key(entry)] = outcome
                else:
                    self._deferred = True
        if ready or failed:
            self._exits.nudge()  # the follower watches the new containers' exits and reports failed starts

    def _start(self, entry: dict[str, Any], image_id: str) -> Container | str | None:
        """The attempt's running container, the reason it failed before or at its start, or None when it
        must wait (the controller could not be asked for its secrets, the dataplane has not plugged its ENI)."""
        key = _key(entry)
        try:
            namespace = self.networks.ready(entry)
        except (OSError, ValueError) as exc:
            return f"CannotStartContainerError: {exc}"[:1000]
        if namespace is None and entry.get("network"):
            return None
        secrets: dict[str, str] = {}
        if entry.get("secrets"):
            try:
                answer = self.client.batch_secrets(self.host_id, *key)
            except ControllerError as exc:
                if exc.status == 404:
                    return None  # no longer placed here: the next section drops it
                log.warning("batch attempt %s/%s: secrets not read yet: %s", *key, exc)
                return None
            except OSError as exc:
                log.warning("batch attempt %s/%s: secrets not read yet: %s", *key, exc)
                return None
            if answer.get("reason"):
                return str(answer["reason"])
            secrets = {str(name): str(value) for name, value in (answer.get("values") or {}).items()}
        spec = AttemptSpec(job_id=entry["job_id"], attempt=int(entry["attempt"]), image=image_id,
                           command=tuple(entry.get("command") or ()),
                           environment=dict(entry.get("environment") or {}), vcpus=float(entry.get("vcpus") or 1),
                           memory_mib=int(entry.get("memory_mib") or 2048), timeout_s=entry.get("timeout_s"),
                           secrets=secrets, mounts=tuple(pm.Mount(**mount) for mount in entry.get("mounts") or ()),
                           devices=tuple(entry.get("devices") or ()), tmpfs=tuple(entry.get("tmpfs") or ()),
                           network=f"ns:{netns.path(namespace)}" if namespace else "none",
                           dns=tuple((entry.get("network") or {}).get("dns") or ()),
                           user=entry.get("user") or None, read_only_root=bool(entry.get("read_only_root")),
                           ulimits=tuple(pm.Ulimit(**limit) for limit in entry.get("ulimits") or ()),
                           init_process=bool(entry.get("init_process")),
                           shared_memory_mib=entry.get("shared_memory_mib"))
        try:
            container = self.runner.start(spec)
            (container.directory / "started_at").write_text(str(now_ms()))
        except (OSError, RunnerError) as exc:
            log.warning("batch attempt %s/%s could not start: %s", *key, exc)
            return f"CannotStartContainerError: {exc}"[:1000]
        return container

    def _image(self, image: dict[str, str]) -> str:
        """The local image id of the archive named by sha256, downloaded and checked the first time."""
        digest = image["sha256"]
        archive = self.images_dir / f"{digest}.tar"
        if not archive.exists():
            partial = archive.with_suffix(".part")
            self.client.download_code(digest, partial)
            actual = _sha256(partial)
            if actual != digest:
                partial.unlink(missing_ok=True)
                raise ValueError(f"image {image.get('source')} arrived with sha256 {actual}, not {digest}")
            partial.replace(archive)
        return self.runner.ensure_image(archive, digest)

    # -- following --------------------------------------------------------------------------------------
    def _follow(self) -> None:
        """Every :attr:`poll_seconds` a look at every container; in between, as soon as some exit or were
        started, a look at those only (each look is a ``podman inspect``, and two cores run the jobs too)."""
        last_full = time.monotonic()
        while not self._stop.is_set():
            with self._lock:
                followed = list(self._containers.items())
            for key, container in followed:
                self._exits.watch(key, container.directory / pm.CONMON_PIDFILE)
            exited = self._exits.wait(max(0.0, last_full + self.poll_seconds - time.monotonic()))
            if self._stop.is_set():
                return
            full = time.monotonic() - last_full >= self.poll_seconds
            if full:
                last_full = time.monotonic()
            try:
                self.poll_once(None if full else exited)
            except Exception:
                log.exception("following batch containers failed")

    def poll_once(self, exited: Collection[Hashable] | None = None) -> None:
        """Report new log lines and transitions of every attempt, or with ``exited`` only of those and of the
        ones never reported yet (just started); remove those the controller took the end of. The containers
        are looked at :data:`START_CONCURRENCY` at a time, and removed all at once."""
        with self._lock:
            containers = {key: container for key, container in self._containers.items()
                          if exited is None or key in exited or not (container.directory / "reported").exists()}
            failed = dict(self._failed_starts)
        items, pending = [], {}
        for key, reason in failed.items():
            items.append({"job_id": key[0], "attempt": key[1], "state": pm.FAILED, "exit_code": None,
                          "reason": reason, "stopped_at": now_ms(), "logs": []})
        observed = list(self._pool.map(lambda pair: self._observe(*pair), containers.items()))
        for (key, container), (item, new_offset) in zip(containers.items(), observed, strict=True):
            if item is not None:
                items.append(item)
                pending[key] = (container, new_offset)
        if not items:
            return
        answer = self.client.report_batch(self.host_id, items)
        done = {(item["job_id"], int(item["attempt"])) for item in answer.get("done") or []}
        removable = []
        with self._lock:
            for key, (container, new_offset) in pending.items():
                with contextlib.suppress(OSError):
                    (container.directory / "offset").write_text(str(new_offset))
                    (container.directory / "reported").touch()
                if key in done:
                    removable.append(container)
                    self._containers.pop(key, None)
                    self._remember_finished(key)
            for key in failed:
                if key in done:
                    self._failed_starts.pop(key, None)
                    self._remember_finished(key)
        # Outside the lock: an agent that dies before a removal adopts the container again, and the
        # controller, which has its end, answers its report with "done" again.
        self.runner.remove(*removable)

    def _observe(self, key: Key, container: Container) -> tuple[dict[str, Any] | None, int]:
        """The report item of one container (None when there is nothing new) and its next log offset."""
        outcome = self.runner.poll(container)
        offset = _read_int(container.directory / "offset")
        lines, new_offset = self.runner.logs(container, offset)
        item: dict[str, Any] = {"job_id": key[0], "attempt": key[1], "state": pm.RUNNING,
                                "logs": [[line.timestamp_ms, line.message, line.end] for line in lines]}
        started = _read_int(container.directory / "started_at") or None
        if started:
            item["started_at"] = started
        ended = outcome.state in (pm.SUCCEEDED, pm.FAILED)
        if ended:
            if new_offset != offset or lines:  # ship the whole log before the end
                more, later = self.runner.logs(container, new_offset)
                item["logs"] += [[line.timestamp_ms, line.message, line.end] for line in more]
                new_offset = later
            item.update(state=outcome.state, exit_code=outcome.exit_code, reason=outcome.reason,
                        stopped_at=now_ms())
        reported = (container.directory / "reported").exists()
        if not ended and reported and not item["logs"]:
            return None, new_offset
        return item, new_offset

    def _remember_finished(self, key: Key) -> None:
        self._finished[key] = None
        while len(self._finished) > FINISHED_MEMORY:
            self._finished.pop(next(iter(self._finished)))

    def close(self) -> None:
        """The agent stops: stop following, leave every container running (a new agent adopts them)."""
        self._stop.set()
        self._exits.nudge()
        self._thread.join(timeout=10)
        self._pool.shutdown(wait=True)
        self.networks.close()
        if not self._thread.is_alive():
            self._exits.close()


def _key(entry: dict[str, Any]) -> Key:
    return entry["job_id"], int(entry["attempt"])


def _read_int(path: Path) -> int:
    try:
        return int(path.read_text().strip() or 0)
    except (OSError, ValueError):
        return 0


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as source:
        for chunk in iter(lambda: source.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def unavailable() -> str | None:
    """Why this host cannot run Batch containers, or None."""
    if shutil.which("podman") is None:
        return "podman is not installed"
    return None


def register(registry: ReconcilerRegistry, context: AgentContext) -> None:
    """Add the ``batch`` reconciler (and the ``batch`` capability) when podman is here."""
    reason = unavailable()
    if reason is not None:
        log.info("Batch jobs do not run on this host: %s", reason)
        return
    runner = ContainerRunner(context.state_dir / "batch" / "containers")
    networks = job_network.for_agent(context)
    registry.add("batch", BatchReconciler(runner, context.client, context.host_id,
                                          context.state_dir / "batch" / "images", networks=networks),
                 capabilities=[CAPABILITY])
