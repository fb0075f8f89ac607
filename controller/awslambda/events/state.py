"""Tables of Lambda's asynchronous invocation and event sources.

``lambda_async_events`` is the durable queue behind ``Invoke`` with ``InvocationType=Event``: a row is
written before Invoke answers 202 and leaves only once the event is finished (ran, went to a
destination, or was dropped), so a restart resumes what was owed. ``lambda_event_invoke_configs``
holds PutFunctionEventInvokeConfig's settings per function and qualifier, and
``lambda_event_source_mappings`` the SQS triggers, whose settings are kept as the API reads them back.
"""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, LargeBinary, String, Table, Text

from controller.state import JsonText, metadata

#: Announced when an event is queued, so the worker wakes at once.
ASYNC_TOPIC = "lambda:async"
#: Announced when a mapping changes, so the pollers follow.
MAPPINGS_TOPIC = "lambda:mappings"

async_events = Table(
    "lambda_async_events", metadata,
    Column("event_id", Integer, primary_key=True, autoincrement=True),
    Column("request_id", String(64), nullable=False),
    Column("account_id", String(12), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("invoked_arn", String(256), nullable=False),    # as the caller named it (qualified if it was)
    Column("payload", LargeBinary, nullable=False),
    Column("enqueued_at", Integer, nullable=False),        # epoch ms
    Column("due_at", Integer, nullable=False, index=True),  # epoch ms
    Column("attempts", Integer, nullable=False, default=0),  # invocations that ran (throttles not counted)
    Column("throttles", Integer, nullable=False, default=0),
    #: The last attempt's outcome (statusCode, executedVersion, functionError, responsePayload), if one ran.
    Column("last_result", JsonText),
)

event_invoke_configs = Table(
    "lambda_event_invoke_configs", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("function_name", String(64), primary_key=True),
    Column("qualifier", String(128), primary_key=True),     # "$LATEST", a version or an alias
    Column("config", JsonText, nullable=False),             # MaximumRetryAttempts, MaximumEventAgeInSeconds, ...
    Column("last_modified", Float, nullable=False),         # epoch seconds
)

event_source_mappings = Table(
    "lambda_event_source_mappings", metadata,
    Column("uuid", String(36), primary_key=True),
    Column("account_id", String(12), nullable=False, index=True),
    Column("region", String(32), nullable=False),
    Column("function_name", String(64), nullable=False),
    Column("function_arn", String(256), nullable=False),   # qualified when the mapping names a version or alias
    Column("event_source_arn", String(256), nullable=False),
    Column("enabled", Integer, nullable=False),
    Column("config", JsonText, nullable=False),             # BatchSize, window, FunctionResponseTypes, ...
    Column("last_modified", Float, nullable=False),
    Column("last_result", Text, nullable=False, default="No records processed"),
)
