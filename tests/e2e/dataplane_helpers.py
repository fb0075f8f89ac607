"""Helpers the VPC dataplane end-to-end tests share: waiting on a namespace, reachability probes, a server
that tells who connected, and snapshots of what an agent built (to compare before and after a restart).

Kept apart from :mod:`tests.e2e.helpers` because they need the agent's namespace tools and the lab of
``tests/agent/dataplane_lab.py``, which only the root tests load.
"""

from __future__ import annotations

import difflib
import subprocess
import sys
import time
from typing import Any

from agent.network import netns
from tests.agent import dataplane_lab as lab
from tests.agent.dataplane_lab import Probe

#: A TCP server that answers each connection with the address it came from (what "the Internet" sees).
WHOAMI = r"""
import socket, sys
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1]))); s.listen(64)
print("ready", flush=True)
while True:
    c, peer = s.accept()
    try: c.sendall(peer[0].encode() + b"\n")
    finally: c.close()
"""


def wait_until(condition: Any, timeout: float, what: str, interval: float = 0.05) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > timeout:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)
    return time.monotonic() - started


def addresses_in(ns: str) -> str:
    return subprocess.run(["ip", "-n", ns, "-br", "addr"], capture_output=True, text=True).stdout


def expect(probes: list[Probe]) -> None:
    failed = lab.failures(lab.run_probes(probes))
    assert not failed, "\n".join(failed)


def dataplane_snapshot(namespaces: list[str]) -> dict[str, str]:
    """Every kernel object an agent owns in ``namespaces``: rulesets, links, addresses, rules, routes."""
    taken = {}
    for ns in namespaces:
        parts = [netns.command(ns, ["nft", "list", "ruleset"])]
        for argv in (["ip", "-br", "link"], ["ip", "-br", "addr"], ["ip", "rule"], ["ip", "-6", "rule"],
                     ["ip", "route", "show", "table", "all"], ["ip", "-6", "route", "show", "table", "all"]):
            parts.append(subprocess.run(["ip", "-n", ns, *argv[1:]], capture_output=True, text=True).stdout)
        taken[ns] = stable("\n".join(parts))
    return taken


def stable(text: str) -> str:
    """Leave out what the kernel derives on its own schedule: IPv6 link-local addresses and routes, and the
    local table (its entries follow addresses, which are compared, once DAD and carrier allow)."""
    lines = []
    for line in text.splitlines():
        if line.lstrip().startswith("fe80::") or " table local " in f"{line} ":
            continue
        lines.append(" ".join(token for token in line.split() if not token.startswith("fe80::")
                              and token not in ("linkdown", "NO-CARRIER")))
    return "\n".join(lines)


def assert_same(before: dict[str, str], after: dict[str, str]) -> None:
    """The two snapshots are identical (a unified diff per namespace otherwise)."""
    if before == after:
        return
    diffs = [f"namespaces: {sorted(before)} != {sorted(after)}"] if set(before) != set(after) else []
    for ns in sorted(set(before) & set(after)):
        diffs += difflib.unified_diff(before[ns].splitlines(), after[ns].splitlines(), f"{ns} before",
                                      f"{ns} after", lineterm="")
    raise AssertionError("\n".join(diffs))


def run_in(ns: str, script: str, *args: str) -> subprocess.Popen[str]:
    proc = subprocess.Popen(["nsenter", f"--net={netns.path(ns)}", sys.executable, "-c", script, *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    assert proc.stdout is not None and "ready" in proc.stdout.readline(), proc.stderr.read() if proc.stderr else ""
    return proc
