"""CloudWatch Logs through the stock AWS CLI (``aws logs ...``) against a real ``cloudlet up``: the
README's walk-through, including the CLI's own paging of FilterLogEvents."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e


def aws_json(cloudlet: CloudletProcess, *args: str) -> Any:
    out = cloudlet.aws(*args, "--output", "json").stdout
    return json.loads(out) if out.strip() else None


def test_aws_logs_walkthrough(cloudlet: CloudletProcess, unique: str) -> None:
    group = f"/demo/{unique}"
    cloudlet.aws("logs", "create-log-group", "--log-group-name", group, "--tags", "team=web")
    cloudlet.aws("logs", "put-retention-policy", "--log-group-name", group, "--retention-in-days", "7")
    cloudlet.aws("logs", "create-log-stream", "--log-group-name", group, "--log-stream-name", "app")
    now = int(time.time() * 1000) - 1000
    events = [{"timestamp": now + i, "message": message} for i, message in enumerate(
        ["START request 1", "ERROR disk full", '{"level": "warn", "latency": 1200}', "END request 1"])]
    put = aws_json(cloudlet, "logs", "put-log-events", "--log-group-name", group, "--log-stream-name", "app",
                   "--log-events", json.dumps(events))
    assert "rejectedLogEventsInfo" not in put

    [described] = aws_json(cloudlet, "logs", "describe-log-groups", "--log-group-name-prefix", group)["logGroups"]
    assert described["retentionInDays"] == 7 and described["arn"].endswith(f"log-group:{group}:*")

    got = aws_json(cloudlet, "logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "app",
                   "--start-from-head")
    assert [e["message"] for e in got["events"]] == [e["message"] for e in events]

    errors = aws_json(cloudlet, "logs", "filter-log-events", "--log-group-name", group,
                      "--filter-pattern", "?ERROR ?END")
    assert [e["message"] for e in errors["events"]] == ["ERROR disk full", "END request 1"]
    slow = aws_json(cloudlet, "logs", "filter-log-events", "--log-group-name", group,
                    "--filter-pattern", "{ $.latency > 1000 }")
    assert [e["logStreamName"] for e in slow["events"]] == ["app"]

    # the CLI pages FilterLogEvents itself with nextToken: two events per call, all four in the end
    paged = aws_json(cloudlet, "logs", "filter-log-events", "--log-group-name", group, "--page-size", "2")
    assert [e["message"] for e in paged["events"]] == [e["message"] for e in events]

    refused = cloudlet.aws("logs", "filter-log-events", "--log-group-name", group, "--filter-pattern",
                           "{ $.latency > }", check=False)
    assert refused.returncode != 0 and "InvalidParameterException" in refused.stderr
    assert "Invalid filter pattern" in refused.stderr

    cloudlet.aws("logs", "delete-log-group", "--log-group-name", group)
    missing = cloudlet.aws("logs", "get-log-events", "--log-group-name", group, "--log-stream-name", "app",
                           check=False)
    assert missing.returncode != 0 and "ResourceNotFoundException" in missing.stderr
