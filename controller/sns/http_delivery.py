"""Delivery to HTTP/HTTPS endpoints as SNS does it: the POST, the confirmation handshake, the retry schedule.

SNS POSTs each message as a JSON document with ``Content-Type: text/plain; charset=UTF-8``, the
``x-amz-sns-message-type``, ``-message-id``, ``-topic-arn`` (and ``-subscription-arn`` for notifications)
headers and ``User-Agent: Amazon Simple Notification Service Agent``; a 2xx answer delivers it, 4xx is a
permanent failure, and 1xx/5xx, timeouts and connection errors (a certificate that does not verify
included) are retried by the delivery policy (docs.aws.amazon.com/sns/latest/dg/SendMessageToHttp.prepare.html,
DeliveryPolicies.html). HTTPS endpoints must present a certificate the system trusts, or one that
``sns_https_ca_bundle`` (cloudlet.json) trusts. ``https://user:password@host/`` endpoints get basic auth.
A new HTTP/S subscription is confirmed by the endpoint visiting the SubscribeURL of a signed
SubscriptionConfirmation (or calling ConfirmSubscription with its token).
"""

from __future__ import annotations

import base64
import datetime
import http.client
import json
import ssl
import uuid
from typing import TYPE_CHECKING, Any
from urllib.parse import quote, unquote, urlsplit

from controller.sns.signing import sign

if TYPE_CHECKING:
    from controller.cloud import Cloud

USER_AGENT = "Amazon Simple Notification Service Agent"
CONTENT_TYPE = "text/plain; charset=UTF-8"
#: AWS's request timeout for HTTP/S deliveries.
DEFAULT_TIMEOUT = 15.0
#: The API version that lets an unsigned SubscribeURL visit reach SNS's ConfirmSubscription.
SNS_API_VERSION = "2010-03-31"
#: AWS's hard limit on the total time of an HTTP/S retry policy.
MAX_RETRY_SECONDS = 3600.0
#: SNS's default HTTP/S retry policy: 3 retries, 20 seconds apart.
DEFAULT_RETRY_POLICY = {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numNoDelayRetries": 0,
                        "numMinDelayRetries": 0, "numMaxDelayRetries": 0, "backoffFunction": "linear"}


def deliver_http(cloud: Cloud, endpoint: str, document: dict[str, Any] | str, headers: dict[str, str],
                 timeout: float = DEFAULT_TIMEOUT) -> int:
    """POST one message to ``endpoint``; the HTTP status, or 0 when no response came.

    ``document`` is the signed JSON document, or the message itself (a string) for raw message delivery;
    ``headers`` are added to SNS's own (the caller's win), e.g. ``x-amz-sns-subscription-arn``.
    """
    url = urlsplit(endpoint)
    request_headers = {"Content-Type": CONTENT_TYPE, "User-Agent": USER_AGENT, "Connection": "close"}
    if isinstance(document, dict):
        body = json.dumps(document, indent=2, separators=(",", " : "), ensure_ascii=False)
        request_headers.update({"x-amz-sns-message-type": document.get("Type", ""),
                                "x-amz-sns-message-id": document.get("MessageId", ""),
                                "x-amz-sns-topic-arn": document.get("TopicArn", "")})
    else:
        body = document
    if url.username is not None:
        credentials = f"{unquote(url.username)}:{unquote(url.password or '')}".encode()
        request_headers["Authorization"] = "Basic " + base64.b64encode(credentials).decode("ascii")
    request_headers.update(headers)
    path = (url.path or "/") + (f"?{url.query}" if url.query else "")
    try:
        connection = _connection(cloud, url.scheme, url.hostname or "", url.port, timeout)
        try:
            connection.request("POST", path, body=body.encode("utf-8"), headers=request_headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()
    except (OSError, http.client.HTTPException, ValueError):
        return 0


def _connection(cloud: Cloud, scheme: str, host: str, port: int | None,
                timeout: float) -> http.client.HTTPConnection:
    if scheme == "http":
        return http.client.HTTPConnection(host, port, timeout=timeout)
    if scheme != "https":
        raise ValueError(f"not an HTTP/S endpoint: {scheme}")
    context = ssl.create_default_context()
    if cloud.config.sns_https_ca_bundle:
        context.load_verify_locations(cloud.config.sns_https_ca_bundle)
    return http.client.HTTPSConnection(host, port, timeout=timeout, context=context)


def outcome(status: int) -> str:
    """What a delivery attempt's status means to SNS: ``delivered``, ``retry`` or ``failed`` (for good)."""
    if 200 <= status < 300:
        return "delivered"
    if status == 0 or status < 200 or status >= 500:
        return "retry"
    return "failed"


def timestamp(now: datetime.datetime | None = None) -> str:
    """SNS's Timestamp form: ISO 8601 UTC with milliseconds, e.g. ``2012-04-26T20:45:04.751Z``."""
    moment = now or datetime.datetime.now(datetime.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def confirmation_document(cloud: Cloud, subscription: dict[str, Any]) -> dict[str, Any]:
    """The unsigned SubscriptionConfirmation of an HTTP/S subscription, in AWS's field order."""
    topic_arn, token = subscription["topic_arn"], subscription["token"]
    subscribe_url = (f"{cloud.config.endpoint_url}/?Action=ConfirmSubscription&TopicArn={quote(topic_arn, safe='')}"
                     f"&Token={quote(token, safe='')}&Version={SNS_API_VERSION}")
    return {"Type": "SubscriptionConfirmation", "MessageId": str(uuid.uuid4()), "Token": token,
            "TopicArn": topic_arn,
            "Message": f"You have chosen to subscribe to the topic {topic_arn}.\n"
                       "To confirm the subscription, visit the SubscribeURL included in this message.",
            "SubscribeURL": subscribe_url, "Timestamp": timestamp()}


def send_confirmation(cloud: Cloud, subscription: dict[str, Any]) -> int:
    """POST the signed SubscriptionConfirmation to the subscription's endpoint once; the HTTP status (0: none).

    ``subscription`` has ``subscription_arn``, ``topic_arn``, ``endpoint``, ``token``, ``account_id``, ``raw``
    and optionally ``signature_version`` (the topic's SignatureVersion, "1" by default). A confirmation is
    always the JSON document, even for raw-delivery subscriptions.
    """
    document = sign(cloud, confirmation_document(cloud, subscription),
                    str(subscription.get("signature_version") or "1"))
    return deliver_http(cloud, subscription["endpoint"], document, {}, DEFAULT_TIMEOUT)


def retry_delays(policy: dict[str, Any]) -> list[float]:
    """Seconds to wait before each retry of a failed HTTP/S delivery, for a ``healthyRetryPolicy``.

    AWS's phases: ``numNoDelayRetries`` at once, ``numMinDelayRetries`` at ``minDelayTarget``, then the
    backoff phase (what is left of ``numRetries``) from ``minDelayTarget`` for its first retry to
    ``maxDelayTarget`` for its last, then ``numMaxDelayRetries`` at ``maxDelayTarget``; nothing past
    3,600 seconds in all (sns-message-delivery-retries.html). AWS names the backoff shapes but documents
    only their ends; between them: linear steps, arithmetic (growing steps, a square), geometric (a cube)
    and exponential (a constant ratio).
    """
    settings = {**DEFAULT_RETRY_POLICY, **policy}
    minimum, maximum = float(settings["minDelayTarget"]), float(settings["maxDelayTarget"])
    total = int(settings["numRetries"])
    immediate, at_minimum, at_maximum = (int(settings["numNoDelayRetries"]), int(settings["numMinDelayRetries"]),
                                         int(settings["numMaxDelayRetries"]))
    backoff = max(total - immediate - at_minimum - at_maximum, 0)
    shape = settings["backoffFunction"]
    phase = [_backoff_delay(shape, minimum, maximum, step / (backoff - 1)) if backoff > 1 else minimum
             for step in range(backoff)]
    schedule = ([0.0] * immediate + [minimum] * at_minimum + phase + [maximum] * at_maximum)[:total]
    delays, elapsed = [], 0.0
    for delay in schedule:
        elapsed += delay
        if elapsed > MAX_RETRY_SECONDS:
            break
        delays.append(round(delay, 3))
    return delays


def _backoff_delay(shape: str, minimum: float, maximum: float, fraction: float) -> float:
    """The delay ``fraction`` of the way through the backoff phase (0: its first retry, 1: its last)."""
    if shape == "exponential" and minimum > 0:
        return minimum * (maximum / minimum) ** fraction
    power = {"arithmetic": 2, "geometric": 3}.get(shape, 1)
    return minimum + (maximum - minimum) * fraction ** power
