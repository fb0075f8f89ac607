"""Event source mappings from SQS: Create/Get/Update/Delete/ListEventSourceMappings.

Following https://docs.aws.amazon.com/lambda/latest/dg/with-sqs.html and the API reference
(https://docs.aws.amazon.com/lambda/latest/api/API_CreateEventSourceMapping.html): a mapping joins one
queue to one function (or version or alias), polled with the execution role, which must be allowed
``sqs:ReceiveMessage``, ``sqs:DeleteMessage`` and ``sqs:GetQueueAttributes``. BatchSize is 1-10,000 (10 by
default, at most 10 for a FIFO queue), above 10 only with a MaximumBatchingWindowInSeconds of at least
one second; the queue's visibility timeout may not be shorter than the function's timeout. A mapping
answers its transitional state (Creating, Updating, Enabling, Disabling, Deleting) to the call that
changed it and its settled one (Enabled, Disabled) afterwards: the pollers follow at once.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import select

from controller.api import RequestContext, ResourceInfo
from controller.awslambda import lookup, records
from controller.awslambda.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from controller.awslambda.events import event_filters, state
from controller.awslambda.events.role_access import role_allows
from controller.awslambda.lookup import Target
from controller.awslambda.service import api
from controller.sqs import records as sqs_records
from controller.state import Database

DEFAULT_BATCH = 10
MAX_FIFO_BATCH = 10
DEFAULT_PAGE = 100
_ROLE_ACTIONS = ("ReceiveMessage", "DeleteMessage", "GetQueueAttributes")
#: Settings of other event sources (streams, Kafka, MQ, DocumentDB) that an SQS mapping refuses.
_NOT_FOR_SQS = ("StartingPosition", "StartingPositionTimestamp", "ParallelizationFactor", "DestinationConfig",
                "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError", "MaximumRetryAttempts",
                "TumblingWindowInSeconds", "Topics", "Queues", "SourceAccessConfigurations", "SelfManagedEventSource",
                "AmazonManagedKafkaEventSourceConfig", "SelfManagedKafkaEventSourceConfig",
                "DocumentDBEventSourceConfig", "ProvisionedPollerConfig")
#: What a mapping keeps of its input and reads back.
_KEPT = ("BatchSize", "MaximumBatchingWindowInSeconds", "FunctionResponseTypes", "ScalingConfig", "FilterCriteria",
         "KMSKeyArn", "MetricsConfig")


def mapping_arn(region: str, account_id: str, mapping_uuid: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:event-source-mapping:{mapping_uuid}"


def _function_condition(ctx: RequestContext, params: dict[str, Any]) -> None:
    """Set ``lambda:FunctionArn`` (the Service Authorization Reference's key for mapping calls): the function
    the request names, else the one the mapping invokes now."""
    if params.get("FunctionName"):
        [arn] = records.resources(ctx, {"FunctionName": params["FunctionName"]})
        ctx.condition_keys["lambda:FunctionArn"] = arn
    elif params.get("UUID"):
        t = state.event_source_mappings
        with ctx.cloud.db.read() as conn:
            current = conn.execute(select(t.c.function_arn).where(
                t.c.uuid == params["UUID"], t.c.account_id == ctx.account_id)).scalar()
        if current:
            ctx.condition_keys["lambda:FunctionArn"] = current


def _resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    """A mapping call's resource (the mapping's ARN; ``*`` for create and list), with its condition key."""
    _function_condition(ctx, params)
    if params.get("UUID"):
        return [mapping_arn(ctx.region, ctx.account_id, params["UUID"])]
    return ["*"]


def render(row: dict[str, Any], state_name: str | None = None) -> dict[str, Any]:
    """The EventSourceMappingConfiguration of a row (in ``state_name`` when a call just changed it)."""
    config = row["config"]
    output: dict[str, Any] = {
        "UUID": row["uuid"], "BatchSize": config["BatchSize"],
        "MaximumBatchingWindowInSeconds": config["MaximumBatchingWindowInSeconds"],
        "EventSourceArn": row["event_source_arn"], "FunctionArn": row["function_arn"],
        "LastModified": row["last_modified"],
        "State": state_name or ("Enabled" if row["enabled"] else "Disabled"),
        "StateTransitionReason": "USER_INITIATED", "FunctionResponseTypes": config.get("FunctionResponseTypes") or [],
        "EventSourceMappingArn": mapping_arn(row["region"], row["account_id"], row["uuid"])}
    for member in ("ScalingConfig", "FilterCriteria", "KMSKeyArn", "MetricsConfig"):
        if config.get(member):
            output[member] = config[member]
    return output


def _check_source(arn: str | None) -> None:
    if not arn:
        raise InvalidParameterValueException("Unrecognized event source, must be kinesis, dynamodb stream, sqs, "
                                             "kafka, mq or documentdb.")
    service = arn.split(":")[2] if arn.count(":") >= 5 else ""
    if service in ("kinesis", "dynamodb", "kafka", "mq", "rds", "docdb-elastic"):
        raise InvalidParameterValueException(f"Event sources of {service} are not served by this cloud: only SQS "
                                             f"queues can trigger functions here ({arn}).")
    if service != "sqs" or sqs_records.parse_arn(arn) is None:
        raise InvalidParameterValueException("Unrecognized event source, must be kinesis, dynamodb stream, sqs, "
                                             "kafka, mq or documentdb.")


def _settings(params: dict[str, Any], current: dict[str, Any] | None, fifo: bool) -> dict[str, Any]:
    """The mapping's settings after ``params`` (over ``current`` on update), checked as Lambda checks them."""
    for member in _NOT_FOR_SQS:
        if params.get(member) is not None:
            raise InvalidParameterValueException(f"Unsupported {member} parameter for given event source.")
    config = dict(current or {"BatchSize": DEFAULT_BATCH, "MaximumBatchingWindowInSeconds": 0})
    config.update({member: params[member] for member in _KEPT if params.get(member) is not None})
    batch, window = config["BatchSize"], config["MaximumBatchingWindowInSeconds"]
    if fifo and batch > MAX_FIFO_BATCH:
        raise InvalidParameterValueException(f"Batch size cannot be greater than {MAX_FIFO_BATCH} for an SQS FIFO "
                                             "queue.")
    if fifo and window:
        raise InvalidParameterValueException("Batching window is not supported for FIFO queues.")
    if batch > 10 and window < 1:
        raise InvalidParameterValueException("Maximum batch window in seconds must be greater than 0 if maximum "
                                             "batch size is greater than 10")
    event_filters.check_criteria(config.get("FilterCriteria"))
    return config


def _check_queue(ctx: RequestContext, queue_arn: str, target: Target) -> bool:
    """That the queue exists, the role may poll it and its visibility timeout covers the function; FIFO or not."""
    with ctx.cloud.db.read() as conn:
        queue = sqs_records.find_by_arn(conn, ctx.cloud, queue_arn)
    if queue is None:
        raise InvalidParameterValueException(
            "Error occurred while ReceiveMessage. SQS Error Code: AWS.SimpleQueueService.NonExistentQueue. SQS Error "
            "Message: The specified queue does not exist or you do not have access to it.")
    version = lookup.load_version(ctx.cloud, target.account_id, target.function_name, target.routes[0][0])
    info = ResourceInfo(owner_account=queue.account_id, policy=queue.attributes.get("Policy"), tags=queue.tags)
    for action in _ROLE_ACTIONS:
        if not role_allows(ctx.cloud, version.role_arn, f"sqs:{action}", queue_arn, info):
            raise InvalidParameterValueException(f"The provided execution role does not have permissions to call "
                                                 f"{action} on SQS")
    visibility = queue.int_attribute("VisibilityTimeout")
    if visibility < version.timeout_s:
        raise InvalidParameterValueException(f"Queue visibility timeout: {visibility} seconds is less than Function "
                                             f"timeout: {version.timeout_s} seconds")
    return queue.fifo


def _find(ctx: RequestContext, mapping_uuid: str) -> dict[str, Any]:
    t = state.event_source_mappings
    with ctx.cloud.db.read() as conn:
        row = conn.execute(select(t).where(t.c.uuid == mapping_uuid, t.c.account_id == ctx.account_id,
                                           t.c.region == ctx.region)).mappings().first()
    if row is None:
        raise ResourceNotFoundException("The resource you requested does not exist.")
    return dict(row)


@api.operation("CreateEventSourceMapping", resources=_resources)
def create_event_source_mapping(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    if params.get("Tags"):
        raise InvalidParameterValueException("Tags on event source mappings are not supported by this cloud.")
    _check_source(params.get("EventSourceArn"))
    queue_arn = params["EventSourceArn"]
    target = lookup.resolve_target(ctx.cloud, ctx.account_id, params["FunctionName"], None)
    fifo = _check_queue(ctx, queue_arn, target)
    config = _settings(params, None, fifo)
    t = state.event_source_mappings
    row = {"uuid": str(uuid.uuid4()), "account_id": ctx.account_id, "region": ctx.region,
           "function_name": target.function_name, "function_arn": target.invoked_arn,
           "event_source_arn": queue_arn, "enabled": int(params.get("Enabled", True) is not False),
           "config": config, "last_modified": time.time(), "last_result": "No records processed"}
    with ctx.cloud.db.begin() as conn:
        existing = conn.execute(select(t.c.uuid).where(t.c.event_source_arn == queue_arn,
                                                       t.c.function_arn == target.invoked_arn)).scalar()
        if existing:
            raise ResourceConflictException(
                f'An event source mapping with SQS arn (" {queue_arn} ") and function (" {target.function_name} ") '
                f"already exists. Please update or delete the existing mapping with UUID {existing}")
        conn.execute(t.insert().values(**row))
        Database.announce(conn, state.MAPPINGS_TOPIC)
    ctx.audit_resources.append(mapping_arn(ctx.region, ctx.account_id, row["uuid"]))
    return render(row, "Creating")


@api.operation("GetEventSourceMapping", resources=_resources)
def get_event_source_mapping(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    return render(_find(ctx, params["UUID"]))


@api.operation("UpdateEventSourceMapping", resources=_resources)
def update_event_source_mapping(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _find(ctx, params["UUID"])
    if params.get("FunctionName"):
        target = lookup.resolve_target(ctx.cloud, ctx.account_id, params["FunctionName"], None)
    else:
        target = lookup.resolve_target(ctx.cloud, row["account_id"], row["function_arn"], None)
    fifo = _check_queue(ctx, row["event_source_arn"], target)
    config = _settings(params, row["config"], fifo)
    enabled = row["enabled"] if params.get("Enabled") is None else int(params["Enabled"])
    transition = ("Updating" if enabled == row["enabled"] else "Enabling" if enabled else "Disabling")
    values = {"function_name": target.function_name, "function_arn": target.invoked_arn, "enabled": enabled,
              "config": config, "last_modified": time.time()}
    t = state.event_source_mappings
    with ctx.cloud.db.begin() as conn:
        conn.execute(t.update().where(t.c.uuid == row["uuid"]).values(**values))
        Database.announce(conn, state.MAPPINGS_TOPIC)
    return render({**row, **values}, transition)


@api.operation("DeleteEventSourceMapping", resources=_resources)
def delete_event_source_mapping(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    row = _find(ctx, params["UUID"])
    t = state.event_source_mappings
    with ctx.cloud.db.begin() as conn:
        conn.execute(t.delete().where(t.c.uuid == row["uuid"]))
        Database.announce(conn, state.MAPPINGS_TOPIC)
    return render(row, "Deleting")


@api.operation("ListEventSourceMappings", resources=lambda ctx, params: ["*"])
def list_event_source_mappings(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    t = state.event_source_mappings
    query = select(t).where(t.c.account_id == ctx.account_id, t.c.region == ctx.region).order_by(t.c.uuid)
    if params.get("EventSourceArn"):
        query = query.where(t.c.event_source_arn == params["EventSourceArn"])
    if params.get("FunctionName"):
        target = lookup.resolve_target(ctx.cloud, ctx.account_id, params["FunctionName"], None)
        query = query.where(t.c.function_name == target.function_name)
        if target.invoked_arn != target.function_arn:
            query = query.where(t.c.function_arn == target.invoked_arn)
    with ctx.cloud.db.read() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    start = 0
    if params.get("Marker"):
        positions = [i for i, row in enumerate(rows) if row["uuid"] == params["Marker"]]
        if not positions:
            raise InvalidParameterValueException(f"Invalid marker: {params['Marker']}")
        start = positions[0]
    limit = params.get("MaxItems") or DEFAULT_PAGE
    output: dict[str, Any] = {"EventSourceMappings": [render(row) for row in rows[start:start + limit]]}
    if start + limit < len(rows):
        output["NextMarker"] = rows[start + limit]["uuid"]
    return output
