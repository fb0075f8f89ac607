"""The scaler of MANAGED EC2 and SPOT compute environments: launches and terminates their instances.

Each dispatcher pass reads, per such environment, its bounds, the vCPUs its RUNNABLE jobs and placed attempts
need and its instances, asks ``controller.batch.capacity.plan`` and does what it answers, through EC2's own
API (``controller.service_calls``: IAM judges it, CloudTrail records it ``invokedBy`` batch.amazonaws.com),
as the account, standing in for the AWSServiceRoleForBatch service-linked role AWS would use.

An instance is launched from the environment's launch template, or with its ``imageId`` (or
``ec2Configuration``'s ``imageIdOverride``), or else Batch's default AMI, which is Cloudlet's tiny AMI (it
carries the ECS container agent, ``images/ecs-agent``); in the environment's subnets (round robin) and
security groups, with its ``instanceRole`` as instance profile, its ``tags`` plus ``AWSBatchServiceTag`` (the
environment's name), and user data that writes ``ECS_CLUSTER`` to ``/etc/ecs/ecs.config``, as AWS's
ECS-optimized AMIs read it. Instances idle for ``batch_scale_down_delay_seconds`` (the cloud's
configuration, five minutes by default) go when the environment needs fewer; all of them go with the
environment when it is deleted.
"""

from __future__ import annotations

import base64
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from controller import service_calls
from controller.api import Principal
from controller.batch import attempts, capacity, container_instances, jobs_state, lifecycle
from controller.batch import state as batch_state
from controller.batch.compute_environments import EC2_TYPES
from controller.batch.container_instances import container_instances as instances_table
from controller.batch.jobs_state import jobs
from controller.ec2.instances import state as ec2_instances
from controller.ec2.instances.instance_types import CATALOGUE

log = logging.getLogger(__name__)
SERVICE = "batch.amazonaws.com"
#: The tag every instance of an environment carries: the environment's name.
SERVICE_TAG = "AWSBatchServiceTag"
#: EC2 states of an instance that still counts as the environment's capacity.
LIVE_STATES = ("pending", "running")
CATALOGUE_VCPUS = {name: instance_type.vcpus for name, instance_type in CATALOGUE.items()}


def account_principal(account_id: str) -> Principal:
    """The account itself: what Batch acts as here where AWS would use its service-linked role."""
    return Principal(account_id=account_id, arn=f"arn:aws:iam::{account_id}:root", kind="root", user_id=account_id)


def scalable(document: dict[str, Any]) -> bool:
    return document.get("type") == "MANAGED" and (document.get("computeResources") or {}).get("type") in EC2_TYPES


def user_data(cluster_arn: str) -> str:
    """The user data that makes the instance's ECS agent join ``cluster_arn`` (base64, as RunInstances takes)."""
    script = f"#!/bin/sh\nmkdir -p /etc/ecs\necho ECS_CLUSTER={cluster_arn} >> /etc/ecs/ecs.config\n"
    return base64.b64encode(script.encode()).decode()


def _runnable(conn: Connection) -> list[tuple[str, float]]:
    """(queue ARN, vCPUs) of every RUNNABLE job (array parents stand for their children, which are listed)."""
    rows = conn.execute(select(jobs).where(jobs.c.status == lifecycle.RUNNABLE, jobs.c.array_size.is_(None))
                        .order_by(jobs.c.created_at)).mappings().all()
    parents: dict[str, Any] = {}
    return [(row["queue_arn"], attempts.requirements(jobs_state.base_of(conn, row, parents).get("container") or {})[0])
            for row in rows]


@dataclass
class Changes:
    """What a pass must write: rows of instances gone from EC2, idle clocks, environments' desiredvCpus."""

    gone: list[str] = field(default_factory=list)
    idle: dict[str, int | None] = field(default_factory=dict)
    desired: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.gone or self.idle or self.desired)


def _members(conn: Connection, arn: str, now: int, changes: Changes) -> list[capacity.Member]:
    """The environment's instances that still run, with their idle clocks as of ``now``; what changed of them
    goes to ``changes``."""
    busy = container_instances.busy_ids(conn)
    kept = []
    for row in container_instances.of_environment(conn, arn):
        state = conn.execute(select(ec2_instances.instances.c.state).where(
            ec2_instances.instances.c.instance_id == row.instance_id)).scalar()
        if state not in LIVE_STATES:
            changes.gone.append(row.instance_id)
            continue
        idle_since = None if row.instance_id in busy else (row.idle_since or now)
        if idle_since != row.idle_since:
            changes.idle[row.instance_id] = idle_since
        kept.append(capacity.Member(row.instance_id, idle_since))
    return kept


def _write(conn: Connection, changes: Changes) -> None:
    """Apply a pass's changes; desiredvCpus goes into the environment's document as it is now (an update may
    have come in since the read)."""
    for instance_id in changes.gone:
        conn.execute(delete(instances_table).where(instances_table.c.instance_id == instance_id))
    for instance_id, idle_since in changes.idle.items():
        conn.execute(update(instances_table).where(instances_table.c.instance_id == instance_id)
                     .values(idle_since=idle_since))
    table = batch_state.compute_environments
    for arn, desired in changes.desired.items():
        document = conn.execute(select(table.c.document).where(table.c.arn == arn)).scalar()
        if document and document.get("computeResources"):
            document = {**document, "computeResources": {**document["computeResources"], "desiredvCpus": desired}}
            conn.execute(update(table).where(table.c.arn == arn).values(document=document))


class Scaler:
    """Sizes the cloud's EC2 compute environments; one pass per dispatcher pass."""

    def __init__(self, cloud: Any) -> None:
        self.cloud = cloud
        self.delay_ms = int(1000 * cloud.config.batch_scale_down_delay_seconds)
        #: subnet round robin per environment
        self._turn: dict[str, int] = {}

    def run_once(self) -> None:
        """Read (an idle pass writes nothing), write what changed, then launch and terminate."""
        now = jobs_state.now_ms()
        changes = Changes()
        with self.cloud.db.read() as conn:
            rows = conn.execute(select(batch_state.compute_environments)).mappings().all()
            envs = [row for row in rows if scalable(row["document"])]
            known = {row["arn"] for row in rows}
            orphans = [row for row in conn.execute(select(instances_table))
                       if row.environment_arn not in known]
            plans = self._plans(conn, envs, now, changes) if envs else []
        for orphan in orphans:  # their environment was deleted: AWS terminates the instances it launched
            if not orphan.launched or self._terminate(orphan.account_id, orphan.instance_id):
                changes.gone.append(orphan.instance_id)
        if changes:
            with self.cloud.db.begin() as conn:
                _write(conn, changes)
        for env, plan in plans:
            self._apply(env, plan)

    def _plans(self, conn: Connection, envs: list[Any], now: int,
               changes: Changes) -> list[tuple[Any, capacity.Plan]]:
        queues = {row["arn"]: [item["computeEnvironment"] for item in sorted(
            row["document"].get("computeEnvironmentOrder") or [], key=lambda item: item.get("order", 0))]
            for row in conn.execute(select(batch_state.job_queues)).mappings()
            if row["document"].get("state") == "ENABLED"}
        sizes = {env["arn"]: self.instance_vcpus(env["document"]) for env in envs
                 if env["document"].get("state") == "ENABLED"}
        demand = capacity.demand_per_environment(_runnable(conn), queues, sizes)
        placed = attempts.used_per_environment(conn)
        plans = []
        for env in envs:
            resources = env["document"]["computeResources"]
            members = _members(conn, env["arn"], now, changes)
            fleet = capacity.Fleet(env["arn"], int(resources.get("minvCpus") or 0), int(resources["maxvCpus"]),
                                   self.instance_vcpus(env["document"]),
                                   demand.get(env["arn"], 0.0) + placed.get(env["arn"], 0.0), tuple(members),
                                   int(resources.get("desiredvCpus") or 0))
            plan = capacity.plan(fleet, now, self.delay_ms)
            if resources.get("desiredvCpus") != plan.desired_vcpus:
                changes.desired[env["arn"]] = plan.desired_vcpus
            if plan.launch or plan.terminate:
                plans.append((env, plan))
        return plans

    @staticmethod
    def instance_vcpus(document: dict[str, Any]) -> int:
        name = capacity.choose_instance_type(document["computeResources"].get("instanceTypes") or [],
                                             CATALOGUE_VCPUS)
        return CATALOGUE_VCPUS[name]

    def _terminate(self, account_id: str, instance_id: str) -> bool:
        """TerminateInstances as the service; whether the instance is gone (or was already)."""
        try:
            service_calls.call(self.cloud, account_principal(account_id), "ec2", "TerminateInstances",
                               {"InstanceIds": [instance_id]}, invoked_by=SERVICE)
        except service_calls.ServiceCallError as failure:
            if failure.code != "InvalidInstanceID.NotFound":
                log.warning("batch: cannot terminate %s: %s", instance_id, failure)
                return False
        return True

    def _apply(self, env: Any, plan: capacity.Plan) -> None:
        principal = account_principal(env["account_id"])
        for instance_id in plan.terminate:
            if not self._terminate(env["account_id"], instance_id):
                continue
            with self.cloud.db.begin() as conn:
                conn.execute(delete(instances_table).where(instances_table.c.instance_id == instance_id))
        for _ in range(plan.launch):
            instance_id = self._launch(env, principal)
            if instance_id is None:
                return  # EC2 refused: the next pass tries again
            with self.cloud.db.begin() as conn:
                now = jobs_state.now_ms()
                conn.execute(insert(instances_table).values(
                    instance_id=instance_id, account_id=env["account_id"], region=env["region"],
                    environment_arn=env["arn"], launched=True, launched_at=now, idle_since=now, vcpus=0,
                    memory_mib=0))

    def _launch(self, env: Any, principal: Principal) -> str | None:
        try:
            answer = service_calls.call(self.cloud, principal, "ec2", "RunInstances", self.run_parameters(env, principal),
                                        invoked_by=SERVICE)
        except service_calls.ServiceCallError as failure:
            log.warning("batch: compute environment %s cannot launch an instance: %s", env["name"], failure)
            return None
        instance_id = str(answer["Instances"][0]["InstanceId"])
        log.info("batch: compute environment %s launched %s", env["name"], instance_id)
        return instance_id

    def run_parameters(self, env: Any, principal: Principal) -> dict[str, Any]:
        """RunInstances' parameters for one instance of the environment."""
        document = env["document"]
        resources = document["computeResources"]
        subnets = resources["subnets"]
        turn = self._turn.get(env["arn"], 0)
        self._turn[env["arn"]] = turn + 1
        tags = [{"Key": key, "Value": value} for key, value in (resources.get("tags") or {}).items()]
        tags.append({"Key": SERVICE_TAG, "Value": env["name"]})
        params: dict[str, Any] = {
            "MinCount": 1, "MaxCount": 1, "SubnetId": subnets[turn % len(subnets)],
            "InstanceType": capacity.choose_instance_type(resources.get("instanceTypes") or [], CATALOGUE_VCPUS),
            "UserData": user_data(document["ecsClusterArn"]),
            "TagSpecifications": [{"ResourceType": "instance", "Tags": tags}]}
        if resources["type"] == "SPOT":
            # One-time Spot Instances, terminated on interruption (their attempts then fail over as from any
            # lost instance). No MaxPrice: this cloud keeps no price list for bidPercentage to be a share of,
            # and AWS's default is the On-Demand price, which is what bidPercentage 100 means.
            params["InstanceMarketOptions"] = {"MarketType": "spot", "SpotOptions": {
                "SpotInstanceType": "one-time", "InstanceInterruptionBehavior": "terminate"}}
        if resources.get("securityGroupIds"):
            params["SecurityGroupIds"] = list(resources["securityGroupIds"])
        role = resources.get("instanceRole")
        if role:
            params["IamInstanceProfile"] = {"Arn": role} if role.startswith("arn:") else {"Name": role}
        template = resources.get("launchTemplate")
        if template:
            params["LaunchTemplate"] = {key: value for key, value in (
                ("LaunchTemplateId", template.get("launchTemplateId")),
                ("LaunchTemplateName", template.get("launchTemplateName")),
                ("Version", template.get("version"))) if value}
        image = resources.get("imageId") or next(
            (item.get("imageIdOverride") for item in resources.get("ec2Configuration") or []
             if item.get("imageIdOverride")), None)
        if image is None and not (template and self.template_image(params["LaunchTemplate"], principal)):
            image = self.default_image(principal)  # as Batch uses its default AMI for a template without one
        if image:
            params["ImageId"] = image
        return params

    def template_image(self, template: dict[str, str], principal: Principal) -> str | None:
        """The AMI the environment's launch template version names, if any."""
        query: dict[str, Any] = {"Versions": [template.get("Version") or "$Default"]}
        query.update({key: value for key, value in template.items() if key != "Version"})
        try:
            answer = service_calls.call(self.cloud, principal, "ec2", "DescribeLaunchTemplateVersions", query,
                                        invoked_by=SERVICE)
        except service_calls.ServiceCallError:
            return None  # RunInstances will say what is wrong with the template
        versions = answer.get("LaunchTemplateVersions") or [{}]
        return (versions[0].get("LaunchTemplateData") or {}).get("ImageId")

    def default_image(self, principal: Principal) -> str | None:
        """Batch's default AMI here: the newest tiny AMI Cloudlet registers (it runs the ECS agent)."""
        answer = service_calls.call(self.cloud, principal, "ec2", "DescribeImages", {
            "Owners": ["amazon"], "Filters": [{"Name": "name", "Values": ["cloudlet-tiny-*"]}]}, invoked_by=SERVICE)
        images = sorted(answer.get("Images") or [], key=lambda image: image.get("CreationDate") or "")
        return str(images[-1]["ImageId"]) if images else None
