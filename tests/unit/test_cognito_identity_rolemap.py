"""Identity pools' role mapping (pure): Token (preferred role, a custom role among cognito:roles) and Rules."""

from __future__ import annotations

from controller.cognito_identity.rolemap import mapped_role

AUTH, ADMIN, DEV = "arn:aws:iam::1:role/auth", "arn:aws:iam::1:role/admin", "arn:aws:iam::1:role/dev"
CLAIMS = {"cognito:preferred_role": ADMIN, "cognito:roles": [ADMIN, DEV], "email": "a@corp.example",
          "cognito:groups": ["admins", "devs"]}


def test_no_mapping_gives_the_authenticated_role_or_a_custom_role_among_the_tokens() -> None:
    assert mapped_role(None, CLAIMS, AUTH) == AUTH
    assert mapped_role(None, CLAIMS, AUTH, custom_role=DEV) == DEV
    assert mapped_role(None, CLAIMS, AUTH, custom_role="arn:aws:iam::1:role/other") == AUTH


def test_token_mapping() -> None:
    token = {"Type": "Token", "AmbiguousRoleResolution": "Deny"}
    assert mapped_role(token, CLAIMS, AUTH) == ADMIN
    assert mapped_role(token, CLAIMS, AUTH, custom_role=DEV) == DEV
    assert mapped_role(token, {}, AUTH) is None
    assert mapped_role({**token, "AmbiguousRoleResolution": "AuthenticatedRole"}, {}, AUTH) == AUTH


def test_rules_mapping_takes_the_first_match() -> None:
    rules = {"Type": "Rules", "AmbiguousRoleResolution": "Deny", "RulesConfiguration": {"Rules": [
        {"Claim": "email", "MatchType": "NotEqual", "Value": "a@corp.example", "RoleARN": ADMIN},
        {"Claim": "cognito:groups", "MatchType": "Contains", "Value": "devs", "RoleARN": DEV},
        {"Claim": "email", "MatchType": "StartsWith", "Value": "a@", "RoleARN": ADMIN}]}}
    assert mapped_role(rules, CLAIMS, AUTH) == DEV
    assert mapped_role(rules, {"email": "b@x"}, AUTH) == ADMIN
    assert mapped_role(rules, {"other": "x"}, AUTH) is None
