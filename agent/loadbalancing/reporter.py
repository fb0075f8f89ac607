"""The reporter thread: target health and traffic counters of every node, to the controller.

Every ``poll_seconds`` it reads each node's ``show stat`` through the node's runtime socket. It sends a
report when a target's health changed (at once) or ``report_seconds`` passed. Counters are deltas from the
snapshot of the last report the controller *accepted*, so nothing is lost while the controller is away.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from agent.loadbalancing import stats
from agent.loadbalancing.server import runtime_command

log = logging.getLogger("cloudlet.agent.loadbalancing")

POLL_SECONDS = 1.0
REPORT_SECONDS = 5.0


class Reporter:
    """Reads the nodes of ``reconciler`` (``.nodes``, ``.servers``) and hands reports to ``send``."""

    def __init__(self, reconciler: Any, send: Callable[[dict[str, Any]], Any], poll_seconds: float = POLL_SECONDS,
                 report_seconds: float = REPORT_SECONDS) -> None:
        self.reconciler, self.send = reconciler, send
        self.poll_seconds, self.report_seconds = poll_seconds, report_seconds
        self.baselines: dict[str, stats.Snapshot] = {}
        self._health: dict[str, tuple[Any, ...]] = {}
        self._last_sent = 0.0
        self._last_error = ""
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="lb-reporter", daemon=True)
            self._thread.start()

    def wake(self) -> None:
        """Report soon (the section changed)."""
        self._wake.set()

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.round()
            except Exception:  # the reporter must outlive one bad round
                log.exception("reporting load balancer health failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()

    def collect(self) -> tuple[dict[str, Any], dict[str, stats.Snapshot]]:
        """The report of every node that answers, and the snapshots it was computed against."""
        nodes, shots = [], {}
        for name, node in list(self.reconciler.nodes.items()):
            try:
                rows = stats.parse_csv(runtime_command(self.reconciler.servers.admin_socket(name), "show stat"))
            except (OSError, ValueError):  # not started yet, or reloading: next round
                continue
            shot = stats.snapshot(rows)
            shots[name] = shot
            nodes.append(stats.node_report(node, rows, stats.deltas(self.baselines.get(name), shot)))
        return {"nodes": nodes}, shots

    def round(self, now: float | None = None) -> bool:
        """Poll once; send when health changed or the period passed. True when a report was accepted."""
        now = time.monotonic() if now is None else now
        report, shots = self.collect()
        health = {node["interface_id"]: stats.health_key(node) for node in report["nodes"]}
        fresh = [name for name in shots if name not in self.baselines]
        for name in fresh:  # the first look is a baseline only (the agent may have just restarted)
            self.baselines[name] = shots[name]
        if health == self._health and (not health or now - self._last_sent < self.report_seconds):
            return False  # nothing changed, and with no node here nothing to tell
        try:
            self.send(report)
        except OSError as exc:
            if str(exc) != self._last_error:
                log.warning("load balancer report not accepted: %s", exc)
                self._last_error = str(exc)
            return False
        self._last_error = ""
        self._last_sent, self._health = now, health
        for name in list(self.baselines):
            if name not in self.reconciler.nodes:
                del self.baselines[name]
        self.baselines.update(shots)
        return True
