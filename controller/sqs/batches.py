"""The rules every SQS batch call shares (pure): 1 to 10 entries, distinct well-formed ids.

https://docs.aws.amazon.com/AWSSimpleQueueService/latest/APIReference/API_SendMessageBatch.html
"""

from __future__ import annotations

import re
from typing import Any

from controller.sqs.errors import (
    BatchEntryIdsNotDistinct,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    TooManyEntriesInBatchRequest,
)

MAX_ENTRIES = 10
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


def check_entries(entries: list[dict[str, Any]], entry_name: str) -> None:
    """Raise the batch-wide error SQS sends before looking at any entry."""
    if not entries:
        raise EmptyBatchRequest(f"There should be at least one {entry_name} in the request.")
    if len(entries) > MAX_ENTRIES:
        raise TooManyEntriesInBatchRequest(f"Maximum number of entries per request are {MAX_ENTRIES}. "
                                           f"You have sent {len(entries)}.")
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry.get("Id", "")
        if not _ID_RE.match(entry_id):
            raise InvalidBatchEntryId("A batch entry id can only contain alphanumeric characters, hyphens and "
                                      "underscores. It can be at most 80 letters long.")
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)
