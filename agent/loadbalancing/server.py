"""The HAProxy processes: one master per load balancer node, inside the node's namespace.

The directory handling, adoption after an agent restart (``server.pid`` + command line), the watcher that
restarts a dead process with backoff, and stopping are :class:`agent.nfs.server.Servers`'s: a node is a
server like an EFS mount target. What differs is the change of configuration: ganesha is restarted, HAProxy
is *reloaded* (SIGUSR2 to its master, which starts new workers that take the listening sockets over from
the old ones through the ``expose-fd listeners`` stats socket, while the old workers finish their
connections), after ``haproxy -c`` has accepted the new configuration: a configuration HAProxy refuses never
replaces one that serves.

A node's directory: ``haproxy.cfg``, its files (``tls/``, ``bodies/``, ``errors/``), ``admin.sock`` (the
workers' runtime API: statistics), ``master.sock`` (the master CLI), ``haproxy.pid``, ``server.pid``,
``haproxy.log`` (HAProxy's own notices: servers going up and down), ``server-state`` (the health found
before the last reload, which the new workers start from) and ``netns``.
"""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from agent.loadbalancing.haproxy_config import NO_SERVER_STATE, SERVER_STATE
from agent.network import netns
from agent.nfs.server import Servers, _Health, _write

log = logging.getLogger("cloudlet.agent.loadbalancing")

BINARY = "haproxy"
CONFIG = "haproxy.cfg"
CHECK_TIMEOUT = 30.0


class ConfigRefused(ValueError):
    """``haproxy -c`` refused a generated configuration; the message carries its diagnostics."""


@dataclass(frozen=True)
class NodeSpec:
    """One node's HAProxy: its name (the interface id), namespace, configuration and the files it reads."""

    name: str
    netns: str
    config: str
    files: dict[str, str] = field(default_factory=dict)


class Haproxies(Servers):
    """The HAProxy masters under ``root``: ``ensure`` starts or reloads, ``stop`` removes, the watcher revives."""

    KIND = "HAProxy"
    LOG_FILE = "haproxy.log"

    def __init__(self, root: Path, binary: str = BINARY, check_seconds: float = 1.0) -> None:
        super().__init__(root, binary, check_seconds)

    def config_path(self, name: str) -> Path:
        return self.directory(name) / CONFIG

    def admin_socket(self, name: str) -> Path:
        return self.directory(name) / "admin.sock"

    def ensure(self, spec: NodeSpec) -> str:  # type: ignore[override]
        """Write the files and configuration, and make HAProxy run it: "started", "reloaded" or "unchanged".
        Raises ConfigRefused (the running configuration stays) when HAProxy rejects the new one."""
        with self._lock:
            directory = self.directory(spec.name)
            self.claim(spec.name, spec.netns)
            conf = self.config_path(spec.name)
            changed = _write_files(directory, spec.files)
            if not (directory / SERVER_STATE).exists():
                _write(directory / SERVER_STATE, NO_SERVER_STATE)
            if not conf.exists() or conf.read_text() != spec.config:
                candidate = directory / (CONFIG + ".new")
                candidate.write_text(spec.config)
                check(self.binary, candidate)
                os.replace(candidate, conf)
                changed = True
            self._wanted[spec.name] = spec  # type: ignore[assignment]
            pid = self.pid(spec.name)
            if pid is not None and not changed:
                return "unchanged"
            if pid is not None:
                self.reload(spec.name, pid)
                return "reloaded"
            self._health.setdefault(spec.name, _Health()).not_before = 0.0
            self._start(spec)  # type: ignore[arg-type]
            return "started"

    def reload(self, name: str, pid: int | None = None) -> None:
        """A seamless reload: the master re-reads the configuration, new workers inherit the listeners."""
        pid = pid if pid is not None else self.pid(name)
        if pid is None:
            return
        log.info("%s: reloading HAProxy (master %d)", name, pid)
        self._save_server_state(name)
        with contextlib.suppress(ProcessLookupError):  # died meanwhile: the watcher starts it with the new file
            os.kill(pid, signal.SIGUSR2)

    def _save_server_state(self, name: str) -> None:
        """What the health checks found, for the new workers to start from (``server-state-file``): without
        it every target would start over as up, and an unhealthy one take requests until checked again."""
        state = self.directory(name) / SERVER_STATE
        try:
            _write(state, runtime_command(self.admin_socket(name), "show servers state"))
        except OSError as exc:  # no worker answers: the new ones check from scratch, as at a start
            log.info("%s: no server state to carry over the reload (%s)", name, exc)
            _write(state, NO_SERVER_STATE)

    def pid(self, name: str) -> int | None:
        """The pid of the node's live HAProxy master, or None."""
        with self._lock:
            child = self._children.get(name)
            if child is not None:
                if child.poll() is None:
                    return child.pid
                del self._children[name]
        try:
            pid = int((self.directory(name) / "server.pid").read_text().strip())
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, ValueError, IndexError):
            return None
        return pid if str(self.config_path(name)).encode() in cmdline and state != "Z" else None

    def _start(self, spec: NodeSpec) -> None:  # type: ignore[override]
        directory = self.directory(spec.name)
        argv = ["nsenter", f"--net={netns.path(spec.netns)}", self.binary, "-W", "-f", str(self.config_path(spec.name)),
                "-p", str(directory / "haproxy.pid"), "-S", f"{directory / 'master.sock'},mode,600"]
        with (directory / "haproxy.log").open("ab") as output:
            # nsenter execs HAProxy in place (its pid is the master's); its own session keeps it alive
            # when the agent's process group is signalled.
            child = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=output, stderr=output,
                                     start_new_session=True, close_fds=True)
        _write(directory / "server.pid", f"{child.pid}\n")
        self._children[spec.name] = child
        self._health.setdefault(spec.name, _Health()).started_at = time.monotonic()
        log.info("%s: HAProxy started in %s (pid %d)", spec.name, spec.netns, child.pid)


def check(binary: str, config: Path) -> None:
    """Raise ConfigRefused unless ``haproxy -c`` accepts ``config``."""
    out = subprocess.run([binary, "-c", "-q", "-f", str(config)], capture_output=True, text=True,
                         timeout=CHECK_TIMEOUT)
    if out.returncode != 0:
        raise ConfigRefused(f"HAProxy refuses {config}: {(out.stderr or out.stdout).strip()[-2000:]}")


def _write_files(directory: Path, files: dict[str, str]) -> bool:
    """Write the configuration's files (private: keys live here); True when any changed. Files no longer
    referenced are removed with their directory only when the node goes."""
    changed = False
    for relative, text in files.items():
        path = directory / relative
        if path.exists() and path.read_text() == text:
            continue
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        temporary = path.with_name(path.name + ".tmp")
        with open(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "w") as out:
            out.write(text)
        os.replace(temporary, path)
        changed = True
    return changed


def runtime_command(path: Path, command: str, timeout: float = 5.0) -> str:
    """One command on an HAProxy runtime API socket (non-interactive: it answers, then closes)."""
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        sock.connect(str(path))
        sock.sendall(command.encode() + b"\n")
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks).decode(errors="replace")
