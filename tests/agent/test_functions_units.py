"""The runner's pure parts, without sandboxes: Lambda's log lines, the CPU share, the reserved variables,
the bubblewrap command line, and the Runtime API's paths and headers (served to a client in the test)."""

from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from agent.contract.functions import FunctionInvocation
from agent.functions import reports, sandbox
from agent.functions.environment import Recipe, reserved_variables
from agent.functions.runtime_api import Channel, Event, RuntimeApiServer
from agent.functions.sandbox import Layout, bwrap_argv, cpu_quota_us, remove_stale_cgroups

REQUEST = "8f507cfc-example-4697-b07a-ac58fc914c95"


def test_report_lines_are_lambda_s_tab_separated_format() -> None:
    assert reports.start(REQUEST, "$LATEST") == f"START RequestId: {REQUEST} Version: $LATEST\n"
    assert reports.end(REQUEST) == f"END RequestId: {REQUEST}\n"
    cold = reports.report(REQUEST, duration_ms=1.234, memory_mb=128, max_memory_mb=40, init_ms=150.0)
    assert cold == (f"REPORT RequestId: {REQUEST}\tDuration: 1.23 ms\tBilled Duration: 2 ms\tMemory Size: 128 MB\t"
                    "Max Memory Used: 40 MB\tInit Duration: 150.00 ms\t\n")
    warm = reports.report(REQUEST, duration_ms=0.2, memory_mb=128, max_memory_mb=41, init_ms=None,
                          status="timeout")
    assert "Init Duration" not in warm and "\tBilled Duration: 1 ms\t" in warm and warm.endswith("Status: timeout\t\n")


def test_init_start_timeout_line_and_stream_name() -> None:
    line = reports.init_start("python:3.11.cloudlet", "arn:aws:lambda:home-1:123456789012:function:f")
    assert line.startswith("INIT_START Runtime Version: python:3.11.cloudlet\tRuntime Version ARN: ")
    at = dt.datetime(2026, 12, 4, 20, 1, 2, 345000, tzinfo=dt.UTC)
    assert reports.timed_out(REQUEST, 3, at) == f"2026-12-04T20:01:02.345Z {REQUEST} Task timed out after 3.00 seconds\n"
    assert json.loads(reports.timeout_document(reports.timed_out(REQUEST, 3, at))) == {
        "errorMessage": f"2026-12-04T20:01:02.345Z {REQUEST} Task timed out after 3.00 seconds"}
    assert json.loads(reports.exit_document(REQUEST, out_of_memory=False))["errorType"] == "Runtime.ExitError"
    assert reports.log_stream_name(dt.date(2026, 1, 2), "$LATEST", "a" * 32) == f"2026/01/02/[$LATEST]{'a' * 32}"


@pytest.mark.parametrize(("memory_mb", "quota"), [(1769, 100_000), (3538, 200_000), (128, 7235), (1, 1000)])
def test_cpu_scales_linearly_with_memory_one_vcpu_at_1769_mb(memory_mb: int, quota: int) -> None:
    assert cpu_quota_us(memory_mb) == quota


def invocation(**fields: object) -> FunctionInvocation:
    return FunctionInvocation(**{
        "request_id": REQUEST, "function_arn": "arn:aws:lambda:home-1:123456789012:function:orders",
        "version": "3", "revision": "r", "package_type": "Zip", "runtime": "python3.11", "handler": "app.handler",
        "code_sha256": "0" * 64, "memory_mb": 256, "timeout_s": 3, "ephemeral_mb": 512,
        "environment": {"TABLE": "orders", "AWS_REGION": "spoofed"},
        "credentials": {"AccessKeyId": "ASIAX", "SecretAccessKey": "s", "SessionToken": "t"},
        "region": "home-1", "log_group": "/aws/lambda/orders", "payload": "{}",
        "endpoint_url": "http://127.0.0.1:4566", **fields})


def test_reserved_variables_override_the_function_s_own() -> None:
    recipe = Recipe(None, Layout(Path("/t"), Path("/r"), None, 512), (), (("IMAGE_VAR", "1"), ("TZ", "x")))
    variables = reserved_variables(invocation(), recipe, "2026/12/04/[3]abc", "127.0.0.1:9001")
    assert variables["TABLE"] == "orders" and variables["IMAGE_VAR"] == "1"
    assert variables["AWS_REGION"] == variables["AWS_DEFAULT_REGION"] == "home-1"
    assert variables["TZ"] == ":UTC" and variables["_HANDLER"] == "app.handler"
    assert variables["AWS_LAMBDA_FUNCTION_NAME"] == "orders" and variables["AWS_LAMBDA_FUNCTION_VERSION"] == "3"
    assert variables["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert variables["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert variables["AWS_LAMBDA_INITIALIZATION_TYPE"] == "on-demand"
    assert variables["AWS_LAMBDA_LOG_STREAM_NAME"] == "2026/12/04/[3]abc"
    assert (variables["AWS_ACCESS_KEY_ID"], variables["AWS_SECRET_ACCESS_KEY"], variables["AWS_SESSION_TOKEN"]) == (
        "ASIAX", "s", "t")
    assert variables["AWS_LAMBDA_RUNTIME_API"] == "127.0.0.1:9001"
    assert variables["AWS_ENDPOINT_URL"] == "http://127.0.0.1:4566"
    assert variables["LAMBDA_TASK_ROOT"] == "/var/task" and variables["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert variables["PYTHONPATH"].endswith(":/var/runtime")


def binds(argv: list[str]) -> list[tuple[str, str]]:
    return [(argv[i + 1], argv[i + 2]) for i, arg in enumerate(argv) if arg == "--ro-bind"]


def test_bwrap_shows_aws_s_layout_read_only_and_a_sized_tmp() -> None:
    layout = Layout(Path("/cache/task/abc"), Path("/cache/runtime"), Path("/cache/opt/def"), 512)
    argv = bwrap_argv(layout, ["python3.11", "-m", "awslambdaric", "app.handler"], "sandbox")
    assert argv[0] == "bwrap" and argv[-4:] == ["python3.11", "-m", "awslambdaric", "app.handler"]
    assert {"--unshare-pid", "--unshare-ipc", "--unshare-uts", "--die-with-parent"} <= set(argv)
    assert "--unshare-net" not in argv  # the Runtime API and the endpoint are on the host's 127.0.0.1
    assert argv[argv.index("--uid") + 1] == "993"
    assert ("/cache/task/abc", "/var/task") in binds(argv) and ("/cache/opt/def", "/opt") in binds(argv)
    assert ("/cache/runtime", "/var/runtime") in binds(argv) and ("/usr", "/usr") in binds(argv)
    tmp = argv.index("/tmp")
    assert argv[tmp - 1] == "--tmpfs" and argv[tmp - 3:tmp - 1] == ["--size", str(512 * 1024 * 1024)]
    assert argv[argv.index("--chdir") + 1] == "/var/task"


def test_bwrap_runs_an_image_in_its_own_root() -> None:
    layout = Layout(Path("/t"), Path("/r"), None, 10240, rootfs=Path("/cache/image/abc"), workdir="/app")
    argv = bwrap_argv(layout, ["/lambda-entrypoint.sh"], "sandbox")
    assert binds(argv) == [("/cache/image/abc", "/")]
    assert argv[argv.index("--chdir") + 1] == "/app"


@pytest.fixture
def runtime_api() -> Iterator[RuntimeApiServer]:
    server = RuntimeApiServer(Channel())
    yield server
    server.close()


def call(server: RuntimeApiServer, method: str, path: str, body: bytes = b"",
         headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    host, port = server.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request(method, path, body, headers or {})
    response = conn.getresponse()
    response.read()
    return response


def test_runtime_api_hands_out_the_event_with_aws_s_headers_and_takes_one_answer(
        runtime_api: RuntimeApiServer) -> None:
    channel = runtime_api.channel
    channel.event = Event(REQUEST, b'{"n": 1}', 1_700_000_003_000, "arn:aws:lambda:home-1:1:function:f:live",
                          client_context='{"custom": {}}')
    host, port = runtime_api.address.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("GET", "/2018-06-01/runtime/invocation/next")
    response = conn.getresponse()
    assert response.status == 200 and response.read() == b'{"n": 1}'
    assert response.headers["Lambda-Runtime-Aws-Request-Id"] == REQUEST
    assert response.headers["Lambda-Runtime-Deadline-Ms"] == "1700000003000"
    assert response.headers["Lambda-Runtime-Invoked-Function-Arn"] == "arn:aws:lambda:home-1:1:function:f:live"
    assert response.headers["Lambda-Runtime-Client-Context"] == '{"custom": {}}'
    assert response.headers["Lambda-Runtime-Trace-Id"].startswith("Root=1-")
    assert channel.polling
    unknown = call(runtime_api, "POST", "/2018-06-01/runtime/invocation/other-id/response", b"{}")
    assert unknown.status == 400 and channel.event.answer is None
    error = call(runtime_api, "POST", f"/2018-06-01/runtime/invocation/{REQUEST}/error", b'{"errorType": "E"}',
                 {"Lambda-Runtime-Function-Error-Type": "Unhandled"})
    assert error.status == 202 and channel.event.answer == ("error", b'{"errorType": "E"}', "Unhandled")
    again = call(runtime_api, "POST", f"/2018-06-01/runtime/invocation/{REQUEST}/response", b"{}")
    assert again.status == 400 and channel.event.answer[0] == "error"


def test_runtime_api_init_error_and_a_closing_environment(runtime_api: RuntimeApiServer) -> None:
    document = json.dumps({"errorType": "Runtime.ImportModuleError", "errorMessage": "No module named 'app'"})
    assert call(runtime_api, "POST", "/2018-06-01/runtime/init/error", document.encode()).status == 202
    assert runtime_api.channel.init_error == document.encode()
    threading.Timer(0.1, runtime_api.channel.close).start()
    assert call(runtime_api, "GET", "/2018-06-01/runtime/invocation/next").status == 410


def test_only_old_empty_cgroups_of_the_prefix_are_removed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "CGROUP_ROOT", tmp_path)
    old = time.time() - 3600
    for name in ("cloudlet-fn-old", "cloudlet-fn-busy", "cloudlet-fn-new", "someone-else"):
        (tmp_path / "memory" / name).mkdir(parents=True)
    (tmp_path / "memory" / "cloudlet-fn-busy" / "cgroup.procs").write_text("1234\n")  # rmdir refuses it
    for name in ("cloudlet-fn-old", "cloudlet-fn-busy", "someone-else"):
        os.utime(tmp_path / "memory" / name, (old, old))
    (tmp_path / "cpu").mkdir()
    assert remove_stale_cgroups("cloudlet-fn-") == 1
    assert sorted(path.name for path in (tmp_path / "memory").iterdir()) == [
        "cloudlet-fn-busy", "cloudlet-fn-new", "someone-else"]
