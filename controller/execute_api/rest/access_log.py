"""Stage access logs: one line per request in the stage's ``accessLogSettings.format``, appended to the
CloudWatch Logs group its ``destinationArn`` names (CloudWatch Logs' own writer, off the request path).

The format's ``$context.*`` variables are API Gateway's (``$context.requestId``, ``$context.status``,
``$context.identity.sourceIp``, ``$context.responseLatency``...); a variable the request has no value for is
``-``, as in AWS's logs. The stream is named after the stage, one per stage.
"""

from __future__ import annotations

import re
import time
from typing import Any

from controller.apigateway.snapshot import StageView
from controller.logs import ingest

_VARIABLE = re.compile(r"\$context\.([A-Za-z0-9_.]+)")


def line(form: str, context: dict[str, Any]) -> str:
    """The access log line for one request: ``form`` with its ``$context`` variables filled in. Pure."""

    def value(match: re.Match[str]) -> str:
        found: Any = context
        for part in match[1].split("."):
            found = found.get(part) if isinstance(found, dict) else None
        return "-" if found is None or isinstance(found, dict) else str(found)

    return _VARIABLE.sub(value, form)


def write(cloud: Any, view: StageView, status: int, latency_ms: int, context: dict[str, Any]) -> None:
    """Log one request when the stage has access logging to a log group (Firehose destinations are not
    served: nothing is written for them)."""
    settings = view.stage.get("accessLogSettings") or {}
    arn, form = settings.get("destinationArn") or "", settings.get("format") or ""
    if not arn.startswith("arn:aws:logs:") or not form:
        return
    group = arn.split(":log-group:", 1)[-1].removesuffix(":*")
    filled = {**context, "status": status, "responseLatency": latency_ms,
              "integrationLatency": context.get("integrationLatency", latency_ms)}
    stream = f"{view.api.get('id', '')}-{view.stage.get('stageName', '')}"
    ingest.append(cloud, account_id=view.account_id, group=group, stream=stream,
                  events=[(int(time.time() * 1000), line(form, filled))])
