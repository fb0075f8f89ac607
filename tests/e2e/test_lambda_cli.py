"""The README's Lambda walk-through with the stock AWS CLI against ``cloudlet up`` and its agent: create a
function from a zip, invoke it, publish versions, route 10% of an alias to a canary, and find the
invocation's REPORT line in ``/aws/lambda/<function>`` as ``aws logs tail`` (CLI v2) and
``aws logs filter-log-events`` show it."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

from tests.e2e.lambda_helpers import LAMBDA_TRUST, needs_functions, zip_of
from tests.support import CloudletProcess, wait_for

pytestmark = needs_functions

SOURCE = """
    count = 0
    def handler(event, context):
        global count
        count += 1
        print("hello", event.get("name"))
        return {"hello": event.get("name", "world"), "calls": count}
"""


def aws_json(cloud: CloudletProcess, *args: str) -> Any:
    out = cloud.aws(*args, "--output", "json").stdout
    return json.loads(out) if out.strip() else None


def invoke(cloud: CloudletProcess, tmp: Path, *args: str, payload: str = "{}") -> tuple[dict[str, Any], Any]:
    out = tmp / "out.json"
    # AWS CLI v1 (installed here) sends --payload as given; v2 needs --cli-binary-format raw-in-base64-out
    meta = aws_json(cloud, "lambda", "invoke", *args, "--payload", payload, str(out))
    return meta, json.loads(out.read_text())


def test_readme_walkthrough_with_a_canary_and_the_report_in_the_logs(functions_cloud: CloudletProcess,
                                                                     tmp_path: Path, unique: str) -> None:
    cloud = functions_cloud
    (tmp_path / "hello.zip").write_bytes(zip_of({"app.py": SOURCE}))
    role = aws_json(cloud, "iam", "create-role", "--role-name", f"{unique}-exec",
                    "--assume-role-policy-document", LAMBDA_TRUST)["Role"]["Arn"]
    created = aws_json(cloud, "lambda", "create-function", "--function-name", unique, "--runtime", "python3.11",
                       "--handler", "app.handler", "--role", role, "--zip-file", f"fileb://{tmp_path / 'hello.zip'}",
                       "--memory-size", "256", "--timeout", "10", "--environment", "Variables={GREETING=hi}")
    assert created["Environment"] == {"Variables": {"GREETING": "hi"}} and created["Version"] == "$LATEST"
    cloud.aws("lambda", "wait", "function-active-v2", "--function-name", unique)

    meta, body = invoke(cloud, tmp_path, "--function-name", unique, "--log-type", "Tail",
                        payload='{"name": "ada"}')
    assert meta["StatusCode"] == 200 and body == {"hello": "ada", "calls": 1}
    tail = base64.b64decode(meta["LogResult"]).decode()
    assert "hello ada" in tail and "Init Duration:" in tail
    assert invoke(cloud, tmp_path, "--function-name", unique)[1]["calls"] == 2   # warm

    assert aws_json(cloud, "lambda", "publish-version", "--function-name", unique)["Version"] == "1"
    (tmp_path / "hello.zip").write_bytes(zip_of({"app.py": SOURCE.replace('"hello"', '"hi"')}))
    assert aws_json(cloud, "lambda", "update-function-code", "--function-name", unique, "--zip-file",
                    f"fileb://{tmp_path / 'hello.zip'}", "--publish")["Version"] == "2"
    alias = aws_json(cloud, "lambda", "create-alias", "--function-name", unique, "--name", "live",
                     "--function-version", "1", "--routing-config", "AdditionalVersionWeights={2=0.1}")
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.1}}
    ran = Counter(invoke(cloud, tmp_path, "--function-name", unique, "--qualifier", "live")[0]["ExecutedVersion"]
                  for _ in range(20))
    assert set(ran) <= {"1", "2"} and ran["1"] > ran["2"], ran

    group = f"/aws/lambda/{unique}"

    def reports() -> list[str]:
        found = aws_json(cloud, "logs", "filter-log-events", "--log-group-name", group,
                         "--filter-pattern", "REPORT")["events"]
        return [event["message"] for event in found]

    wait_for(lambda: len(reports()) >= 22, timeout=30, what="every invocation's REPORT line in its log group")
    first = reports()[0]
    assert first.startswith("REPORT RequestId: ") and "\tDuration: " in first and "\tInit Duration: " in first
    streams = aws_json(cloud, "logs", "describe-log-streams", "--log-group-name", group)["logStreams"]
    assert any("[$LATEST]" in stream["logStreamName"] for stream in streams)
    assert any("[1]" in stream["logStreamName"] for stream in streams)
