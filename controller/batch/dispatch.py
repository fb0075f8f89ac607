"""The Batch dispatcher: one thread in the primary process that sizes EC2 environments and starts RUNNABLE jobs.

It wakes on ``batch:jobs`` (every job write announces it) and every few seconds. Each pass first lets the
scaler (``controller.batch.scaler``) launch and terminate the instances of MANAGED EC2 and SPOT environments,
then reads what the scheduler needs (``controller.batch.scheduler``), and for each placement moves the job
RUNNABLE -> STARTING and records its attempt (``controller.batch.attempts``). Where it runs depends on the
environment: a FARGATE environment's attempts run on the hosts' agents (bumping the hosts' generation so the
chosen agent's long-poll answers at once with the new ``batch`` section), each with its ENI in the
environment's subnets (``job_enis``) and, with a job role, its credentials endpoint's URI (``credentials``);
an EC2, SPOT or UNMANAGED environment's attempts run only on its own registered container instances
(``container_instances``), whose ECS agent polls for them (``controller.ecs``) and runs them on the instance's
network, as Batch on EC2 does. It also turns terminated jobs' placed attempts into stop marks, so a
TerminateJob reaches the container; every pass deletes the ENIs of attempts that are gone. Timeouts are
enforced by the runner, from the spec.

Images are Cloudlet's lab form: ``containerProperties.image`` is ``s3://bucket/key``, an OCI or docker
archive in Cloudlet's S3 (no registry is reachable from here). The dispatcher reads it once per reader
(through the cloud's gateway, so IAM judges and CloudTrail records it, ``invokedBy`` batch.amazonaws.com)
into the content-addressed store Lambda's images use; host agents fetch it by sha256 from the same endpoint,
container instances by the expiring URL their poll answers. The reader is the job's execution role, as AWS
pulls images with it; a definition without one (EC2 environments only: Fargate requires it) is read as the
account, standing in for the ECS container instance's role AWS would use. An image that cannot be had fails
the job with ``CannotPullContainerError``, as AWS does; so does an execution role ECS could not assume.
Volumes that cannot be mounted (``controller.batch.volumes``) fail it alike.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

from sqlalchemy import Connection, insert, select, update

from controller import service_calls
from controller.api import Principal
from controller.awslambda import code_store
from controller.batch import (
    attempts,
    container_instances,
    execution_role,
    job_enis,
    jobs_settle,
    jobs_state,
    lifecycle,
    lost_hosts,
    scaler,
    scheduler,
    volumes,
)
from controller.batch import credentials as job_credentials
from controller.batch import state as batch_state
from controller.batch.jobs_state import jobs
from controller.hosts import generation
from controller.hosts.state import host_records

log = logging.getLogger(__name__)
#: How often the dispatcher looks without being woken (a host came up, capacity freed elsewhere).
INTERVAL = 2.0
#: Placements one pass makes at most (the rest come next pass, moments later).
PASS_LIMIT = 200
#: RUNNABLE jobs one pass reads at most, the oldest first (a pass places far fewer anyway).
MAX_READ = 5000
SERVICE = "batch.amazonaws.com"
#: How long after an attempt's timeout the dispatcher marks it to stop, should the agent's runner not have.
TIMEOUT_GRACE_MS = 5000


def _usable(document: dict[str, Any]) -> bool:
    return document.get("state") == "ENABLED" and document.get("status") == "VALID"


def on_instances(document: dict[str, Any]) -> bool:
    """Whether the environment's jobs run on its own container instances (EC2, SPOT, UNMANAGED), not on hosts."""
    return document.get("type") == "UNMANAGED" or scaler.scalable(document)


def snapshot(conn: Connection) -> dict[str, Any]:
    """What one scheduler pass reads, in one transaction."""
    envs, env_names = [], {}
    used_env = attempts.used_per_environment(conn)
    for row in conn.execute(select(batch_state.compute_environments)).mappings():
        doc = row["document"]
        env_names[row["arn"]] = row["name"]
        max_vcpus = float((doc.get("computeResources") or {}).get("maxvCpus") or 0)
        if doc.get("type") == "UNMANAGED":  # the instances its users bring are the limit
            max_vcpus = float(doc.get("unmanagedvCpus") or 10_000)
        envs.append(scheduler.Environment(row["arn"], _usable(doc), max_vcpus, used_env.get(row["arn"], 0.0),
                                          on_instances=on_instances(doc)))
    queues, queue_names = [], {}
    policies = {row["arn"]: row["document"] for row in conn.execute(select(batch_state.scheduling_policies)
                                                                     ).mappings()}
    for row in conn.execute(select(batch_state.job_queues)).mappings():
        doc = row["document"]
        queue_names[row["arn"]] = row["name"]
        order = sorted(doc.get("computeEnvironmentOrder") or [], key=lambda item: item.get("order", 0))
        policy = policies.get(doc.get("schedulingPolicyArn") or "")
        weights = {share["shareIdentifier"]: float(share.get("weightFactor") or 1.0)
                   for share in ((policy or {}).get("fairsharePolicy") or {}).get("shareDistribution") or []}
        queues.append(scheduler.Queue(row["arn"], int(doc.get("priority") or 0),
                                      doc.get("state") == "ENABLED" and doc.get("status") != "DELETING",
                                      tuple(item["computeEnvironment"] for item in order),
                                      fair_share=policy is not None, weights=weights))
    used_host = attempts.used_per_host(conn)
    hosts = []
    for host in host_records(conn):
        if host.state != "up" or not host.schedulable or attempts.CAPABILITY not in host.capabilities:
            continue
        vcpus, memory = used_host.get(host.host_id, (0.0, 0))
        hosts.append(scheduler.Host(host.host_id, host.vcpus - vcpus, host.memory_mib - memory))
    now = jobs_state.now_ms()
    for instance in conn.execute(select(container_instances.container_instances)):
        if container_instances.alive(instance, now):
            vcpus, memory = used_host.get(instance.instance_id, (0.0, 0))
            hosts.append(scheduler.Host(instance.instance_id, instance.vcpus - vcpus, instance.memory_mib - memory,
                                        frozenset({instance.environment_arn})))
    if not hosts:  # nowhere to run anything: the RUNNABLE jobs are not worth reading
        return {"usage": {}, "envs": envs, "env_names": env_names, "queues": queues, "queue_names": queue_names,
                "hosts": hosts, "jobs": [], "rows": {}, "bases": {}}
    rows = conn.execute(select(jobs).where(jobs.c.status == lifecycle.RUNNABLE, jobs.c.array_size.is_(None))
                        .order_by(jobs.c.created_at).limit(MAX_READ)).mappings().all()
    parents: dict[str, Any] = {}
    waiting, bases = [], {}
    for row in rows:
        base = jobs_state.base_of(conn, row, parents)
        bases[row["job_id"]] = base
        vcpus, memory = attempts.requirements(base.get("container") or {})
        waiting.append(scheduler.Job(row["job_id"], row["queue_arn"], row["created_at"], vcpus, memory,
                                     int(base.get("schedulingPriority") or 0), row["share_identifier"]))
    return {"usage": attempts.used_per_share(conn, jobs), "envs": envs, "env_names": env_names, "queues": queues, "queue_names": queue_names, "hosts": hosts,
            "jobs": waiting, "rows": {row["job_id"]: row for row in rows}, "bases": bases}


class Dispatcher:
    """The cloud's one dispatcher (``start``/``stop`` hooks of the Batch service)."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self._wake = threading.Event()
        self._stopping = False
        #: (reader's ARN, s3 uri) -> sha256 of the archive in the code store: a reader is asked once
        self._images: dict[tuple[str, str], str] = {}
        self._thread = threading.Thread(target=self._run, name="batch-dispatcher", daemon=True)
        self.scaler = scaler.Scaler(cloud)

    def start(self) -> None:
        self.cloud.db.subscribe(jobs_state.TOPIC, self._wake.set)
        self.cloud.leadership.on_elected(self._wake.set)
        self._thread.start()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join(timeout=30)

    def _run(self) -> None:
        while not self._stopping:
            self._wake.clear()
            try:
                if self.cloud.leadership.leading:  # one controller dispatches (controller/state/leadership.py)
                    self.run_once()
            except Exception:
                log.exception("batch dispatch pass failed")
            self._wake.wait(INTERVAL)

    def run_once(self) -> int:
        """One pass: attempts of lost hosts failed over, stop marks for terminated jobs, then placements; how
        many attempts it placed."""
        self.fail_lost()
        self.mark_stops()
        self.sweep_interfaces()
        self.scaler.run_once()
        with self.cloud.db.read() as conn:
            snap = snapshot(conn)
        placements = scheduler.schedule(snap["jobs"], snap["queues"], snap["envs"], snap["hosts"],
                                        share_usage=snap["usage"], limit=PASS_LIMIT)
        placed = 0
        for placement in placements:
            row, base = snap["rows"][placement.job_id], snap["bases"][placement.job_id]
            container = base.get("container") or {}
            image = volumes.unmountable(container) or self._image(row["account_id"], container.get("image") or "",
                                                                  container.get("executionRoleArn"))
            with self.cloud.db.begin() as conn:
                placed += self._place(conn, placement, base, image, snap)
        return placed

    def _place(self, conn: Connection, placement: scheduler.Placement, base: dict[str, Any],
               image: dict[str, str] | str, snap: dict[str, Any]) -> int:
        row = conn.execute(select(jobs).where(jobs.c.job_id == placement.job_id)).mappings().first()
        if row is None or row["status"] != lifecycle.RUNNABLE:
            return 0  # cancelled or terminated meanwhile
        now = jobs_state.now_ms()
        job = lifecycle.mark_starting(jobs_state.view(row, base))
        if isinstance(image, str):  # the image or a volume cannot be had: the attempt fails before it runs
            return self._fail_start(conn, row, job, now, image)
        attempt = jobs_state.attempt_number(job)
        spec = attempts.entry(row, base, queue_name=snap["queue_names"].get(row["queue_arn"], ""),
                              environment_name=snap["env_names"].get(placement.environment_arn, ""),
                              image=image, attempt=attempt)
        refusal = self._networked(conn, spec, row, base, placement, attempt)
        if refusal is not None:  # no role to assume, no address to have: the attempt fails before it runs
            return self._fail_start(conn, row, job, now, refusal)
        jobs_state.save(conn, row["job_id"], job, now)
        conn.execute(attempts.attempts.delete().where(attempts.attempts.c.job_id == row["job_id"]))
        conn.execute(insert(attempts.attempts).values(
            job_id=row["job_id"], account_id=row["account_id"], region=row["region"], host_id=placement.host_id,
            environment_arn=placement.environment_arn, attempt=attempt, vcpus=spec["vcpus"],
            memory_mib=spec["memory_mib"], spec=spec, stop_reason=None, placed_at=now))
        generation.bump(conn)
        return 1

    @staticmethod
    def _fail_start(conn: Connection, row: Any, job: dict[str, Any], now: int, reason: str) -> int:
        jobs_state.save(conn, row["job_id"], job, now)
        row = conn.execute(select(jobs).where(jobs.c.job_id == row["job_id"])).mappings().first()
        jobs_settle.attempt_ended(conn, row, None, None, now, status_reason=reason)
        return 0

    def _networked(self, conn: Connection, spec: dict[str, Any], row: Any, base: dict[str, Any],
                   placement: scheduler.Placement, attempt: int) -> str | None:
        """Give the attempt's entry its job role's credentials URI and its ENI (``network``), as Fargate
        gives a task; the reason it cannot start otherwise (nothing is made then)."""
        container = base.get("container") or {}
        credentials = job_credentials.entry(conn, container, row["account_id"], row["region"])
        if isinstance(credentials, str):
            return credentials
        environment = conn.execute(select(batch_state.compute_environments.c.document).where(
            batch_state.compute_environments.c.arn == placement.environment_arn)).scalar() or {}
        if not on_instances(environment):  # on an instance, its own network, as Batch on EC2 runs jobs
            network = job_enis.attach(conn, self.cloud.config, row, container, environment, placement.host_id,
                                      attempt)
            if isinstance(network, str):
                return network
            spec["network"] = network
            if network is None:
                return None
        # the SDK's region and, with a role, its credentials endpoint (ECS's variables)
        variables = {"AWS_REGION": row["region"], "AWS_DEFAULT_REGION": row["region"]}
        if credentials is not None:
            spec["credentials"] = credentials
            variables["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"] = credentials["relative_uri"]
        spec["environment"] = {**variables, **spec["environment"]}
        return None

    def sweep_interfaces(self) -> None:
        """Delete the ENIs of attempts that ended (read first, so that an idle pass writes nothing)."""
        with self.cloud.db.read() as conn:
            if not job_enis.orphans(conn):
                return
        with self.cloud.db.begin() as conn:
            if job_enis.sweep(conn):
                generation.bump(conn)

    def fail_lost(self) -> None:
        """Attempts on hosts that stopped answering fail (``controller.batch.lost_hosts``); read first, so
        that an idle pass writes nothing."""
        with self.cloud.db.read() as conn:
            if not lost_hosts.lost_attempts(conn):
                return
        with self.cloud.db.begin() as conn:
            lost_hosts.fail_lost_attempts(conn, jobs_state.now_ms())

    def mark_stops(self) -> None:
        """Placed attempts of jobs that ended without them (TerminateJob) get their stop mark, and so do those
        running past their timeout (the agent's runner stops them itself; this covers a runner that did not,
        :data:`TIMEOUT_GRACE_MS` later). The read comes first so that an idle pass writes nothing."""
        query = (select(attempts.attempts.c.job_id.label("placed_id"), jobs)
                 .join(jobs, jobs.c.job_id == attempts.attempts.c.job_id, isouter=True)
                 .where(attempts.attempts.c.stop_reason.is_(None)))
        now = jobs_state.now_ms()
        ended: list[tuple[str, str]] = []
        with self.cloud.db.read() as conn:
            parents: dict[str, Any] = {}
            for row in conn.execute(query).mappings():
                if row["status"] is None or row["status"] in lifecycle.ENDED:
                    ended.append((row["placed_id"], (row["progress"] or {}).get("statusReason") or "Terminated"))
                elif row["status"] == lifecycle.RUNNING:
                    job = jobs_state.view(row, jobs_state.base_of(conn, row, parents))
                    if lifecycle.timed_out(job, now - TIMEOUT_GRACE_MS):
                        ended.append((row["placed_id"], lifecycle.TIMED_OUT))
        if not ended:
            return
        with self.cloud.db.begin() as conn:
            for job_id, reason in ended:
                conn.execute(update(attempts.attempts).where(attempts.attempts.c.job_id == job_id,
                                                             attempts.attempts.c.stop_reason.is_(None))
                             .values(stop_reason=reason))
            generation.bump(conn)

    def _image(self, account_id: str, uri: str, role_arn: str | None) -> dict[str, str] | str:
        """The section's image entry (``source``, ``sha256``), or the reason the job cannot have it. Read as the
        execution role when there is one, as the account otherwise (see the module docstring)."""
        if not uri.startswith("s3://") or "/" not in uri[5:]:
            return (f"CannotPullContainerError: {uri} is not reachable: no container registry is reachable "
                    "from Cloudlet; upload the image as an OCI or docker archive to S3 and name it s3://bucket/key")
        if role_arn:
            principal = execution_role.session(self.cloud, role_arn)
            if isinstance(principal, str):
                return f"CannotPullContainerError: {uri}: {principal}"
        else:
            principal = scaler.account_principal(account_id)
        known = self._images.get((principal.arn, uri))
        if known is not None:
            return {"source": uri, "sha256": known}
        bucket, _, key = uri[5:].partition("/")
        data = read_object(self.cloud, principal, bucket, key)
        if isinstance(data, str):
            return f"CannotPullContainerError: {uri}: {data}"
        digest = code_store.put(self.cloud, data).sha256_hex
        self._images[(principal.arn, uri)] = digest
        return {"source": uri, "sha256": digest}


def read_object(cloud: Any, principal: Principal, bucket: str, key: str) -> bytes | str:
    """An object of Cloudlet's S3 read as ``principal`` through the gateway (IAM judges, CloudTrail records
    it), or S3's error as text."""
    answer = service_calls.raw_call(cloud, principal, "s3", "GetObject", {"Bucket": bucket, "Key": key},
                                    invoked_by=SERVICE)
    assert isinstance(answer.body, bytes)
    if answer.status >= 300:
        return f"HTTP {answer.status}: {answer.body[:300].decode(errors='replace')}"
    return answer.body


def start(cloud: Any) -> None:
    if cloud.batch_dispatcher is not None:
        return
    cloud.batch_dispatcher = Dispatcher(cloud)
    cloud.batch_dispatcher.start()


def stop(cloud: Any) -> None:
    dispatcher, cloud.batch_dispatcher = cloud.batch_dispatcher, None
    if dispatcher is not None:
        dispatcher.stop()

