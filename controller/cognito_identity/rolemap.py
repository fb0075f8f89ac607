"""Pure: which role an authenticated identity gets, by AWS's identity pool role-mapping rules.

A mapping of type ``Token`` takes ``cognito:preferred_role`` (or, with a requested ``CustomRoleArn``,
that role when it is among ``cognito:roles``); ``Rules`` takes the first rule whose claim matches
(Equals, Contains, StartsWith, NotEqual). Without a match, ``AmbiguousRoleResolution`` decides:
``AuthenticatedRole`` (the pool's authenticated role) or ``Deny`` (None).
"""

from __future__ import annotations

from typing import Any

MATCHERS = {
    "Equals": lambda claim, value: claim == value,
    "NotEqual": lambda claim, value: claim != value,
    "StartsWith": lambda claim, value: claim.startswith(value),
    "Contains": lambda claim, value: value in claim,
}


def _claim_text(value: Any) -> str:
    return " ".join(str(item) for item in value) if isinstance(value, list) else str(value)


def mapped_role(mapping: dict[str, Any] | None, claims: dict[str, Any], authenticated_role: str | None,
                custom_role: str | None = None) -> str | None:
    """The role for ``claims`` under ``mapping`` (None: deny); no mapping: the authenticated role."""
    if not mapping:
        roles = claims.get("cognito:roles") or []
        return custom_role if custom_role and custom_role in roles else authenticated_role
    chosen: str | None = None
    if mapping.get("Type") == "Token":
        roles = claims.get("cognito:roles") or []
        if custom_role and custom_role in roles:
            chosen = custom_role
        elif isinstance(claims.get("cognito:preferred_role"), str):
            chosen = claims["cognito:preferred_role"]
    elif mapping.get("Type") == "Rules":
        for rule in (mapping.get("RulesConfiguration") or {}).get("Rules") or []:
            claim = claims.get(rule.get("Claim", ""))
            matcher = MATCHERS.get(rule.get("MatchType", ""))
            if claim is not None and matcher and matcher(_claim_text(claim), rule.get("Value", "")):
                chosen = rule.get("RoleARN")
                break
    if chosen:
        return chosen
    return authenticated_role if mapping.get("AmbiguousRoleResolution") == "AuthenticatedRole" else None
