"""CloudWatch Logs' errors, under the names its json model gives them (all 400, as AWS sends them)."""

from __future__ import annotations

from controller.errors import ServiceError, error

InvalidParameterException = error("InvalidParameterException")
ResourceNotFoundException = error("ResourceNotFoundException")
ResourceAlreadyExistsException = error("ResourceAlreadyExistsException")
TooManyTagsException = error("TooManyTagsException")

__all__ = ["ServiceError"]


def no_such_group() -> ServiceError:
    return ResourceNotFoundException("The specified log group does not exist.")


def no_such_stream() -> ServiceError:
    return ResourceNotFoundException("The specified log stream does not exist.")


def bad_token() -> ServiceError:
    return InvalidParameterException("The specified nextToken is invalid.")
