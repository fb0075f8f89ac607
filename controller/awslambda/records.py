"""Naming and reading Lambda's rows: function names and ARNs as callers write them, versions, aliases.

Callers name a function by name, partial ARN (``123456789012:function:name``) or full ARN, each with
an optional ``:qualifier`` suffix (a version or an alias), or pass ``Qualifier`` apart; AWS refuses
a suffix that contradicts the parameter
(https://docs.aws.amazon.com/lambda/latest/api/API_GetFunction.html#API_GetFunction_RequestSyntax).
"""

from __future__ import annotations

import datetime as dt
import re
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from controller.awslambda import state
from controller.awslambda.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    function_not_found,
)
from controller.state import Database

LATEST = "$LATEST"
NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")
ALIAS_RE = re.compile(r"(?!^[0-9]+$)([a-zA-Z0-9-_]+)")
VERSION_RE = re.compile(r"[0-9]+")
QUALIFIER_RE = re.compile(r"\$LATEST|[a-zA-Z0-9_-]{1,128}")


@dataclass(frozen=True)
class FunctionRef:
    """Which function (and qualifier) a caller named, resolved to its account and region."""

    account_id: str
    region: str
    name: str
    qualifier: str | None

    @property
    def arn(self) -> str:
        return function_arn(self.region, self.account_id, self.name)

    @property
    def qualified_arn(self) -> str:
        return self.arn if self.qualifier is None else f"{self.arn}:{self.qualifier}"


def function_arn(region: str, account_id: str, name: str, qualifier: str | None = None) -> str:
    arn = f"arn:aws:lambda:{region}:{account_id}:function:{name}"
    return arn if qualifier is None else f"{arn}:{qualifier}"


def parse_function(name_or_arn: str, qualifier: str | None, *, account_id: str, region: str) -> FunctionRef:
    """The function a ``FunctionName`` (and optional ``Qualifier``) names; InvalidParameterValue if malformed."""
    parts = name_or_arn.split(":")
    if parts[0] == "arn":
        if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
            raise _malformed(name_or_arn)
        region, account_id, rest = parts[3] or region, parts[4], parts[6:]
    elif len(parts) >= 3 and parts[1] == "function":
        if len(parts) > 4 or not re.fullmatch(r"\d{12}", parts[0]):
            raise _malformed(name_or_arn)
        account_id, rest = parts[0], parts[2:]
    elif len(parts) <= 2:
        rest = parts
    else:
        raise _malformed(name_or_arn)
    name = rest[0]
    if not NAME_RE.fullmatch(name):
        raise _malformed(name_or_arn)
    derived = rest[1] if len(rest) > 1 else None
    if derived is not None and not QUALIFIER_RE.fullmatch(derived):
        raise _malformed(name_or_arn)
    if derived is not None and qualifier is not None and derived != qualifier:
        raise InvalidParameterValueException("The derived qualifier from the function name does not match the "
                                             "specified qualifier.")
    return FunctionRef(account_id, region, name, derived if derived is not None else qualifier)


def _malformed(value: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"1 validation error detected: Value '{value}' at 'functionName' failed to "
                                          "satisfy constraint: Member must satisfy regular expression pattern: "
                                          "(arn:(aws[a-zA-Z-]*)?:lambda:)?([a-z]{2}(-gov)?-[a-z]+-\\d{1}:)?"
                                          "(\\d{12}:)?(function:)?([a-zA-Z0-9-_\\.]+)(:(\\$LATEST|[a-zA-Z0-9-_]+))?")


def function_row(conn: Connection, ref: FunctionRef) -> dict[str, Any]:
    """The function's row; ResourceNotFoundException naming its unqualified ARN when absent."""
    t = state.functions
    row = conn.execute(select(t).where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                       t.c.name == ref.name)).mappings().first()
    if row is None:
        raise function_not_found(ref.arn)
    return dict(row)


def version_row(conn: Connection, ref: FunctionRef, version: str) -> dict[str, Any] | None:
    t = state.versions
    row = conn.execute(select(t).where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                       t.c.function_name == ref.name, t.c.version == version)).mappings().first()
    return dict(row) if row is not None else None


def alias_row(conn: Connection, ref: FunctionRef, alias: str) -> dict[str, Any] | None:
    t = state.aliases
    row = conn.execute(select(t).where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                       t.c.function_name == ref.name, t.c.name == alias)).mappings().first()
    return dict(row) if row is not None else None


def version_of(conn: Connection, ref: FunctionRef) -> dict[str, Any]:
    """The version row the reference's qualifier names ($LATEST when none; an alias names its primary version)."""
    function_row(conn, ref)
    qualifier = ref.qualifier or LATEST
    if qualifier != LATEST and not VERSION_RE.fullmatch(qualifier):
        alias = alias_row(conn, ref, qualifier)
        if alias is None:
            raise function_not_found(ref.qualified_arn)
        qualifier = alias["function_version"]
    row = version_row(conn, ref, qualifier)
    if row is None:
        raise function_not_found(ref.qualified_arn)
    return row


def new_revision() -> str:
    return str(uuid.uuid4())


def timestamp(moment: dt.datetime | None = None) -> str:
    """Lambda's LastModified form: ``2026-12-04T19:00:00.000+0000``."""
    moment = moment or dt.datetime.now(dt.UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}+0000"


def policy_of(conn: Connection, ref: FunctionRef) -> dict[str, Any] | None:
    """The resource policy of the function ("" qualifier), a version or an alias, or None when it has none."""
    t = state.policies
    document = conn.execute(select(t.c.document).where(
        t.c.account_id == ref.account_id, t.c.region == ref.region, t.c.function_name == ref.name,
        t.c.qualifier == (ref.qualifier or ""))).scalar()
    return document if document and document.get("Statement") else None


def check_revision(given: str | None, current: str) -> None:
    """RevisionId preconditions: a caller's stale id is refused before anything changes."""
    if given and given != current:
        raise PreconditionFailedException("The Revision Id provided does not match the latest Revision Id. Call the "
                                          "GetFunction/GetAlias API to retrieve the latest Revision Id")


def save_version(conn: Connection, ref: FunctionRef, version: str, document: dict[str, Any]) -> dict[str, Any]:
    """Write a version's configuration with a new RevisionId and LastModified; the row as stored."""
    t = state.versions
    row = {"account_id": ref.account_id, "region": ref.region, "function_name": ref.name, "version": version,
           "config": document, "revision_id": new_revision(), "last_modified": timestamp()}
    conn.execute(t.delete().where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                  t.c.function_name == ref.name, t.c.version == version))
    conn.execute(t.insert().values(**row))
    return row


def touch_latest(conn: Connection, ref: FunctionRef) -> str:
    """Give $LATEST a new RevisionId (a change to the function that is not its configuration); returns it."""
    t = state.versions
    revision = new_revision()
    conn.execute(t.update().where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                  t.c.function_name == ref.name, t.c.version == LATEST).values(revision_id=revision))
    return revision


def resources(ctx: Any, params: dict[str, Any]) -> list[str]:
    """IAM's resource for calls on a function: its ARN, qualified when the caller named a qualifier."""
    try:
        ref = parse_function(params.get("FunctionName", ""), params.get("Qualifier"), account_id=ctx.account_id,
                             region=ctx.region)
    except InvalidParameterValueException:
        return [function_arn(ctx.region, ctx.account_id, params.get("FunctionName", ""))]
    return [ref.qualified_arn]


def ref_of(ctx: Any, params: dict[str, Any], *, qualified: bool = True) -> FunctionRef:
    """The function a request names (FunctionName and, if ``qualified``, Qualifier)."""
    return parse_function(params["FunctionName"], params.get("Qualifier") if qualified else None,
                          account_id=ctx.account_id, region=ctx.region)


#: What a write to Lambda's control plane announces: every process's :class:`LookupCache` is cleared (Lambda
#: is served by the primary process, but IAM enforcement in an API worker reads functions' resource policies).
LOOKUPS_TOPIC = "lambda:lookups"
_lookups_lock = threading.Lock()


class LookupCache:
    """What invocations read of the control plane (contract B), kept until the next control-plane write.

    A reader notes the generation before reading the tables and stores its result only if no write
    committed meanwhile (every write bumps the generation after its commit, in every process of the cloud),
    so a stale read is never kept.
    """

    def __init__(self) -> None:
        self.generation = 0
        self._entries: dict[tuple[Any, ...], Any] = {}
        self._lock = threading.Lock()

    def get(self, key: tuple[Any, ...]) -> Any:
        return self._entries.get(key)

    def put(self, key: tuple[Any, ...], value: Any, generation: int) -> None:
        with self._lock:
            if generation == self.generation:
                self._entries[key] = value

    def clear(self) -> None:
        with self._lock:
            self.generation += 1
            self._entries.clear()


def lookups_of(cloud: Any) -> LookupCache:
    """The cloud's lookup cache, made (and subscribed to :data:`LOOKUPS_TOPIC`) on first use."""
    if cloud.lambda_lookups is None:
        with _lookups_lock:
            if cloud.lambda_lookups is None:
                cache = LookupCache()
                cloud.db.subscribe(LOOKUPS_TOPIC, cache.clear)
                cloud.lambda_lookups = cache
    return cloud.lambda_lookups


@contextmanager
def writing(cloud: Any) -> Iterator[Connection]:
    """A write transaction on Lambda's tables; once it commits, every process drops its cached lookups."""
    with cloud.db.begin() as conn:
        Database.announce(conn, LOOKUPS_TOPIC)
        yield conn
