"""Confirming an analysis's verdict with a real packet: who probes, the ``probes`` section, the outcome.

An analysis whose source and destination interfaces are plugged on one live host whose agent sends probes
(``agent.contract.hosts.CAPABILITY_PROBES``) stays ``running`` until that agent reports its probe
(``agent.service.probes``: one TCP SYN or UDP datagram sent as the source interface would, watched for on
the destination's bridge port), or until :data:`PROBE_SECONDS` pass; it is ``succeeded`` then, with the
analysis's own verdict either way. Any other analysis (no such agent, interfaces on different hosts, no
destination port) succeeds at once on the verdict alone, as AWS's analyzer, which sends nothing, always does.

Where the outcome shows: AWS's ``NetworkInsightsAnalysis`` has no member for it, and a tag or an invented
``AdditionalDetails`` type would read as AWS data to clients that parse them. So the structured outcome is
kept with the analysis's probe and read with :func:`probe_outcome` (the console's way), and clients see it
as the analysis's ``WarningMessage``, AWS's free-text caveat, which every SDK and the CLI already print:
whether the packet arrived, and whether that agrees with the verdict, or why no probe ran.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, select

from agent.contract.codec import to_json
from agent.contract.hosts import CAPABILITY_PROBES
from agent.contract.probes import PROBE_ARRIVED, PROBE_NOT_ARRIVED, ProbeRequest, ProbeResult
from controller.ec2.vpc import state as vpc_state
from controller.ec2.vpc.reachability import state
from controller.hosts.desired import HostContext
from controller.hosts.state import host_records
from controller.state import utcnow

RUNNING, SUCCEEDED = "running", "succeeded"
#: How long an analysis waits for its probe before it succeeds on the verdict alone.
PROBE_SECONDS = 15.0
#: Outcome states beyond the agent's (``agent.contract.probes.PROBE_*``): no probe was due (``unprobed``: nothing could
#: send it), or one was due but none came back (``not-run``: the agent's error, or the deadline passed).
UNPROBED, NOT_RUN = "unprobed", "not-run"


def _interfaces(conn: Connection, eni_ids: list[str]) -> dict[str, Mapping[str, Any]]:
    eni = vpc_state.network_interfaces
    return {row["network_interface_id"]: row for row in conn.execute(
        select(eni).where(eni.c.network_interface_id.in_(eni_ids))).mappings()}


def _private_ips(conn: Connection, eni_id: str) -> set[str]:
    table = vpc_state.interface_addresses
    return set(conn.execute(select(table.c.address).where(table.c.network_interface_id == eni_id)).scalars())


def plan(conn: Connection, analysis_id: str, probe: Mapping[str, Any]) -> tuple[str, ProbeRequest] | str:
    """The host that sends ``probe`` and what it sends, or why no probe can confirm this verdict."""
    if probe.get("protocol") not in ("tcp", "udp") or not probe.get("destination_port"):
        return "the path names no TCP or UDP destination port"
    if not (probe.get("source_eni") and probe.get("destination_eni") and probe.get("source_address")
            and probe.get("destination_address")):
        return "the path does not run from one network interface to another"
    enis = _interfaces(conn, [probe["source_eni"], probe["destination_eni"]])
    source, destination = enis.get(probe["source_eni"]), enis.get(probe["destination_eni"])
    if source is None or destination is None or not source["port"] or not destination["port"]:
        return "the source or destination interface is not plugged on any host"
    if source["host_id"] != destination["host_id"]:
        return "the source and destination interfaces are plugged on different hosts"
    host = next((h for h in host_records(conn) if h.host_id == source["host_id"]), None)
    if host is None or host.state != "up" or CAPABILITY_PROBES not in host.capabilities:
        return f"no live agent that sends probes on host {source['host_id']}"
    on_link = (source["subnet_id"] == destination["subnet_id"]
               and probe["destination_address"] in _private_ips(conn, destination["network_interface_id"]))
    return host.host_id, ProbeRequest(
        probe_id=analysis_id, protocol=probe["protocol"], destination_port=int(probe["destination_port"]),
        source_eni=source["network_interface_id"], source_vpc_id=source["vpc_id"],
        source_subnet_id=source["subnet_id"], source_mac=source["mac_address"],
        source_address=probe["source_address"], destination_eni=destination["network_interface_id"],
        destination_vpc_id=destination["vpc_id"], destination_subnet_id=destination["subnet_id"],
        destination_mac=destination["mac_address"], destination_address=probe["destination_address"],
        destination_bridge_port=destination["port"]["port"], on_link=on_link)


def unprobed(reason: str) -> dict[str, Any]:
    """The outcome of an analysis no probe confirms."""
    return {"state": UNPROBED, "detail": reason}


def _expired(row: Mapping[str, Any], now: dt.datetime) -> bool:
    return (now - row["started_at"]).total_seconds() > PROBE_SECONDS


def settled(row: Mapping[str, Any], now: dt.datetime | None = None) -> tuple[str, dict[str, Any] | None]:
    """An analysis's status and probe outcome as of ``now``: a probe that never came back counts as not run
    once :data:`PROBE_SECONDS` passed (reads decide it, so no timer has to)."""
    outcome = (row["probe"] or {}).get("outcome")
    if row["status"] == RUNNING and _expired(row, now or utcnow()):
        return SUCCEEDED, {"state": NOT_RUN, "detail": f"no probe result within {PROBE_SECONDS:g} s"}
    return row["status"], outcome


def warning_message(outcome: Mapping[str, Any] | None, path_found: bool | None) -> str | None:
    """The ``WarningMessage`` that tells a client what the probe showed (None when no probe was due)."""
    if outcome is None or outcome["state"] == UNPROBED:
        return None
    if outcome["state"] == NOT_RUN:
        return f"The dataplane probe could not confirm this verdict ({outcome['detail']})."
    arrived = outcome["state"] == PROBE_ARRIVED
    agreement = "confirms" if arrived == bool(path_found) else "CONTRADICTS"
    return (f"A dataplane probe {'arrived at' if arrived else 'did not reach'} the destination on host "
            f"{outcome['host_id']}: it {agreement} this verdict.")


def probe_outcome(conn: Connection, account_id: str, analysis_id: str) -> dict[str, Any] | None:
    """For the console: the probe outcome of one analysis of ``account_id`` (None when there is no such
    analysis or its probe is still out). ``state`` is ``arrived``, ``not-arrived``, ``not-run`` or
    ``unprobed``; ``agrees`` (arrived/not-arrived only) whether it matches ``NetworkPathFound``; ``detail``
    says why no probe ran; ``host_id`` and ``seconds`` where and how long it ran."""
    table = state.analyses
    row = conn.execute(select(table).where(table.c.analysis_id == analysis_id,
                                           table.c.account_id == account_id)).mappings().first()
    if row is None:
        return None
    _, outcome = settled(row)
    if outcome is None:
        return None
    if outcome["state"] in (PROBE_ARRIVED, PROBE_NOT_ARRIVED):
        return {**outcome, "agrees": (outcome["state"] == PROBE_ARRIVED) == bool(row["path_found"])}
    return dict(outcome)


def _pending(conn: Connection) -> list[Mapping[str, Any]]:
    table = state.analyses
    now = utcnow()
    return [row for row in conn.execute(select(table).where(table.c.status == RUNNING)).mappings()
            if not _expired(row, now)]


def probes_section(ctx: HostContext) -> dict[str, Any]:
    """The ``probes`` section of a host's desired document: the probes it sends now (a pure read)."""
    found = []
    with ctx.db.read() as conn:
        for row in _pending(conn):
            planned = plan(conn, row["analysis_id"], row["probe"] or {})
            if not isinstance(planned, str) and planned[0] == ctx.host_id:
                found.append(to_json(planned[1]))
    return {"probes": found}


def record(conn: Connection, host_id: str, result: ProbeResult) -> bool:
    """Settle a running analysis with ``host_id``'s report of its probe; False when the report is not
    (or no longer) awaited: an unknown or settled analysis, a late report, or another host's probe."""
    table = state.analyses
    row = conn.execute(select(table).where(table.c.analysis_id == result.probe_id)).mappings().first()
    if row is None or row["status"] != RUNNING or _expired(row, utcnow()):
        return False
    planned = plan(conn, row["analysis_id"], row["probe"] or {})
    if isinstance(planned, str) or planned[0] != host_id:
        return False
    if result.outcome in (PROBE_ARRIVED, PROBE_NOT_ARRIVED):
        outcome = {"state": result.outcome, "host_id": host_id, "seconds": result.seconds}
    else:
        outcome = {"state": NOT_RUN, "host_id": host_id,
                   "detail": result.detail or "the agent's probe failed"}
    conn.execute(table.update().where(table.c.analysis_id == row["analysis_id"]).values(
        status=SUCCEEDED, probe={**row["probe"], "outcome": outcome}))
    return True
