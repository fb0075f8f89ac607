"""The one exception type every service raises for a client-visible AWS error.

Services never build XML or JSON for errors: they raise :class:`ServiceError` (or a
subclass made with :func:`error`) and the protocol layer renders it the way the
service's botocore model and protocol say.
"""

from __future__ import annotations

from typing import Any


class ServiceError(Exception):
    """An AWS error: a code, a message, an HTTP status and optional extra members.

    ``sender_fault`` is True for client errors (the query protocols render it as
    ``<Type>Sender</Type>``); ``extra`` carries members the error shape defines
    (S3's ``Key``, ``BucketName``, ``StringToSign``...), rendered next to Code and Message.
    """

    code: str = "InternalError"
    status: int = 400
    sender_fault: bool = True
    #: Why the call was refused, for the audit trail only (IAM's explanation of a denial: the policies and
    #: statements that decided); never rendered to the client.
    explanation: dict[str, Any] | None = None

    def __init__(self, message: str = "", *, code: str | None = None, status: int | None = None,
                 sender_fault: bool | None = None, headers: dict[str, str] | None = None,
                 **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        if status is not None:
            self.status = status
        if sender_fault is not None:
            self.sender_fault = sender_fault
        self.headers = headers or {}
        self.extra = extra

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.code!r}, {self.message!r}, status={self.status})"


def error(code: str, status: int = 400, *, sender_fault: bool = True) -> type[ServiceError]:
    """Make a named ServiceError subclass: ``NoSuchBucket = error("NoSuchBucket", 404)``."""
    return type(code, (ServiceError,), {"code": code, "status": status, "sender_fault": sender_fault})


# Errors every service shares (the "common errors" of the AWS API references).
InternalError = error("InternalError", 500, sender_fault=False)
InvalidAction = error("InvalidAction", 400)
MissingParameter = error("MissingParameter", 400)
InvalidParameterValue = error("InvalidParameterValue", 400)
ValidationError = error("ValidationError", 400)
AccessDenied = error("AccessDenied", 403)
