"""The service: join the cluster ``ECS_CLUSTER`` of /etc/ecs/ecs.config names, then poll for tasks and run them.

Like AWS's ECS agent it signs as the instance profile's role (IMDS credentials; the Systems Manager agent's
SigV4 client and identity, ``cloudlet_ssm_agent.wire`` and ``.identity``), registers with the instance's
identity document and its CPU and memory, and reports each task's RUNNING and STOPPED (exit code) with
``SubmitTaskStateChange``. Each Batch attempt's output goes to CloudWatch Logs ``/aws/batch/job`` under the
stream the controller named, with the role's ``logs:PutLogEvents``, as the awslogs driver does. The image comes
from the expiring URL of the poll's answer, checked against its sha256, once per image. A job role's sessions
come in the poll's answers too, for the credentials endpoint at 169.254.170.2 (``credentials``), and so do a
task's secrets, asked for just before it starts and passed to it through a pipe, never a command line.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import socket
import sys
import threading
import time
import traceback
import urllib.request
from pathlib import Path
from typing import Any

from cloudlet_ssm_agent.identity import ImdsIdentity
from cloudlet_ssm_agent.wire import JsonClient, ServiceError, make_ssl_context

from cloudlet_ecs_agent import container, rootfs
from cloudlet_ecs_agent.credentials import CredentialsEndpoint

CONFIG = Path("/etc/ecs/ecs.config")
STATE = Path("/var/lib/cloudlet-ecs-agent")
POLL_SECONDS = 1.0
#: Memory kept back from what the instance registers, for the guest's own processes (as ECS reserves some).
RESERVED_MEMORY_MIB = 48
LOG_GROUP = "/aws/batch/job"


def log(message: str) -> None:
    print(f"{time.strftime('%H:%M:%S')} ecs-agent: {message}", flush=True)


def cluster_of(config_text: str) -> str | None:
    """ECS_CLUSTER's value in an ecs.config (the last one wins, as the agent reads it)."""
    found = None
    for line in config_text.splitlines():
        key, _, value = line.strip().partition("=")
        if key == "ECS_CLUSTER" and value:
            found = value
    return found


def memory_mib() -> int:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return int(line.split()[1]) // 1024 - RESERVED_MEMORY_MIB
    return 0


class Agent:
    def __init__(self, cluster: str) -> None:
        self.identity = ImdsIdentity()
        region = self.identity.region
        self.context = make_ssl_context(os.environ.get("AWS_CA_BUNDLE"), self.identity.cloud_ca())
        self.ecs = JsonClient(f"https://ecs.{region}.amazonaws.com", region, "ecs", "AmazonEC2ContainerServiceV20141113",
                              self.context, self.identity.credentials)
        self.logs = JsonClient(f"https://logs.{region}.amazonaws.com", region, "logs", "Logs_20140328",
                               self.context, self.identity.credentials)
        self.cluster = cluster
        self.instance_arn = ""
        self.running: dict[str, threading.Event] = {}
        self.image_lock = threading.Lock()
        self.credentials = CredentialsEndpoint()
        #: the running tasks with a job role: task ARN -> their credentials endpoint path
        self.role_paths: dict[str, str] = {}
        #: the tasks waiting for their secrets, and what the poll brought for them
        self.secrets_wanted: dict[str, threading.Event] = {}
        self.secrets_answer: dict[str, dict[str, Any]] = {}

    def register(self) -> None:
        endpoint = self.ecs.endpoint.split("//", 1)[-1]
        log(f"registering through {endpoint} ({socket.gethostbyname(endpoint)})")
        document = self.identity._get("/latest/dynamic/instance-identity/document")
        answer = self.ecs.call("RegisterContainerInstance", {
            "cluster": self.cluster, "instanceIdentityDocument": document,
            "totalResources": [{"name": "CPU", "type": "INTEGER", "integerValue": (os.cpu_count() or 1) * 1024},
                               {"name": "MEMORY", "type": "INTEGER", "integerValue": memory_mib()}]})
        self.instance_arn = answer["containerInstance"]["containerInstanceArn"]
        log(f"registered {self.instance_arn} with {self.cluster}")

    def run(self) -> None:
        container.ensure_cgroups()
        self.credentials.serve()
        self.register()
        while True:
            request: dict[str, Any] = {"cluster": self.cluster, "containerInstance": self.instance_arn}
            needed = self.credentials.needed(dict(self.role_paths), time.time())
            if needed:
                request["credentialsNeeded"] = needed
            secrets_needed = [arn for arn, got in list(self.secrets_wanted.items()) if not got.is_set()]
            if secrets_needed:
                request["secretsNeeded"] = secrets_needed
            try:
                tasks = self.ecs.call("Poll", request)
            except (ServiceError, OSError) as error:
                log(f"poll failed: {error}")
                time.sleep(5)
                continue
            for task in tasks.get("tasks") or []:
                arn = task["taskArn"]
                if task.get("roleCredentials"):
                    self.credentials.store(task["roleCredentials"])
                if arn in self.secrets_wanted and ("secrets" in task or "secretsFailure" in task):
                    self.secrets_answer[arn] = task
                    self.secrets_wanted[arn].set()
                if task["desiredStatus"] == "STOPPED" and arn in self.running:
                    self.running[arn].set()
                elif task["desiredStatus"] == "RUNNING" and arn not in self.running:
                    self.running[arn] = threading.Event()
                    path = (json.loads(task["definition"]).get("credentials") or {}).get("relative_uri")
                    if path:  # asked for in the next poll, before the container can want it
                        self.role_paths[arn] = path
                    if json.loads(task["definition"]).get("secrets"):  # asked for in the next poll too
                        self.secrets_wanted[arn] = threading.Event()
                    threading.Thread(target=self.run_task, args=(task, self.running[arn]), daemon=True).start()
            time.sleep(POLL_SECONDS)

    def image(self, url: str, digest: str) -> Path:
        """The image archive, fetched once and checked against its digest."""
        path = STATE / "images" / digest.replace(":", "-")
        with self.image_lock:
            if not path.exists():
                path.parent.mkdir(parents=True, exist_ok=True)
                partial = path.with_suffix(".partial")
                hasher = hashlib.sha256()
                with urllib.request.urlopen(url, timeout=120, context=self.context) as answer, \
                        open(partial, "wb") as out:
                    while chunk := answer.read(1 << 20):
                        hasher.update(chunk)
                        out.write(chunk)
                if f"sha256:{hasher.hexdigest()}" != digest:
                    partial.unlink()
                    raise ValueError(f"the image does not match {digest}")
                partial.rename(path)
        return path

    def submit(self, arn: str, status: str, exit_code: int | None = None, reason: str | None = None) -> None:
        change: dict[str, Any] = {"cluster": self.cluster, "task": arn, "status": status}
        if status == "STOPPED":
            change["containers"] = [{"containerName": "default", "status": "STOPPED", "exitCode": exit_code,
                                     **({"reason": reason} if reason else {})}]
            change["executionStoppedAt"] = time.time()
            if reason:
                change["reason"] = reason
        for _ in range(10):
            try:
                self.ecs.call("SubmitTaskStateChange", change)
                return
            except (ServiceError, OSError) as error:
                log(f"state change of {arn} not taken: {error}; retrying")
                time.sleep(2)

    def secrets(self, arn: str, wait: float = 60.0) -> dict[str, str] | str:
        """The task's secrets by variable name, from the poll after it appeared, or why they cannot be had
        (ECS's ResourceInitializationError reason); they are kept nowhere once handed over."""
        got = self.secrets_wanted[arn].wait(wait)
        answer = self.secrets_answer.pop(arn, {})
        del self.secrets_wanted[arn]
        if not got:
            return "ResourceInitializationError: unable to pull secrets or registry auth: the agent got no answer"
        return answer.get("secretsFailure") or dict(answer.get("secrets") or {})

    def forget_role(self, arn: str) -> None:
        """The ended task's session leaves the endpoint."""
        path = self.role_paths.pop(arn, None)
        if path:
            self.credentials.forget(path)

    def run_task(self, task: dict[str, Any], stop: threading.Event) -> None:
        arn, spec = task["taskArn"], json.loads(task["definition"])
        name = arn.rsplit("/", 1)[-1]
        directory = STATE / "tasks" / name
        directory.mkdir(parents=True, exist_ok=True)
        shipper = LogShipper(self.logs, spec["log_stream_name"], directory / "output.log")
        if arn in self.secrets_wanted:
            values = self.secrets(arn)
            if isinstance(values, str):
                log(f"{name} cannot read its secrets")
                self.submit(arn, "STOPPED", None, values)
                self.forget_role(arn)
                return
            spec = {**spec, "environment": {**(spec.get("environment") or {}), **values}}
        try:
            config = rootfs.unpack(self.image(task["imageUrl"], task["imageDigest"]), directory / "rootfs")
            running = container.Container(name, directory / "rootfs", spec, config, shipper.path)
        except (OSError, ValueError, ServiceError, KeyError) as error:
            log(f"{name} cannot start: {error}")
            self.submit(arn, "STOPPED", None, f"CannotStartContainerError: {error}")
            self.forget_role(arn)
            return
        self.submit(arn, "RUNNING")
        deadline = time.time() + spec["timeout_s"] if spec.get("timeout_s") else None
        reason = None
        while (code := running.poll()) is None:
            shipper.ship()
            if stop.wait(1.0) or (deadline and time.time() > deadline):
                reason = task.get("stopReason") or "Job attempt duration exceeded timeout"
                running.kill()
        shipper.ship()
        if running.oom_killed():
            reason = "OutOfMemoryError: Container killed due to memory usage"
        self.submit(arn, "STOPPED", code, reason)
        running.remove()
        self.forget_role(arn)
        shutil.rmtree(directory / "rootfs", ignore_errors=True)
        log(f"{name} exited {code}")


class LogShipper:
    """An attempt's output file, line by line to its CloudWatch Logs stream."""

    def __init__(self, logs: JsonClient, stream: str, path: Path) -> None:
        self.logs, self.stream, self.path, self.offset = logs, stream, path, 0
        self.path.touch()
        try:
            logs.call("CreateLogStream", {"logGroupName": LOG_GROUP, "logStreamName": stream})
        except ServiceError as error:
            if error.code != "ResourceAlreadyExistsException":
                raise

    def ship(self) -> None:
        with open(self.path, "rb") as handle:
            handle.seek(self.offset)
            data = handle.read()
        complete = data[:data.rfind(b"\n") + 1]
        if not complete:
            return
        now = int(time.time() * 1000)
        events = [{"timestamp": now, "message": line.decode(errors="replace")} for line in complete.splitlines()]
        self.logs.call("PutLogEvents", {"logGroupName": LOG_GROUP, "logStreamName": self.stream, "logEvents": events})
        self.offset += len(complete)


def main() -> int:
    while True:
        cluster = cluster_of(CONFIG.read_text()) if CONFIG.exists() else None
        if cluster:
            break
        time.sleep(2)
    try:
        Agent(cluster).run()
    except Exception as error:  # noqa: BLE001 - the launcher restarts us; the console shows why
        where = traceback.extract_tb(error.__traceback__)[-3:]
        log(f"stopped: {error!r} at " + " < ".join(f"{frame.name}:{frame.lineno}" for frame in reversed(where)))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
