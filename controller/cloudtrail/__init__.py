"""AWS CloudTrail: looking up the audit trail's events."""

from controller.api import ServiceApi

api = ServiceApi("cloudtrail")

from controller.cloudtrail import lookup  # noqa: E402,F401  (registers operations on api)
