"""Pool users' records: finding a user by name, alias or sub, creating one, setting passwords, and the
UserType shape every user operation answers with.

A user is found the way Cognito signs in: by username (case-insensitively unless the pool's
UsernameConfiguration says CaseSensitive), by ``sub``, by an email or phone number when those are
the pool's UsernameAttributes, or by a *verified* alias (email, phone_number, preferred_username) when
they are its AliasAttributes. Every password set also stores the SRP verifier
(``srp.verifier_for``) so USER_SRP_AUTH works for the same password.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from controller.cognito_idp import errors, schema, srp, state
from controller.cognito_idp.passwords import hash_password, policy_of, policy_problem

ALIASES = ("email", "phone_number", "preferred_username")


def case_sensitive(pool_config: dict[str, Any]) -> bool:
    """UsernameConfiguration.CaseSensitive; True (Cognito's default) when the pool does not say."""
    return bool((pool_config.get("UsernameConfiguration") or {}).get("CaseSensitive", True))


def name_key(pool_config: dict[str, Any], name: str) -> str:
    """The form of a username lookups compare."""
    return name if case_sensitive(pool_config) else name.lower()


def _pool_config(conn: Connection, pool_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(state.pools.c.config).where(state.pools.c.pool_id == pool_id)).first()
    return row.config if row else None


def find_user(conn: Connection, pool_id: str, name: str) -> dict[str, Any] | None:
    """The user ``name`` signs in as (username, sub, username attribute or verified alias), or None."""
    config = _pool_config(conn, pool_id)
    if config is None or not name:
        return None
    users = state.users
    query = select(users).where(users.c.pool_id == pool_id)
    row = conn.execute(query.where(users.c.username_key == name_key(config, name))).mappings().first()
    if row is None:
        row = conn.execute(query.where(users.c.sub == name)).mappings().first()
    if row is None:
        for attribute in alias_attributes(config):
            value = func.json_extract(users.c.attributes, f"$.{attribute}")
            match = func.lower(value) == name.lower() if attribute == "email" else value == name
            candidates = conn.execute(query.where(match)).mappings().all()
            row = next((c for c in candidates if _alias_usable(config, c["attributes"], attribute)), None)
            if row is not None:
                break
    return dict(row) if row is not None else None


def alias_attributes(config: dict[str, Any]) -> list[str]:
    """Attributes a user may sign in with besides the username."""
    return list(config.get("UsernameAttributes") or []) + list(config.get("AliasAttributes") or [])


def _alias_usable(config: dict[str, Any], attributes: dict[str, str], attribute: str) -> bool:
    """Username attributes always sign in; an email/phone alias only once verified."""
    if attribute in (config.get("UsernameAttributes") or []) or attribute == "preferred_username":
        return True
    return attributes.get(f"{attribute}_verified") == "true"


def require_user(conn: Connection, pool_id: str, name: str) -> dict[str, Any]:
    user = find_user(conn, pool_id, name)
    if user is None:
        raise errors.no_user()
    return user


def check_unique(conn: Connection, pool_id: str, config: dict[str, Any], username: str,
                 attributes: dict[str, str], *, exclude_user: int | None = None) -> None:
    """UsernameExistsException for a taken username or username attribute; AliasExistsException for a
    verified alias another user holds."""
    users = state.users
    taken = conn.execute(select(users.c.user_id).where(users.c.pool_id == pool_id,
                                                       users.c.username_key == name_key(config, username))).first()
    if taken is not None and taken.user_id != exclude_user:
        raise errors.UsernameExistsException("User already exists")
    for attribute in alias_attributes(config):
        value = attributes.get(attribute)
        if not value:
            continue
        other = find_user(conn, pool_id, value)
        if other is None or other["user_id"] == exclude_user:
            continue
        if attribute in (config.get("UsernameAttributes") or []):
            label = "email" if attribute == "email" else "phone_number"
            raise errors.UsernameExistsException(f"An account with the given {label} already exists.")
        raise errors.AliasExistsException(f"An account with the given {attribute} already exists.")


def create_user(conn: Connection, pool_id: str, config: dict[str, Any], username: str,
                attributes: dict[str, str], *, status: str) -> dict[str, Any]:
    """Insert a user (no password yet) and return its record.

    In a pool whose UsernameAttributes include email or phone_number, the username given is that
    attribute: the user's username becomes its ``sub`` and the value its attribute, as Cognito does."""
    sub = str(uuid.uuid4())
    attributes = dict(attributes)
    username_attributes = config.get("UsernameAttributes") or []
    if username_attributes:
        attribute = "email" if "@" in username else "phone_number"
        if attribute not in username_attributes:
            raise errors.InvalidParameterException(
                "Username should be " + " or ".join(username_attributes) + ".")
        attributes[attribute] = username
        username = sub
    attributes["sub"] = sub
    check_unique(conn, pool_id, config, username, attributes)
    now = time.time()
    user_id = conn.execute(insert(state.users).values(
        pool_id=pool_id, username=username, username_key=name_key(config, username), sub=sub,
        attributes=attributes, status=status, enabled=True, mfa={}, created_at=now,
        modified_at=now)).inserted_primary_key[0]
    return get_user(conn, user_id)


def get_user(conn: Connection, user_id: int) -> dict[str, Any]:
    return dict(conn.execute(select(state.users).where(state.users.c.user_id == user_id)).mappings().one())


def check_attributes(pool: dict[str, Any], attributes: dict[str, str], *, creating: bool) -> None:
    """InvalidParameterException when ``attributes`` break the pool's schema (see schema.check_attributes)."""
    try:
        schema.check_attributes(pool["SchemaAttributes"], attributes, creating=creating)
    except ValueError as exc:
        raise errors.InvalidParameterException(str(exc)) from None


def check_password_policy(pool: dict[str, Any], password: str) -> None:
    problem = policy_problem(policy_of(pool), password)
    if problem:
        raise errors.InvalidPasswordException(problem)


def set_password(conn: Connection, pool: dict[str, Any], user: dict[str, Any], password: str, *,
                 temporary: bool = False, status: str | None = None) -> None:
    """Store ``password`` (checked against the policy) and its SRP verifier; a temporary password
    puts the user in FORCE_CHANGE_PASSWORD until it is changed, and expires after the policy's days."""
    check_password_policy(pool, password)
    salt, verifier = srp.verifier_for(pool["Id"], user["username"], password)
    expires = None
    if temporary:
        expires = time.time() + 86400 * int(policy_of(pool).get("TemporaryPasswordValidityDays", 7))
        status = "FORCE_CHANGE_PASSWORD"
    values: dict[str, Any] = {"password_hash": hash_password(password), "password_expires_at": expires,
                              "srp_salt": salt, "srp_verifier": verifier, "modified_at": time.time()}
    if status:
        values["status"] = status
    conn.execute(update(state.users).where(state.users.c.user_id == user["user_id"]).values(**values))


def update_attributes(conn: Connection, user: dict[str, Any], changes: dict[str, str],
                      removed: list[str] | None = None) -> dict[str, str]:
    attributes = {**user["attributes"], **changes}
    for name in removed or []:
        attributes.pop(name, None)
    conn.execute(update(state.users).where(state.users.c.user_id == user["user_id"])
                 .values(attributes=attributes, modified_at=time.time()))
    return attributes


def set_status(conn: Connection, user: dict[str, Any], **values: Any) -> None:
    """Change a user's status/enabled (or other columns) and its modification time."""
    conn.execute(update(state.users).where(state.users.c.user_id == user["user_id"])
                 .values(**values, modified_at=time.time()))


def attribute_list(attributes: dict[str, str], names: list[str] | None = None) -> list[dict[str, str]]:
    """AWS's [{Name, Value}] list, ``sub`` first, limited to ``names`` when given."""
    ordered = sorted(attributes.items(), key=lambda item: (item[0] != "sub", item[0]))
    return [{"Name": k, "Value": v} for k, v in ordered if names is None or k in names]


def user_shape(user: dict[str, Any], names: list[str] | None = None) -> dict[str, Any]:
    """The UserType of ListUsers and AdminCreateUser (AdminGetUser renames Attributes: see there)."""
    return {"Username": user["username"], "Attributes": attribute_list(user["attributes"], names),
            "UserCreateDate": user["created_at"], "UserLastModifiedDate": user["modified_at"],
            "Enabled": bool(user["enabled"]), "UserStatus": user["status"]}
