"""Helpers the VPC dataplane end-to-end tests share: waiting on a namespace, and reachability probes.

Kept apart from :mod:`tests.e2e.helpers` because they need the agent's namespace tools and the lab of
``tests/agent/dataplane_lab.py``, which only the root tests load.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

from tests.agent import dataplane_lab as lab
from tests.agent.dataplane_lab import Probe


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
