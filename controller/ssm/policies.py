"""Pure: parameter policies (PutParameter's ``Policies``), as Parameter Store checks and reports them.

``Policies`` is a JSON list of policies ``{"Type", "Version": "1.0", "Attributes"}``: ``Expiration`` (the
parameter is deleted at ``Attributes.Timestamp``), ``ExpirationNotification`` (``Before`` + ``Unit``) and
``NoChangeNotification`` (``After`` + ``Unit``), at most one of each. The notifications go to EventBridge on
AWS; here they are kept and reported, and only Expiration acts. Policies need the advanced tier.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from controller.errors import error

InvalidPolicyTypeException = error("InvalidPolicyTypeException")
InvalidPolicyAttributeException = error("InvalidPolicyAttributeException")

TYPES = ("Expiration", "ExpirationNotification", "NoChangeNotification")
_UNITS = ("Days", "Hours")


def _timestamp(text: Any) -> float:
    if not isinstance(text, str):
        raise InvalidPolicyAttributeException("A policy attribute or its value is invalid: Timestamp is required.")
    try:
        moment = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidPolicyAttributeException(f"A policy attribute or its value is invalid: Timestamp {text} is "
                                              "not an ISO 8601 date and time.") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=dt.UTC)).timestamp()


def _check_period(policy_type: str, attributes: dict[str, Any], member: str) -> None:
    amount, unit = attributes.get(member), attributes.get("Unit")
    if not str(amount).isdigit() or int(amount) < 1 or unit not in _UNITS:
        raise InvalidPolicyAttributeException(f"A policy attribute or its value is invalid: {policy_type} needs "
                                              f"{member} (a positive whole number) and Unit (Days or Hours).")


def parse(text: str, now: float) -> tuple[list[dict[str, str]], float | None]:
    """``(ParameterInlinePolicy list, expiry time or None)`` of a Policies text; AWS's errors otherwise."""
    try:
        document = json.loads(text)
    except ValueError:
        raise InvalidPolicyAttributeException("A policy attribute or its value is invalid: Policies must be a "
                                              "JSON list of policies.") from None
    if isinstance(document, dict):
        document = [document]
    if not isinstance(document, list) or not all(isinstance(item, dict) for item in document):
        raise InvalidPolicyAttributeException("A policy attribute or its value is invalid: Policies must be a "
                                              "JSON list of policies.")
    seen: set[str] = set()
    inline, expires_at = [], None
    for policy in document:
        policy_type = policy.get("Type")
        if policy_type not in TYPES:
            raise InvalidPolicyTypeException(
                f"The policy type {policy_type} is not supported. Parameter Store supports the following policy "
                "types: Expiration, ExpirationNotification, and NoChangeNotification.")
        if policy_type in seen:
            raise InvalidPolicyTypeException(f"A parameter can have only one {policy_type} policy.")
        seen.add(policy_type)
        attributes = policy.get("Attributes")
        if not isinstance(attributes, dict):
            raise InvalidPolicyAttributeException(f"A policy attribute or its value is invalid: {policy_type} "
                                                  "needs Attributes.")
        if policy_type == "Expiration":
            expires_at = _timestamp(attributes.get("Timestamp"))
            if expires_at <= now:
                raise InvalidPolicyAttributeException("A policy attribute or its value is invalid: the Expiration "
                                                      "Timestamp must be in the future.")
        else:
            _check_period(policy_type, attributes, "Before" if policy_type == "ExpirationNotification" else "After")
        inline.append({"PolicyText": json.dumps(policy, separators=(",", ":")), "PolicyType": policy_type,
                       "PolicyStatus": "Pending"})
    return inline, expires_at
