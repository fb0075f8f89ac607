"""NextToken for SQS's name-ordered listings (ListQueues, ListDeadLetterSourceQueues): the last name seen."""

from __future__ import annotations

import base64
import json

from controller.sqs.errors import invalid_value


def next_token(last_name: str) -> str:
    return base64.urlsafe_b64encode(json.dumps({"after": last_name}).encode()).decode()


def token_name(token: str | None) -> str:
    """The name a listing resumes after; InvalidParameterValue for a token SQS did not issue."""
    if not token:
        return ""
    try:
        return str(json.loads(base64.urlsafe_b64decode(token.encode()))["after"])
    except (ValueError, KeyError, TypeError):
        raise invalid_value("NextToken", token, "Invalid NextToken value.") from None
