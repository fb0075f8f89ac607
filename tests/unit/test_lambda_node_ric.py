"""The Node.js runtime interface client (agent/functions/bootstrap/node_ric.js) against a Runtime API here.

A small Runtime API server (``http.server`` in a thread) hands the real ``node`` process events and
records what it posts back: responses, error documents and their Lambda-Runtime-Function-Error-Type
header, init errors; the process's stdout is the function's log.
"""

from __future__ import annotations

import json
import os
import queue
import re
import shutil
import subprocess
import textwrap
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

NODE_RIC = Path(__file__).resolve().parents[2] / "agent/functions/bootstrap/node_ric.js"
pytestmark = pytest.mark.skipif(shutil.which("node") is None, reason="needs node (apt install nodejs)")
ARN = "arn:aws:lambda:us-east-1:123456789012:function:greeter"


@dataclass
class Posted:
    """What the runtime posted: ``kind`` is response, error or init_error."""

    kind: str
    request_id: str | None
    body: Any
    error_type: str | None


class RuntimeApi:
    """The part of AWS's Runtime API a runtime client uses, serving queued events one at a time."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, str, dict[str, str]]] = queue.Queue()
        self.posted: queue.Queue[Posted] = queue.Queue()
        api = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                assert self.path == "/2018-06-01/runtime/invocation/next"
                request_id, payload, headers = api.events.get()
                body = payload.encode()
                self.send_response(200)
                for name, value in {"Lambda-Runtime-Aws-Request-Id": request_id,
                                    "Lambda-Runtime-Deadline-Ms": str(int(time.time() * 1000) + 30_000),
                                    "Lambda-Runtime-Invoked-Function-Arn": ARN + ":live",
                                    "Lambda-Runtime-Trace-Id": "Root=1-5e1b4151-5ac6c58f5b5dbd6a2f5a6a2b",
                                    "Content-Type": "application/json",  # awslambdaric crashes without it
                                    "Content-Length": str(len(body)), **headers}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(body)

            def do_POST(self) -> None:  # noqa: N802
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                match = re.fullmatch(r"/2018-06-01/runtime/(?:invocation/([^/]+)/(response|error)|(init)/error)",
                                     self.path)
                assert match, self.path
                request_id, kind = match.group(1), match.group(2) or "init_error"
                api.posted.put(Posted(kind, request_id, body, self.headers.get("Lambda-Runtime-Function-Error-Type")))
                self.send_response(202)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"{}")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.address = f"127.0.0.1:{self.server.server_address[1]}"

    def invoke(self, request_id: str, event: Any, **headers: str) -> Posted:
        self.events.put((request_id, json.dumps(event), headers))
        return self.next_post()

    def next_post(self, timeout: float = 15) -> Posted:
        return self.posted.get(timeout=timeout)


@dataclass
class NodeFunction:
    api: RuntimeApi
    process: subprocess.Popen[str]
    log_path: Path

    def log(self) -> list[str]:
        return self.log_path.read_bytes().decode().split("\n")  # a \r inside a line is part of it


@pytest.fixture
def run_node(tmp_path: Path) -> Iterator[Any]:
    started: list[NodeFunction] = []

    def start(handler: str, files: dict[str, str], **env: str) -> NodeFunction:
        task = tmp_path / "task"
        for name, source in files.items():
            (task / name).parent.mkdir(parents=True, exist_ok=True)
            (task / name).write_text(textwrap.dedent(source))
        api = RuntimeApi()
        log_path = tmp_path / f"log{len(started)}.txt"
        environment = {"PATH": os.environ["PATH"], "AWS_LAMBDA_RUNTIME_API": api.address, "_HANDLER": handler,
                       "LAMBDA_TASK_ROOT": str(task), "AWS_LAMBDA_FUNCTION_NAME": "greeter",
                       "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
                       "AWS_LAMBDA_LOG_GROUP_NAME": "/aws/lambda/greeter",
                       "AWS_LAMBDA_LOG_STREAM_NAME": "2026/12/04/[$LATEST]abc", **env}
        with log_path.open("w") as log:
            process = subprocess.Popen(["node", str(NODE_RIC)], env=environment, stdout=log,
                                       stderr=subprocess.STDOUT, text=True)
        started.append(NodeFunction(api, process, log_path))
        return started[-1]

    yield start
    for function in started:
        function.process.kill()
        function.process.wait()
        function.api.server.shutdown()


def test_async_commonjs_handler_context_warm_globals_and_log_lines(run_node: Any) -> None:
    function = run_node("app.handler", {"app.js": """
        let count = 0;
        exports.handler = async (event, context) => {
          count += 1;
          console.log('hello', event.name, {n: count});
          console.warn('two\\nlines');
          return {count, event, awsRequestId: context.awsRequestId, functionName: context.functionName,
                  functionVersion: context.functionVersion, invokedFunctionArn: context.invokedFunctionArn,
                  memoryLimitInMB: context.memoryLimitInMB, logGroupName: context.logGroupName,
                  logStreamName: context.logStreamName, remaining: context.getRemainingTimeInMillis(),
                  waits: context.callbackWaitsForEmptyEventLoop};
        };
    """})
    first = function.api.invoke("req-1", {"name": "ada"})
    second = function.api.invoke("req-2", {"name": "bob"})

    assert (first.kind, first.request_id, first.error_type) == ("response", "req-1", None)
    body = first.body
    assert body.pop("remaining") in range(25_000, 30_001)
    assert body == {"count": 1, "event": {"name": "ada"}, "awsRequestId": "req-1", "functionName": "greeter",
                    "functionVersion": "$LATEST", "invokedFunctionArn": ARN + ":live", "memoryLimitInMB": "256",
                    "logGroupName": "/aws/lambda/greeter", "logStreamName": "2026/12/04/[$LATEST]abc",
                    "waits": True}
    assert second.body["count"] == 2  # the same process: module globals survive between invocations
    lines = function.log()
    iso = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
    assert re.fullmatch(iso + r"\treq-1\tINFO\thello ada \{ n: 1 \}", lines[0]), lines
    assert re.fullmatch(iso + "\treq-1\tWARN\ttwo\rlines", lines[1]), lines
    assert lines[2].endswith("\treq-2\tINFO\thello bob { n: 2 }")


def test_callback_handlers_wait_for_the_event_loop_unless_told_not_to(run_node: Any) -> None:
    function = run_node("lib/cb.handler", {"lib/cb.js": """
        exports.handler = (event, context, callback) => {
          context.callbackWaitsForEmptyEventLoop = event.wait;
          setTimeout(() => console.log('timer done'), 1000);
          callback(null, {waited: event.wait});
        };
    """})
    started = time.monotonic()
    waited = function.api.invoke("a", {"wait": True})
    waited_for = time.monotonic() - started
    started = time.monotonic()
    quick = function.api.invoke("b", {"wait": False})
    quick_for = time.monotonic() - started
    assert waited.body == {"waited": True} and waited_for >= 1.0
    assert quick.body == {"waited": False} and quick_for < 0.9


def test_es_module_handlers_and_a_plain_return_value(run_node: Any) -> None:
    function = run_node("index.nested.go", {"index.mjs": """
        import { sep } from 'node:path';
        export const nested = { go: async (event) => `${event.a}${sep}${event.b}` };
    """})
    assert function.api.invoke("m1", {"a": "x", "b": "y"}).body == "x/y"


def test_errors_are_documents_shaped_like_aws(run_node: Any) -> None:
    function = run_node("app.handler", {"app.js": """
        exports.handler = async (event) => {
          if (event.kind === 'typed') throw new TypeError('bad input');
          if (event.kind === 'string') throw 'just a string';
          return undefined;
        };
    """})
    typed = function.api.invoke("e1", {"kind": "typed"})
    assert (typed.kind, typed.request_id, typed.error_type) == ("error", "e1", "TypeError")
    assert typed.body["errorType"] == "TypeError" and typed.body["errorMessage"] == "bad input"
    assert typed.body["trace"][0] == "TypeError: bad input" and "app.js" in typed.body["trace"][1]
    plain = function.api.invoke("e2", {"kind": "string"})
    assert (plain.kind, plain.body) == ("error", {"errorType": "string", "errorMessage": "just a string",
                                                  "trace": []})
    assert function.api.invoke("e3", {}).body is None  # undefined answers JSON null, as on AWS
    invoke_errors = [line for line in function.log() if "\tERROR\tInvoke Error \t" in line]
    assert len(invoke_errors) == 2 and '"errorType":"TypeError"' in invoke_errors[0]


@pytest.mark.parametrize(("handler", "files", "error_type", "message"), [
    ("nope.handler", {}, "Runtime.ImportModuleError", "Error: Cannot find module 'nope'"),
    ("app.missing", {"app.js": "exports.handler = () => 1;"}, "Runtime.HandlerNotFound",
     "app.missing is undefined or not exported"),
    ("app.value", {"app.js": "exports.value = 3;"}, "Runtime.HandlerNotFound", "app.value is not a function"),
    ("handler", {}, "Runtime.MalformedHandlerName", "Bad handler"),
    ("../up.handler", {}, "Runtime.MalformedHandlerName", "'../up.handler' is not a valid handler name."),
    ("app.handler", {"app.js": "exports.handler = ) =>"}, "Runtime.UserCodeSyntaxError", "SyntaxError: "),
    ("app.handler", {"app.js": "throw new RangeError('at load time');"}, "RangeError", "at load time"),
])
def test_init_errors_go_to_init_error_and_end_the_process(run_node: Any, handler: str, files: dict[str, str],
                                                          error_type: str, message: str) -> None:
    function = run_node(handler, files)
    posted = function.api.next_post()
    assert (posted.kind, posted.error_type, posted.body["errorType"]) == ("init_error", error_type, error_type)
    assert posted.body["errorMessage"].startswith(message)
    assert isinstance(posted.body["trace"], list)
    assert function.process.wait(timeout=10) == 129
    assert any("\tundefined\tERROR\tUncaught Exception \t" in line for line in function.log())


def test_an_exception_nobody_catches_fails_the_invocation_and_ends_the_environment(run_node: Any) -> None:
    function = run_node("app.handler", {"app.js": """
        exports.handler = async () => { setTimeout(() => { throw new Error('late'); }, 10); return new Promise(() => {}); };
    """})
    posted = function.api.invoke("u1", {})
    assert (posted.kind, posted.request_id, posted.body["errorMessage"]) == ("error", "u1", "late")
    assert function.process.wait(timeout=10) == 129
