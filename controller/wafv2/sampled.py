"""GetSampledRequests: the requests a rule (or the web ACL's default action) sampled, from the runtime's
ring buffer. ``RuleMetricName`` is a rule's metric name, or the web ACL's for requests its default action
decided; the time window is clamped to the last three hours, as AWS keeps no older samples."""

from __future__ import annotations

import datetime as dt
import time

from controller.api import Params, RequestContext
from controller.wafv2 import errors, records
from controller.wafv2.runtime import SAMPLE_SECONDS, runtime


def _epoch(value: dt.datetime | float) -> float:
    return value.timestamp() if isinstance(value, dt.datetime) else float(value)


@records.operation("GetSampledRequests", "webacl")
def get_sampled_requests(ctx: RequestContext, params: Params) -> Params:
    records.check_scope(params["Scope"])
    if not 1 <= params["MaxItems"] <= 500:
        raise errors.invalid("ENTITY_LIMIT", params["MaxItems"])
    with ctx.cloud.db.read() as conn:
        acl = records.find_by_arn(conn, ctx, params["WebAclArn"], "webacl")
    window = params["TimeWindow"]
    start, end = _epoch(window["StartTime"]), _epoch(window["EndTime"])
    if start >= end:
        raise errors.invalid("EXPIRE_TIMESTAMP", "TimeWindow", "The start of the time window must be before its end.")
    start = max(start, time.time() - SAMPLE_SECONDS)
    found = runtime(ctx.cloud).samples(acl["entity_id"], params["RuleMetricName"], start, end)
    chosen = found[-params["MaxItems"]:]
    return {
        "SampledRequests": [{
            "Request": {"ClientIP": sample.client_ip, "Country": "-", "URI": sample.uri, "Method": sample.method,
                        "HTTPVersion": "HTTP/1.1",
                        "Headers": [{"Name": name, "Value": value} for name, value in sample.headers]},
            "Weight": 1, "Timestamp": dt.datetime.fromtimestamp(sample.at, dt.UTC), "Action": sample.action,
            **({"ResponseCodeSent": sample.status} if sample.status else {}),
            "Labels": [{"Name": label} for label in sample.labels],
        } for sample in chosen],
        "PopulationSize": len(found),
        "TimeWindow": {"StartTime": dt.datetime.fromtimestamp(start, dt.UTC),
                       "EndTime": dt.datetime.fromtimestamp(end, dt.UTC)},
    }
