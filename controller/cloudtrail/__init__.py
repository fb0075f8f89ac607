"""AWS CloudTrail: looking up the audit trail's events."""

from controller.cloudtrail import lookup  # noqa: F401  (registers operations on api)
from controller.cloudtrail.service import api as api  # the service's operations, for controller.cloud
