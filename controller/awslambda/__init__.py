"""AWS Lambda: functions, versions, aliases and layers in the controller; execution on the host agents."""

from controller.awslambda import aliases, functions, layers, permissions, settings, state, tagging, versions  # noqa: F401
from controller.awslambda.events import invoke_config, mappings, runtime  # noqa: F401  (operations, hooks)
from controller.awslambda.invoke import operation  # noqa: F401  (registers Invoke)
from controller.awslambda.service import api

__all__ = ["api"]
