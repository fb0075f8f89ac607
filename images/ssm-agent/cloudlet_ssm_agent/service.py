"""The service loop: ping UpdateInstanceInformation, long-poll ec2messages, and hand each message to a thread
(a command, a cancel, a session), so the poll goes on while they run and a cancel can reach a running command.
"""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import urllib.parse
import uuid
from pathlib import Path
from typing import Any

from . import AGENT_NAME, AGENT_VERSION, log
from .commands import OUTPUT_LIMIT, PLUGIN_NAME, STDERR_LIMIT, STDOUT_LIMIT, CommandRun
from .destinations import AwsAccess
from .identity import Identity, NotManagedError
from .sessions import Session, SessionRequest, open_session
from .wire import JsonClient, ServiceError

#: GetMessages is held open by the server for up to 20 s; the socket must outlive that.
POLL_SOCKET_TIMEOUT = 40
#: What AWS's agent waits between tries when the machine has no credentials yet.
UNMANAGED_RETRY_SECONDS = 30
ERROR_RETRY_SECONDS = 5


def platform_info() -> tuple[str, str]:
    """NAME and VERSION_ID of /etc/os-release, what AWS shows as PlatformName and PlatformVersion."""
    try:
        lines = Path("/etc/os-release").read_text().splitlines()
    except OSError:
        lines = []
    fields = dict(line.strip().split("=", 1) for line in lines if "=" in line)
    return fields.get("NAME", "").strip("\"'") or "Linux", fields.get("VERSION_ID", "").strip("\"'")


def source_address(endpoint: str) -> str:
    """The local address that reaches the controller: a connected UDP socket learns it without sending."""
    parts = urllib.parse.urlsplit(endpoint)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect((parts.hostname or "", parts.port or 443))
            return probe.getsockname()[0]
    except OSError:
        return ""


class Agent:
    """Pings, polls ec2messages and runs commands and sessions in threads, so a cancel can arrive while a
    command runs and sessions run side by side with everything else."""

    def __init__(self, identity: Identity, ssm: JsonClient, messages: JsonClient, s3_endpoint: str | None,
                 ping_seconds: float, stop: threading.Event) -> None:
        self.identity, self.ssm, self.messages = identity, ssm, messages
        self.s3_endpoint, self.ping_seconds, self.stop = s3_endpoint, ping_seconds, stop
        # S3 and CloudWatch Logs, for Run Command output and session transcripts, with the machine's role.
        self.access = AwsAccess(identity.credentials, identity.region, s3_endpoint, messages.context)
        self.runs: dict[str, CommandRun] = {}
        self.threads: list[threading.Thread] = []
        self.runs_lock = threading.Lock()
        self.sessions: dict[str, Session] = {}
        self.session_threads: list[threading.Thread] = []
        self.sessions_lock = threading.Lock()
        self.next_ping = 0.0
        self.online = False

    def ping(self) -> None:
        platform_name, platform_version = platform_info()
        self.ssm.call("UpdateInstanceInformation", {
            "InstanceId": self.identity.instance_id, "AgentName": AGENT_NAME, "AgentVersion": AGENT_VERSION,
            "AgentStatus": "Active", "PlatformName": platform_name, "PlatformVersion": platform_version,
            "PlatformType": "Linux", "ComputerName": socket.gethostname(),
            "IPAddress": source_address(self.ssm.endpoint)})
        self.next_ping = time.monotonic() + self.ping_seconds
        if not self.online:
            self.online = True
            log(f"online as {self.identity.instance_id} ({self.ssm.endpoint}), polling for commands")

    def poll_once(self) -> None:
        """One ping if due, one GetMessages long poll, and every message it returned handled."""
        if time.monotonic() >= self.next_ping:
            self.ping()
        answer = self.messages.call("GetMessages", {
            "Destination": self.identity.instance_id, "MessagesRequestId": str(uuid.uuid4()),
            "VisibilityTimeoutInSeconds": 10}, timeout=POLL_SOCKET_TIMEOUT)
        for message in answer.get("Messages") or []:
            try:
                self.handle(message)
            except (ServiceError, OSError) as error:
                log(f"message {message.get('MessageId')} not handled: {error}; the service will resend it")

    def run_forever(self) -> None:
        """Polls until stopped; errors are logged and retried, as the service must outlive any outage."""
        while not self.stop.is_set():
            try:
                self.poll_once()
            except NotManagedError as error:
                log(f"{error}; retrying in {UNMANAGED_RETRY_SECONDS} s")
                self.stop.wait(UNMANAGED_RETRY_SECONDS)
            except ServiceError as error:
                log(f"the service refused a call: {error}; if this persists check the instance's role "
                    f"or registration; retrying in {ERROR_RETRY_SECONDS} s")
                self.stop.wait(ERROR_RETRY_SECONDS)
            except (OSError, ValueError) as error:
                log(f"cannot reach {self.messages.endpoint}: {error}; check --endpoint, --ca-bundle and the "
                    f"network; retrying in {ERROR_RETRY_SECONDS} s")
                self.stop.wait(ERROR_RETRY_SECONDS)
            except Exception as error:  # the poller must never die silently: the machine would go dark
                log(f"unexpected error: {error!r}; please report it; retrying in {ERROR_RETRY_SECONDS} s")
                self.stop.wait(ERROR_RETRY_SECONDS)

    def reply(self, message_id: str, payload: dict[str, Any]) -> None:
        self.messages.call("SendReply", {"MessageId": message_id, "ReplyId": str(uuid.uuid4()),
                                         "Payload": json.dumps(payload)})

    def handle(self, message: dict[str, Any]) -> None:
        message_id, topic = str(message.get("MessageId", "")), str(message.get("Topic", ""))
        payload_text = str(message.get("Payload", ""))
        if hashlib.sha256(payload_text.encode()).hexdigest() != message.get("PayloadDigest"):
            log(f"message {message_id} failed its PayloadDigest check; refusing it")
            self.fail(message_id)
            return
        try:
            document = json.loads(payload_text)
            run = CommandRun(message_id, document) if topic.startswith("aws.ssm.sendCommand.") else None
            cancelled_id = (str(document["CancelMessageId"]) if topic.startswith("aws.ssm.cancelCommand.")
                            else None)
            session = (SessionRequest.from_payload(document) if topic.startswith("aws.ssm.startSession.")
                       else None)
        except (ValueError, TypeError, AttributeError, IndexError, KeyError) as error:
            log(f"message {message_id} has a malformed payload ({error!r}); refusing it")
            self.fail(message_id)
            return
        if run is not None:
            self.start_command(run)
        elif cancelled_id is not None:
            self.cancel_command(message_id, cancelled_id)
        elif session is not None:
            self.start_session(message_id, session)
        else:
            log(f"message {message_id} has unknown topic {topic!r}; refusing it")
            self.fail(message_id)

    def fail(self, message_id: str) -> None:
        self.messages.call("FailMessage", {"MessageId": message_id,
                                           "FailureType": "InternalHandlerException"})

    def start_command(self, run: CommandRun) -> None:
        """Acknowledges (so it is not redelivered), says InProgress, and runs the script in a thread."""
        with self.runs_lock:
            if run.message_id in self.runs:
                return  # redelivered while it runs: the first delivery answers
        self.messages.call("AcknowledgeMessage", {"MessageId": run.message_id})
        self.reply(run.message_id, {"DocumentStatus": "InProgress", "RuntimeStatus": {}})
        log(f"command {run.command_id} received (message {run.message_id})")
        thread = threading.Thread(target=self.finish_command, args=(run,), daemon=True,
                                  name=f"command-{run.command_id}")
        with self.runs_lock:  # only this (polling) thread adds runs, so a later cancel always finds it
            self.runs[run.message_id] = run
            self.threads = [*filter(threading.Thread.is_alive, self.threads), thread]
        thread.start()

    def finish_command(self, run: CommandRun) -> None:
        """Runs the command, stores its output in S3 if asked, and sends the final reply."""
        try:
            result = run.execute()
            plugin = {"Status": result["Status"], "Code": result["Code"],
                      "Output": result["stdout"][:OUTPUT_LIMIT],
                      "StandardOutput": result["stdout"][:STDOUT_LIMIT],
                      "StandardError": result["stderr"][:STDERR_LIMIT],
                      "StartDateTime": result["StartDateTime"], "EndDateTime": result["EndDateTime"]}
            if run.document.get("OutputS3BucketName"):
                plugin.update(self.upload_output(run, result["stdout"], result["stderr"]))
            self.reply(run.message_id, {"DocumentStatus": result["Status"],
                                        "RuntimeStatus": {PLUGIN_NAME: plugin}})
            log(f"command {run.command_id} finished: {result['Status']} (exit code {result['Code']})")
        except Exception as error:  # a thread must log, or the failure is silent
            log(f"command {run.command_id} could not be answered: {error}; the service will time it out")
        finally:
            with self.runs_lock:
                self.runs.pop(run.message_id, None)

    def upload_output(self, run: CommandRun, stdout: str, stderr: str) -> dict[str, str]:
        """PUTs stdout and stderr where AWS's agent does; a failure is logged, the command still counts."""
        bucket = run.document["OutputS3BucketName"]
        prefix = str(run.document.get("OutputS3KeyPrefix") or "").strip("/")
        region = run.document.get("OutputS3Region") or self.identity.region
        folder = "/".join(part for part in (prefix, run.command_id, self.identity.instance_id,
                                            "awsrunShellScript", "0.awsrunShellScript") if part)
        try:
            for stream, text in (("stdout", stdout), ("stderr", stderr)):
                self.access.put_object(bucket, f"{folder}/{stream}", text.encode(), region)
        except (ServiceError, OSError, NotManagedError) as error:
            log(f"command {run.command_id}: output not stored in s3://{bucket}/{folder}: {error}; "
                "check the bucket and the instance's role")
            return {}
        return {"OutputS3BucketName": bucket, "OutputS3KeyPrefix": folder}

    def cancel_command(self, message_id: str, target: str) -> None:
        self.messages.call("AcknowledgeMessage", {"MessageId": message_id})
        with self.runs_lock:
            run = self.runs.get(target)
        if run is not None:
            log(f"cancelling command {run.command_id} (message {target})")
            run.cancel()
        else:
            log(f"cancel for message {target}, which is not running here")
        self.reply(message_id, {"DocumentStatus": "Success", "RuntimeStatus": {}})

    def wait_for_commands(self, timeout: float) -> bool:
        """Waits (in short steps, so a signal still stops us) for running commands; True if all ended."""
        deadline = time.monotonic() + timeout
        while any(thread.is_alive() for thread in self.threads):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True

    def cancel_all(self) -> None:
        with self.runs_lock:
            running = list(self.runs.values())
        for run in running:
            run.cancel()

    # --- Session Manager -----------------------------------------------------------------------------------
    def start_session(self, message_id: str, request: SessionRequest) -> None:
        """Acknowledges (a session has no reply: its state travels on its own websocket) and serves it in a
        thread; a redelivery of a session already running is only acknowledged again."""
        self.messages.call("AcknowledgeMessage", {"MessageId": message_id})
        with self.sessions_lock:
            if request.session_id in self.sessions:
                return
            session = open_session(request, self.identity.instance_id, self.messages.context, self.access)
            thread = threading.Thread(target=self.serve_session, args=(session,), daemon=True,
                                      name=f"session-{request.session_id}")
            self.sessions[request.session_id] = session
            self.session_threads = [*filter(threading.Thread.is_alive, self.session_threads), thread]
        thread.start()

    def serve_session(self, session: Session) -> None:
        try:
            session.run()
        except Exception as error:  # a thread must log, or the failure is silent
            log(f"session {session.session_id} failed: {error!r}; please report it")
        finally:
            with self.sessions_lock:
                self.sessions.pop(session.session_id, None)

    def end_sessions(self, reason: str = "the agent is stopping") -> None:
        """Asks every session to end; each closes its channel, websocket and shell in its own thread."""
        with self.sessions_lock:
            running = list(self.sessions.values())
        for session in running:
            session.end(reason)

    def wait_for_sessions(self, timeout: float) -> bool:
        """Waits (in short steps, so a signal still stops us) for sessions to end; True if all did."""
        deadline = time.monotonic() + timeout
        while any(thread.is_alive() for thread in self.session_threads):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.05)
        return True
