"""Amazon EC2: regions and zones, and (later) instances, images and VPC networking."""

from controller.api import ServiceApi

api = ServiceApi("ec2")

from controller.ec2 import regions  # noqa: E402,F401  (registers operations on api)
