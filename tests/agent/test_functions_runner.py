"""The host's function runner driven directly: real bubblewrap sandboxes, cgroups and the unmodified
awslambdaric behind the Runtime API. The controller's part is played by a dict of packages by sha256
(what ``GET /functions/code/<sha>`` would serve)."""

from __future__ import annotations

import hashlib
import http.client
import io
import json
import subprocess
import sys
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from agent.contract.codec import to_json
from agent.contract.functions import FunctionInvocation, FunctionResult
from agent.functions.environment import CGROUP_PREFIX
from agent.functions.packages import Packages
from agent.functions.runtimes import available
from agent.functions.sandbox import CGROUP_ROOT
from agent.functions.server import FunctionRunner, FunctionServer, unavailable
from tests.e2e.lambda_helpers import zip_of
from tests.support import wait_for

pytestmark = [pytest.mark.root, pytest.mark.skipif(unavailable() is not None, reason=unavailable() or "")]

ARN = "arn:aws:lambda:home-1:123456789012:function:"
REPO = Path(__file__).resolve().parents[2]


class Lab:
    def __init__(self, state_dir: Path) -> None:
        self.store: dict[str, bytes] = {}
        self.runner = FunctionRunner(Packages(state_dir, lambda sha, target: target.write_bytes(self.store[sha])))

    def package(self, files: dict[str, str]) -> str:
        data = zip_of(files)
        sha = hashlib.sha256(data).hexdigest()
        self.store[sha] = data
        return sha

    def invoke(self, name: str, code: str, event: Any = None, **fields: Any) -> FunctionResult:
        invocation = FunctionInvocation(**{
            "request_id": str(uuid.uuid4()), "function_arn": ARN + name, "version": "$LATEST", "revision": "r1",
            "package_type": "Zip", "runtime": "python3.11", "handler": "app.handler", "code_sha256": code,
            "memory_mb": 128, "timeout_s": 3, "ephemeral_mb": 512, "environment": {},
            "credentials": {"AccessKeyId": "ASIAEXAMPLE", "SecretAccessKey": "secret", "SessionToken": "token"},
            "region": "home-1", "log_group": f"/aws/lambda/{name}", "payload": json.dumps(event or {}),
            "endpoint_url": "http://127.0.0.1:9", **fields})
        return self.runner.invoke(invocation)


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("functions"))
    yield lab
    lab.runner.close()


def cgroup_of(result: FunctionResult) -> Path:
    """The memory cgroup of the environment that ran ``result`` (its id ends the log stream name)."""
    parent = CGROUP_ROOT / "memory" if (CGROUP_ROOT / "memory").is_dir() else CGROUP_ROOT
    return parent / (CGROUP_PREFIX + result.log_stream[-32:])


def log_text(result: FunctionResult) -> str:
    return "".join(line[1] for line in result.log)


def test_a_warm_environment_keeps_its_globals_and_logs_like_lambda(lab: Lab) -> None:
    code = lab.package({"app.py": """
        import os
        count = 0
        print("initialising")
        def handler(event, context):
            global count
            count += 1
            print("call", count, event["n"])
            return {"count": count, "uid": os.getuid(), "name": context.function_name,
                    "left": context.get_remaining_time_in_millis()}
    """})
    first = lab.invoke("warm", code, {"n": 1})
    second = lab.invoke("warm", code, {"n": 2})
    assert (first.status, second.status) == ("ok", "ok")
    assert json.loads(first.payload)["count"] == 1 and json.loads(second.payload)["count"] == 2
    assert json.loads(first.payload)["uid"] != 0 and json.loads(first.payload)["name"] == "warm"
    assert 0 < json.loads(first.payload)["left"] <= 3000
    assert first.cold and not second.cold and first.log_stream == second.log_stream
    text = log_text(first)
    assert text.startswith("INIT_START Runtime Version: python:3.11")
    assert text.index("initialising") < text.index(f"START RequestId: {first.request_id} Version: $LATEST")
    assert "call 1 1\n" in text and f"END RequestId: {first.request_id}\n" in text
    report = text.splitlines()[-1]
    assert report.startswith(f"REPORT RequestId: {first.request_id}\tDuration: ") and "Init Duration: " in report
    assert "Memory Size: 128 MB" in report and "Init Duration" not in log_text(second)
    assert "initialising" not in log_text(second)


def test_environment_variables_credentials_and_tmp_size(lab: Lab) -> None:
    code = lab.package({"app.py": """
        import os
        def handler(event, context):
            st = os.statvfs("/tmp")
            return {k: os.environ.get(k) for k in ("GREETING", "AWS_ACCESS_KEY_ID", "AWS_SESSION_TOKEN",
                    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_REGION",
                    "AWS_ENDPOINT_URL", "LAMBDA_TASK_ROOT", "_HANDLER", "AWS_LAMBDA_LOG_GROUP_NAME")} | {
                    "tmp_mb": st.f_blocks * st.f_frsize // 2**20, "task_writable": os.access("/var/task", os.W_OK)}
    """})
    result = lab.invoke("env", code, environment={"GREETING": "hello"}, ephemeral_mb=600, memory_mb=256)
    seen = json.loads(result.payload)
    assert seen == {"GREETING": "hello", "AWS_ACCESS_KEY_ID": "ASIAEXAMPLE", "AWS_SESSION_TOKEN": "token",
                    "AWS_LAMBDA_FUNCTION_NAME": "env", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                    "AWS_REGION": "home-1", "AWS_ENDPOINT_URL": "http://127.0.0.1:9", "LAMBDA_TASK_ROOT": "/var/task",
                    "_HANDLER": "app.handler", "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/env", "tmp_mb": 600,
                    "task_writable": False}


def test_layers_appear_under_opt_in_order_later_ones_on_top(lab: Lab) -> None:
    first = lab.package({"python/shared.py": "WHO = 'first'\n", "python/only_first.py": "X = 1\n"})
    second = lab.package({"python/shared.py": "WHO = 'second'\n"})
    code = lab.package({"app.py": """
        import shared, only_first
        def handler(event, context):
            return [shared.WHO, only_first.X]
    """})
    result = lab.invoke("layers", code, layers=[{"arn": "l1", "code_sha256": first},
                                                {"arn": "l2", "code_sha256": second}])
    assert json.loads(result.payload) == ["second", 1]


def test_handler_errors_come_back_in_the_runtime_s_shape(lab: Lab) -> None:
    code = lab.package({"app.py": """
        def handler(event, context):
            raise ValueError("no such order")
    """})
    result = lab.invoke("fails", code)
    document = json.loads(result.payload)
    assert (result.status, result.function_error) == ("function_error", "Unhandled")
    assert document["errorType"] == "ValueError" and document["errorMessage"] == "no such order"
    assert "stackTrace" in document and document["requestId"] == result.request_id


def test_an_import_error_is_an_init_error(lab: Lab) -> None:
    result = lab.invoke("broken", lab.package({"app.py": "import not_a_module\n"}))
    assert result.status == "init_error"
    assert json.loads(result.payload)["errorType"] == "Runtime.ImportModuleError"


def test_nodejs_handlers_run_under_the_node_client(lab: Lab) -> None:
    if "nodejs20.x" not in available():
        pytest.skip("no node 20+ on this host")
    code = lab.package({"index.mjs": """
        let calls = 0;
        export const handler = async (event, context) => {
            calls += 1;
            console.log("node call", calls);
            return {calls, doubled: event.n * 2, region: process.env.AWS_REGION, name: context.functionName};
        };
    """})
    first = lab.invoke("node", code, {"n": 21}, runtime="nodejs20.x", handler="index.handler")
    second = lab.invoke("node", code, {"n": 1}, runtime="nodejs20.x", handler="index.handler")
    assert first.status == "ok", first.payload
    assert json.loads(first.payload) == {"calls": 1, "doubled": 42, "region": "home-1", "name": "node"}
    assert json.loads(second.payload)["calls"] == 2 and not second.cold
    assert "node call" in log_text(first) and log_text(first).startswith("INIT_START Runtime Version: nodejs:20.")


BOOTSTRAP = """#!/usr/bin/python3
import json, os, urllib.request
api = "http://" + os.environ["AWS_LAMBDA_RUNTIME_API"] + "/2018-06-01/runtime/invocation/"
while True:
    with urllib.request.urlopen(api + "next") as response:
        request_id = response.headers["Lambda-Runtime-Aws-Request-Id"]
        event = json.loads(response.read())
    answer = json.dumps({"echo": event, "handler": os.environ["_HANDLER"], "cwd": os.getcwd()}).encode()
    urllib.request.urlopen(urllib.request.Request(api + request_id + "/response", data=answer, method="POST"))
"""


def test_a_provided_runtime_runs_the_package_s_bootstrap(lab: Lab) -> None:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        entry = zipfile.ZipInfo("bootstrap")
        entry.external_attr = 0o755 << 16
        archive.writestr(entry, BOOTSTRAP)
    data = buffer.getvalue()
    sha = hashlib.sha256(data).hexdigest()
    lab.store[sha] = data
    result = lab.invoke("custom", sha, {"x": 1}, runtime="provided.al2023", handler="function.handler")
    assert result.status == "ok", result.payload
    assert json.loads(result.payload) == {"echo": {"x": 1}, "handler": "function.handler", "cwd": "/var/task"}


def test_an_image_function_runs_its_entrypoint_and_cmd_in_its_own_root(lab: Lab, tmp_path: Path) -> None:
    source = tmp_path / "src"
    source.mkdir()
    (source / "app.py").write_text("n = 0\ndef handler(e, c):\n    global n\n    n += 1\n"
                                   "    return {'n': n, 'v': e['v'], 'python': __import__('sys').executable}\n")
    archive = tmp_path / "image.tar"
    subprocess.run([sys.executable, str(REPO / "images" / "lambda" / "build.py"), str(source), "-o", str(archive)],
                   check=True, capture_output=True)
    data = archive.read_bytes()
    sha = hashlib.sha256(data).hexdigest()
    lab.store[sha] = data
    first = lab.invoke("image", sha, {"v": 1}, package_type="Image", runtime=None, handler=None)
    second = lab.invoke("image", sha, {"v": 2}, package_type="Image", runtime=None, handler=None)
    assert first.status == "ok", first.payload
    assert json.loads(first.payload)["n"] == 1 and json.loads(second.payload) == {
        "n": 2, "v": 2, "python": json.loads(first.payload)["python"]}
    overridden = lab.invoke("image", sha, {"v": 3}, package_type="Image", runtime=None, handler=None,
                            revision="r2", image_config={"Command": ["app.missing"]})
    assert overridden.status == "init_error" and "missing" in overridden.payload


def test_missing_code_or_runtime_is_an_init_error_naming_it(lab: Lab) -> None:
    unknown = lab.invoke("nocode", "ab" * 32)
    assert unknown.status == "init_error" and "ab" * 32 in json.loads(unknown.payload)["errorMessage"]
    code = lab.package({"app.py": "def handler(e, c):\n    return 1\n"})
    other = lab.invoke("noruntime", code, runtime="python3.9")
    assert other.status == "init_error" and other.function_error == "Unhandled"
    document = json.loads(other.payload)
    assert document["errorType"] == "Runtime.InvalidEntrypoint" and "python3.11" in document["errorMessage"]


def test_a_timeout_kills_the_environment_and_the_next_call_starts_fresh(lab: Lab) -> None:
    code = lab.package({"app.py": """
        import time
        calls = 0
        def handler(event, context):
            global calls
            calls += 1
            if event.get("sleep"):
                time.sleep(30)
            return calls
    """})
    assert lab.invoke("slow", code).payload == "1"
    result = lab.invoke("slow", code, {"sleep": True}, timeout_s=1)
    assert result.status == "timeout" and 1000 <= result.duration_ms < 3000
    assert f"{result.request_id} Task timed out after 1.00 seconds" in log_text(result)
    assert "Status: timeout" in result.log[-1][1]
    wait_for(lambda: not cgroup_of(result).exists(), timeout=10, what="the timed-out environment's cgroup to go")
    assert json.loads(result.payload)["errorMessage"].endswith(
        f"Z {result.request_id} Task timed out after 1.00 seconds")
    again = lab.invoke("slow", code)
    assert again.payload == "1" and again.cold


def test_memory_beyond_the_function_s_size_is_killed_as_out_of_memory(lab: Lab) -> None:
    code = lab.package({"app.py": """
        def handler(event, context):
            hog = bytearray(300 * 1024 * 1024)
            return len(hog)
    """})
    # 7% of a vCPU fills 128 MB slowly on a busy host: a long timeout keeps this about memory, not time
    result = lab.invoke("hog", code, memory_mb=128, timeout_s=30)
    assert (result.status, result.max_memory_mb) == ("crashed", 128), result
    assert "Error Type: Runtime.OutOfMemory" in result.log[-1][1]
    assert json.loads(result.payload) == {
        "errorType": "Runtime.OutOfMemory",
        "errorMessage": f"RequestId: {result.request_id} Error: Runtime exited with error: signal: killed"}


def test_a_new_revision_never_reuses_an_old_environment(lab: Lab) -> None:
    code = lab.package({"app.py": "n = 0\ndef handler(e, c):\n    global n\n    n += 1\n    return n\n"})
    assert lab.invoke("revs", code).payload == "1"
    old = lab.invoke("revs", code)
    assert old.payload == "2"
    assert lab.invoke("revs", code, revision="r2").payload == "1"
    wait_for(lambda: not cgroup_of(old).exists(), timeout=10, what="the old revision's environment to end")


def test_an_environment_idle_past_idle_seconds_is_reclaimed(lab: Lab) -> None:
    code = lab.package({"app.py": "def handler(e, c):\n    return 1\n"})
    first = lab.invoke("idle", code, idle_seconds=1)
    wait_for(lambda: not cgroup_of(first).exists(), timeout=10, what="the idle environment's cgroup to go")
    again = lab.invoke("idle", code, idle_seconds=1)
    assert first.cold and again.cold and again.log_stream != first.log_stream


def test_reserved_environments_throttle_beyond_the_limit(lab: Lab) -> None:
    code = lab.package({"app.py": "def handler(e, c):\n    return 1\n"})
    assert lab.invoke("none", code, max_environments=0).status == "throttled"


def test_the_server_wants_the_agent_token_and_keeps_the_connection(tmp_path: Path) -> None:
    lab = Lab(tmp_path)
    server = FunctionServer(lab.runner, "agent-token", ("127.0.0.1", 0))
    try:
        code = lab.package({"app.py": "def handler(e, c):\n    return e['n'] * 2\n"})
        invocation = FunctionInvocation(**{
            "request_id": "", "function_arn": ARN + "served", "version": "$LATEST", "revision": "r1",
            "package_type": "Zip", "runtime": "python3.11", "handler": "app.handler", "code_sha256": code,
            "memory_mb": 128, "timeout_s": 3, "ephemeral_mb": 512, "environment": {}, "credentials": {},
            "region": "home-1", "log_group": "/aws/lambda/served", "payload": "", "endpoint_url": "http://127.0.0.1:9"})
        conn = http.client.HTTPConnection("127.0.0.1", server.server_address[1], timeout=30)

        def post(path: str, body: bytes, token: str = "agent-token") -> tuple[int, dict[str, Any]]:
            conn.request("POST", path, body, {"Authorization": f"Bearer {token}"})
            response = conn.getresponse()
            return response.status, json.loads(response.read())

        assert post("/invoke", b"{}", token="wrong")[0] == 401
        assert post("/invoke", b'{"request_id": "x"}')[0] == 400
        assert post("/other", b"{}")[0] == 404
        for n in (1, 2):
            invocation.request_id, invocation.payload = str(uuid.uuid4()), json.dumps({"n": n})
            status, document = post("/invoke", json.dumps(to_json(invocation)).encode())
            assert status == 200 and document["status"] == "ok" and document["payload"] == str(2 * n)
            assert document["cold"] is (n == 1)
    finally:
        server.close()
