"""AWS EC2 Instance Connect: short-lived SSH public keys pushed to an instance through its metadata service."""

from controller.ec2_instance_connect import send  # noqa: F401  (registers operations on api)
from controller.ec2_instance_connect.service import api

__all__ = ["api"]
