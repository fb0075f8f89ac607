"""Amazon SQS: standard and FIFO queues, visibility, long polling, dead-letter queues, over both SQS protocols."""

from controller.sqs import (  # noqa: F401  (registers operations, declares tables)
    access,
    acknowledge,
    messages,
    move_tasks,
    queues,
    redrive,
    state,
)
from controller.sqs.addressing import queue_url_from_path
from controller.sqs.runtime import start, stop
from controller.sqs.service import api

api.rewrite_request = queue_url_from_path
api.on_start.append(start)
api.on_start.append(move_tasks.resume)
api.on_stop.append(stop)

__all__ = ["api"]
