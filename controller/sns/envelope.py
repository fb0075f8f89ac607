"""What an endpoint receives: AWS's JSON notification documents and raw payloads. Pure functions.

The notification document's fields and order are those of AWS's HTTP/S and SQS deliveries
(https://docs.aws.amazon.com/sns/latest/dg/sns-message-and-json-formats.html); signing is
``signing.sign``'s job. With ``MessageStructure=json`` each protocol gets its own key of the
message, else ``default``.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
from typing import Any
from urllib.parse import urlencode

#: The order AWS writes a notification's fields in.
_FIELD_ORDER = ("Type", "MessageId", "Token", "SequenceNumber", "TopicArn", "Subject", "Message", "SubscribeURL",
                "Timestamp", "SignatureVersion", "Signature", "SigningCertURL", "UnsubscribeURL", "MessageAttributes")


def timestamp(ms: int) -> str:
    """AWS's notification time: ISO 8601 in UTC with milliseconds."""
    moment = dt.datetime.fromtimestamp(ms / 1000, dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


def payload_for(message: dict[str, Any], protocol: str) -> str:
    """The message text ``protocol`` receives: its own key of a json-structured message, else ``default``."""
    if message.get("structure") != "json":
        return message["message"]
    per_protocol = json.loads(message["message"])
    return per_protocol.get(protocol, per_protocol["default"])


#: The URLs SNS sends carry the API version: an unsigned GET is routed to SNS by it (AWS routes by host name).
_VERSION = "2010-03-31"


def unsubscribe_url(endpoint_url: str, subscription_arn: str) -> str:
    return f"{endpoint_url}/?" + urlencode({"Action": "Unsubscribe", "SubscriptionArn": subscription_arn,
                                            "Version": _VERSION})


def subscribe_url(endpoint_url: str, topic_arn: str, token: str) -> str:
    return f"{endpoint_url}/?" + urlencode({"Action": "ConfirmSubscription", "TopicArn": topic_arn, "Token": token,
                                            "Version": _VERSION})


def notification(message: dict[str, Any], *, message_id: str, topic_arn: str, text: str, subscription_arn: str,
                 endpoint_url: str, signature_version: str) -> dict[str, Any]:
    """The unsigned Notification document (SignatureVersion set; ``signing.sign`` adds the signature)."""
    document: dict[str, Any] = {"Type": "Notification", "MessageId": message_id}
    if message.get("sequence_number"):
        document["SequenceNumber"] = message["sequence_number"]
    document["TopicArn"] = topic_arn
    if message.get("subject") is not None:
        document["Subject"] = message["subject"]
    document.update({"Message": text, "Timestamp": timestamp(message["published_at"]),
                     "SignatureVersion": signature_version,
                     "UnsubscribeURL": unsubscribe_url(endpoint_url, subscription_arn)})
    if message.get("attributes"):
        document["MessageAttributes"] = envelope_attributes(message["attributes"])
    return document


def confirmation(*, message_id: str, topic_arn: str, token: str, endpoint_url: str, signature_version: str,
                 now_ms: int) -> dict[str, Any]:
    """The unsigned SubscriptionConfirmation document an endpoint's owner confirms from."""
    return {"Type": "SubscriptionConfirmation", "MessageId": message_id, "Token": token, "TopicArn": topic_arn,
            "Message": f"You have chosen to subscribe to the topic {topic_arn}.\nTo confirm the subscription, "
                       "visit the SubscribeURL included in this message.",
            "SubscribeURL": subscribe_url(endpoint_url, topic_arn, token), "Timestamp": timestamp(now_ms),
            "SignatureVersion": signature_version}


def ordered(document: dict[str, Any]) -> dict[str, Any]:
    """The document's fields in AWS's order (a signed document gets its signature fields last otherwise)."""
    known = {name: document[name] for name in _FIELD_ORDER if name in document}
    return {**known, **{name: value for name, value in document.items() if name not in known}}


def envelope_attributes(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, str]]:
    """Message attributes as the notification document shows them: ``{"Type": ..., "Value": ...}``."""
    shown = {}
    for name, value in attributes.items():
        if "BinaryValue" in value:
            shown[name] = {"Type": value["DataType"], "Value": value["BinaryValue"]}
        else:
            shown[name] = {"Type": value["DataType"], "Value": value["StringValue"]}
    return shown


def sqs_attributes(attributes: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """Message attributes as a raw delivery hands them to SQS (binary values back to bytes)."""
    converted: dict[str, dict[str, Any]] = {}
    for name, value in attributes.items():
        if "BinaryValue" in value:
            converted[name] = {"DataType": value["DataType"], "BinaryValue": base64.b64decode(value["BinaryValue"])}
        else:
            converted[name] = {"DataType": value["DataType"], "StringValue": value["StringValue"]}
    return converted


def http_headers(document: dict[str, Any], subscription_arn: str, raw: bool) -> dict[str, str]:
    """The ``x-amz-sns-*`` headers of an HTTP/S delivery."""
    headers = {"x-amz-sns-message-type": document["Type"], "x-amz-sns-message-id": document["MessageId"],
               "x-amz-sns-topic-arn": document["TopicArn"], "Content-Type": "text/plain; charset=UTF-8"}
    if document["Type"] == "Notification":
        headers["x-amz-sns-subscription-arn"] = subscription_arn
    if raw:
        headers["x-amz-sns-rawdelivery"] = "true"
    return headers
