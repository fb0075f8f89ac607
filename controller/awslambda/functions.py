"""Function operations: create, read, list, update code and configuration, delete.

Lambda's documented behaviour is the spec (https://docs.aws.amazon.com/lambda/latest/api/API_CreateFunction.html
and its siblings): a duplicate name is ``ResourceConflictException`` (``Function already exist: <name>``),
every change gives ``$LATEST`` a new RevisionId and LastModified, a stale RevisionId is
``PreconditionFailedException``, and a function is Active as soon as it is created (the code is
stored before the call answers), so ``function_active_v2`` and ``function_updated_v2`` return at once.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, select

from controller.api import RequestContext
from controller.awslambda import (
    code_source,
    code_urls,
    conditions,
    configuration,
    records,
    state,
    tagging,
    validation,
    versions,
)
from controller.awslambda.errors import InvalidParameterValueException, ResourceConflictException
from controller.awslambda.events import invoke_config
from controller.awslambda.records import LATEST, FunctionRef
from controller.awslambda.service import api

#: ListFunctions answers at most 50 functions a page, "even if you set the number higher" (its API reference).
MAX_PAGE = 50


@api.operation("CreateFunction", resources=conditions.configuration_resources)
def create_function(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    if ref.qualifier is not None or ref.account_id != ctx.account_id:
        raise InvalidParameterValueException("The function name given to CreateFunction must be unqualified and "
                                             "of the caller's account.")
    code = params.get("Code") or {}
    package_type = params.get("PackageType") or ("Image" if code.get("ImageUri") else "Zip")
    if package_type == "Image" and not code.get("ImageUri"):
        raise InvalidParameterValueException("Please provide ImageUri when PackageType is Image.")
    if package_type == "Zip" and code.get("ImageUri"):
        raise InvalidParameterValueException("Please don't provide ImageUri when PackageType is Zip.")
    validation.check_package(package_type, params.get("Runtime"), params.get("Handler"))
    architectures = validation.check_architectures(params.get("Architectures"), configuration.host_architecture())
    tags = params.get("Tags") or {}
    tagging.check(tags)
    with ctx.cloud.db.read() as conn:
        _refuse_existing(conn, ref)
    package = code_source.from_code(ctx, code, "CreateFunction")
    # Reads and KMS first: KMS may write (an AWS managed key made on first use), and SQLite has one writer.
    with ctx.cloud.db.read() as conn:
        document = configuration.apply(conn, ctx, ref.name, params, None)
    document = configuration.with_package(document, package)
    document.update(PackageType=package_type, Architectures=architectures)
    if package_type == "Image":
        document["ImageConfig"] = document.get("ImageConfig") or {}
    configuration.check_total_size(document)
    package.store(ctx.cloud)
    with records.writing(ctx.cloud) as conn:
        _refuse_existing(conn, ref)
        conn.execute(state.functions.insert().values(account_id=ref.account_id, region=ref.region, name=ref.name,
                                                     arn=ref.arn, tags=tags, reserved_concurrency=None,
                                                     last_version=0))
        row = records.save_version(conn, ref, LATEST, document)
        if params.get("Publish"):
            row = versions.publish(conn, ref, description=params.get("Description") or "")
    ctx.audit_resources.append(ref.arn)
    return configuration.render(ctx, ref.account_id, row)


def _refuse_existing(conn: Connection, ref: FunctionRef) -> None:
    t = state.functions
    if conn.execute(select(t.c.name).where(t.c.account_id == ref.account_id, t.c.region == ref.region,
                                           t.c.name == ref.name)).first() is not None:
        raise ResourceConflictException(f"Function already exist: {ref.name}")


@api.operation("GetFunction", resources=records.resources)
def get_function(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params)
    with ctx.cloud.db.read() as conn:
        function = records.function_row(conn, ref)
        row = records.version_of(conn, ref)
    document = row["config"]
    if document.get("PackageType") == "Image":
        code = {"RepositoryType": "ECR", "ImageUri": document["ImageUri"],
                "ResolvedImageUri": f"{document['ImageUri']}@sha256:{document['CodeShaHex']}"}
    else:
        code = {"RepositoryType": "S3", "Location": code_urls.presigned(ctx, document["CodeShaHex"])}
    output: dict[str, Any] = {"Configuration": configuration.render(ctx, ref.account_id, row), "Code": code}
    if function["tags"]:
        output["Tags"] = function["tags"]
    if function["reserved_concurrency"] is not None:
        output["Concurrency"] = {"ReservedConcurrentExecutions": function["reserved_concurrency"]}
    return output


@api.operation("GetFunctionConfiguration", resources=records.resources)
def get_function_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params)
    with ctx.cloud.db.read() as conn:
        row = records.version_of(conn, ref)
    return configuration.render(ctx, ref.account_id, row)


@api.operation("ListFunctions")
def list_functions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    every_version = params.get("FunctionVersion") == "ALL"
    limit = min(params.get("MaxItems") or MAX_PAGE, MAX_PAGE)
    after = _marker_key(params.get("Marker"))
    t = state.versions
    query = select(t).where(t.c.account_id == ctx.account_id, t.c.region == ctx.region)
    if not every_version:
        query = query.where(t.c.version == LATEST)
    with ctx.cloud.db.read() as conn:
        rows = [dict(row) for row in conn.execute(query).mappings()]
    rows.sort(key=_listing_key)
    if after is not None:
        rows = [row for row in rows if _listing_key(row) > after]
    page = rows[:limit]
    output: dict[str, Any] = {"Functions": [configuration.render(ctx, ctx.account_id, row) for row in page]}
    if len(rows) > limit:
        output["NextMarker"] = base64.urlsafe_b64encode(json.dumps(_listing_key(page[-1])).encode()).decode()
    return output


def _listing_key(row: dict[str, Any]) -> tuple[str, int]:
    """Functions by name, each $LATEST first and then its versions in order."""
    return row["function_name"], -1 if row["version"] == LATEST else int(row["version"])


def _marker_key(marker: str | None) -> tuple[str, int] | None:
    if not marker:
        return None
    try:
        name, number = json.loads(base64.urlsafe_b64decode(marker.encode()))
        return str(name), int(number)
    except (ValueError, TypeError):
        raise InvalidParameterValueException(f"Invalid marker: {marker}") from None


def _change_latest(ctx: RequestContext, ref: FunctionRef, revision_id: str | None,
                   change: Callable[[Connection, dict[str, Any]], dict[str, Any]], *, publish: bool = False,
                   ) -> dict[str, Any]:
    """Save ``change``'s new $LATEST document, made from a read of the current one.

    ``change`` runs outside the write transaction (it may ask KMS, which may write); the write then
    commits only if $LATEST is still the revision it read, else the change is made again from the new one.
    """
    base = FunctionRef(ref.account_id, ref.region, ref.name, None)
    while True:
        with ctx.cloud.db.read() as conn:
            latest = records.version_of(conn, base)
            records.check_revision(revision_id, latest["revision_id"])
            document = change(conn, latest["config"])
        with records.writing(ctx.cloud) as conn:
            if records.version_of(conn, base)["revision_id"] != latest["revision_id"]:
                continue
            row = records.save_version(conn, base, LATEST, document)
            return versions.publish(conn, base, description="") if publish else row


@api.operation("UpdateFunctionCode", resources=records.resources)
def update_function_code(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)
    with ctx.cloud.db.read() as conn:
        current = records.version_of(conn, FunctionRef(ref.account_id, ref.region, ref.name, None))
    package_type = current["config"].get("PackageType", "Zip")
    if package_type == "Image" and not params.get("ImageUri"):
        raise InvalidParameterValueException("Please provide ImageUri when updating a function with packageType "
                                             "Image.")
    if package_type == "Zip" and params.get("ImageUri"):
        raise InvalidParameterValueException("Please don't provide ImageUri when updating a function with "
                                             "packageType Zip.")
    architectures = validation.check_architectures(
        params.get("Architectures") or current["config"].get("Architectures"), configuration.host_architecture())
    records.check_revision(params.get("RevisionId"), current["revision_id"])
    package = code_source.from_code(ctx, params, "UpdateFunctionCode")

    def new_code(conn: Connection | None, document: dict[str, Any]) -> dict[str, Any]:
        updated = {**configuration.with_package(document, package), "Architectures": architectures}
        configuration.check_total_size(updated)
        return updated

    checked = new_code(None, current["config"])
    if params.get("DryRun"):
        return configuration.render(ctx, ref.account_id, {**current, "config": checked})
    package.store(ctx.cloud)
    row = _change_latest(ctx, ref, params.get("RevisionId"), new_code, publish=bool(params.get("Publish")))
    return configuration.render(ctx, ref.account_id, row)


@api.operation("UpdateFunctionConfiguration", resources=conditions.configuration_resources)
def update_function_configuration(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params, qualified=False)

    def new_configuration(conn: Connection, document: dict[str, Any]) -> dict[str, Any]:
        if document.get("PackageType") == "Image" and (params.get("Runtime") or params.get("Handler")):
            validation.check_package("Image", params.get("Runtime"), params.get("Handler"))
        if document.get("PackageType", "Zip") == "Zip" and params.get("ImageConfig"):
            raise InvalidParameterValueException("ImageConfig is not supported for functions with packageType Zip.")
        updated = configuration.apply(conn, ctx, ref.name, params, document)
        configuration.check_total_size(updated)
        return updated

    row = _change_latest(ctx, ref, params.get("RevisionId"), new_configuration)
    return configuration.render(ctx, ref.account_id, row)


@api.operation("DeleteFunction", resources=records.resources)
def delete_function(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    ref = records.ref_of(ctx, params)
    with records.writing(ctx.cloud) as conn:
        records.function_row(conn, ref)
        if ref.qualifier is None:
            _delete_everything(conn, ref)
        else:
            versions.delete_version(conn, ref)
        invoke_config.forget(conn, ref.account_id, ref.region, ref.name, ref.qualifier)
    ctx.audit_resources.append(ref.qualified_arn)
    return {}


def _delete_everything(conn: Any, ref: FunctionRef) -> None:
    for table, column in ((state.versions, "function_name"), (state.aliases, "function_name"),
                          (state.policies, "function_name"), (state.functions, "name")):
        conn.execute(table.delete().where(table.c.account_id == ref.account_id, table.c.region == ref.region,
                                          table.c[column] == ref.name))
