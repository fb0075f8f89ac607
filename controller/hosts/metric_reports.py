"""The compute agent's metrics on the agent RPC: ``POST /hosts/<id>/metrics`` (``agent.compute.metrics``).

The body is an ``agent.contract.reports.MetricsReport``: ``{"time": "<ISO 8601>", "instances":
[{"instance_id": "i-..", "seconds": 10.0, "metrics": {"CPUUtilization": 12.5, "NetworkIn": 1024, ...}}]}``; EC2 turns it into ``AWS/EC2`` datapoints
(``controller/ec2/instances/metrics.py``). Answers how many instances counted, or 400 naming the problem.
"""

from __future__ import annotations

from typing import Any

from flask import current_app, jsonify

from agent.contract.reports import MetricsReport
from controller.ec2.instances import metrics
from controller.hosts.rpc import blueprint, read_message


@blueprint.post("/hosts/<host_id>/metrics")
def report_metrics(host_id: str) -> Any:
    counted = metrics.publish(current_app.config["CLOUD"], host_id, read_message(MetricsReport))
    return jsonify(instances=counted)
