"""What the Batch run tests share: a ``cloudlet up`` with its agent, ready to run Batch containers."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from agent.batch.runner import default_podman
from tests.support import CloudletProcess, wait_for

PODMAN = default_podman()


def batch_cloud(data_dir: Path, image_ref: str) -> Iterator[CloudletProcess]:
    """A cloud whose agent registered the batch capability; stopped afterwards, and the test image
    ``image_ref`` its agent loaded removed from podman."""
    data_dir.mkdir(parents=True)
    process = CloudletProcess(data_dir, agent=True).start()
    try:
        wait_for(lambda: any("registered" in line and "batch" in line for line in process.output),
                 timeout=60, what="the agent to register with the batch capability")
        yield process
    finally:
        process.stop()
        subprocess.run([*PODMAN.base(), "rmi", "--force", f"localhost/{image_ref}"], capture_output=True, check=False)


def job(batch: Any, job_id: str) -> dict[str, Any]:
    return batch.describe_jobs(jobs=[job_id])["jobs"][0]


def ended(batch: Any, job_id: str, timeout: float = 45) -> dict[str, Any]:
    found: dict[str, Any] = {}

    def done() -> bool:
        found.update(job(batch, job_id))
        return found["status"] in ("SUCCEEDED", "FAILED")

    wait_for(done, timeout=timeout, what=f"job {job_id} to end")
    return found


def log_messages(logs: Any, stream: str) -> list[str]:
    events = logs.get_log_events(logGroupName="/aws/batch/job", logStreamName=stream,
                                 startFromHead=True)["events"]
    return [event["message"] for event in events]


def agent_registrations(cloud: CloudletProcess) -> int:
    """How often an agent has registered its host with the batch capability (``cloudlet.agent`` logs it)."""
    return sum(" registered in " in line and "batch" in line for line in cloud.output)
