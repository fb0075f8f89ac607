"""ecs: the calls the ECS container agent on a Batch instance makes (register, poll, report state)."""

from controller.ecs import container_agent  # noqa: F401  (registers operations on api)
from controller.ecs.service import api

__all__ = ["api"]
