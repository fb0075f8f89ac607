"""AWS Batch: compute environments, job queues with priorities and scheduling policies, job definitions
with revisions, and jobs (arrays, dependencies, retries, timeouts) moving through AWS's states; the
dispatcher (``dispatch.py``) starts RUNNABLE jobs on hosts' agents through the ``batch`` host section."""

from controller.batch import (  # noqa: F401  (registers operations, tables and the agents' report route)
    attempts,
    compute_environments,
    credentials,
    job_definitions,
    job_enis,
    job_queues,
    jobs,
    jobs_state,
    reports,
    scheduling_policies,
    secrets,
    state,
    tagging,
)
from controller.batch.dispatch import start, stop
from controller.batch.service import api

#: Each host runs the attempts the dispatcher placed on it (after EC2's sections).
api.host_sections["batch"] = attempts.batch_section
api.on_start.append(start)
api.on_stop.append(stop)

__all__ = ["api"]
