"""AWS Batch: time from SubmitJob to the container's start on a warm environment, and the throughput of
many tiny jobs, each against ``podman run`` of the same image on the same host (the physical limit).

Cloudlet starts with its agent; a FARGATE compute environment, a queue and a job definition whose image is
a busybox OCI archive in Cloudlet's S3 are made, and one job warms the environment (the agent loads the
image once). Then, side by side in the same run:

- start latency: jobs submitted one at a time (each waits for the previous to end); the figure is the
  job's ``startedAt`` (the agent's clock when ``podman run --detach`` returned) minus the client's time
  just before SubmitJob. The limit is the same ``podman run --detach`` argv (``agent/batch/podman.py``)
  run directly: from just before it to its return.
- throughput: an array job of ``--jobs`` children running ``true``, from SubmitJob until the parent is
  SUCCEEDED; the limit runs as many ``podman run`` of the same container, ``--parallel`` at a time (the
  number of attempts Batch runs at once here: maxvCpus over each job's vCPUs).

    .venv/bin/python bench/bench_batch.py [--latency 8] [--jobs 1000] [--parallel 8]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from common import report

from agent.batch.podman import AttemptSpec, HostLimits, Podman, container_name, rm_argv, run_argv
from agent.batch.runner import default_podman, host_limits
from tests.batch_image import busybox_oci_archive
from tests.support import CloudletProcess

IMAGE_REF = "localhost/cloudlet-bench-busybox:latest"
VCPUS = 0.25


def wait_for_job(batch: Any, job_id: str, timeout: float = 600) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = batch.describe_jobs(jobs=[job_id])["jobs"][0]
        if job["status"] in ("SUCCEEDED", "FAILED"):
            return job
        time.sleep(0.05)
    raise TimeoutError(f"job {job_id} did not end in {timeout:.0f} s")


def setup(cloud: CloudletProcess, archive: Path, parallel: int) -> tuple[Any, str, str]:
    """A FARGATE environment sized for ``parallel`` attempts, its queue and a busybox job definition."""
    s3, ec2, batch = cloud.client("s3"), cloud.client("ec2"), cloud.client("batch")
    s3.create_bucket(Bucket="bench-images")
    s3.upload_file(str(archive), "bench-images", "busybox.tar")
    vpc = ec2.create_vpc(CidrBlock="10.91.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.91.1.0/24")["Subnet"]["SubnetId"]
    group = ec2.create_security_group(GroupName="bench", Description="bench", VpcId=vpc)["GroupId"]
    batch.create_compute_environment(computeEnvironmentName="bench", type="MANAGED", computeResources={
        "type": "FARGATE", "maxvCpus": max(1, int(parallel * VCPUS)), "subnets": [subnet],
        "securityGroupIds": [group]})
    batch.create_job_queue(jobQueueName="bench", priority=1,
                           computeEnvironmentOrder=[{"order": 1, "computeEnvironment": "bench"}])
    iam = cloud.client("iam")
    iam.create_role(RoleName="ecsTaskExecutionRole", AssumeRolePolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "sts:AssumeRole",
                                                 "Principal": {"Service": "ecs-tasks.amazonaws.com"}}]}))
    iam.put_role_policy(RoleName="ecsTaskExecutionRole", PolicyName="image", PolicyDocument=json.dumps(
        {"Version": "2012-10-17", "Statement": [{"Effect": "Allow", "Action": "s3:GetObject",
                                                 "Resource": "arn:aws:s3:::bench-images/*"}]}))
    role = f"arn:aws:iam::{cloud.account_id}:role/ecsTaskExecutionRole"
    batch.register_job_definition(jobDefinitionName="tiny", type="container", platformCapabilities=["FARGATE"],
                                  containerProperties={
                                      "image": "s3://bench-images/busybox.tar", "command": ["true"],
                                      "executionRoleArn": role,
                                      "resourceRequirements": [{"type": "VCPU", "value": str(VCPUS)},
                                                               {"type": "MEMORY", "value": "512"}]})
    return batch, "bench", "tiny"


def batch_latencies(batch: Any, queue: str, definition: str, rounds: int) -> list[float]:
    latencies = []
    for n in range(rounds):
        submitted = time.time()
        job_id = batch.submit_job(jobName=f"latency-{n}", jobQueue=queue, jobDefinition=definition)["jobId"]
        job = wait_for_job(batch, job_id)
        assert job["status"] == "SUCCEEDED", job.get("statusReason")
        latencies.append(job["startedAt"] / 1000 - submitted)
    return latencies


def podman_run(podman: Podman, limits: HostLimits, log_dir: Path) -> float:
    """Seconds for ``podman run --detach`` of a tiny container, as the agent runs an attempt; then removed."""
    spec = AttemptSpec(job_id=f"bench-{uuid.uuid4().hex[:12]}", attempt=1, image=IMAGE_REF, command=("true",),
                       vcpus=VCPUS, memory_mib=512)
    argv = run_argv(podman, spec, str(log_dir / f"{spec.job_id}.log"), limits)
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, cwd=log_dir)
    elapsed = time.monotonic() - started
    subprocess.run([*podman.base(), "wait", container_name(spec.job_id, 1)], check=True, capture_output=True)
    subprocess.run(rm_argv(podman, container_name(spec.job_id, 1)), check=True, capture_output=True)
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--latency", type=int, default=8, help="single jobs timed one after another")
    parser.add_argument("--jobs", type=int, default=1000, help="children of the throughput array job")
    parser.add_argument("--parallel", type=int, default=8, help="attempts running at once")
    args = parser.parse_args()
    podman, limits = default_podman(), host_limits()
    with tempfile.TemporaryDirectory(prefix="cloudlet-bench-batch-") as scratch:
        work = Path(scratch)
        archive = busybox_oci_archive(work / "busybox.tar", IMAGE_REF)
        subprocess.run([*podman.base(), "load", "-i", str(archive)], check=True, capture_output=True)
        cloud = CloudletProcess(work / "data", agent=True).start()
        try:
            batch, queue, definition = setup(cloud, archive, args.parallel)
            warm = batch.submit_job(jobName="warm", jobQueue=queue, jobDefinition=definition)["jobId"]
            assert wait_for_job(batch, warm)["status"] == "SUCCEEDED"
            ours = batch_latencies(batch, queue, definition, args.latency)
            limit = [podman_run(podman, limits, work) for _ in range(args.latency)]
            print(f"\nstart latency over {args.latency} jobs: Batch p50 {statistics.median(ours) * 1000:.0f} ms, "
                  f"podman run p50 {statistics.median(limit) * 1000:.0f} ms", flush=True)
            report("Batch SubmitJob to container start, warm: p50 over podman run's", statistics.median(ours)
                   / statistics.median(limit), "x", batch_ms=statistics.median(ours) * 1000,
                   podman_ms=statistics.median(limit) * 1000)

            started = time.monotonic()
            array = batch.submit_job(jobName="many", jobQueue=queue, jobDefinition=definition,
                                     arrayProperties={"size": args.jobs})["jobId"]
            job = wait_for_job(batch, array, timeout=3600)
            ours_rate = args.jobs / (time.monotonic() - started)
            assert job["status"] == "SUCCEEDED", job["arrayProperties"]["statusSummary"]
            print(f"Batch ran {args.jobs} tiny jobs at {ours_rate:.2f} jobs/s", flush=True)
        finally:
            cloud.stop()
        started = time.monotonic()
        with ThreadPoolExecutor(args.parallel) as pool:
            list(pool.map(lambda _: podman_run(podman, limits, work), range(args.jobs)))
        limit_rate = args.jobs / (time.monotonic() - started)
        subprocess.run([*podman.base(), "rmi", "-f", IMAGE_REF], capture_output=True)
    print(f"throughput of {args.jobs} tiny jobs: Batch {ours_rate:.1f} jobs/s, podman run x{args.parallel} "
          f"{limit_rate:.1f} jobs/s", flush=True)
    report(f"Batch throughput of {args.jobs} tiny jobs: over podman run's ({args.parallel} at once)",
           ours_rate / limit_rate, "x", batch_jobs_per_s=ours_rate, podman_jobs_per_s=limit_rate)
    return 0


if __name__ == "__main__":
    sys.exit(main())
