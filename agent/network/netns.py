"""Network namespaces: create, list, remove, and run code or commands inside one (privileged edge).

Code runs inside a namespace on a short-lived thread that ``setns``-es itself, so the agent's own threads
never leave the host namespace; a socket or a ``/proc/sys/net`` file opened there stays bound to it.
"""

from __future__ import annotations

import ctypes
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from pyroute2 import netns as pyroute2_netns

NETNS_DIR = Path("/run/netns")
CLONE_NEWNET = 0x40000000
T = TypeVar("T")

_libc = ctypes.CDLL(None, use_errno=True)


class NetnsError(OSError):
    """A namespace operation or a command inside one failed; the message carries its stderr."""


def exists(name: str) -> bool:
    return (NETNS_DIR / name).exists()


def list_names() -> list[str]:
    return sorted(pyroute2_netns.listnetns())


def create(name: str) -> None:
    if not exists(name):
        pyroute2_netns.create(name)


def remove(name: str) -> None:
    if exists(name):
        pyroute2_netns.remove(name)


def path(name: str) -> str:
    return str(NETNS_DIR / name)


def run_inside(name: str, func: Callable[[], T]) -> T:
    """Run ``func`` on a thread that lives in namespace ``name``; its result or exception comes back."""
    outcome: dict[str, object] = {}

    def target() -> None:
        try:
            fd = os.open(path(name), os.O_RDONLY)
            try:
                if _libc.setns(fd, CLONE_NEWNET) != 0:
                    err = ctypes.get_errno()
                    raise NetnsError(err, f"setns {name}: {os.strerror(err)}")
            finally:
                os.close(fd)
            outcome["value"] = func()
        except BaseException as exc:  # handed back to the caller's thread
            outcome["error"] = exc

    thread = threading.Thread(target=target, name=f"netns-{name}", daemon=True)
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]  # type: ignore[misc]
    return outcome.get("value")  # type: ignore[return-value]


def write_sysctls(name: str, values: dict[str, str]) -> None:
    """Set ``/proc/sys`` keys (``net/ipv4/ip_forward`` style) inside the namespace, skipping equal ones."""

    def write() -> None:
        for key, value in values.items():
            file = Path("/proc/sys") / key
            if file.read_text().strip() != value:
                file.write_text(value)

    run_inside(name, write)


def command(name: str, argv: list[str], stdin: str | None = None, timeout: float = 30) -> str:
    """Run ``argv`` inside the namespace (via nsenter, no /sys remount); NetnsError on failure."""
    result = subprocess.run(["nsenter", f"--net={path(name)}", *argv], input=stdin, capture_output=True,
                            text=True, timeout=timeout)
    if result.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} in {name} failed ({result.returncode}): {result.stderr.strip()}")
    return result.stdout


def load_ruleset(name: str, ruleset: str) -> None:
    """One ``nft -f`` transaction: the text replaces the agent's tables atomically, or nothing changes."""
    command(name, ["nft", "-f", "-"], stdin=ruleset)
