"""The task role credentials endpoint on the instance, where ECS's agent serves it: ``169.254.170.2:80``.

A job with a job role finds ``AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`` (``/v2/credentials/<uuid>``) in its
environment; the SDKs' container provider asks ``http://169.254.170.2`` + that path. Jobs on an instance share
its network, so the address lives on the instance's loopback and one listener answers every task; the random
path is what keeps one task from another's role, as on AWS's bridge-mode instances. The sessions come in
Poll's answers (``roleCredentials``) when the agent names the task in ``credentialsNeeded``: when it first
sees the task, and again :data:`REFRESH_BEFORE` seconds before the session expires.
"""

from __future__ import annotations

import json
import subprocess
import threading
import time
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

ADDRESS = "169.254.170.2"
#: Ask for a new session this long before the current one expires (as ECS refreshes task credentials).
REFRESH_BEFORE = 15 * 60
#: How long a container's request waits for its task's first session (the next poll brings it).
FIRST_SESSION_WAIT = 10.0


def _expires_at(session: dict[str, str]) -> float:
    return datetime.fromisoformat(session["expiration"].replace("Z", "+00:00")).timestamp()


class CredentialsEndpoint:
    """The sessions by relative URI, and the HTTP listener that hands them to containers."""

    def __init__(self) -> None:
        self._sessions: dict[str, dict[str, str]] = {}
        self._changed = threading.Condition()

    def needed(self, uris: dict[str, str], now: float) -> list[str]:
        """The tasks (``task ARN -> relative URI``) without a session, or with one about to expire (pure)."""
        with self._changed:
            return [arn for arn, uri in uris.items()
                    if uri not in self._sessions or _expires_at(self._sessions[uri]) - now < REFRESH_BEFORE]

    def store(self, role_credentials: dict[str, str]) -> None:
        if not role_credentials.get("accessKeyId"):
            return  # ECS may no longer assume the role: the container's SDK finds no credentials
        with self._changed:
            self._sessions[role_credentials["credentialsUri"]] = role_credentials
            self._changed.notify_all()

    def forget(self, uri: str) -> None:
        with self._changed:
            self._sessions.pop(uri, None)

    def answer(self, uri: str, wait: float = FIRST_SESSION_WAIT) -> dict[str, str] | None:
        """The container provider's document for ``uri`` (waiting a moment for a task's first session)."""
        deadline = time.monotonic() + wait
        with self._changed:
            while uri not in self._sessions and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)
            session = self._sessions.get(uri)
        if session is None:
            return None
        return {"AccessKeyId": session["accessKeyId"], "SecretAccessKey": session["secretAccessKey"],
                "Token": session["sessionToken"], "Expiration": session["expiration"], "RoleArn": session["roleArn"]}

    def serve(self) -> None:
        """Put the address on the loopback and answer on it, in a thread of its own."""
        subprocess.run(["ip", "addr", "add", f"{ADDRESS}/32", "dev", "lo"], capture_output=True)  # may be there
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                document = endpoint.answer(self.path)
                body = json.dumps(document or {"message": "no credentials for this path"}).encode()
                self.send_response(200 if document else 404)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
                pass  # requests carry no secrets, but they are no news either

        server = ThreadingHTTPServer((ADDRESS, 80), Handler)
        threading.Thread(target=server.serve_forever, name="credentials-endpoint", daemon=True).start()
