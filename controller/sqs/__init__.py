"""Amazon SQS: standard and FIFO queues, visibility, long polling, dead-letter queues, over both SQS protocols."""

from controller.sqs import access, acknowledge, messages, queues, state  # noqa: F401  (registers operations, tables)
from controller.sqs.runtime import start, stop
from controller.sqs.service import api

api.on_start.append(start)
api.on_stop.append(stop)

__all__ = ["api"]
