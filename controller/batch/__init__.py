"""AWS Batch: compute environments, job queues with priorities and scheduling policies, job definitions
with revisions, and jobs (arrays, dependencies, retries, timeouts) moving through AWS's states."""

from controller.batch import (  # noqa: F401  (registers operations and tables)
    compute_environments,
    job_definitions,
    job_queues,
    jobs,
    jobs_state,
    scheduling_policies,
    state,
    tagging,
)
from controller.batch.service import api

__all__ = ["api"]
