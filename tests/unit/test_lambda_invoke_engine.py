"""engine.run against a real Cloud and a small fake function runner (an HTTP server speaking contract D).

The fake stands in for the agent's runner only: it checks the bearer token, records each
``FunctionInvocation`` and the connection it came on, and answers a ``FunctionResult`` the test chooses.
Everything on the controller's side (function lookup, role sessions, host choice, logs) is the real code.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from agent.contract.hosts import CAPABILITY_FUNCTIONS, HostRegistration
from controller.awslambda import code_store
from controller.awslambda.errors import ResourceConflictException
from controller.awslambda.invoke import engine
from controller.awslambda.lookup import resolve_target
from controller.cloud import Cloud
from controller.config import Config
from controller.hosts import state as hosts_state
from controller.logs import ingest
from controller.wsgi import create_app
from tests.e2e.lambda_helpers import LAMBDA_TRUST, zip_of
from tests.unit.harness import CloudHarness

Answer = Callable[[dict[str, Any]], dict[str, Any]]


def ok(invocation: dict[str, Any]) -> dict[str, Any]:
    now = int(time.time() * 1000)
    return {"request_id": invocation["request_id"], "status": "ok", "payload": json.dumps({"echo": invocation["payload"]}),
            "function_error": None, "log_stream": "2026/12/04/[$LATEST]0123456789abcdef", "cold": False,
            "duration_ms": 1.5, "billed_ms": 2, "max_memory_mb": 41,
            "log": [[now, f"START RequestId: {invocation['request_id']} Version: $LATEST\n"],
                    [now + 1, "hello from the handler\n"],
                    [now + 2, f"END RequestId: {invocation['request_id']}\n"],
                    [now + 3, f"REPORT RequestId: {invocation['request_id']}\tDuration: 1.50 ms\n"]]}


class FakeRunner:
    """A function runner on 127.0.0.1 that answers with ``answer`` and remembers what it was sent."""

    def __init__(self, token: str, answer: Answer = ok) -> None:
        self.answer = answer
        self.invocations: list[dict[str, Any]] = []
        self.peers: list[tuple[str, int]] = []
        runner = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:  # noqa: N802  (http.server's naming)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if self.path != "/invoke" or self.headers.get("Authorization") != f"Bearer {token}":
                    self._send(401, b"{}")
                    return
                invocation = json.loads(body)
                runner.invocations.append(invocation)
                runner.peers.append(self.client_address)
                self._send(200, json.dumps(runner.answer(invocation)).encode())

            def _send(self, status: int, data: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class LambdaCloud(CloudHarness):
    service = "lambda"

    def register_runner(self, host_id: str, url: str) -> None:
        hosts_state.register(self.db, HostRegistration(
            host_id=host_id, hostname=host_id, zone="home-1a", vcpus=2, memory_mib=2048, disk_gib=10,
            hypervisor="none", agent_version="test", capabilities=[CAPABILITY_FUNCTIONS],
            functions_url=url))

    def function(self, name: str, **config: Any) -> str:
        """A python3.11 function with an execution role; returns the role's ARN."""
        role = self.cloud.services["iam"].operations["CreateRole"].handler(
            self.context("CreateRole"), {"RoleName": f"{name}-role", "AssumeRolePolicyDocument": LAMBDA_TRUST})
        role_arn = role["Role"]["Arn"]
        self.call("CreateFunction", {"FunctionName": name, "Runtime": "python3.11", "Role": role_arn,
                                     "Handler": "app.handler", "Code": {"ZipFile": zip_of({"app.py": "x = 1\n"})},
                                     **config})
        return role_arn


@pytest.fixture
def lam(tmp_path: Path) -> Iterator[LambdaCloud]:
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    account = cloud.credentials.create_account("owner", "owner@example.com", is_management=True)
    harness = LambdaCloud(cloud, account)
    yield harness
    harness.close()


@pytest.fixture
def runner(lam: LambdaCloud) -> Iterator[FakeRunner]:
    made = FakeRunner(lam.cloud.agent_token)
    lam.register_runner("h-runner", made.url)
    yield made
    made.close()


def test_an_invocation_runs_on_the_runner_with_the_roles_session_and_ships_its_log(
        lam: LambdaCloud, runner: FakeRunner) -> None:
    role_arn = lam.function("echo", Timeout=7)
    target = resolve_target(lam.cloud, lam.account, "echo", None)

    first = engine.run(lam.cloud, target, b'{"n": 1}', request_id="req-1")
    second = engine.run(lam.cloud, target, b'{"n": 2}')

    assert json.loads(first.payload) == {"echo": '{"n": 1}'}
    assert (first.executed_version, first.function_error, first.status) == ("$LATEST", None, "ok")
    assert first.log_tail.endswith("REPORT RequestId: req-1\tDuration: 1.50 ms\n")
    sent = runner.invocations[0]
    assert sent["request_id"] == "req-1" and second.request_id == runner.invocations[1]["request_id"]
    assert (sent["runtime"], sent["handler"], sent["timeout_s"], sent["memory_mb"]) == ("python3.11", "app.handler", 7, 128)
    assert sent["endpoint_url"] == lam.config.endpoint_url and sent["region"] == lam.config.region
    assert sent["invoked_function_arn"] == target.invoked_arn and sent["log_group"] == "/aws/lambda/echo"
    # The role's session, named after the function, minted once and reused by the next invocation.
    credentials = sent["credentials"]
    assert credentials["AccessKeyId"].startswith("ASIA")
    assert runner.invocations[1]["credentials"] == credentials
    held = lam.cloud.credentials.resolve(credentials["AccessKeyId"])
    assert held is not None and held.secret_access_key == credentials["SecretAccessKey"]
    assert held.principal.arn == f"arn:aws:sts::{lam.account}:assumed-role/echo-role/echo"
    assert held.principal.role_arn == role_arn
    # One keep-alive connection carried both invocations.
    assert runner.peers[0] == runner.peers[1]
    # The log lines went to the function's log group, in the environment's stream.
    ingest.flush_pending(lam.cloud)
    logs = lam.cloud.services["logs"].operations["GetLogEvents"].handler(
        lam.context("GetLogEvents"), {"logGroupName": "/aws/lambda/echo",
                                      "logStreamName": "2026/12/04/[$LATEST]0123456789abcdef", "startFromHead": True})
    messages = [event["message"] for event in logs["events"]]
    assert "hello from the handler\n" in messages and len(messages) == 8


def test_without_a_function_host_the_invocation_is_a_conflict_not_a_server_error(lam: LambdaCloud) -> None:
    lam.function("lonely")
    with pytest.raises(ResourceConflictException) as caught:
        engine.run(lam.cloud, resolve_target(lam.cloud, lam.account, "lonely", None), b"{}")
    assert caught.value.status == 409
    assert caught.value.message == "no host runs Lambda functions: start an agent (cloudlet up starts one)"


def test_a_host_that_refuses_connections_is_passed_over_for_one_that_answers(
        lam: LambdaCloud, runner: FakeRunner) -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        dead_url = f"http://127.0.0.1:{closed.getsockname()[1]}"
    for index in range(4):  # whichever the hash picks first, the live runner ends up answering
        lam.register_runner(f"h-dead-{index}", dead_url)
    lam.function("survivor")
    result = engine.run(lam.cloud, resolve_target(lam.cloud, lam.account, "survivor", None), b"{}")
    assert result.status == "ok" and len(runner.invocations) == 1


def test_a_runner_that_rejects_the_token_fails_the_invocation_with_a_conflict_naming_it(lam: LambdaCloud) -> None:
    stranger = FakeRunner("another-controllers-token")
    try:
        lam.register_runner("h-stranger", stranger.url)
        lam.function("refused")
        with pytest.raises(ResourceConflictException) as caught:
            engine.run(lam.cloud, resolve_target(lam.cloud, lam.account, "refused", None), b"{}")
        assert "h-stranger" in caught.value.message and "401" in caught.value.message
        assert stranger.invocations == []
    finally:
        stranger.close()


def test_a_timeout_reported_without_a_document_answers_lambdas_timeout_error(
        lam: LambdaCloud, runner: FakeRunner) -> None:
    runner.answer = lambda invocation: {**ok(invocation), "status": "timeout", "payload": "",
                                        "function_error": "Unhandled"}
    lam.function("slow", Timeout=2)
    result = engine.run(lam.cloud, resolve_target(lam.cloud, lam.account, "slow", None), b"{}", request_id="r-9")
    assert result.function_error == "Unhandled" and result.status == "timeout"
    assert json.loads(result.payload)["errorMessage"].endswith(" r-9 Task timed out after 2.00 seconds")


def test_agents_fetch_stored_code_with_the_token_and_get_404_for_unknown_code(lam: LambdaCloud) -> None:
    ref = code_store.put(lam.cloud, b"PK\x05\x06" + bytes(18))
    client = create_app(lam.cloud).test_client()
    token = {"Authorization": f"Bearer {lam.cloud.agent_token}"}
    fetched = client.get(f"/_cloudlet/agent/v1/functions/code/{ref.sha256_hex}", headers=token)
    assert fetched.status_code == 200 and fetched.data == b"PK\x05\x06" + bytes(18)
    assert client.get(f"/_cloudlet/agent/v1/functions/code/{ref.sha256_hex}").status_code == 401
    assert client.get(f"/_cloudlet/agent/v1/functions/code/{'0' * 64}", headers=token).status_code == 404
    assert client.get("/_cloudlet/agent/v1/functions/code/state.db", headers=token).status_code == 404
