"""The host's function server: ``POST /invoke`` takes a FunctionInvocation and answers its FunctionResult.

It is the only way into this host's execution environments (contract D of docs/architecture.md): the
controller posts with the agents' bearer token over a kept-alive connection; the answer comes when the
invocation ends. The runner turns an invocation into the :class:`Recipe` of its environment (runtime or
image, package, layers) and lets the warm pool run it.
"""

from __future__ import annotations

import hmac
import json
import logging
import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from agent.contract.codec import from_json, to_json
from agent.contract.functions import FunctionInvocation, FunctionResult
from agent.functions import runtimes
from agent.functions.environment import CGROUP_PREFIX, Environment, Recipe
from agent.functions.packages import PackageError, Packages
from agent.functions.pool import WarmPool
from agent.functions.sandbox import CGROUP_ROOT, Layout, remove_stale_cgroups

log = logging.getLogger(__name__)


class FunctionRunner:
    """Runs invocations on this host: recipes from packages, environments from the pool."""

    def __init__(self, packages: Packages) -> None:
        self.packages = packages
        if removed := remove_stale_cgroups(CGROUP_PREFIX):
            log.info("removed %d empty function cgroups left by an earlier agent", removed)
        self.pool = WarmPool(self._start)

    def invoke(self, invocation: FunctionInvocation) -> FunctionResult:
        try:
            return self.pool.invoke(invocation)
        except PackageError as problem:
            return _init_failure(invocation, "Runtime.InvalidEntrypoint", str(problem))

    def _start(self, invocation: FunctionInvocation) -> Environment:
        return Environment(self.recipe(invocation), invocation)

    def recipe(self, invocation: FunctionInvocation) -> Recipe:
        opt = self.packages.opt([layer["code_sha256"] for layer in invocation.layers])
        tmp_mb = invocation.ephemeral_mb
        if invocation.package_type == "Image":
            spec = self.packages.image(invocation.code_sha256)
            config = invocation.image_config or {}
            command = [*(config.get("EntryPoint") or spec.entrypoint), *(config.get("Command") or spec.cmd)]
            layout = Layout(task=spec.rootfs, runtime=self.packages.runtime, opt=None, tmp_mb=tmp_mb,
                            rootfs=spec.rootfs, workdir=config.get("WorkingDirectory") or spec.workdir or "/")
            if not command:
                raise PackageError("the image has no ENTRYPOINT or CMD and the function sets no ImageConfig")
            return Recipe(None, layout, tuple(command), tuple(spec.env.items()))
        runtime = runtimes.available().get(invocation.runtime or "")
        if runtime is None:
            raise PackageError(f"this host cannot run {invocation.runtime}: it has "
                               f"{', '.join(sorted(runtimes.available()))}")
        task = self.packages.task(invocation.code_sha256)
        command = list(runtime.argv)
        if runtime.interpreter is None:  # provided.*: the package's (or a layer's) bootstrap
            if not (task / "bootstrap").exists() and opt is not None and (opt / "bootstrap").exists():
                command = ["/opt/bootstrap"]
        elif runtime.name.startswith("python"):
            command.append(invocation.handler or "")
        layout = Layout(task=task, runtime=self.packages.runtime, opt=opt, tmp_mb=tmp_mb, extra_binds=runtime.binds)
        return Recipe(runtime, layout, tuple(command))

    def close(self) -> None:
        self.pool.close()


def _init_failure(invocation: FunctionInvocation, error_type: str, message: str) -> FunctionResult:
    document = json.dumps({"errorType": error_type, "errorMessage": message})
    return FunctionResult(request_id=invocation.request_id, status="init_error", payload=document,
                          function_error="Unhandled", log=[], log_stream="", cold=True, duration_ms=0.0,
                          billed_ms=0, max_memory_mb=0)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body go out in two writes: no 40 ms delayed-ACK stall
    server: FunctionServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the stdlib's signature
        log.debug("function server: " + format, *args)

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if not hmac.compare_digest(self.headers.get("Authorization", ""), f"Bearer {self.server.token}"):
            return self._reply(401, {"error": "the agent's bearer token is required"})
        if self.path != "/invoke":
            return self._reply(404, {"error": f"no route {self.path}"})
        try:
            invocation = from_json(FunctionInvocation, json.loads(body))
        except (ValueError, TypeError) as problem:
            return self._reply(400, {"error": f"not a FunctionInvocation: {problem}"})
        try:
            result = self.server.runner.invoke(invocation)
        except Exception as problem:  # a runner bug: say so to the controller and in the agent's log
            log.exception("invocation %s failed in the runner", invocation.request_id)
            return self._reply(500, {"error": f"the function runner failed: {problem!r}"})
        self._reply(200, to_json(result))

    def _reply(self, status: int, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)


class FunctionServer(ThreadingHTTPServer):
    """Serves the runner at ``url`` until :meth:`close`."""

    daemon_threads = True

    def __init__(self, runner: FunctionRunner, token: str, listen: tuple[str, int]) -> None:
        super().__init__(listen, _Handler)
        self.runner, self.token = runner, token
        self.url = f"http://{self.server_address[0]}:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True, name="function-server").start()

    def close(self) -> None:
        self.shutdown()
        self.server_close()
        self.runner.close()


def unavailable() -> str | None:
    """Why this host cannot run functions, or None: environments need root (namespaces, cgroups) and bwrap."""
    if os.geteuid() != 0:
        return "the agent is not root (sandboxes and cgroups need it)"
    if shutil.which("bwrap") is None:
        return "bubblewrap is not installed (apt install bubblewrap)"
    if not (CGROUP_ROOT / "cgroup.controllers").exists() and not (CGROUP_ROOT / "memory").is_dir():
        return "no memory cgroup controller is mounted under /sys/fs/cgroup"
    return None


def start(state_dir: Path, token: str, listen: tuple[str, int], fetch: Any) -> FunctionServer:
    """The function server of this agent, its packages under ``state_dir``."""
    return FunctionServer(FunctionRunner(Packages(state_dir, fetch)), token, listen)
