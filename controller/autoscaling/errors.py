"""Auto Scaling's errors, with the codes of botocore's ``autoscaling`` model and AWS's wording."""

from __future__ import annotations

from controller.errors import ServiceError, ValidationError, error

AlreadyExists = error("AlreadyExists")
ResourceInUse = error("ResourceInUse")
ScalingActivityInProgress = error("ScalingActivityInProgress")
LimitExceeded = error("LimitExceeded")
ResourceContention = error("ResourceContention", 500, sender_fault=False)
ActiveInstanceRefreshNotFound = error("ActiveInstanceRefreshNotFound")
InstanceRefreshInProgress = error("InstanceRefreshInProgress")
InvalidNextToken = error("InvalidNextToken")

__all__ = ["ServiceError", "ValidationError"]


def no_group(name: str) -> ServiceError:
    return ValidationError(f"AutoScalingGroup name not found - AutoScalingGroup {name} not found")


def no_launch_configuration(name: str) -> ServiceError:
    return ValidationError(f"Launch configuration name not found - Launch configuration {name} not found")
