"""HAProxy's statistics as the controller's report (contract §2), pure.

``show stat`` (CSV) carries everything the report needs: per server ``status`` (UP, DOWN, "UP 1/2"...),
``check_status`` (L7OK, L7STS, L4TOUT...) and ``check_code``; per frontend and server the cumulative
counters. (``show servers state`` adds only administrative details the report does not use.)

Counters are sent as deltas: a :class:`Snapshot` of the cumulative values is kept per node and the next
one is compared with it. A different worker pid means a reload or restart: HAProxy's counters began again
at zero, so the new values are the delta. The first snapshot after the agent starts is only a baseline.
HAProxy keeps no cumulative response time, only an average over the last 1024 responses (``rtime``, ms),
so the response time sum is approximated per server as new responses x that average.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from typing import Any

from agent.contract.loadbalancers import Node
from agent.loadbalancing.haproxy_config import backend_name, server_name

CLASSES = ("1xx", "2xx", "3xx", "4xx", "5xx")
TIMEOUT_CHECKS = ("L4TOUT", "L6TOUT", "L7TOUT")
COUNTERS = ("requests", "http_2xx", "http_3xx", "http_4xx", "http_5xx", "target_2xx", "target_3xx", "target_4xx",
            "target_5xx", "elb_5xx", "target_response_time_sum_seconds", "target_responses", "new_connections",
            "active_connections", "processed_bytes")


def parse_csv(text: str) -> list[dict[str, str]]:
    """``show stat`` output as one dict per row (the header line starts with ``# ``)."""
    lines = [line for line in text.splitlines() if line.strip()]
    if not lines or not lines[0].startswith("# "):
        raise ValueError("not the output of 'show stat'")
    lines[0] = lines[0][2:]
    return [dict(row) for row in csv.DictReader(io.StringIO("\n".join(lines)))]


def _int(row: dict[str, str], key: str) -> int:
    try:
        return int(row.get(key) or 0)
    except ValueError:
        return 0


@dataclass
class Snapshot:
    """One node's cumulative counters at one moment, and the worker that counted them."""

    pid: str = ""
    totals: dict[str, int] = field(default_factory=dict)
    #: Per server: (responses so far, average response time in ms).
    servers: dict[str, tuple[int, int]] = field(default_factory=dict)
    active_connections: int = 0


def snapshot(rows: list[dict[str, str]]) -> Snapshot:
    """The node's cumulative counters from ``show stat`` rows."""
    totals = dict.fromkeys(("requests", "new_connections", "processed_bytes", "target_responses"), 0)
    totals |= {f"http_{c}": 0 for c in CLASSES} | {f"target_{c}": 0 for c in CLASSES}
    shot = Snapshot(totals=totals)
    for row in rows:
        kind = row.get("svname")
        shot.pid = shot.pid or row.get("pid", "")
        if kind == "FRONTEND" and row.get("pxname", "").startswith("listener-"):
            totals["requests"] += _int(row, "req_tot")
            totals["new_connections"] += _int(row, "conn_tot") or _int(row, "stot")
            totals["processed_bytes"] += _int(row, "bin") + _int(row, "bout")
            shot.active_connections += _int(row, "scur")
            for c in CLASSES:
                totals[f"http_{c}"] += _int(row, f"hrsp_{c}")
        elif kind not in ("FRONTEND", "BACKEND") and row.get("pxname", "").startswith("tg-"):
            responses = 0
            for c in CLASSES:
                totals[f"target_{c}"] += _int(row, f"hrsp_{c}")
                responses += _int(row, f"hrsp_{c}")
            responses += _int(row, "hrsp_other")
            totals["target_responses"] += responses
            shot.servers[f"{row['pxname']}/{kind}"] = (responses, _int(row, "rtime"))
    return shot


def deltas(previous: Snapshot | None, current: Snapshot) -> dict[str, Any]:
    """The contract's counters between two snapshots (all zero for the first one)."""
    if previous is None:
        base = current
    elif previous.pid != current.pid or any(current.totals.get(k, 0) < v for k, v in previous.totals.items()):
        base = Snapshot()  # a new worker counts from zero
    else:
        base = previous
    out: dict[str, Any] = {key: max(0, value - base.totals.get(key, 0)) for key, value in current.totals.items()}
    seconds = 0.0
    for name, (responses, rtime) in current.servers.items():
        before = base.servers.get(name, (0, 0))[0]
        seconds += max(0, responses - before) * rtime / 1000.0
    out["target_response_time_sum_seconds"] = round(seconds, 6)
    out["elb_5xx"] = max(0, out["http_5xx"] - out["target_5xx"])
    out["active_connections"] = current.active_connections
    for c in ("1xx",):  # not in the contract
        out.pop(f"http_{c}", None)
        out.pop(f"target_{c}", None)
    return {key: out[key] for key in COUNTERS}


def target_health(node: Node, rows: list[dict[str, str]]) -> list[dict[str, Any]]:
    """Every target of the node's target groups with its state and AWS reason code."""
    by_server = {(row.get("pxname"), row.get("svname")): row for row in rows}
    found = []
    for group in node.target_groups:
        backend = backend_name(group)
        for target in group.targets:
            row = by_server.get((backend, server_name(target)))
            state, reason, description = health_of(row, target.draining, group.health_check.enabled)
            found.append({"target_group_arn": group.target_group_arn, "id": target.id, "port": target.port,
                          "state": state, "reason": reason, "description": description})
    return found


def health_of(row: dict[str, str] | None, draining: bool, checked: bool) -> tuple[str, str | None, str | None]:
    """(state, reason, description) of one server row, in DescribeTargetHealth's words."""
    if draining:
        return "draining", "Target.DeregistrationInProgress", "Target deregistration is in progress"
    if not checked:
        return "unavailable", "Target.HealthCheckDisabled", "Health checks disabled"
    if row is None:
        return "initial", "Elb.InitialHealthChecking", "Initial health checks in progress"
    status = row.get("status", "")
    check = row.get("check_status", "").removeprefix("* ").strip()
    if status.startswith("MAINT"):
        return "unavailable", "Elb.InternalError", "Target is in maintenance"
    if check in ("", "INI"):
        return "initial", "Elb.InitialHealthChecking", "Initial health checks in progress"
    if status.startswith("UP") or status.startswith("NOLB") or status.startswith("DRAIN"):
        return "healthy", None, None
    if check == "L7STS":
        return ("unhealthy", "Target.ResponseCodeMismatch",
                f"Health checks failed with these codes: [{row.get('check_code') or '?'}]")
    if check in TIMEOUT_CHECKS:
        return "unhealthy", "Target.Timeout", "Request timed out"
    return "unhealthy", "Target.FailedHealthChecks", "Health checks failed"


def node_report(node: Node, rows: list[dict[str, str]], counters: dict[str, Any]) -> dict[str, Any]:
    """One node's entry of the report."""
    return {"load_balancer_arn": node.load_balancer_arn, "interface_id": node.interface_id,
            "targets": target_health(node, rows), "counters": counters}


def health_key(report: dict[str, Any]) -> tuple[Any, ...]:
    """What a change of target health is judged by (a change is reported at once)."""
    return tuple((t["target_group_arn"], t["id"], t["port"], t["state"], t["reason"]) for t in report["targets"])
