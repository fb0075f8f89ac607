"""Pure rules of a pool's attribute schema: the standard OIDC attributes, custom ones, and checks.

A pool's schema is Cognito's standard attributes plus the ``custom:`` attributes CreateUserPool's
Schema (or AddCustomAttributes) declares; Schema entries naming a standard attribute change it
(Required, Mutable). :func:`check_attributes` is what SignUp, AdminCreateUser and UpdateUserAttributes
apply, with Cognito's wording.
"""

from __future__ import annotations

from typing import Any

STANDARD = ("sub", "name", "given_name", "family_name", "middle_name", "nickname", "preferred_username",
            "profile", "picture", "website", "email", "email_verified", "gender", "birthdate", "zoneinfo",
            "locale", "phone_number", "phone_number_verified", "address", "updated_at", "identities")
_TYPES = {"email_verified": "Boolean", "phone_number_verified": "Boolean", "updated_at": "Number"}
#: Attributes no caller writes: Cognito keeps them.
READ_ONLY = {"sub", "identities"}


def standard_schema() -> list[dict[str, Any]]:
    """The SchemaAttributes of a pool before its own Schema entries."""
    out = []
    for name in STANDARD:
        entry: dict[str, Any] = {"Name": name, "AttributeDataType": _TYPES.get(name, "String"),
                                 "DeveloperOnlyAttribute": False, "Mutable": name != "sub", "Required": False}
        if entry["AttributeDataType"] == "String":
            entry["StringAttributeConstraints"] = {"MinLength": "1" if name == "sub" else "0",
                                                   "MaxLength": "2048"}
        if name == "sub":
            entry["Required"] = True
        out.append(entry)
    return out


def build_schema(declared: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The pool's SchemaAttributes from CreateUserPool's Schema; raises ValueError naming a bad entry."""
    schema = {entry["Name"]: entry for entry in standard_schema()}
    for entry in declared:
        name = entry.get("Name") or ""
        if name in schema and name in STANDARD:
            if name in READ_ONLY:
                raise ValueError(f"{name} cannot be modified.")
            schema[name] = {**schema[name], **{k: v for k, v in entry.items() if k != "AttributeDataType"}}
            continue
        full = name if name.startswith("custom:") else f"custom:{name}"
        if full in schema:
            raise ValueError(f"Existing attribute already has name {full}.")
        if entry.get("Required"):
            raise ValueError(f"Required custom attributes are not supported currently: {name}")
        schema[full] = {"Name": full, "AttributeDataType": entry.get("AttributeDataType") or "String",
                        "DeveloperOnlyAttribute": bool(entry.get("DeveloperOnlyAttribute")),
                        "Mutable": entry.get("Mutable", True), "Required": False,
                        **{k: v for k, v in entry.items()
                           if k in ("StringAttributeConstraints", "NumberAttributeConstraints")}}
    return list(schema.values())


def check_attributes(schema: list[dict[str, Any]], attributes: dict[str, str], *, creating: bool) -> None:
    """Raise ValueError (Cognito's InvalidParameterException message) when ``attributes`` break the schema.

    ``creating``: the required attributes must be present; otherwise immutable ones may not change."""
    by_name = {entry["Name"]: entry for entry in schema}
    problems = []
    for name, value in attributes.items():
        entry = by_name.get(name)
        if entry is None or name in READ_ONLY:
            raise ValueError(f"Attribute does not exist in the schema: {name}" if entry is None
                             else f"Cannot modify an immutable attribute: {name}")
        if not creating and not entry.get("Mutable", True):
            raise ValueError(f"Cannot modify an immutable attribute: {name}")
        problem = _value_problem(entry, value)
        if problem:
            problems.append(f"{name}: {problem}")
    if creating:
        problems += [f"{e['Name']}: The attribute is required" for e in schema
                     if e.get("Required") and e["Name"] not in READ_ONLY and not attributes.get(e["Name"])]
    if problems:
        raise ValueError("Attributes did not conform to the schema: " + "\n".join(problems))


def _value_problem(entry: dict[str, Any], value: str) -> str | None:
    kind = entry.get("AttributeDataType", "String")
    if kind == "Number":
        try:
            number = float(value)
        except ValueError:
            return "Number must be a number"
        bounds = entry.get("NumberAttributeConstraints") or {}
        if "MinValue" in bounds and number < float(bounds["MinValue"]):
            return f"Number must be at least {bounds['MinValue']}"
        if "MaxValue" in bounds and number > float(bounds["MaxValue"]):
            return f"Number must be at most {bounds['MaxValue']}"
    elif kind == "Boolean":
        if value.lower() not in ("true", "false"):
            return "Boolean must be true or false"
    else:
        bounds = entry.get("StringAttributeConstraints") or {}
        if len(value) > int(bounds.get("MaxLength") or 2048):
            return "String must be no longer than " + str(bounds.get("MaxLength") or 2048) + " characters"
        if len(value) < int(bounds.get("MinLength") or 0):
            return "String must be no shorter than " + str(bounds.get("MinLength")) + " characters"
    if entry["Name"] == "email" and value and "@" not in value:
        return "Invalid email address format."
    if entry["Name"] == "phone_number" and value and not (value.startswith("+") and value[1:].isdigit()):
        return "Invalid phone number format."
    return None
