"""Systems Manager documents' tables, the reads every document call shares, and the accessors other parts of
the controller use (Session Manager's preferences, Run Command's documents).

A document row holds what is the document's as a whole (its type, which version is the default, the newest
version number, its tags); a version row what each CreateDocument or UpdateDocument wrote: the content as the
caller gave it (GetDocument returns it unchanged in its own format), the format, names, and the facts
DescribeDocument shows of it (schema version, description, parameters, platforms), worked out once when it was
written. Versions are numbered from 1; times are epoch seconds. AWS-owned documents are not rows
(:mod:`controller.ssm.aws_documents`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Column, Connection, Float, Integer, RowMapping, String, Table, Text, select

from controller.ssm import document_content
from controller.state import JsonText, metadata

SESSION_PREFERENCES = "SSM-SessionManagerRunShell"

documents = Table(
    "ssm_documents", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("document_type", String(64), nullable=False),
    Column("default_version", Integer, nullable=False),
    #: The highest version number that exists (UpdateDocument writes the next one).
    Column("latest_version", Integer, nullable=False),
    Column("requires", JsonText),                       # [{"Name", "Version", ...}] as CreateDocument gave it
    Column("tags", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
)

document_versions = Table(
    "ssm_document_versions", metadata,
    Column("account_id", String(12), primary_key=True),
    Column("region", String(32), primary_key=True),
    Column("name", String(128), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("version_name", String(128)),
    Column("content", Text, nullable=False),
    Column("document_format", String(8), nullable=False),   # JSON | YAML | TEXT
    Column("display_name", String(1024)),
    Column("target_type", String(200)),
    Column("content_hash", String(64), nullable=False),
    #: :class:`controller.ssm.document_content.Facts` of the content, as JSON.
    Column("facts", JsonText, nullable=False),
    Column("created_at", Float, nullable=False),
)


def find_document(conn: Connection, account_id: str, region: str, name: str) -> RowMapping | None:
    """The account's document row called ``name``, or None."""
    return conn.execute(select(documents).where(
        documents.c.account_id == account_id, documents.c.region == region, documents.c.name == name)
    ).mappings().first()


def version_rows(conn: Connection, account_id: str, region: str, name: str) -> list[RowMapping]:
    """Every version of the account's document ``name``, oldest first."""
    return list(conn.execute(select(document_versions).where(
        document_versions.c.account_id == account_id, document_versions.c.region == region,
        document_versions.c.name == name).order_by(document_versions.c.version)).mappings())


def pick_version(rows: list[RowMapping], default: int, latest: int, version: str | None,
                 version_name: str | None) -> RowMapping | None:
    """The version a DocumentVersion (``$DEFAULT``, ``$LATEST`` or a number) and/or VersionName select (the
    default one when neither is given); None when no version matches both. Numbers are compared as text, so a
    huge one never reaches SQLite."""
    if version is None and version_name is None:
        version = "$DEFAULT"
    number = {"$DEFAULT": str(default), "$LATEST": str(latest)}.get(version or "", version)
    for row in rows:
        if (number is None or str(row["version"]) == number) and \
                (version_name is None or row["version_name"] == version_name):
            return row
    return None


def body_of(row: RowMapping) -> dict[str, Any] | None:
    """A version's content parsed (None for TEXT content): it was checked when written, so it parses."""
    if row["document_format"] == "TEXT":
        return None
    return document_content.parse(row["content"], row["document_format"])


def session_preferences(conn: Connection, account_id: str, region: str) -> dict[str, Any]:
    """The account's Session Manager preferences: the ``inputs`` of the default version of its
    ``SSM-SessionManagerRunShell`` document (DocumentType Session), or {} when it has none.

    Session Manager reads them when a shell starts (logging destinations, timeouts, run-as user, shell
    profile), as AWS does; the document is the account's own, created and updated with the document calls.
    """
    document = find_document(conn, account_id, region, SESSION_PREFERENCES)
    if document is None or document["document_type"] != "Session":
        return {}
    rows = version_rows(conn, account_id, region, SESSION_PREFERENCES)
    row = pick_version(rows, document["default_version"], document["latest_version"], None, None)
    return document_content.session_inputs(body_of(row)) if row is not None else {}


def command_document(conn: Connection, account_id: str, region: str, name: str,
                     version: str | None) -> dict[str, Any] | None:
    """The parsed content of the Command document ``name`` that the account owns, or None when there is no
    such document (or version, or it is not a Command document).

    ``version`` None is the default version (as SendCommand without DocumentVersion runs), ``$DEFAULT`` the
    same, ``$LATEST`` the newest, else a version number as text. ``name`` may also be the document's ARN.
    """
    if name.startswith("arn:") and ":document/" in name:
        head, name = name.split(":document/", 1)
        if head.split(":")[4:5] != [account_id]:
            return None
    document = find_document(conn, account_id, region, name)
    if document is None or document["document_type"] != "Command":
        return None
    row = pick_version(version_rows(conn, account_id, region, name), document["default_version"],
                       document["latest_version"], version, None)
    return body_of(row) if row is not None else None
