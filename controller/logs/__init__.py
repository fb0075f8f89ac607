"""Amazon CloudWatch Logs: log groups, streams and events, persisted by the controller."""

from controller.logs.service import api

__all__ = ["api"]
