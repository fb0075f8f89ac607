"""AWS Batch: compute environments, job queues with priorities and scheduling policies, job definitions
with revisions, and jobs (arrays, dependencies, retries, timeouts) moving through AWS's states."""

from controller.batch.service import api

__all__ = ["api"]
