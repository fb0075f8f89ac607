"""SQS's errors, under the json model's shape names.

The protocol layer sends each with its legacy query code too (``x-amzn-query-error``, and the
``<Code>`` of query-protocol answers): ``QueueDoesNotExist`` is ``AWS.SimpleQueueService.NonExistentQueue``
on the wire of older clients (``controller.protocol.faults.SQS_QUERY_CODES``).
"""

from __future__ import annotations

from controller.errors import InvalidParameterValue, MissingParameter, ServiceError, error

QueueDoesNotExist = error("QueueDoesNotExist")
QueueNameExists = error("QueueNameExists")
QueueDeletedRecently = error("QueueDeletedRecently")
InvalidAttributeName = error("InvalidAttributeName")
InvalidAttributeValue = error("InvalidAttributeValue")
InvalidMessageContents = error("InvalidMessageContents")
PurgeQueueInProgress = error("PurgeQueueInProgress")
MessageNotInflight = error("MessageNotInflight")
ReceiptHandleIsInvalid = error("ReceiptHandleIsInvalid")
EmptyBatchRequest = error("EmptyBatchRequest")
TooManyEntriesInBatchRequest = error("TooManyEntriesInBatchRequest")
BatchEntryIdsNotDistinct = error("BatchEntryIdsNotDistinct")
BatchRequestTooLong = error("BatchRequestTooLong")
InvalidBatchEntryId = error("InvalidBatchEntryId")
InvalidAddress = error("InvalidAddress")
OverLimit = error("OverLimit")
UnsupportedOperation = error("UnsupportedOperation")
ResourceNotFoundException = error("ResourceNotFoundException", 404)
AccessDenied = error("AccessDenied", 403)

__all__ = ["InvalidParameterValue", "MissingParameter", "ServiceError"]


def no_such_queue() -> ServiceError:
    return QueueDoesNotExist("The specified queue does not exist.")


def invalid_value(parameter: str, value: object, reason: str) -> ServiceError:
    """SQS's wording for a parameter it refuses: ``Value x for parameter P is invalid. Reason: ...``."""
    return InvalidParameterValue(f"Value {value} for parameter {parameter} is invalid. Reason: {reason}")
