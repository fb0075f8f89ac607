"""Why a policy document is refused, in AWS's own words.

The engine never knows which API is asking, so an error carries the AWS error
``code`` the caller should answer with: IAM maps :class:`MalformedPolicyDocument` to
``MalformedPolicyDocument`` (HTTP 400) and :class:`PolicySizeExceeded` to
``LimitExceeded`` (HTTP 409 in IAM). Both are ``ValueError`` so plain callers can
catch one type.
"""

from __future__ import annotations


class PolicyError(ValueError):
    """A policy document the engine will not accept; ``str(error)`` is AWS's message."""

    code = "MalformedPolicyDocument"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class MalformedPolicyDocument(PolicyError):
    """The document is not valid policy grammar (JSON, elements, values)."""

    code = "MalformedPolicyDocument"


class PolicySizeExceeded(PolicyError):
    """The document is longer than the quota of its kind (whitespace excluded)."""

    code = "LimitExceeded"

    def __init__(self, message: str, *, limit: int, size: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.size = size
