"""CloudWatch's errors, with the codes and statuses of botocore's ``cloudwatch`` model."""

from __future__ import annotations

from controller.errors import ServiceError, error

InvalidParameterValue = error("InvalidParameterValue")
InvalidParameterCombination = error("InvalidParameterCombination")
MissingParameter = error("MissingParameter")
InvalidNextToken = error("InvalidNextToken")
InvalidFormat = error("InvalidFormat")
LimitExceeded = error("LimitExceeded")
ValidationError = error("ValidationError")
ResourceNotFound = error("ResourceNotFound", 404)
ResourceNotFoundException = error("ResourceNotFoundException", 404)

__all__ = ["ServiceError"]


def invalid_value(value: object, parameter: str) -> ServiceError:
    """``The value X for parameter Y is invalid.``, CloudWatch's usual wording."""
    return InvalidParameterValue(f"The value {value} for parameter {parameter} is invalid.")


def missing(parameter: str) -> ServiceError:
    return MissingParameter(f"The parameter {parameter} is required.")
