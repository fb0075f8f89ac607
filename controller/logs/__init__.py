"""Amazon CloudWatch Logs: log groups, streams and events, persisted by the controller."""

from controller.logs import events, filtering, groups, ingest, state, streams, tags  # noqa: F401  (registers)
from controller.logs.service import api

__all__ = ["api"]
