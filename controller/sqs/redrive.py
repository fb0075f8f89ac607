"""Dead-letter queues: which redrive settings are allowed, and moving a message that was received too often.

A RedrivePolicy must name an existing queue of the same type, account and region whose
RedriveAllowPolicy lets this queue in (allowAll by default, denyAll, or byQueue with a list of
source ARNs): https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/sqs-dead-letter-queues.html
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection

from controller.api import RequestContext
from controller.sqs import queue_attributes, records
from controller.sqs.errors import invalid_value
from controller.sqs.paging import next_token, token_name
from controller.sqs.records import queue_url, url_resources
from controller.sqs.service import api


def check_settings(conn: Connection, ctx: RequestContext, arn: str, fifo: bool, attributes: dict[str, str]) -> None:
    """Refuse a RedrivePolicy whose target is missing, of another type, or does not allow this queue."""
    target = queue_attributes.redrive_target(attributes)
    if target is None:
        return
    target_arn, _ = target
    policy_text = attributes["RedrivePolicy"]
    parsed = records.parse_arn(target_arn)
    dead_letter = records.find_by_arn(conn, ctx.cloud, target_arn) if parsed else None
    if dead_letter is None or target_arn == arn:
        raise invalid_value("RedrivePolicy", policy_text, "Dead letter target does not exist.")
    if dead_letter.fifo != fifo:
        raise invalid_value("RedrivePolicy", policy_text, "Dead-letter queue must be same type of queue as the "
                            "source.")
    if dead_letter.account_id != records.parse_arn(arn)[1]:  # type: ignore[index]
        raise invalid_value("RedrivePolicy", policy_text, "Dead-letter target owner should be same as the source.")
    if not allows_source(dead_letter.attributes, arn):
        raise invalid_value("RedrivePolicy", policy_text, "Queue " + arn + " does not have permission to use "
                            f"{target_arn} as its dead-letter queue: its RedriveAllowPolicy does not allow it.")


def allows_source(dead_letter_attributes: dict[str, str], source_arn: str) -> bool:
    """Whether a dead-letter queue's RedriveAllowPolicy admits ``source_arn`` (pure)."""
    text = dead_letter_attributes.get("RedriveAllowPolicy")
    if not text:
        return True
    document = json.loads(text)
    permission = document["redrivePermission"]
    if permission == "allowAll":
        return True
    if permission == "denyAll":
        return False
    return source_arn in document.get("sourceQueueArns", [])



@api.operation("ListDeadLetterSourceQueues", resources=url_resources)
def list_dead_letter_source_queues(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    limit = params.get("MaxResults")
    if limit is not None and not 1 <= limit <= 1000:
        raise invalid_value("MaxResults", limit, "MaxResults must be an integer between 1 and 1000.")
    after = token_name(params.get("NextToken"))
    with ctx.cloud.db.read() as conn:
        queue = records.by_url(conn, ctx, params["QueueUrl"])
        names = source_names(conn, queue)
    names = [name for name in names if name > after]
    page = names[:limit or 1000]
    result: dict[str, Any] = {"queueUrls": [queue_url(ctx, queue.account_id, name) for name in page]}
    if limit is not None and len(names) > len(page):
        result["NextToken"] = next_token(page[-1])
    return result


def source_names(conn: Connection, dead_letter: records.Queue) -> list[str]:
    """The names of the queues whose RedrivePolicy targets ``dead_letter``, sorted."""
    return [row[0] for row in conn.exec_driver_sql(
        "SELECT name FROM sqs_queues WHERE account_id = ? AND region = ? AND json_extract(json_extract(attributes,"
        " '$.RedrivePolicy'), '$.deadLetterTargetArn') = ? ORDER BY name",
        (dead_letter.account_id, dead_letter.region, dead_letter.arn))]
