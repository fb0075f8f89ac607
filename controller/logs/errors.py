"""CloudWatch Logs' errors, under the names its json model gives them (all 400, as AWS sends them)."""

from __future__ import annotations

from controller.errors import ServiceError, error

InvalidParameterException = error("InvalidParameterException")
ResourceNotFoundException = error("ResourceNotFoundException")
ResourceAlreadyExistsException = error("ResourceAlreadyExistsException")
TooManyTagsException = error("TooManyTagsException")
ValidationException = error("ValidationException")

__all__ = ["ServiceError"]


def no_such_group() -> ServiceError:
    return ResourceNotFoundException("The specified log group does not exist.")


def no_such_stream() -> ServiceError:
    return ResourceNotFoundException("The specified log stream does not exist.")


def protected(what: str) -> ServiceError:
    """Deleting from a group with deletion protection (the documented wording, for groups and streams)."""
    return ValidationException(f"Cannot delete {what} with deletion protection enabled. "
                               "Disable deletion protection first.")


def bad_token() -> ServiceError:
    return InvalidParameterException("The specified nextToken is invalid.")
