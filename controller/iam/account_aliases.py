"""Account aliases: CreateAccountAlias, DeleteAccountAlias, ListAccountAliases, and resolving one.

AWS's rules (IAM User Guide, "Your AWS account ID and its alias"): an account has at most one alias, and
CreateAccountAlias replaces the one it has; an alias is unique across every account (here: every account
of the cloud), 3 to 63 lowercase letters, digits and single hyphens, starting and ending with a letter or
digit. The console's sign-in page accepts the alias wherever it accepts the account id
(``console_signin.sign_in``), so Cloudlet also refuses an alias of 12 digits, which would read as an
account id.
"""

from __future__ import annotations

import re

from sqlalchemy import Connection, delete, select

from controller.api import Params, RequestContext
from controller.iam import state
from controller.iam.errors import EntityAlreadyExists, NoSuchEntity, ValidationError
from controller.iam.naming import paginate
from controller.iam.service import api
from controller.state import upsert

#: The botocore model's ``accountAliasType`` pattern.
ALIAS_PATTERN = re.compile(r"^[a-z0-9]([a-z0-9]|-(?!-)){1,61}[a-z0-9]$")
ACCOUNT_ID = re.compile(r"\d{12}")


def check_alias(alias: str) -> None:
    """ValidationError, in AWS's words, unless ``alias`` is a well-formed alias."""
    if not ALIAS_PATTERN.fullmatch(alias):
        raise ValidationError(f"1 validation error detected: Value '{alias}' at 'accountAlias' failed to satisfy "
                              f"constraint: Member must satisfy regular expression pattern: {ALIAS_PATTERN.pattern}")
    if ACCOUNT_ID.fullmatch(alias):
        raise ValidationError(f"The account alias {alias} is not valid: an alias of 12 digits would read as an "
                              "account id.")


def alias_of(conn: Connection, account_id: str) -> str | None:
    table = state.account_aliases
    return conn.execute(select(table.c.alias).where(table.c.account_id == account_id)).scalar()


def account_of_alias(conn: Connection, alias: str) -> str | None:
    """The id of the account ``alias`` names, or None."""
    table = state.account_aliases
    return conn.execute(select(table.c.account_id).where(table.c.alias == alias)).scalar()


@api.operation("CreateAccountAlias")
def create_account_alias(ctx: RequestContext, params: Params) -> Params:
    alias = params["AccountAlias"]
    check_alias(alias)
    table = state.account_aliases
    with ctx.cloud.db.begin() as conn:
        owner = account_of_alias(conn, alias)
        if owner is not None and owner != ctx.account_id:
            raise EntityAlreadyExists(f"The account alias {alias} already exists.")
        statement = upsert(table).values(account_id=ctx.account_id, alias=alias)
        conn.execute(statement.on_conflict_do_update(index_elements=["account_id"], set_={"alias": alias}))
    return {}


@api.operation("DeleteAccountAlias")
def delete_account_alias(ctx: RequestContext, params: Params) -> Params:
    alias = params["AccountAlias"]
    table = state.account_aliases
    with ctx.cloud.db.begin() as conn:
        removed = conn.execute(delete(table).where(table.c.account_id == ctx.account_id,
                                                   table.c.alias == alias)).rowcount
    if not removed:
        raise NoSuchEntity(f"The account alias {alias} cannot be found.")
    return {}


@api.operation("ListAccountAliases")
def list_account_aliases(ctx: RequestContext, params: Params) -> Params:
    with ctx.cloud.db.read() as conn:
        alias = alias_of(conn, ctx.account_id)
    return paginate([alias] if alias else [], params, str, "AccountAliases")
