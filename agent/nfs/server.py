"""The ganesha processes: start one per mount target inside its namespace, keep it running, stop it.

Each server has a directory of its own (``<state>/efs-servers/<fsmt-id>/``: configuration, pid file, log,
NFSv4 recovery directory, the name of its namespace). Servers run in their own session, so they outlive
an agent restart; a restarted agent adopts them by pid file and command line, and restarts one only when
its configuration changed. A watcher thread restarts a server that died (backing off while it keeps
dying at once), which is what keeps a mount target answering without the controller asking again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from agent.network import netns

log = logging.getLogger("cloudlet.agent.efs")

BINARY = "ganesha.nfsd"
CHECK_SECONDS = 1.0
#: A server that dies sooner than this after its start counts as failing to start (backoff grows).
STABLE_SECONDS = 10.0
MAX_BACKOFF = 30.0
STOP_SECONDS = 5.0


@dataclass(frozen=True)
class ServerSpec:
    """One server: its name (the mount target id), the namespace it runs in and its configuration."""

    name: str
    netns: str
    config: str


@dataclass
class _Health:
    started_at: float = 0.0
    failures: int = 0
    not_before: float = 0.0


class Servers:
    """The ganesha servers under ``root``; ``ensure``/``stop`` converge, the watcher restarts the dead."""

    #: How logs name one server and its log file (subclasses running another daemon say theirs).
    KIND = "NFS server"
    LOG_FILE = "ganesha.log"

    def __init__(self, root: Path, binary: str = BINARY, check_seconds: float = CHECK_SECONDS) -> None:
        self.root = root
        self.binary = binary
        self.check_seconds = check_seconds
        self._wanted: dict[str, ServerSpec] = {}
        self._children: dict[str, subprocess.Popen[bytes]] = {}
        self._health: dict[str, _Health] = {}
        self._lock = threading.RLock()
        self._stop = threading.Event()
        self._watcher: threading.Thread | None = None

    # --- paths ------------------------------------------------------------------------------------------

    def directory(self, name: str) -> Path:
        return self.root / name

    def names(self) -> list[str]:
        """Servers that have a directory here (running, waiting for their interface, or dead): what a
        cleanup has to consider."""
        if not self.root.is_dir():
            return []
        return sorted(entry.name for entry in self.root.iterdir() if (entry / "netns").exists())

    def claim(self, name: str, namespace: str) -> None:
        """Record the server's namespace before it is made, so a cleanup finds it even if no server ever
        started there (its interface never came)."""
        directory = self.directory(name)
        directory.mkdir(parents=True, exist_ok=True)
        if self.recorded_netns(name) != namespace:
            _write(directory / "netns", namespace + "\n")

    def recorded_netns(self, name: str) -> str | None:
        """The namespace a server's directory says it runs in (what to delete with it)."""
        try:
            return (self.directory(name) / "netns").read_text().strip() or None
        except OSError:
            return None

    # --- converging --------------------------------------------------------------------------------------

    def ensure(self, spec: ServerSpec) -> bool:
        """Write the configuration and make sure the server runs it; True when it was (re)started."""
        with self._lock:
            directory = self.directory(spec.name)
            (directory / "recovery").mkdir(parents=True, exist_ok=True)
            conf = directory / "ganesha.conf"
            changed = not conf.exists() or conf.read_text() != spec.config
            self.claim(spec.name, spec.netns)
            if changed:
                _write(conf, spec.config)
            self._wanted[spec.name] = spec
            pid = self.pid(spec.name)
            if pid is not None and not changed:
                return False
            if pid is not None:
                log.info("%s: configuration changed, restarting its %s", spec.name, self.KIND)
                self._terminate(spec.name, pid)
            self._health.setdefault(spec.name, _Health()).not_before = 0.0
            self._start(spec)
            return True

    def stop(self, name: str) -> None:
        """Stop the server and delete its directory (configuration, log, recovery state)."""
        with self._lock:
            self._wanted.pop(name, None)
            self._health.pop(name, None)
            pid = self.pid(name)
            if pid is not None:
                self._terminate(name, pid)
            shutil.rmtree(self.directory(name), ignore_errors=True)

    def pid(self, name: str) -> int | None:
        """The pid of the server's live process, or None."""
        with self._lock:
            child = self._children.get(name)
            if child is not None:
                if child.poll() is None:  # our own child: alive even while nsenter execs ganesha
                    return child.pid
                del self._children[name]  # reaped: no zombie left behind
        conf = str(self.directory(name) / "ganesha.conf")
        try:
            pid = int((self.directory(name) / "server.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        return pid if conf.encode() in cmdline and state != "Z" else None

    # --- supervision ---------------------------------------------------------------------------------------

    def watch(self) -> None:
        """Start the watcher thread (idempotent)."""
        if self._watcher is None:
            self._watcher = threading.Thread(target=self._watch, name="efs-servers", daemon=True)
            self._watcher.start()

    def check(self) -> list[str]:
        """Restart every wanted server that is not running (after its backoff); returns their names."""
        restarted = []
        with self._lock:
            now = time.monotonic()
            for name, spec in list(self._wanted.items()):
                if self.pid(name) is not None:
                    continue
                health = self._health.setdefault(name, _Health())
                if now < health.not_before:
                    continue
                if health.started_at and now - health.started_at < STABLE_SECONDS:
                    health.failures += 1
                else:
                    health.failures = 0
                log.warning("%s: %s is not running; starting it (see %s)", name, self.KIND,
                            self.directory(name) / self.LOG_FILE)
                self._start(spec)
                health.not_before = now + min(MAX_BACKOFF, 2.0 ** health.failures) if health.failures else 0.0
                restarted.append(name)
        return restarted

    def close(self) -> None:
        """Stop watching; the servers keep running (a restarted agent adopts them)."""
        self._stop.set()
        if self._watcher is not None:
            self._watcher.join(timeout=5)
            self._watcher = None

    def _watch(self) -> None:
        while not self._stop.wait(self.check_seconds):
            try:
                self.check()
            except Exception:  # the watcher must outlive one bad round
                log.exception("checking the %ss failed", self.KIND)

    # --- processes -------------------------------------------------------------------------------------------

    def _start(self, spec: ServerSpec) -> None:
        directory = self.directory(spec.name)
        argv = ["nsenter", f"--net={netns.path(spec.netns)}", self.binary, "-F", "-f", str(directory / "ganesha.conf"),
                "-p", str(directory / "ganesha.nfsd.pid"), "-L", str(directory / "ganesha.log"), "-N", "NIV_EVENT"]
        # nsenter execs ganesha in place, so the child's pid is the server's; its own session keeps it
        # alive when the agent's process group is signalled.
        child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                 stderr=subprocess.DEVNULL, start_new_session=True, close_fds=True)
        _write(directory / "server.pid", f"{child.pid}\n")  # ours: ganesha rewrites its own in place
        self._children[spec.name] = child
        self._health.setdefault(spec.name, _Health()).started_at = time.monotonic()
        log.info("%s: NFS server started in %s (pid %d)", spec.name, spec.netns, child.pid)

    def _terminate(self, name: str, pid: int) -> None:
        with contextlib.suppress(ProcessLookupError):  # already gone: what we wanted
            os.kill(pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_SECONDS
        while time.monotonic() < deadline and self.pid(name) == pid:
            time.sleep(0.05)
        if self.pid(name) == pid:
            with contextlib.suppress(ProcessLookupError):  # already gone: what we wanted
                os.kill(pid, signal.SIGKILL)
            while self.pid(name) == pid:
                time.sleep(0.02)
        child = self._children.pop(name, None)
        if child is not None:
            child.wait(timeout=STOP_SECONDS)


def _write(path: Path, text: str) -> None:
    temporary = path.with_suffix(path.suffix + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
