"""Lambda's errors, by the names and HTTP statuses of its botocore model's error shapes.

Every Lambda error body carries ``Type`` (``User`` for a caller's mistake, ``Service`` otherwise) next
to the message, as AWS sends it (``{"Type": "User", "message": "Function not found: ..."}``).
Other parts of the package may add classes here.
"""

from __future__ import annotations

from typing import Any

from controller.errors import ServiceError


class LambdaError(ServiceError):
    """A Lambda error: its body names who is at fault in ``Type``."""

    def __init__(self, message: str = "", **extra: Any) -> None:
        extra.setdefault("Type", "User" if self.sender_fault else "Service")
        super().__init__(message, **extra)


def _error(code: str, status: int, *, sender_fault: bool = True) -> type[LambdaError]:
    return type(code, (LambdaError,), {"code": code, "status": status, "sender_fault": sender_fault})


InvalidParameterValueException = _error("InvalidParameterValueException", 400)
InvalidRequestContentException = _error("InvalidRequestContentException", 400)
ResourceNotFoundException = _error("ResourceNotFoundException", 404)
ResourceConflictException = _error("ResourceConflictException", 409)
ResourceInUseException = _error("ResourceInUseException", 400)
PreconditionFailedException = _error("PreconditionFailedException", 412)
RequestTooLargeException = _error("RequestTooLargeException", 413)
CodeStorageExceededException = _error("CodeStorageExceededException", 400)
PolicyLengthExceededException = _error("PolicyLengthExceededException", 400)
TooManyRequestsException = _error("TooManyRequestsException", 429)
ServiceException = _error("ServiceException", 500, sender_fault=False)
#: Not in the model: what Lambda answers when IAM refuses a call.
AccessDeniedException = _error("AccessDeniedException", 403)


def function_not_found(arn: str) -> LambdaError:
    """AWS's wording for a function (or a version of it) that does not exist."""
    return ResourceNotFoundException(f"Function not found: {arn}")


def invalid_value(message: str) -> LambdaError:
    return InvalidParameterValueException(message)
