"""Layers: versioned zips that functions unpack under /opt, shared across accounts by a layer policy.

As Lambda does (https://docs.aws.amazon.com/lambda/latest/dg/chapter-layers.html): each publish makes
the next version number (never reused, even after deletes), a version is immutable, DeleteLayerVersion
of a missing version succeeds, and another account may read and use a version only when its policy
(AddLayerVersionPermission) allows ``lambda:GetLayerVersion`` to that account, its organization or
everyone.
"""

from __future__ import annotations

import base64
import json
import re
from typing import Any

from sqlalchemy import Connection, select, update

from controller.api import RequestContext, ResourceInfo
from controller.awslambda import code_source, code_urls, records, state
from controller.awslambda.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from controller.awslambda.service import api

DEFAULT_PAGE = 50
_NAME_RE = re.compile(r"[a-zA-Z0-9_-]{1,64}")
#: Version numbers past SQLite's integer range name no version (the model's type is a 64-bit long).
_MAX_VERSION = 2 ** 63 - 1


def layer_arn(region: str, account_id: str, name: str) -> str:
    return f"arn:aws:lambda:{region}:{account_id}:layer:{name}"


def _layer(ctx: RequestContext, layer_name: str) -> tuple[str, str, str]:
    """(account, region, name) of a LayerName given as a name or a layer ARN."""
    parts = layer_name.split(":")
    if len(parts) == 7 and parts[0] == "arn" and parts[5] == "layer":
        account, region, name = parts[4], parts[3], parts[6]
    else:
        account, region, name = ctx.account_id, ctx.region, layer_name
    if not _NAME_RE.fullmatch(name):
        raise InvalidParameterValueException(f"Invalid layer name: {layer_name}")
    return account, region, name


def _resources(ctx: RequestContext, params: dict[str, Any]) -> list[str]:
    if params.get("Arn"):
        return [params["Arn"]]
    try:
        account, region, name = _layer(ctx, params.get("LayerName", ""))
    except InvalidParameterValueException:
        return ["*"]
    arn = layer_arn(region, account, name)
    return [f"{arn}:{params['VersionNumber']}" if params.get("VersionNumber") is not None else arn]


def _version_row(conn: Connection, account: str, region: str, name: str, version: int) -> dict[str, Any]:
    t = state.layer_versions
    row = None if not 1 <= version <= _MAX_VERSION else conn.execute(select(t).where(t.c.account_id == account, t.c.region == region, t.c.layer_name == name,
                                       t.c.version == version)).mappings().first()
    if row is None:
        raise ResourceNotFoundException("The resource you requested does not exist.")
    return dict(row)


def _output(ctx: RequestContext, row: dict[str, Any], *, content: bool = True) -> dict[str, Any]:
    document = row["document"]
    arn = layer_arn(row["region"], row["account_id"], row["layer_name"])
    output: dict[str, Any] = {"LayerArn": arn, "LayerVersionArn": f"{arn}:{row['version']}",
                              "Description": document.get("Description", ""), "CreatedDate": document["CreatedDate"],
                              "Version": row["version"]}
    for member in ("CompatibleRuntimes", "CompatibleArchitectures", "LicenseInfo"):
        if document.get(member):
            output[member] = document[member]
    if content:
        output["Content"] = {"Location": code_urls.presigned(ctx, document["CodeShaHex"]),
                             "CodeSha256": document["CodeSha256"], "CodeSize": document["CodeSize"]}
    return output


@api.operation("PublishLayerVersion", resources=_resources)
def publish_layer_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = _layer(ctx, params["LayerName"])
    if account != ctx.account_id:
        raise InvalidParameterValueException("Layers can only be published to the caller's own account.")
    content = params.get("Content") or {}
    if content.get("ImageUri"):
        raise InvalidParameterValueException("Layers take a zip: ZipFile or S3Bucket and S3Key.")
    package = code_source.from_code(ctx, content, "PublishLayerVersion")
    document = {"Description": params.get("Description") or "", "CreatedDate": records.timestamp(),
                "CompatibleRuntimes": params.get("CompatibleRuntimes") or [],
                "CompatibleArchitectures": params.get("CompatibleArchitectures") or [],
                "LicenseInfo": params.get("LicenseInfo"), "CodeSha256": package.ref.sha256_b64,
                "CodeShaHex": package.ref.sha256_hex, "CodeSize": package.ref.size,
                "UnzippedSize": package.unzipped_size}
    layers, versions = state.layers, state.layer_versions
    package.store(ctx.cloud)
    with records.writing(ctx.cloud) as conn:
        last = conn.execute(select(layers.c.last_version).where(
            layers.c.account_id == account, layers.c.region == region, layers.c.name == name)).scalar()
        number = (last or 0) + 1
        if last is None:
            conn.execute(layers.insert().values(account_id=account, region=region, name=name, last_version=number))
        else:
            conn.execute(update(layers).where(layers.c.account_id == account, layers.c.region == region,
                                              layers.c.name == name).values(last_version=number))
        row = {"account_id": account, "region": region, "layer_name": name, "version": number,
               "document": document, "policy": None}
        conn.execute(versions.insert().values(**row))
    ctx.audit_resources.append(f"{layer_arn(region, account, name)}:{number}")
    return _output(ctx, row)


@api.operation("GetLayerVersion", resources=_resources)
def get_layer_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = _layer(ctx, params["LayerName"])
    with ctx.cloud.db.read() as conn:
        return _output(ctx, _version_row(conn, account, region, name, int(params["VersionNumber"])))


@api.operation("GetLayerVersionByArn", resources=_resources, action="lambda:GetLayerVersion")
def get_layer_version_by_arn(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    arn = params["Arn"]
    prefix, _, version = arn.rpartition(":")
    if not version.isdigit():
        raise InvalidParameterValueException(f"Invalid layer version ARN: {arn}")
    account, region, name = _layer(ctx, prefix)
    with ctx.cloud.db.read() as conn:
        return _output(ctx, _version_row(conn, account, region, name, int(version)))


def _matches(document: dict[str, Any], params: dict[str, Any]) -> bool:
    runtime, architecture = params.get("CompatibleRuntime"), params.get("CompatibleArchitecture")
    return (not runtime or runtime in document.get("CompatibleRuntimes", [])) and \
        (not architecture or architecture in document.get("CompatibleArchitectures", []))


def _page(items: list[Any], params: dict[str, Any]) -> tuple[list[Any], str | None]:
    limit = params.get("MaxItems") or DEFAULT_PAGE
    start = 0
    if params.get("Marker"):
        try:
            start = int(base64.urlsafe_b64decode(params["Marker"].encode()))
            if start < 0:
                raise ValueError(start)
        except ValueError:
            raise InvalidParameterValueException(f"Invalid marker: {params['Marker']}") from None
    page = items[start:start + limit]
    more = start + limit < len(items)
    return page, base64.urlsafe_b64encode(str(start + limit).encode()).decode() if more else None


@api.operation("ListLayerVersions", resources=_resources)
def list_layer_versions(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = _layer(ctx, params["LayerName"])
    t = state.layer_versions
    with ctx.cloud.db.read() as conn:
        rows = [dict(row) for row in conn.execute(select(t).where(
            t.c.account_id == account, t.c.region == region, t.c.layer_name == name)
            .order_by(t.c.version.desc())).mappings()]
    rows = [row for row in rows if _matches(row["document"], params)]
    page, marker = _page(rows, params)
    output: dict[str, Any] = {"LayerVersions": [_output(ctx, row, content=False) for row in page]}
    if marker:
        output["NextMarker"] = marker
    return output


@api.operation("ListLayers")
def list_layers(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    t = state.layer_versions
    with ctx.cloud.db.read() as conn:
        rows = [dict(row) for row in conn.execute(select(t).where(
            t.c.account_id == ctx.account_id, t.c.region == ctx.region)
            .order_by(t.c.layer_name, t.c.version.desc())).mappings()]
    latest: dict[str, dict[str, Any]] = {}
    for row in rows:
        if _matches(row["document"], params):
            latest.setdefault(row["layer_name"], row)
    page, marker = _page(list(latest.values()), params)
    output: dict[str, Any] = {"Layers": [{
        "LayerName": row["layer_name"], "LayerArn": layer_arn(row["region"], row["account_id"], row["layer_name"]),
        "LatestMatchingVersion": {key: value for key, value in _output(ctx, row, content=False).items()
                                  if key != "LayerArn"}} for row in page]}
    if marker:
        output["NextMarker"] = marker
    return output


@api.operation("DeleteLayerVersion", resources=_resources)
def delete_layer_version(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = _layer(ctx, params["LayerName"])
    t = state.layer_versions
    version = int(params["VersionNumber"])
    if 1 <= version <= _MAX_VERSION:
        with records.writing(ctx.cloud) as conn:
            conn.execute(t.delete().where(t.c.account_id == account, t.c.region == region, t.c.layer_name == name,
                                          t.c.version == version))
    return {}


def _layer_principal(principal: str) -> Any:
    return "*" if principal == "*" else {"AWS": f"arn:aws:iam::{principal}:root"} if principal.isdigit() else \
        {"AWS": principal}


@api.operation("AddLayerVersionPermission", resources=_resources)
def add_layer_version_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = _layer(ctx, params["LayerName"])
    version = int(params["VersionNumber"])
    arn = f"{layer_arn(region, account, name)}:{version}"
    if params["Action"] != "lambda:GetLayerVersion":
        raise InvalidParameterValueException("Action must be lambda:GetLayerVersion.")
    statement: dict[str, Any] = {"Sid": params["StatementId"], "Effect": "Allow",
                                 "Principal": _layer_principal(params["Principal"]),
                                 "Action": "lambda:GetLayerVersion", "Resource": arn}
    if params.get("OrganizationId"):
        statement["Condition"] = {"StringEquals": {"aws:PrincipalOrgID": params["OrganizationId"]}}
    with records.writing(ctx.cloud) as conn:
        row = _version_row(conn, account, region, name, version)
        policy = row["policy"] or {"Version": "2012-10-17", "Id": "default", "Statement": [], "RevisionId": ""}
        records.check_revision(params.get("RevisionId"), policy["RevisionId"])
        if any(s["Sid"] == params["StatementId"] for s in policy["Statement"]):
            raise ResourceConflictException("The statement id (sid) provided already exists. Please provide a new "
                                            "statement id, or remove the existing statement.")
        policy = {**policy, "Statement": [*policy["Statement"], statement], "RevisionId": records.new_revision()}
        _save_policy(conn, row, policy)
    return {"Statement": json.dumps(statement, separators=(",", ":")), "RevisionId": policy["RevisionId"]}


@api.operation("RemoveLayerVersionPermission", resources=_resources)
def remove_layer_version_permission(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = _layer(ctx, params["LayerName"])
    with records.writing(ctx.cloud) as conn:
        row = _version_row(conn, account, region, name, int(params["VersionNumber"]))
        policy = row["policy"] or {"Statement": [], "RevisionId": ""}
        records.check_revision(params.get("RevisionId"), policy["RevisionId"])
        kept = [s for s in policy["Statement"] if s["Sid"] != params["StatementId"]]
        if len(kept) == len(policy["Statement"]):
            raise ResourceNotFoundException(f"Statement {params['StatementId']} is not found in resource policy.")
        _save_policy(conn, row, {**policy, "Statement": kept, "RevisionId": records.new_revision()} if kept else None)
    return {}


@api.operation("GetLayerVersionPolicy", resources=_resources)
def get_layer_version_policy(ctx: RequestContext, params: dict[str, Any]) -> dict[str, Any]:
    account, region, name = _layer(ctx, params["LayerName"])
    with ctx.cloud.db.read() as conn:
        policy = _version_row(conn, account, region, name, int(params["VersionNumber"]))["policy"]
    if not policy:
        raise ResourceNotFoundException("No policy is associated with the given resource.")
    document = {key: value for key, value in policy.items() if key != "RevisionId"}
    return {"Policy": json.dumps(document, separators=(",", ":")), "RevisionId": policy["RevisionId"]}


def _save_policy(conn: Connection, row: dict[str, Any], policy: dict[str, Any] | None) -> None:
    t = state.layer_versions
    conn.execute(update(t).where(t.c.account_id == row["account_id"], t.c.region == row["region"],
                                 t.c.layer_name == row["layer_name"], t.c.version == row["version"])
                 .values(policy=policy))


def layer_resource_info(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """A layer version's owner and policy, for IAM (another account reads it only if the policy allows)."""
    parts = arn.split(":")
    if len(parts) != 8 or not parts[7].isdigit():
        return ResourceInfo(owner_account=parts[4]) if len(parts) >= 5 else None
    try:
        with ctx.cloud.db.read() as conn:
            row = _version_row(conn, parts[4], parts[3], parts[6], int(parts[7]))
    except ResourceNotFoundException:
        return ResourceInfo(owner_account=parts[4])
    policy = row["policy"]
    text = json.dumps({"Version": "2012-10-17", "Statement": policy["Statement"]}) if policy else None
    return ResourceInfo(owner_account=row["account_id"], policy=text)
