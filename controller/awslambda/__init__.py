"""AWS Lambda: functions, versions, aliases and layers in the controller; execution on the host agents."""

from controller.awslambda import state  # noqa: F401  (declares the control plane's tables)
from controller.awslambda.service import api

__all__ = ["api"]
