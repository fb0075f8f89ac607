"""SNS's errors, with the codes of botocore's ``sns`` model and AWS's wording.

SNS words nearly every refusal as ``Invalid parameter: <what>`` (code ``InvalidParameter``);
:func:`invalid` builds those so the wording stays one convention.
"""

from __future__ import annotations

from controller.errors import ServiceError, error

InvalidParameter = error("InvalidParameter")
#: botocore's InvalidParameterValueException (message attribute values SNS cannot read)
ParameterValueInvalid = error("ParameterValueInvalid")
NotFound = error("NotFound", 404)
ResourceNotFound = error("ResourceNotFound", 404)
AuthorizationError = error("AuthorizationError", 403)
TagLimitExceeded = error("TagLimitExceeded")
EmptyBatchRequest = error("EmptyBatchRequest")
TooManyEntriesInBatchRequest = error("TooManyEntriesInBatchRequest")
BatchEntryIdsNotDistinct = error("BatchEntryIdsNotDistinct")
BatchRequestTooLong = error("BatchRequestTooLong")
InvalidBatchEntryId = error("InvalidBatchEntryId")

__all__ = ["ServiceError"]


def invalid(what: str, reason: str = "") -> ServiceError:
    """``Invalid parameter: <what>`` or ``Invalid parameter: <what> Reason: <reason>``, as SNS answers."""
    return InvalidParameter(f"Invalid parameter: {what}" + (f" Reason: {reason}" if reason else ""))


def no_such_topic() -> ServiceError:
    return NotFound("Topic does not exist")


def no_such_subscription() -> ServiceError:
    return NotFound("Subscription does not exist")
