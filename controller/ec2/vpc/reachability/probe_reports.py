"""The agents' probe reports: ``POST /_cloudlet/agent/v1/hosts/<id>/probes``.

::

    {"results": [{"probe_id": "nia-...", "outcome": "arrived" | "not-arrived" | "error",
                  "detail": "...", "seconds": 0.4}]}

Each result settles its analysis (:func:`.probes.record`) in a transaction that also bumps the hosts'
generation, so the probe leaves the sender's ``probes`` section at once. The answer lists the probes
recorded; a result that is no longer awaited (a repeat after a lost answer, a late one) is ignored.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify, request

from agent.wire import PROBE_ARRIVED, PROBE_ERROR, PROBE_NOT_ARRIVED, ProbeResult
from controller.ec2.vpc.reachability import probes
from controller.hosts import generation
from controller.hosts.rpc import blueprint

OUTCOMES = (PROBE_ARRIVED, PROBE_NOT_ARRIVED, PROBE_ERROR)


def parse(body: Any) -> list[ProbeResult]:
    """The report's results, or ValueError naming what is malformed (pure)."""
    if not isinstance(body, dict) or not isinstance(body.get("results"), list):
        raise ValueError("a report is an object with a 'results' list")
    results = []
    for item in body["results"]:
        if not isinstance(item, dict) or not isinstance(item.get("probe_id"), str):
            raise ValueError("each result is an object with a 'probe_id'")
        if item.get("outcome") not in OUTCOMES:
            raise ValueError(f"a result's 'outcome' must be one of {', '.join(OUTCOMES)}")
        seconds = item.get("seconds", 0.0)
        if not isinstance(seconds, int | float) or isinstance(seconds, bool):
            raise ValueError("a result's 'seconds' must be a number")
        results.append(ProbeResult(item["probe_id"], item["outcome"], str(item.get("detail") or ""),
                                   float(seconds)))
    return results


@blueprint.post("/hosts/<host_id>/probes")
def report_probes(host_id: str) -> Any:
    cloud = current_app.config["CLOUD"]
    try:
        results = parse(request.get_json(force=True, silent=True))
    except ValueError as exc:
        return jsonify(error=f"bad report: {exc}"), 400
    recorded = []
    with cloud.db.begin() as conn:
        for result in results:
            if probes.record(conn, host_id, result):
                recorded.append(result.probe_id)
        if recorded:
            generation.bump(conn)
    return jsonify(ok=True, recorded=recorded)
