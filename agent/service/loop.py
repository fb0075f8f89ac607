"""The agent's two loops: stay registered (heartbeats), and keep the host converged to the desired document.

The desired loop long-polls the controller (``GET /hosts/<id>/desired``): the request returns as soon
as the document changes, so a security-group change reaches the dataplane in milliseconds, and after
the long-poll window otherwise. Each section goes to its reconciler when its content changed since the
last successful run, when that run failed (retried with a growing delay), while the reconciler
``wants_retry`` (within a second), and at the periodic drift repair (``repair`` when the reconciler
has one: the network reconciler then re-converges every kernel object, not only what changed).

Stopping (SIGTERM) ends the long-poll, closes listeners and leaves everything built in place: a
restarted agent finds its objects by name, reloads the same rulesets atomically, and no packet or
connection notices. ``status.json`` in the state dir tells operators (and tests) what was applied last.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from agent.client import ControllerClient, ControllerError
from agent.contract.hosts import Heartbeat, HostRegistration
from agent.service.reconcilers import ReconcilerRegistry

log = logging.getLogger("cloudlet.agent")

HEARTBEAT_INTERVAL = 10.0
#: How long one desired-state request may wait for a change.
LONG_POLL_SECONDS = 20.0
#: The drift repair: a full re-convergence of every section this often.
REPAIR_INTERVAL = 300.0
#: While a reconciler waits for something (a namespace, a tap), the document is re-applied this often.
RETRY_SECONDS = 0.5
#: How long a stopping agent waits for its threads (a reconcile in progress finishes first).
STOP_SECONDS = 10.0
MAX_BACKOFF = 30.0


def section_key(section: Any) -> str:
    """A digest of a section's content (the network document's own generation number left out)."""
    if isinstance(section, dict) and "generation" in section:
        section = {k: v for k, v in section.items() if k != "generation"}
    text = json.dumps(section, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


class AgentService:
    """Registration, heartbeats and reconciliation for one host."""

    def __init__(self, client: ControllerClient, registration: HostRegistration, registry: ReconcilerRegistry,
                 state_dir: Path, *, long_poll: float = LONG_POLL_SECONDS, repair_interval: float = REPAIR_INTERVAL,
                 heartbeat_interval: float = HEARTBEAT_INTERVAL, free_memory: Callable[[], int] = lambda: 0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.client = client
        self.registration = registration
        self.registry = registry
        self.state_dir = state_dir
        self.long_poll = long_poll
        self.repair_interval = repair_interval
        self.heartbeat_interval = heartbeat_interval
        self.free_memory = free_memory
        self.clock = clock
        self.registered = threading.Event()
        self.generation = -1
        self.digest = ""
        self.sections: dict[str, Any] = {}
        self.applied: dict[str, str] = {}
        self.failures: dict[str, int] = {}
        self.last_repair = clock()

    @property
    def host_id(self) -> str:
        return self.registration.host_id

    # --- running -------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Serve until ``stop`` is set; never tears the dataplane down."""
        threads = [threading.Thread(target=self._stay_registered, args=(stop,), name="heartbeat", daemon=True),
                   threading.Thread(target=self._desired_loop, args=(stop,), name="desired", daemon=True)]
        for thread in threads:
            thread.start()
        while not stop.wait(0.5):  # polled: a signal another thread receives runs its handler only then
            pass
        log.info("stopping (the dataplane stays in place)")
        deadline = time.monotonic() + STOP_SECONDS
        for thread in threads:
            while thread.is_alive() and time.monotonic() < deadline:
                # Answer our pending long-poll now; again while the thread lives, since a poll it began just
                # before seeing the stop would not see a release the controller had already handled.
                with contextlib.suppress(OSError):
                    self.client.release(self.host_id)
                thread.join(timeout=0.5)
        self.registry.close()

    def _stay_registered(self, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                if not self.registered.is_set():
                    self.client.register(self.registration)
                    self.registered.set()
                    log.info("host %s registered in %s (%d vCPUs, %d MiB, capabilities: %s)", self.host_id,
                             self.registration.zone, self.registration.vcpus, self.registration.memory_mib,
                             ", ".join(self.registration.capabilities) or "none")
                elif not self.client.heartbeat(Heartbeat(self.host_id, os.getloadavg()[0], self.free_memory())):
                    self.registered.clear()
                    continue
            except ControllerError as exc:
                if exc.status == 426:  # another major contract version: only an upgrade of one side helps
                    log.error("the controller refuses this agent's contract version: %s", exc)
                else:
                    log.warning("controller refused the call (%s); retrying", exc)
            except OSError as exc:
                log.warning("controller unreachable (%s); retrying", exc)
            stop.wait(self.heartbeat_interval if self.registered.is_set() else 2.0)

    def _desired_loop(self, stop: threading.Event) -> None:
        backoff = 1.0
        while not stop.is_set():
            if not self.registered.wait(timeout=0.5):
                continue
            try:
                self.sync(self.next_wait())
                backoff = 1.0
            except ControllerError as exc:
                if exc.status == 404:
                    self.registered.clear()  # the controller forgot us: register again
                else:
                    log.warning("desired state: %s", exc)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
            except OSError as exc:
                if not stop.is_set():
                    log.warning("controller unreachable (%s); retrying in %.0f s", exc, backoff)
                    stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF)
            except Exception:  # a malformed answer must not end the loop: the host would silently drift
                log.exception("desired state could not be handled; retrying in %.0f s", backoff)
                stop.wait(backoff)
                backoff = min(backoff * 2, MAX_BACKOFF)

    # --- one round ------------------------------------------------------------------------------------------

    def next_wait(self) -> float:
        """How long the next long-poll may wait: short while something must be retried."""
        waits = [self.long_poll, max(0.0, self.repair_interval - (self.clock() - self.last_repair))]
        if any(getattr(e.reconciler, "wants_retry", False) for e in self.registry.entries()):
            waits.append(RETRY_SECONDS)
        if self.failures:
            waits.append(min(MAX_BACKOFF, 2.0 ** max(self.failures.values())))
        return min(waits)

    def sync(self, wait: float) -> None:
        """One long-poll, then reconcile what is due."""
        state = self.client.desired(self.host_id, self.generation, self.digest, wait)
        if state.changed:
            self.sections, self.digest = state.sections, state.digest
            log.debug("desired generation %d (%s)", state.generation, state.digest)
        self.generation = state.generation
        repair = self.clock() - self.last_repair >= self.repair_interval
        self.reconcile(repair)
        if repair:
            self.last_repair = self.clock()

    def reconcile(self, repair: bool = False) -> None:
        """Hand each due section to its reconciler, in registration order."""
        for entry in self.registry.entries():
            if entry.name not in self.sections:
                continue
            section = self.sections[entry.name]
            key = section_key(section)
            reconciler = entry.reconciler
            due = (repair or self.applied.get(entry.name) != key or entry.name in self.failures
                   or getattr(reconciler, "wants_retry", False))
            if not due:
                continue
            started = time.monotonic()
            try:
                if repair and callable(getattr(reconciler, "repair", None)):
                    reconciler.repair(section)  # type: ignore[attr-defined]
                else:
                    reconciler.reconcile(section)
            except Exception as exc:
                self.failures[entry.name] = self.failures.get(entry.name, 0) + 1
                log.exception("the %s section failed (attempt %d): %s", entry.name, self.failures[entry.name], exc)
                continue
            self.failures.pop(entry.name, None)
            if self.applied.get(entry.name) != key:
                log.info("%s section applied (generation %d) in %.3f s", entry.name, self.generation,
                         time.monotonic() - started)
            self.applied[entry.name] = key
        self.write_status()

    def write_status(self) -> None:
        """``status.json``: what this agent process applied last (written atomically)."""
        status = {"pid": os.getpid(), "host_id": self.host_id, "generation": self.generation, "digest": self.digest,
                  "applied": self.applied, "failing": sorted(self.failures),
                  "waiting": [e.name for e in self.registry.entries() if getattr(e.reconciler, "wants_retry", False)],
                  "updated_at": time.time()}
        path = self.state_dir / "status.json"
        temporary = path.with_suffix(".tmp")
        try:
            temporary.write_text(json.dumps(status, indent=2, sort_keys=True) + "\n")
            os.replace(temporary, path)
        except OSError as exc:  # a full disk must not stop reconciliation
            log.warning("cannot write %s: %s", path, exc)
