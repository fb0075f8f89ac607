"""The organization's tree: its id, one root, organizational units under it, accounts in either.

Every account of the cloud belongs to the organization; an account without a row in
``account_parents`` sits directly in the root (where CreateAccount puts it, as on AWS).
The organization and its root always exist: their ids are stable, never created on demand.
"""

from __future__ import annotations

import hashlib
import secrets
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, select

from controller.auth import lookup as credentials
from controller.organizations import state

if TYPE_CHECKING:
    from controller.cloud import Cloud

ID_ALPHABET = "abcdefghijklmnopqrstuvwxyz0123456789"
ROOT_NAME = "Root"
#: AWS nests OUs at most five levels below the root ("Quotas for AWS Organizations").
MAX_OU_DEPTH = 5

ROOT, ORGANIZATIONAL_UNIT, ACCOUNT = "ROOT", "ORGANIZATIONAL_UNIT", "ACCOUNT"


def organization_id(cloud: Cloud) -> str:
    """The cloud's organization id (``o-`` and 10 characters).

    Clouds made by earlier versions stored a random one; otherwise it is derived from
    the management account, so asking for it never writes anything (a refused request
    must change nothing, not even by creating the organization on its way).
    """
    management = cloud.credentials.management_account()
    table = state.organizations
    with cloud.db.read() as conn:
        stored = conn.execute(select(table.c.organization_id).where(
            table.c.management_account_id == management)).scalar()
    return stored or "o-" + _derived(f"organization:{management}", 10)


def root_id(cloud: Cloud) -> str:
    """The organization's one root id (``r-`` and 4 characters), derived from the organization's."""
    return "r-" + _derived(f"root:{organization_id(cloud)}", 4)


def _derived(seed: str, length: int) -> str:
    digest = hashlib.sha256(seed.encode()).digest()
    return "".join(ID_ALPHABET[byte % len(ID_ALPHABET)] for byte in digest[:length])


def _random(length: int) -> str:
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(length))


def new_ou_id(root: str) -> str:
    """``ou-<root part>-<8 characters>``, as the OrganizationalUnitId pattern wants."""
    return f"ou-{root.removeprefix('r-')}-{_random(8)}"


def kind_of(target_id: str) -> str:
    if target_id.startswith("r-"):
        return ROOT
    if target_id.startswith("ou-"):
        return ORGANIZATIONAL_UNIT
    return ACCOUNT


def find_ou(conn: Connection, ou_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(state.organizational_units).where(
        state.organizational_units.c.ou_id == ou_id)).mappings().first()
    return dict(row) if row else None


def is_parent(conn: Connection, root: str, parent_id: str) -> bool:
    """Whether ``parent_id`` names the root or an existing OU."""
    return parent_id == root or (parent_id.startswith("ou-") and find_ou(conn, parent_id) is not None)


def exists(conn: Connection, root: str, target_id: str) -> bool:
    """Whether a root, OU or account id names something in the organization."""
    kind = kind_of(target_id)
    if kind == ACCOUNT:
        return credentials.account_exists(conn, target_id)
    return is_parent(conn, root, target_id)


def parent_of(conn: Connection, root: str, child_id: str) -> str | None:
    """The parent of an OU or account; None when the child does not exist."""
    if child_id.startswith("ou-"):
        ou = find_ou(conn, child_id)
        return ou["parent_id"] if ou else None
    if not credentials.account_exists(conn, child_id):
        return None
    parent = conn.execute(select(state.account_parents.c.parent_id).where(
        state.account_parents.c.account_id == child_id)).scalar()
    return parent or root


def ancestry(conn: Connection, root: str, child_id: str) -> list[str]:
    """The root and the OUs above ``child_id``, top down (the child itself excluded)."""
    chain: list[str] = []
    parent = parent_of(conn, root, child_id)
    while parent is not None and parent != root:
        chain.append(parent)
        parent = parent_of(conn, root, parent)
    chain.append(root)
    return chain[::-1]


def child_units(conn: Connection, parent_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(select(state.organizational_units).where(
        state.organizational_units.c.parent_id == parent_id)).mappings().all()
    return [dict(row) for row in rows]


def accounts_in(conn: Connection, root: str, parent_id: str) -> list[dict[str, Any]]:
    """The accounts directly in ``parent_id`` (the root holds those without a parent row)."""
    moved = dict(conn.execute(select(state.account_parents.c.account_id, state.account_parents.c.parent_id)).all())
    return [row for row in credentials.all_accounts(conn) if moved.get(row["account_id"], root) == parent_id]


def ou_path(conn: Connection, org_id: str, root: str, ou_id: str) -> str:
    """AWS's ``OrganizationalUnit.Path``: ``o-.../r-.../ou-.../ou-.../`` down to the OU itself."""
    return "/".join([org_id, *ancestry(conn, root, ou_id), ou_id]) + "/"


def principal_org_facts(cloud: Cloud, account_id: str) -> tuple[str, tuple[str, ...]]:
    """``aws:PrincipalOrgID`` and ``aws:PrincipalOrgPaths`` for principals of ``account_id``.

    Every account of the cloud is in its one organization; the path runs from the
    organization through the root and the OUs down to the account's parent, as AWS
    writes it (``o-a1b2c3d4e5/r-ab12/ou-ab12-11111111/``).
    """
    org_id, root = organization_id(cloud), root_id(cloud)
    with cloud.db.read() as conn:
        if not credentials.account_exists(conn, account_id):
            return org_id, ()
        return org_id, ("/".join([org_id, *ancestry(conn, root, account_id)]) + "/",)
