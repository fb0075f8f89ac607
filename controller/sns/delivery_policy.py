"""Delivery policies: their validation, and how long SNS waits before each retry.

The phases and limits are AWS's (https://docs.aws.amazon.com/sns/latest/dg/sns-message-delivery-retries.html):
HTTP/S endpoints use the topic's or the subscription's policy (3 retries 20 s apart by default; the
schedule itself is ``http_delivery.retry_delays``); AWS-managed endpoints (SQS, Lambda) a fixed policy
of 100,015 retries over 23 days. Pure functions.
"""

from __future__ import annotations

import json
from typing import Any

DEFAULT_HTTP_RETRY = {"minDelayTarget": 20, "maxDelayTarget": 20, "numRetries": 3, "numMaxDelayRetries": 0,
                      "numNoDelayRetries": 0, "numMinDelayRetries": 0, "backoffFunction": "linear"}
#: What GetTopicAttributes shows as EffectiveDeliveryPolicy when the topic sets none.
DEFAULT_EFFECTIVE = {"http": {"defaultHealthyRetryPolicy": DEFAULT_HTTP_RETRY, "disableSubscriptionOverrides": False,
                              "defaultRequestPolicy": {"headerContentType": "text/plain; charset=UTF-8"}}}
BACKOFF_FUNCTIONS = ("arithmetic", "exponential", "geometric", "linear")
_COUNTS = ("numRetries", "numNoDelayRetries", "numMinDelayRetries", "numMaxDelayRetries")


class PolicyInvalid(ValueError):
    """A delivery policy SNS refuses; the message says why."""


def parse(text: str, *, topic: bool) -> dict[str, Any]:
    """The policy document, checked; a topic's has ``defaultHealthyRetryPolicy``, a subscription's
    ``healthyRetryPolicy``, each under the ``http`` key for a topic."""
    try:
        document = json.loads(text)
    except ValueError:
        raise PolicyInvalid("failed to parse JSON.") from None
    if not isinstance(document, dict):
        raise PolicyInvalid("the policy must be a JSON object.")
    http = document.get("http", {}) if topic else document
    if not isinstance(http, dict):
        raise PolicyInvalid("http must be a JSON object.")
    retry = http.get("defaultHealthyRetryPolicy" if topic else "healthyRetryPolicy")
    if retry is not None:
        check_retry_policy(retry)
    throttle = http.get("throttlePolicy" if not topic else "defaultThrottlePolicy")
    if throttle is not None:
        rate = throttle.get("maxReceivesPerSecond") if isinstance(throttle, dict) else None
        if not isinstance(rate, int) or rate < 1:
            raise PolicyInvalid("maxReceivesPerSecond must be an integer of at least 1.")
    return document


def check_retry_policy(retry: Any) -> None:
    if not isinstance(retry, dict):
        raise PolicyInvalid("the retry policy must be a JSON object.")
    policy = {**DEFAULT_HTTP_RETRY, **retry}
    for name in (*_COUNTS, "minDelayTarget", "maxDelayTarget"):
        if not isinstance(policy[name], int) or policy[name] < 0:
            raise PolicyInvalid(f"{name} must be a non-negative integer.")
    if policy["numRetries"] > 100:
        raise PolicyInvalid("numRetries must be at most 100.")
    if not 1 <= policy["minDelayTarget"] <= policy["maxDelayTarget"] <= 3600:
        raise PolicyInvalid("minDelayTarget must be at least 1 and at most maxDelayTarget, "
                            "and maxDelayTarget at most 3600.")
    if sum(policy[name] for name in _COUNTS[1:]) > policy["numRetries"]:
        raise PolicyInvalid("numNoDelayRetries, numMinDelayRetries and numMaxDelayRetries together exceed "
                            "numRetries.")
    if policy["backoffFunction"] not in BACKOFF_FUNCTIONS:
        raise PolicyInvalid(f"backoffFunction must be one of {', '.join(BACKOFF_FUNCTIONS)}.")


def http_retry_policy(topic_policy: str | None, subscription_policy: str | None) -> dict[str, Any]:
    """The retry policy an HTTP/S subscription gets: its own, unless the topic forbids overrides."""
    topic_http = json.loads(topic_policy).get("http", {}) if topic_policy else {}
    retry = {**DEFAULT_HTTP_RETRY, **topic_http.get("defaultHealthyRetryPolicy", {})}
    if subscription_policy and not topic_http.get("disableSubscriptionOverrides", False):
        retry.update(json.loads(subscription_policy).get("healthyRetryPolicy", {}))
    return retry


def managed_retry_delay(retry: int) -> float | None:
    """Seconds before retry number ``retry`` (1 is the first) to an AWS-managed endpoint; None when none is left.

    AWS's fixed policy: 3 retries at once, 2 one second apart, 10 backing off exponentially from 1 to
    20 seconds, then 100,000 retries 20 seconds apart.
    """
    if retry <= 3:
        return 0.0
    if retry <= 5:
        return 1.0
    if retry <= 15:
        return round(20 ** ((retry - 6) / 9), 3)
    return 20.0 if retry <= 100_015 else None
