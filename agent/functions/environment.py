"""One execution environment: a sandboxed runtime process, its Runtime API and its captured output.

An environment starts once (the cold start: INIT_START, the runtime's init output, ``Init Duration``)
and then runs invocations one at a time for as long as the pool keeps it, so a function's globals
persist between them. Whatever ends it badly (a timeout, the runtime dying, an init error) closes it;
the next invocation gets a fresh one, as on Lambda.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import select
import subprocess
import threading
import time
import uuid
from dataclasses import dataclass
from typing import Any

from agent.contract.functions import FunctionInvocation, FunctionResult
from agent.functions import reports
from agent.functions.runtime_api import Channel, Event, RuntimeApiServer
from agent.functions.runtimes import RUNTIME_DIR, Runtime
from agent.functions.sandbox import Cgroup, Layout, bwrap_argv

#: How long a runtime may take to initialise (Lambda's limit for on-demand functions).
INIT_TIMEOUT_S = 10.0
CGROUP_PREFIX = "cloudlet-fn-"


@dataclass(frozen=True)
class Recipe:
    """Everything that decides how an environment starts (all its invocations share it)."""

    runtime: Runtime | None
    layout: Layout
    #: The command inside the sandbox (the runtime's, or an image's ENTRYPOINT + CMD).
    command: tuple[str, ...]
    #: Variables the image or runtime brings, below the function's own and AWS's reserved ones.
    base_env: tuple[tuple[str, str], ...] = ()


def reserved_variables(invocation: FunctionInvocation, recipe: Recipe, stream: str, api: str) -> dict[str, str]:
    """The environment variables of a new environment: the image's, the function's, then AWS's reserved ones
    (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars.html#configuration-envvars-runtime)."""
    name = invocation.function_arn.rsplit(":", 1)[-1]
    credentials = invocation.credentials
    runtime = invocation.runtime or ""
    python = f"python{runtime[6:]}" if runtime.startswith("python") else "python3.11"
    variables = dict(recipe.base_env)
    variables.update({
        "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin", "LANG": "en_US.UTF-8", "TZ": ":UTC",
        "LD_LIBRARY_PATH": "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib",
        "PYTHONPATH": f"/opt/python/lib/{python}/site-packages:/opt/python:{RUNTIME_DIR}",
        "NODE_PATH": "/opt/nodejs/node20/node_modules:/opt/nodejs/node_modules:/var/runtime/node_modules",
    })
    variables.update(invocation.environment)
    variables.update({
        "_HANDLER": invocation.handler or "", "AWS_REGION": invocation.region,
        "AWS_DEFAULT_REGION": invocation.region, "AWS_EXECUTION_ENV": f"AWS_Lambda_{runtime}" if runtime else
        "AWS_Lambda_Image", "AWS_LAMBDA_FUNCTION_NAME": name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(invocation.memory_mb),
        "AWS_LAMBDA_FUNCTION_VERSION": invocation.version, "AWS_LAMBDA_INITIALIZATION_TYPE": "on-demand",
        "AWS_LAMBDA_LOG_GROUP_NAME": invocation.log_group, "AWS_LAMBDA_LOG_STREAM_NAME": stream,
        "AWS_ACCESS_KEY_ID": credentials.get("AccessKeyId", ""),
        "AWS_SECRET_ACCESS_KEY": credentials.get("SecretAccessKey", ""),
        "AWS_SESSION_TOKEN": credentials.get("SessionToken", ""),
        "AWS_LAMBDA_RUNTIME_API": api, "LAMBDA_TASK_ROOT": "/var/task", "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
        "AWS_ENDPOINT_URL": invocation.endpoint_url,
    })
    return variables


class _Output:
    """The runtime's stdout and stderr (one pipe), cut into timestamped lines.

    A reader thread keeps the pipe from filling; :meth:`drain` reads what is already written, so a line
    printed before the runtime posted its answer is in that invocation's log."""

    def __init__(self, fd: int) -> None:
        self.fd = fd
        os.set_blocking(fd, False)
        self.lock = threading.Lock()
        self.lines: list[list[Any]] = []
        self.partial = b""
        self.eof = False
        threading.Thread(target=self._pump, daemon=True, name="function-output").start()

    def _pump(self) -> None:
        while not self.eof:
            try:
                select.select([self.fd], [], [], 1.0)
            except (OSError, ValueError):
                return
            self.drain()

    def drain(self) -> None:
        with self.lock:
            while not self.eof:
                try:
                    chunk = os.read(self.fd, 65536)
                except BlockingIOError:
                    return
                except OSError:
                    chunk = b""
                if not chunk:
                    self.eof = True
                    self._flush_partial()
                    return
                *complete, self.partial = (self.partial + chunk).split(b"\n")
                stamp = int(time.time() * 1000)
                self.lines.extend([stamp, line.decode("utf-8", "replace") + "\n"] for line in complete)

    def _flush_partial(self) -> None:
        if self.partial:
            self.lines.append([int(time.time() * 1000), self.partial.decode("utf-8", "replace") + "\n"])
            self.partial = b""

    def take(self, final: bool = False) -> list[list[Any]]:
        self.drain()
        with self.lock:
            if final:
                self._flush_partial()
            lines, self.lines = self.lines, []
            return lines


class Environment:
    """A started runtime; :meth:`invoke` runs one invocation at a time."""

    def __init__(self, recipe: Recipe, first: FunctionInvocation) -> None:
        self.id = uuid.uuid4().hex
        self.recipe = recipe
        self.memory_mb = first.memory_mb
        self.stream = reports.log_stream_name(dt.datetime.now(dt.UTC).date(), first.version, self.id)
        self.last_used = time.monotonic()
        self.idle_seconds = first.idle_seconds
        self.init_ms: float | None = None
        self.init_lines: list[list[Any]] = []
        self.init_error: bytes | None = None
        self.channel = Channel()
        self.api = RuntimeApiServer(self.channel)
        self.cgroup = Cgroup(CGROUP_PREFIX + self.id, first.memory_mb)
        started = time.monotonic()
        stamp = int(time.time() * 1000)
        if recipe.runtime is not None:
            self.init_lines.append([stamp, reports.init_start(recipe.runtime.version, first.function_arn)])
        joins = "; ".join(f'echo $$ > "{path}"' for path in self.cgroup.procs_files)
        argv = bwrap_argv(recipe.layout, list(recipe.command), hostname="localhost")
        read_fd, write_fd = os.pipe()
        try:
            self.process = subprocess.Popen(["/bin/sh", "-c", f'{joins}; exec "$@"', "sh", *argv],
                                            stdin=subprocess.DEVNULL, stdout=write_fd, stderr=write_fd,
                                            env=reserved_variables(first, recipe, self.stream, self.api.address))
        except BaseException:
            os.close(read_fd)
            self.api.close()
            self.cgroup.close()
            raise
        finally:
            os.close(write_fd)
        self.output = _Output(read_fd)
        threading.Thread(target=self._watch, daemon=True, name=f"function-env-{self.id[:8]}").start()
        with self.channel.cond:
            self.channel.cond.wait_for(lambda: self.channel.polling or self.channel.init_error is not None
                                       or self.channel.closed, timeout=INIT_TIMEOUT_S)
            ready = self.channel.polling
            self.init_error = self.channel.init_error
        self.init_ms = (time.monotonic() - started) * 1000
        self.init_lines += self.output.take()
        if ready:
            self.cgroup.throttle_cpu()
        elif self.init_error is None:
            self.init_error = (b'{"errorType": "Runtime.ExitError", "errorMessage": "the runtime exited or did not '
                               b'ask for an event within 10 seconds of starting"}')

    @property
    def ready(self) -> bool:
        return self.init_error is None and not self.channel.closed

    def _watch(self) -> None:
        self.process.wait()
        self.channel.close()

    def invoke(self, invocation: FunctionInvocation, cold: bool) -> FunctionResult:
        """Run one invocation here; a timeout or a dying runtime closes the environment."""
        request_id = invocation.request_id
        self.idle_seconds = invocation.idle_seconds
        log = list(self.init_lines) if cold else []
        started = time.monotonic()
        log.append([int(time.time() * 1000), reports.start(request_id, invocation.version)])
        self.output.take()  # output between invocations (a background thread's) is not this one's
        if self.init_error is not None:
            return self._finish(invocation, log, "init_error", self.init_error.decode("utf-8", "replace"),
                                started, cold, error_type="Runtime.InitError")
        deadline = time.time() + invocation.timeout_s
        event = Event(request_id, invocation.payload.encode("utf-8"), int(deadline * 1000),
                      invocation.invoked_function_arn or invocation.function_arn, invocation.client_context)
        with self.channel.cond:
            self.channel.event = event
            self.channel.cond.notify_all()
            self.channel.cond.wait_for(lambda: event.answer is not None or self.channel.closed,
                                       timeout=invocation.timeout_s)
            answer = event.answer
            self.channel.event = None
        if answer is not None:
            kind, body, error_type = answer
            status = "ok" if kind == "response" else "function_error"
            return self._finish(invocation, log, status, body.decode("utf-8", "replace"), started, cold,
                                error_type=None if status == "ok" else (error_type or "Unhandled"))
        if self.channel.closed:
            out_of_memory = self.cgroup.oom_killed()
            self.close()
            return self._finish(invocation, log, "crashed", reports.exit_document(request_id, out_of_memory),
                                started, cold,
                                error_type="Runtime.OutOfMemory" if out_of_memory else "Runtime.ExitError",
                                out_of_memory=out_of_memory)
        self.close()
        log += self.output.take(final=True)
        timed_out = reports.timed_out(request_id, invocation.timeout_s, dt.datetime.now(dt.UTC))
        log.append([int(time.time() * 1000), timed_out])
        return self._finish(invocation, log, "timeout", reports.timeout_document(timed_out), started, cold,
                            error_type="timeout")

    def _finish(self, invocation: FunctionInvocation, log: list[list[Any]], status: str, payload: str,
                started: float, cold: bool, *, error_type: str | None = None,
                out_of_memory: bool = False) -> FunctionResult:
        duration_ms = (time.monotonic() - started) * 1000
        self.last_used = time.monotonic()
        log += self.output.take(final=not self.ready)
        max_memory = self.memory_mb if out_of_memory else self.cgroup.max_memory_mb()
        now = int(time.time() * 1000)
        report_status = {"timeout": "timeout", "crashed": "error", "init_error": "error"}.get(status)
        log.append([now, reports.end(invocation.request_id)])
        log.append([now, reports.report(invocation.request_id, duration_ms=duration_ms, memory_mb=self.memory_mb,
                                        max_memory_mb=max_memory, init_ms=self.init_ms if cold else None,
                                        status=report_status,
                                        error_type=error_type if report_status == "error" else None)])
        return FunctionResult(request_id=invocation.request_id, status=status, payload=payload,
                              function_error=None if status == "ok" else "Unhandled", log=log,
                              log_stream=self.stream, cold=cold, duration_ms=round(duration_ms, 3),
                              billed_ms=reports.billed_ms(duration_ms), max_memory_mb=max_memory,
                              init_ms=round(self.init_ms, 3) if cold and self.init_ms is not None else None)

    def close(self, wait: bool = False) -> None:
        """End the environment: its whole process tree, its Runtime API, its cgroup.

        The cgroup can only be removed once the kernel has reaped its killed processes: that happens in the
        background, unless ``wait`` (the agent is stopping, and a daemon thread would die with it)."""
        self.channel.close()
        self.cgroup.kill()
        with contextlib.suppress(ProcessLookupError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(timeout=5)
        if wait:
            self._release()
        else:
            threading.Thread(target=self._release, daemon=True).start()

    def _release(self) -> None:
        self.api.close()
        for _ in range(20):
            self.cgroup.close()
            if not any(path.exists() for path in self.cgroup.dirs):
                return
            time.sleep(0.05)
