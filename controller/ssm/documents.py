"""Systems Manager documents: CreateDocument, GetDocument, DescribeDocument, UpdateDocument,
UpdateDocumentDefaultVersion, DeleteDocument, ListDocuments and ListDocumentVersions.

A document is ``Active`` as soon as CreateDocument returns (AWS passes through ``Creating`` on its way there;
nothing here is asynchronous). UpdateDocument writes the next version of the newest one and leaves the default
where it was; DeleteDocument removes the whole document, or one version that is not the default. AWS's own
documents (:mod:`controller.ssm.aws_documents`) are read like the account's and listed with Owner ``Amazon``;
changing them is refused with AccessDeniedException. IAM authorizes every call on the document's ARN
(``document/<name>`` in the account, or without an account for AWS's), and reads a document's tags as
``aws:ResourceTag`` (:func:`controller.ssm.tags.resource_info`).
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection, and_, delete, insert, select, update

from controller.api import Params, RequestContext
from controller.errors import error
from controller.ssm import aws_documents, document_content, names, tags
from controller.ssm.document_content import (
    DISPLAY_NAME_PATTERN,
    FORMATS,
    NAME_PATTERN,
    TARGET_TYPE_PATTERN,
    VERSION_NAME_PATTERN,
    VERSION_NUMBER_PATTERN,
    VERSION_PATTERN,
    check_enum,
    check_pattern,
)
from controller.ssm.document_state import (
    document_versions,
    documents,
    find_document,
    pick_version,
    version_rows,
)
from controller.ssm.service import api
from controller.ssm.writes import MAX_TAGS, TooManyTagsError

DocumentAlreadyExists = error("DocumentAlreadyExists")
InvalidDocument = error("InvalidDocument")
InvalidDocumentVersion = error("InvalidDocumentVersion")
InvalidDocumentOperation = error("InvalidDocumentOperation")
DuplicateDocumentContent = error("DuplicateDocumentContent")
DuplicateDocumentVersionName = error("DuplicateDocumentVersionName")
DocumentVersionLimitExceeded = error("DocumentVersionLimitExceeded")

MAX_VERSIONS = 1000
ARN_NAME_PATTERN = r"^[a-zA-Z0-9_\-.:/]{3,128}$"
Row = Mapping[str, Any]


def document_arn(ctx: RequestContext, name: str) -> str:
    """``arn:aws:ssm:<region>:<account>:document/<name>``; AWS's (reserved names) have no account."""
    return tags.document_arn(ctx.cloud.config.partition, ctx.region, ctx.account_id, name)


def _reference_arn(ctx: RequestContext, reference: str) -> str:
    return reference if reference.startswith("arn:") else document_arn(ctx, reference)


def _named(ctx: RequestContext, params: Params) -> list[str]:
    return [_reference_arn(ctx, params["Name"])]


def _not_found() -> InvalidDocument:
    return InvalidDocument("The specified document does not exist.")


def _name_of(ctx: RequestContext, reference: str) -> str:
    """The document name a Name member gives: a name, or the ARN of one of the account's documents or of AWS's
    in this region (documents shared by other accounts are not Cloudlet's)."""
    check_pattern(reference, "name", ARN_NAME_PATTERN)
    if not reference.startswith("arn:"):
        return reference
    parts = reference.split(":", 5)
    if len(parts) != 6 or parts[2] != "ssm" or parts[3] != ctx.region or not parts[5].startswith("document/"):
        raise _not_found()
    name = parts[5].split("/", 1)[1]
    if parts[4] != ("" if name in aws_documents.DOCUMENTS else ctx.account_id):
        raise _not_found()
    return name


def _load(ctx: RequestContext, conn: Connection, name: str) -> tuple[Row, list[Row]]:
    """A document the caller may read (its own or AWS's) and its versions, oldest first; InvalidDocument."""
    if name in aws_documents.DOCUMENTS:
        return aws_documents.DOCUMENTS[name].view()
    row = find_document(conn, ctx.account_id, ctx.region, name)
    if row is None:
        raise _not_found()
    return {**row, "owner": ctx.account_id}, version_rows(conn, ctx.account_id, ctx.region, name)


def _own(ctx: RequestContext, conn: Connection, name: str) -> Row:
    """The account's document a write changes: AWS's are refused (AccessDeniedException), unknown ones are
    InvalidDocument."""
    check_pattern(name, "name", NAME_PATTERN)
    if name in aws_documents.DOCUMENTS:
        raise names.AccessDeniedException(
            f"User: {ctx.principal.arn} is not authorized to perform: ssm:{ctx.operation} on resource: "
            f"{document_arn(ctx, name)}: documents owned by Amazon can't be changed.")
    row = find_document(conn, ctx.account_id, ctx.region, name)
    if row is None:
        raise _not_found()
    return row


def _check_selector(params: Params) -> None:
    """The patterns of DocumentVersion and VersionName, checked before any lookup (as Coral does)."""
    check_pattern(params.get("DocumentVersion"), "documentVersion", VERSION_PATTERN)
    check_pattern(params.get("VersionName"), "versionName", VERSION_NAME_PATTERN)


def _selected(document: Row, versions: list[Row], params: Params) -> Row:
    """The version a read asks for (the default one unless DocumentVersion or VersionName says otherwise)."""
    row = pick_version(versions, document["default_version"], document["latest_version"],
                       params.get("DocumentVersion"), params.get("VersionName"))
    if row is None:
        raise InvalidDocumentVersion("The document version is not valid or does not exist.")
    return row


def _description(document: Row, version: Row) -> Params:
    """The DocumentDescription of one version (CreateDocument, DescribeDocument, UpdateDocument)."""
    facts = version["facts"]
    output: Params = {
        "Hash": version["content_hash"], "HashType": "Sha256", "Name": document["name"],
        "Owner": document["owner"], "CreatedDate": version["created_at"], "Status": "Active",
        "DocumentVersion": str(version["version"]), "Parameters": facts["parameters"],
        "PlatformTypes": facts["platform_types"], "DocumentType": document["document_type"],
        "LatestVersion": str(document["latest_version"]), "DefaultVersion": str(document["default_version"]),
        "DocumentFormat": version["document_format"], "Tags": tags.tag_list(document["tags"])}
    optional = {"DisplayName": version["display_name"], "VersionName": version["version_name"],
                "Description": facts["description"], "SchemaVersion": facts["schema_version"],
                "TargetType": version["target_type"], "Requires": document["requires"]}
    return output | {key: value for key, value in optional.items() if value is not None}


def _check_members(params: Params) -> None:
    """The patterns of the members CreateDocument and UpdateDocument share (SSM's model leaves them to us)."""
    check_enum(params.get("DocumentFormat"), "documentFormat", FORMATS)
    check_pattern(params.get("VersionName"), "versionName", VERSION_NAME_PATTERN)
    check_pattern(params.get("DisplayName"), "displayName", DISPLAY_NAME_PATTERN, max_length=1024)
    check_pattern(params.get("TargetType"), "targetType", TARGET_TYPE_PATTERN, max_length=200)


def _version_values(ctx: RequestContext, name: str, version: int, params: Params, facts: Any, now: float,
                    prior: Row | None = None) -> dict[str, Any]:
    """A new version row; DisplayName and TargetType carry over from ``prior`` unless given again."""
    carried = {key: params.get(member, prior[key] if prior is not None else None)
               for key, member in (("display_name", "DisplayName"), ("target_type", "TargetType"))}
    return {"account_id": ctx.account_id, "region": ctx.region, "name": name, "version": version,
            "version_name": params.get("VersionName"), "content": params["Content"],
            "document_format": params.get("DocumentFormat", "JSON"), "facts": facts.as_json(),
            "content_hash": document_content.content_hash(params["Content"]), "created_at": now, **carried}


@api.operation("CreateDocument", resources=lambda ctx, params: [document_arn(ctx, params["Name"])])
def create_document(ctx: RequestContext, params: Params) -> Params:
    name, document_type = params["Name"], params.get("DocumentType", "Command")
    document_content.check_name(name)
    check_enum(document_type, "documentType", document_content.DOCUMENT_TYPES)
    _check_members(params)
    tagged = {tag["Key"]: tag.get("Value", "") for tag in params.get("Tags", [])}
    if len(tagged) > MAX_TAGS:
        raise TooManyTagsError(f"A document can have at most {MAX_TAGS} tags.")
    document_format = params.get("DocumentFormat", "JSON")
    _, facts = document_content.examine(params["Content"], document_format, document_type)
    now = time.time()
    with ctx.cloud.db.begin() as conn:
        if find_document(conn, ctx.account_id, ctx.region, name) is not None:
            raise DocumentAlreadyExists(f"Document with same name {name} already exists")
        conn.execute(insert(documents).values(
            account_id=ctx.account_id, region=ctx.region, name=name, document_type=document_type,
            default_version=1, latest_version=1, requires=params.get("Requires"), tags=tagged,
            created_at=now))
        conn.execute(insert(document_versions).values(**_version_values(ctx, name, 1, params, facts, now)))
        document, versions = _load(ctx, conn, name)
    ctx.audit_resources.append(document_arn(ctx, name))
    return {"DocumentDescription": _description(document, versions[0])}


@api.operation("GetDocument", resources=_named)
def get_document(ctx: RequestContext, params: Params) -> Params:
    name = _name_of(ctx, params["Name"])
    check_enum(params.get("DocumentFormat"), "documentFormat", FORMATS)
    _check_selector(params)
    with ctx.cloud.db.read() as conn:
        document, versions = _load(ctx, conn, name)
    version = _selected(document, versions, params)
    stored = version["document_format"]
    wanted = params.get("DocumentFormat", stored)
    converts = wanted != stored and stored != "TEXT"
    body = document_content.parse(version["content"], stored) if converts else None
    output: Params = {
        "Name": document["name"], "CreatedDate": version["created_at"],
        "DocumentVersion": str(version["version"]), "Status": "Active",
        "Content": document_content.render(body, version["content"], stored, wanted),
        "DocumentType": document["document_type"], "DocumentFormat": wanted}
    optional = {"DisplayName": version["display_name"], "VersionName": version["version_name"],
                "Requires": document["requires"]}
    return output | {key: value for key, value in optional.items() if value is not None}


@api.operation("DescribeDocument", resources=_named)
def describe_document(ctx: RequestContext, params: Params) -> Params:
    name = _name_of(ctx, params["Name"])
    _check_selector(params)
    with ctx.cloud.db.read() as conn:
        document, versions = _load(ctx, conn, name)
    return {"Document": _description(document, _selected(document, versions, params))}


@api.operation("UpdateDocument", resources=_named)
def update_document(ctx: RequestContext, params: Params) -> Params:
    name, requested = params["Name"], params.get("DocumentVersion")
    _check_members(params)
    check_pattern(requested, "documentVersion", VERSION_PATTERN)
    now = time.time()
    with ctx.cloud.db.begin() as conn:
        document = _own(ctx, conn, name)
        versions = version_rows(conn, ctx.account_id, ctx.region, name)
        latest = versions[-1]
        if requested is not None and requested not in ("$LATEST", str(latest["version"])):
            raise InvalidDocumentVersion(f"Only the latest version of a document can be updated: specify "
                                         f"$LATEST or {latest['version']}.")
        if len(versions) >= MAX_VERSIONS:
            raise DocumentVersionLimitExceeded(f"A document can have at most {MAX_VERSIONS} versions: delete "
                                               "some and try again.")
        _, facts = document_content.examine(params["Content"], params.get("DocumentFormat", "JSON"),
                                            document["document_type"])
        if document["document_type"] == "Command" and "1.2" in (facts.schema_version,
                                                                latest["facts"]["schema_version"]):
            raise document_content.InvalidDocumentSchemaVersion(
                "Documents of schema version 1.2 can't be updated: create a document of schema version 2.2.")
        if "VersionName" in params and any(row["version_name"] == params["VersionName"] for row in versions):
            raise DuplicateDocumentVersionName("The specified version name is a duplicate.")
        if any(row["content_hash"] == document_content.content_hash(params["Content"]) for row in versions):
            raise DuplicateDocumentContent("The content of the association document matches another "
                                           "document. Change the content of the document and try again.")
        number = latest["version"] + 1
        conn.execute(insert(document_versions).values(**_version_values(ctx, name, number, params, facts, now,
                                                                         prior=latest)))
        conn.execute(update(documents).where(*_document_is(ctx, name)).values(latest_version=number))
        document, versions = _load(ctx, conn, name)
    ctx.audit_resources.append(document_arn(ctx, name))
    return {"DocumentDescription": _description(document, versions[-1])}


def _document_is(ctx: RequestContext, name: str) -> tuple[Any, ...]:
    return (documents.c.account_id == ctx.account_id, documents.c.region == ctx.region,
            documents.c.name == name)


def _versions_of(ctx: RequestContext, name: str) -> tuple[Any, ...]:
    return (document_versions.c.account_id == ctx.account_id, document_versions.c.region == ctx.region,
            document_versions.c.name == name)


@api.operation("UpdateDocumentDefaultVersion", resources=_named)
def update_document_default_version(ctx: RequestContext, params: Params) -> Params:
    name, requested = params["Name"], params["DocumentVersion"]
    check_pattern(requested, "documentVersion", VERSION_NUMBER_PATTERN)
    with ctx.cloud.db.begin() as conn:
        document = _own(ctx, conn, name)
        row = pick_version(version_rows(conn, ctx.account_id, ctx.region, name), document["default_version"],
                           document["latest_version"], requested, None)
        if row is None:
            raise InvalidDocumentVersion("The document version is not valid or does not exist.")
        conn.execute(update(documents).where(*_document_is(ctx, name)).values(default_version=row["version"]))
    description = {"Name": name, "DefaultVersion": str(row["version"])}
    if row["version_name"] is not None:
        description["DefaultVersionName"] = row["version_name"]
    return {"Description": description}


@api.operation("DeleteDocument", resources=_named)
def delete_document(ctx: RequestContext, params: Params) -> Params:
    name, requested, version_name = params["Name"], params.get("DocumentVersion"), params.get("VersionName")
    _check_selector(params)
    with ctx.cloud.db.begin() as conn:
        document = _own(ctx, conn, name)
        if document["document_type"] == "ApplicationConfigurationSchema" and not params.get("Force"):
            raise InvalidDocumentOperation("Documents of type ApplicationConfigurationSchema are deleted "
                                           "only with Force.")
        if requested is None and version_name is None:
            conn.execute(delete(document_versions).where(*_versions_of(ctx, name)))
            conn.execute(delete(documents).where(*_document_is(ctx, name)))
            return {}
        versions = version_rows(conn, ctx.account_id, ctx.region, name)
        row = pick_version(versions, document["default_version"], document["latest_version"], requested,
                           version_name)
        if row is None:
            raise InvalidDocument("The specified document version does not exist.")
        if row["version"] == document["default_version"]:
            raise InvalidDocumentOperation("Default version of the document can't be deleted.")
        conn.execute(delete(document_versions).where(*_versions_of(ctx, name),
                                                     document_versions.c.version == row["version"]))
        remaining = max(item["version"] for item in versions if item["version"] != row["version"])
        conn.execute(update(documents).where(*_document_is(ctx, name)).values(latest_version=remaining))
    return {}


def _identifier(document: Row, version: Row) -> Params:
    """The DocumentIdentifier ListDocuments shows of a document (its default version)."""
    described = _description(document, version)
    keys = ("Name", "CreatedDate", "DisplayName", "Owner", "VersionName", "PlatformTypes", "DocumentVersion",
            "DocumentType", "SchemaVersion", "DocumentFormat", "TargetType", "Tags", "Requires")
    return {key: described[key] for key in keys if key in described}


#: What ListDocuments reads of a document and of its default version (not its content).
_HEAD = [documents.c[key] for key in ("name", "document_type", "default_version", "latest_version",
                                      "requires", "tags")]
_LISTED = [document_versions.c[key] for key in ("version", "version_name", "document_format", "display_name",
                                                "target_type", "content_hash", "facts", "created_at")]


@api.operation("ListDocuments")
def list_documents(ctx: RequestContext, params: Params) -> Params:
    size = names.check_max_results(params.get("MaxResults"), 50)
    after = names.decode_token(params.get("NextToken"))
    filters = document_content.list_filters(params)
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(select(*_HEAD, *_LISTED).join(document_versions, and_(
            document_versions.c.account_id == documents.c.account_id,
            document_versions.c.region == documents.c.region, document_versions.c.name == documents.c.name,
            document_versions.c.version == documents.c.default_version)).where(
            documents.c.account_id == ctx.account_id, documents.c.region == ctx.region)).all()
    items = []
    for row in rows:
        head = dict(zip([column.name for column in _HEAD], row[:len(_HEAD)], strict=True))
        version = dict(zip([column.name for column in _LISTED], row[len(_HEAD):], strict=True))
        items.append(_identifier({**head, "owner": ctx.account_id}, version))
    for document in aws_documents.DOCUMENTS.values():
        head, versions = document.view()
        items.append(_identifier(head, versions[0]))
    matched = sorted((item for item in items if all(
        document_content.filter_matches(item, key, values, ctx.account_id) for key, values in filters)),
        key=lambda item: item["Name"])
    chosen, token = names.page(matched, after, size, lambda item: item["Name"])
    output: Params = {"DocumentIdentifiers": chosen}
    if token:
        output["NextToken"] = token
    return output


@api.operation("ListDocumentVersions", resources=_named)
def list_document_versions(ctx: RequestContext, params: Params) -> Params:
    size = names.check_max_results(params.get("MaxResults"), 50)
    name = _name_of(ctx, params["Name"])
    with ctx.cloud.db.read() as conn:
        document, versions = _load(ctx, conn, name)
    items: list[Params] = []
    for version in versions:
        item: Params = {"Name": name, "DocumentVersion": str(version["version"]),
                        "CreatedDate": version["created_at"], "DocumentFormat": version["document_format"],
                        "IsDefaultVersion": version["version"] == document["default_version"],
                        "Status": "Active"}
        for key, column in (("DisplayName", "display_name"), ("VersionName", "version_name")):
            if version[column] is not None:
                item[key] = version[column]
        items.append(item)
    chosen, token = names.page_in_order(items, params.get("NextToken"), size,
                                        lambda item: item["DocumentVersion"])
    output: Params = {"DocumentVersions": chosen}
    if token:
        output["NextToken"] = token
    return output
