"""CloudWatch in the console: an instance's page with its CPU and network graphs, and the alarms list.

The instance page is server-rendered (one DescribeInstances call); its graphs are drawn in the browser by
``static/metrics_chart.js`` with uPlot (vendored, no inline script under the CSP) from
:func:`instance_metrics`, a JSON endpoint making one GetMetricData call as the signed-in principal, so a
principal without ``cloudwatch:GetMetricData`` gets AWS's refusal in place of the graph, not a broken page.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from flask import Response, abort, g, jsonify, render_template, request

from controller.console import metrics_series
from controller.console.app import blueprint
from controller.console.calls import PAGE_SIZE, ServiceCallError
from controller.ec2.ids import INSTANCE

#: GetMetricData pages at 100,800 points; 12 hours of 3 series is 2,160, so more than a few pages is a bug.
_MAX_METRIC_PAGES = 4
#: DescribeAlarms' comparison operators as the alarm list shows them.
COMPARISONS = {
    "GreaterThanOrEqualToThreshold": "≥", "GreaterThanThreshold": ">", "LessThanThreshold": "<",
    "LessThanOrEqualToThreshold": "≤", "LessThanLowerOrGreaterThanUpperThreshold": "outside band",
    "LessThanLowerThreshold": "< band", "GreaterThanUpperThreshold": "> band",
}


@blueprint.get("/ec2/instances/<instance_id>")
def instance_detail(instance_id: str) -> tuple[str, int]:
    """The instance's facts and its graphs' frame; the graphs' data comes from :func:`instance_metrics`."""
    if not INSTANCE.well_formed(instance_id):
        abort(404)
    hours = metrics_series.hours_of(request.args.get("hours"))
    values: dict[str, Any] = {"instance_id": instance_id, "hours": hours,
                              "ranges": metrics_series.RANGES_HOURS}
    try:
        answer = g.api.call("ec2", "DescribeInstances", {"InstanceIds": [instance_id]})
    except ServiceCallError as refused:
        return render_template("metrics_instance.html", error=refused, **values), refused.status
    found = [instance for reservation in answer.get("Reservations", [])
             for instance in reservation.get("Instances", [])]
    if not found:
        abort(404)
    instance = found[0]
    tags = {tag["Key"]: tag["Value"] for tag in instance.get("Tags", [])}
    return render_template("metrics_instance.html", instance=instance, name=tags.get("Name", ""),
                           may_read_metrics=g.api.may("cloudwatch:GetMetricData"), **values), 200


@blueprint.get("/ec2/instances/<instance_id>/metrics.json")
def instance_metrics(instance_id: str) -> tuple[Response, int]:
    """The instance's series over the asked range, as :func:`metrics_series.chart_json` shapes them; AWS's
    code and message (and status) when CloudWatch refuses."""
    if not INSTANCE.well_formed(instance_id):
        abort(404)
    hours = metrics_series.hours_of(request.args.get("hours"))
    params = metrics_series.queries(instance_id, hours, dt.datetime.now(dt.UTC))
    results: list[dict[str, Any]] = []
    try:
        for _ in range(_MAX_METRIC_PAGES):
            answer = g.api.call("cloudwatch", "GetMetricData", params)
            results.extend(answer.get("MetricDataResults", []))
            if not answer.get("NextToken"):
                break
            params["NextToken"] = answer["NextToken"]
    except ServiceCallError as refused:
        return jsonify(error={"code": refused.code, "message": refused.message}), refused.status
    params.pop("NextToken", None)
    return jsonify(metrics_series.chart_json(results, hours, params)), 200


@blueprint.get("/cloudwatch/alarms")
def svc_alarms() -> tuple[str, int]:
    """One page of the account's metric alarms (one DescribeAlarms call)."""
    next_token = request.args.get("next", "")
    params: dict[str, Any] = {"MaxRecords": PAGE_SIZE}
    if next_token:
        params["NextToken"] = next_token
    try:
        answer = g.api.call("cloudwatch", "DescribeAlarms", params)
    except ServiceCallError as refused:
        return render_template("metrics_alarms.html", list_error=refused, alarms=[],
                               this_token=next_token), refused.status
    return render_template("metrics_alarms.html", alarms=answer.get("MetricAlarms", []),
                           comparisons=COMPARISONS, next_token=answer.get("NextToken", ""),
                           this_token=next_token), 200
