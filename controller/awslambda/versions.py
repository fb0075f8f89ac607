"""Published versions: immutable snapshots of ``$LATEST`` (PublishVersion), listed and deleted.

As Lambda does (https://docs.aws.amazon.com/lambda/latest/dg/configuration-versions.html), a publish
with nothing changed since the last version returns that version instead of a new one; numbers grow
and are never reused; a version an alias routes to cannot be deleted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from controller.api import RequestContext
from controller.awslambda import configuration, records, state
from controller.awslambda.errors import InvalidParameterValueException, ResourceConflictException
from controller.awslambda.records import LATEST, VERSION_RE, FunctionRef
from controller.awslambda.service import api

#: ListVersionsByFunction answers at most 50 versions a page, "even if you set the number higher".
MAX_PAGE = 50


def _without_description(document: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in document.items() if key != "Description"}


def publish(conn: Connection, ref: FunctionRef, *, description: str, code_sha256: str | None = None,
            revision_id: str | None = None) -> dict[str, Any]:
    """Snapshot $LATEST as the next version (or answer the last one when nothing changed); the version's row."""
    base = FunctionRef(ref.account_id, ref.region, ref.name, None)
    function = records.function_row(conn, base)
    latest = records.version_of(conn, base)
    records.check_revision(revision_id, latest["revision_id"])
    document = latest["config"]
    if code_sha256 and code_sha256 != document["CodeSha256"]:
        raise InvalidParameterValueException(
            f"CodeSHA256 ({code_sha256}) is different from current CodeSHA256 in $LATEST "
            f"({document['CodeSha256']}). Please try again with the CodeSHA256 in $LATEST.")
    last = function["last_version"]
    if last:
        previous = records.version_row(conn, base, str(last))
        if previous is not None and _without_description(previous["config"]) == _without_description(document):
            return previous
    number = last + 1
    t = state.functions
    conn.execute(update(t).where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                 t.c.name == ref.name).values(last_version=number))
    return records.save_version(conn, base, str(number), {**document, "Description": description or
                                                          document.get("Description", "")})


def delete_version(conn: Connection, ref: FunctionRef) -> None:
    """DeleteFunction with a Qualifier: one published version, unless an alias still routes to it.

    A version that does not exist is deleted quietly, as the live service answers it (204).
    """
    version = ref.qualifier or LATEST
    if version == LATEST:
        raise InvalidParameterValueException("$LATEST version cannot be deleted without deleting the function.")
    if not VERSION_RE.fullmatch(version):
        raise InvalidParameterValueException("Deletion of aliases is not supported. Use DeleteAlias to delete an "
                                             "alias.")
    t = state.aliases
    using = sorted(row["name"] for row in conn.execute(select(t).where(
        t.c.account_id == ref.account_id, t.c.region == ref.region, t.c.function_name == ref.name)).mappings()
        if row["function_version"] == version or version in (row["routing"] or {}))
    if using:
        raise ResourceConflictException(f"Unable to delete version because the following aliases reference it: "
                                        f"[{', '.join(using)}]")
    for table in (state.versions, state.policies):
        column = table.c.version if table is state.versions else table.c.qualifier
        conn.execute(table.delete().where(table.c.account_id == ref.account_id, table.c.region == ref.region,
                                          table.c.function_name == ref.name, column == version))


@api.operation("PublishVersion", resources=records.resources)
def publish_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    with records.writing(ctx.cloud) as conn:
        row = publish(conn, ref, description=params.get("Description") or "", code_sha256=params.get("CodeSha256"),
                      revision_id=params.get("RevisionId"))
    return configuration.render(ctx, ref.account_id, row)


@api.operation("ListVersionsByFunction", resources=records.resources)
def list_versions_by_function(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    limit = min(params.get("MaxItems") or MAX_PAGE, MAX_PAGE)
    t = state.versions
    with ctx.cloud.db.read() as conn:
        records.function_row(conn, ref)
        rows = [dict(row) for row in conn.execute(select(t).where(
            t.c.account_id == ref.account_id, t.c.region == ref.region, t.c.function_name == ref.name)).mappings()]
    rows.sort(key=lambda row: -1 if row["version"] == LATEST else int(row["version"]))
    start = 0
    if params.get("Marker"):
        marker = params["Marker"]
        positions = [i for i, row in enumerate(rows) if row["version"] == marker]
        if not positions:
            raise InvalidParameterValueException(f"Invalid marker: {marker}")
        start = positions[0]
    page = rows[start:start + limit]
    output: dict[str, Any] = {"Versions": [configuration.render(ctx, ref.account_id, row) for row in page]}
    if start + limit < len(rows):
        output["NextMarker"] = rows[start + limit]["version"]
    return output
