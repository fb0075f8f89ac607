"""The agents' probe reports: ``POST /_cloudlet/agent/v1/hosts/<id>/probes``.

::

    {"results": [{"probe_id": "nia-...", "outcome": "arrived" | "not-arrived" | "error",
                  "detail": "...", "seconds": 0.4}]}       # agent.contract.reports.ProbesReport

Each result settles its analysis (:func:`.probes.record`) in a transaction that also bumps the hosts'
generation, so the probe leaves the sender's ``probes`` section at once. The answer lists the probes
recorded; a result that is no longer awaited (a repeat after a lost answer, a late one) is ignored.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from agent.contract.reports import ProbesReport
from controller.ec2.vpc.reachability import probes
from controller.hosts import generation
from controller.hosts.rpc import blueprint, read_message


@blueprint.post("/hosts/<host_id>/probes")
def report_probes(host_id: str) -> Any:
    cloud = current_app.config["CLOUD"]
    results = read_message(ProbesReport).results
    recorded = []
    with cloud.db.begin() as conn:
        for result in results:
            if probes.record(conn, host_id, result):
                recorded.append(result.probe_id)
        if recorded:
            generation.bump(conn)
    return jsonify(ok=True, recorded=recorded)
