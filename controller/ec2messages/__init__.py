"""ec2messages: the channel Systems Manager agents poll for Run Command's work (AWS's Message Delivery Service)."""

from controller.ec2messages import messages  # noqa: F401  (registers operations on api)
from controller.ec2messages.service import api

__all__ = ["api"]
