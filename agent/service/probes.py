"""The ``probes`` section: send Reachability Analyzer's probes through this host's dataplane and report them.

The controller lists, for the host that plugs an analysis's source interface, the probe that would confirm
its verdict (``agent.contract.probes.ProbeRequest``). For each new one this reconciler plans the packet
(``agent.network.probe``, pure), puts a transient veth on the source subnet's bridge (no MAC learning, no
IPv6, so it announces nothing), listens on the destination's bridge port with a packet socket, writes the
frame, waits up to :data:`WATCH_SECONDS` for it, removes the veth, and reports every outcome in one
``POST /hosts/<id>/probes``. A probe runs inside the agent's desired loop, after the network section was
applied and before the next apply, so no netlink pass ever removes its port mid-flight; it costs that
loop about a second. A report the controller did not receive is kept and sent again on the retry.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
import socket
import subprocess
import time
from collections.abc import Iterator
from typing import Any

from agent.client import ControllerClient
from agent.contract.codec import from_json
from agent.contract.probes import PROBE_ARRIVED, PROBE_ERROR, PROBE_NOT_ARRIVED, ProbeRequest, ProbeResult
from agent.network import netns
from agent.network.probe import ProbePlan, is_probe, plan_probe

log = logging.getLogger("cloudlet.agent.probes")

#: How long the destination's port is watched after the first copy of the probe left.
WATCH_SECONDS = 1.0
#: Copies sent, this far apart: the first one may wait in the router for the destination's ARP answer.
COPIES, COPY_INTERVAL = 2, 0.2
ETH_P_ALL = 0x0003


class ProbeReconciler:
    """Runs each listed probe once and reports it; probes no longer listed are forgotten."""

    def __init__(self, client: ControllerClient, host_id: str, name_prefix: str,
                 watch_seconds: float = WATCH_SECONDS) -> None:
        self.client = client
        self.host_id = host_id
        self.name_prefix = name_prefix
        self.watch_seconds = watch_seconds
        self.reported: set[str] = set()
        self.unreported: dict[str, ProbeResult] = {}

    def reconcile(self, desired: dict[str, Any]) -> None:
        requests = [from_json(ProbeRequest, item) for item in desired.get("probes", [])]
        listed = {request.probe_id for request in requests}
        self.reported &= listed
        for request in requests:
            if request.probe_id not in self.reported and request.probe_id not in self.unreported:
                self.unreported[request.probe_id] = run_probe(request, self.name_prefix, self.watch_seconds)
        if self.unreported:
            self.client.report_probes(self.host_id, list(self.unreported.values()))
            self.reported |= set(self.unreported)
            self.unreported.clear()


def run_probe(request: ProbeRequest, prefix: str, watch_seconds: float = WATCH_SECONDS) -> ProbeResult:
    """Send one probe and watch for it; any failure to do so is an ``error`` outcome, never an exception."""
    started = time.monotonic()
    try:
        plan = plan_probe(request, prefix, 49152 + secrets.randbelow(16384), secrets.randbits(32))
        for name in {plan.inject_netns, plan.watch_netns}:
            if not netns.exists(name):
                raise netns.NetnsError(f"the namespace {name} does not exist on this host")
        with _transient_port(plan), _packet_socket(plan.watch_netns, plan.watch_port) as watch, \
                _packet_socket(plan.inject_netns, plan.inner) as inject:
            arrived = _send_and_watch(plan, inject, watch, watch_seconds)
    except (OSError, ValueError, subprocess.SubprocessError) as exc:
        log.warning("probe %s could not run: %s", request.probe_id, exc)
        return ProbeResult(request.probe_id, PROBE_ERROR, str(exc), time.monotonic() - started)
    outcome = PROBE_ARRIVED if arrived else PROBE_NOT_ARRIVED
    log.info("probe %s (%s %s -> %s:%d): %s", request.probe_id, request.protocol, request.source_address,
             request.destination_address, request.destination_port, outcome)
    return ProbeResult(request.probe_id, outcome, "", round(time.monotonic() - started, 3))


def _send_and_watch(plan: ProbePlan, inject: socket.socket, watch: socket.socket,
                    watch_seconds: float) -> bool:
    """Send the copies on time while reading the destination's port until the probe shows or time is up."""
    deadline = time.monotonic() + watch_seconds
    next_copy, copies = time.monotonic(), 0
    while time.monotonic() < deadline:
        if copies < COPIES and time.monotonic() >= next_copy:
            inject.send(plan.frame)
            copies, next_copy = copies + 1, next_copy + COPY_INTERVAL
        wait = min(deadline, next_copy if copies < COPIES else deadline) - time.monotonic()
        watch.settimeout(max(wait, 0.001))
        try:
            if is_probe(watch.recv(65535), plan):
                return True
        except TimeoutError:
            continue
    return False


@contextlib.contextmanager
def _transient_port(plan: ProbePlan) -> Iterator[None]:
    """The probe's veth on the source bridge for the duration: no MAC learning (the source interface's MAC
    stays on its own port), no IPv6 (no router solicitation or DAD leaves it), removed whatever happens."""
    ns = plan.inject_netns
    netns.command(ns, ["ip", "link", "add", plan.port, "type", "veth", "peer", "name", plan.inner])
    try:
        netns.write_sysctls(ns, {f"net/ipv6/conf/{name}/disable_ipv6": "1"
                                 for name in (plan.port, plan.inner)})
        netns.command(ns, ["ip", "link", "set", plan.port, "master", plan.bridge])
        netns.command(ns, ["bridge", "link", "set", "dev", plan.port, "learning", "off"])
        netns.command(ns, ["ip", "-batch", "-"], stdin=f"link set {plan.port} up\nlink set {plan.inner} up\n")
        yield
    finally:
        netns.command(ns, ["ip", "link", "del", plan.port])


@contextlib.contextmanager
def _packet_socket(ns: str, ifname: str) -> Iterator[socket.socket]:
    """A raw packet socket on ``ifname`` in namespace ``ns`` (it sees frames leaving the port as well)."""

    def open_socket() -> socket.socket:
        sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, socket.htons(ETH_P_ALL))
        try:
            sock.bind((ifname, 0))
        except OSError:
            sock.close()
            raise
        return sock

    sock = netns.run_inside(ns, open_socket)
    try:
        yield sock
    finally:
        sock.close()
