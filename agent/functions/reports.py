"""The lines Lambda itself writes into a function's log, and the log stream name: pure functions.

Formats follow what Lambda writes to CloudWatch Logs (https://docs.aws.amazon.com/lambda/latest/dg/
monitoring-cloudwatchlogs.html): ``INIT_START`` on a cold start, ``START``/``END`` around each invocation,
and a tab-separated ``REPORT`` whose ``Init Duration`` appears only on the invocation that started the
environment; a timeout adds Lambda's ``Task timed out`` line and ``Status: timeout``.
"""

from __future__ import annotations

import datetime as dt
import json
import math


def log_stream_name(today: dt.date, version: str, environment_id: str) -> str:
    """``2026/12/04/[$LATEST]<32 hex>``: one stream per environment, as Lambda names them."""
    return f"{today:%Y/%m/%d}/[{version}]{environment_id}"


def init_start(runtime_version: str, function_arn: str) -> str:
    return (f"INIT_START Runtime Version: {runtime_version}\t"
            f"Runtime Version ARN: {function_arn.split(':function:')[0]}::runtime:{runtime_version}\n")


def start(request_id: str, version: str) -> str:
    return f"START RequestId: {request_id} Version: {version}\n"


def end(request_id: str) -> str:
    return f"END RequestId: {request_id}\n"


def billed_ms(duration_ms: float) -> int:
    """Lambda bills by the millisecond, rounding up (at least 1 ms)."""
    return max(1, math.ceil(duration_ms))


def report(request_id: str, *, duration_ms: float, memory_mb: int, max_memory_mb: int,
           init_ms: float | None, status: str | None = None, error_type: str | None = None) -> str:
    """The REPORT line; ``status`` (timeout, error) and ``error_type`` only when the invocation did not end well."""
    fields = [f"REPORT RequestId: {request_id}", f"Duration: {duration_ms:.2f} ms",
              f"Billed Duration: {billed_ms(duration_ms)} ms", f"Memory Size: {memory_mb} MB",
              f"Max Memory Used: {max_memory_mb} MB"]
    if init_ms is not None:
        fields.append(f"Init Duration: {init_ms:.2f} ms")
    if status is not None:
        fields.append(f"Status: {status}")
    if error_type is not None:
        fields.append(f"Error Type: {error_type}")
    return "\t".join(fields) + "\t\n"


def timed_out(request_id: str, timeout_s: int, at: dt.datetime) -> str:
    stamp = at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{at.microsecond // 1000:03d}Z"
    return f"{stamp} {request_id} Task timed out after {timeout_s:.2f} seconds\n"


def timeout_document(timed_out_line: str) -> str:
    """What the caller of a timed-out invocation gets: ``{"errorMessage": "<time> <id> Task timed out ..."}``."""
    return json.dumps({"errorMessage": timed_out_line.rstrip("\n")})


def exit_document(request_id: str, out_of_memory: bool) -> str:
    """What the caller gets when the runtime died: killed at its memory limit (``Runtime.OutOfMemory``), or
    exited on its own (``Runtime.ExitError``), in Lambda's words."""
    if out_of_memory:
        return json.dumps({"errorType": "Runtime.OutOfMemory",
                           "errorMessage": f"RequestId: {request_id} Error: Runtime exited with error: signal: killed"})
    return json.dumps({"errorType": "Runtime.ExitError",
                       "errorMessage": f"RequestId: {request_id} Error: Runtime exited without providing a reason"})
