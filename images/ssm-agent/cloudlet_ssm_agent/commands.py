"""Run Command's AWS-RunShellScript: one script per message, run to its end, its timeout or its cancel."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any

from . import iso_now

OUTPUT_LIMIT, STDOUT_LIMIT, STDERR_LIMIT = 2500, 24000, 8000
PLUGIN_NAME = "aws:runShellScript"


class CommandRun:
    """One AWS-RunShellScript execution: a /bin/sh script in its own process group, killable as a whole."""

    def __init__(self, message_id: str, document: dict[str, Any]) -> None:
        parameters = document.get("Parameters") or {}
        self.message_id, self.document = message_id, document
        self.command_id = str(document.get("CommandId", ""))
        self.script = "\n".join(parameters.get("commands") or []) + "\n"
        self.working_directory = (parameters.get("workingDirectory") or [""])[0] or None
        self.timeout_seconds = float((parameters.get("executionTimeout") or ["3600"])[0] or 3600)
        self.process: subprocess.Popen[bytes] | None = None
        self.cancelled = threading.Event()
        self.finished = False  # once set, the process group id may belong to someone else: never kill it
        self.lock = threading.Lock()

    def cancel(self) -> None:
        """Kills the whole process group, so children the script started die with it."""
        with self.lock:
            self.cancelled.set()
            self._kill()

    def _kill(self) -> None:
        """The group, not just the shell: a background child would otherwise keep the output pipes open."""
        if self.process is not None and not self.finished:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)

    def execute(self) -> dict[str, Any]:
        """Runs the script to its end, its timeout or its cancellation; returns the plugin's result."""
        started = iso_now()
        stdout, stderr, code, timed_out = self._run_script()
        if self.cancelled.is_set():
            status, code = "Cancelled", -1
        elif timed_out:
            status, code = "TimedOut", -1
        else:
            status = "Success" if code == 0 else "Failed"
        return {"Status": status, "Code": code, "stdout": stdout.decode(errors="replace"),
                "stderr": stderr.decode(errors="replace"), "StartDateTime": started, "EndDateTime": iso_now()}

    def _run_script(self) -> tuple[bytes, bytes, int, bool]:
        """(stdout, stderr, exit code, timed out) of the script, which runs from a private temp directory."""
        with tempfile.TemporaryDirectory(prefix="cloudlet-ssm-") as scratch:
            script_path = Path(scratch) / "_script.sh"
            script_path.write_text(self.script)
            with self.lock:
                if self.cancelled.is_set():
                    return b"", b"", -1, False
                try:
                    self.process = subprocess.Popen(
                        ["/bin/sh", str(script_path)], cwd=self.working_directory, stdin=subprocess.DEVNULL,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True)
                except OSError as error:  # a missing working directory, no /bin/sh
                    return b"", f"failed to run commands: {error}\n".encode(), 1, False
            try:
                stdout, stderr = self.process.communicate(timeout=self.timeout_seconds)
                return stdout, stderr, self.process.returncode, False
            except subprocess.TimeoutExpired:
                with self.lock:
                    self._kill()
                try:
                    stdout, stderr = self.process.communicate(timeout=10)
                except subprocess.TimeoutExpired:  # a process that left the group still holds the pipes
                    self.process.kill()
                    stdout, stderr = b"", b"processes started by the commands outlived them\n"
                return stdout, stderr, -1, True
            finally:
                with self.lock:
                    self.finished = True
