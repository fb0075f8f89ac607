"""WAF's errors, with the messages AWS documents for them.

``WAFInvalidParameterException`` names the problem AWS's way: ``Error reason: <reason>, field: <field>,
parameter: <value>``, with ``Field``/``Parameter``/``Reason`` members beside the message.
"""

from __future__ import annotations

from typing import Any

from controller.errors import ServiceError, error

WAFNonexistentItemException = error("WAFNonexistentItemException", 400)
WAFDuplicateItemException = error("WAFDuplicateItemException", 400)
WAFOptimisticLockException = error("WAFOptimisticLockException", 400)
WAFAssociatedItemException = error("WAFAssociatedItemException", 400)
WAFLimitsExceededException = error("WAFLimitsExceededException", 400)
WAFInvalidOperationException = error("WAFInvalidOperationException", 400)
_InvalidParameter = error("WAFInvalidParameterException", 400)

NONEXISTENT = ("WAF couldn’t perform the operation because your resource doesn’t exist. If you've just created a "
               "resource that you're using in this operation, you might just need to wait a few minutes. It can "
               "take from a few seconds to a number of minutes for changes to propagate.")
DUPLICATE = ("WAF couldn’t perform the operation because some resource in your request is a duplicate of an "
             "existing one.")
STALE_LOCK = ("WAF couldn’t save your changes because you tried to update or delete a resource that has changed "
              "since you last retrieved it. Get the resource again, make any changes you need to make to the new "
              "copy, and retry your operation.")
ASSOCIATED = ("WAF couldn’t perform the operation because your resource is being used by another resource or "
              "it’s associated with another resource.")

NOT_VALID = "The parameter contains formatting that is not valid."
MISSING = "A required field is missing from the parameter."
ONE_REQUIRED = "Your statement has multiple values set for a field that requires exactly one value."
DUPLICATE_VALUE = "The parameter contains a duplicate value."
UNSUPPORTED = "Cloudlet's WAF does not serve this feature."


def nonexistent() -> ServiceError:
    return WAFNonexistentItemException(NONEXISTENT)


def invalid(field: str, parameter: Any, reason: str = NOT_VALID) -> ServiceError:
    """AWS's WAFInvalidParameterException: ``field`` is a ParameterExceptionField (IP_ADDRESS, RULE...)."""
    text = str(parameter)
    return _InvalidParameter(f"Error reason: {reason}, field: {field}, parameter: {text}",
                             Field=field, Parameter=text[:256], Reason=reason)
