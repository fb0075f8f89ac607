"""Object and bucket metadata in the state store: lookups, versioning rules, listing sources.

Every function takes an open connection, so callers decide the transaction: a write
(PUT, DELETE, completing an upload) re-reads the bucket and the key's current version
inside the same ``BEGIN IMMEDIATE`` transaction that commits the change, which makes
conditional writes and versioning transitions race-free. Functions that drop versions
return the blob ids those versions used; the caller discards them *after* commit.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, delete, func, insert, literal, literal_column, select, update

from controller.s3.errors import InvalidArgument, MethodNotAllowed, NoSuchVersion, no_such_bucket, no_such_key
from controller.s3.listing import Fetch, Position, Row
from controller.s3.naming import new_version_id
from controller.s3.state import buckets, objects, uploads

Record = dict[str, Any]


def get_bucket(conn: Connection, name: str) -> Record | None:
    row = conn.execute(select(buckets).where(buckets.c.name == name)).mappings().first()
    return dict(row) if row else None


def require_bucket(conn: Connection, name: str) -> Record:
    bucket = get_bucket(conn, name)
    if bucket is None:
        raise no_such_bucket(name)
    return bucket


def blob_ids(version: Record) -> list[str]:
    return [segment["blob"] for segment in version["segments"]]


def find_version(conn: Connection, bucket: str, key: str, version_id: str | None = None) -> Record | None:
    """The key's current version (possibly a delete marker), or the named version; None if absent."""
    query = select(objects).where(objects.c.bucket == bucket, objects.c.key == key)
    if version_id is None:
        query = query.where(objects.c.is_latest)
    else:
        query = query.where(objects.c.version_id == version_id)
    row = conn.execute(query).mappings().first()
    return dict(row) if row else None


def readable_version(conn: Connection, bucket: str, key: str, version_id: str | None) -> Record:
    """The version a GET/HEAD/copy reads, or S3's 404 (a delete marker is "no such key")."""
    if version_id is not None:
        check_version_id(version_id)
    version = find_version(conn, bucket, key, version_id)
    if version is None:
        if version_id is not None:
            raise NoSuchVersion("The specified version does not exist.", Key=key, VersionId=version_id)
        raise no_such_key(key)
    if version["delete_marker"]:
        headers = {"x-amz-delete-marker": "true", "x-amz-version-id": version["version_id"]}
        if version_id is not None:
            raise MethodNotAllowed("The specified method is not allowed against this resource.", Method="GET",
                                   ResourceType="DeleteMarker", headers=headers)
        error = no_such_key(key)
        error.headers.update(headers)
        raise error
    return version


def check_version_id(version_id: str) -> None:
    if not version_id or len(version_id) > 64:
        raise InvalidArgument("Invalid version id specified", ArgumentName="versionId", ArgumentValue=version_id)


def current_etag(conn: Connection, bucket: str, key: str) -> str | None:
    """The ETag of the key's current object; None when it has none (or only a delete marker)."""
    version = find_version(conn, bucket, key)
    if version is None or version["delete_marker"]:
        return None
    return version["etag"]


def _drop_null_version(conn: Connection, bucket: str, key: str) -> list[str]:
    row = conn.execute(select(objects.c.seq, objects.c.segments).where(
        objects.c.bucket == bucket, objects.c.key == key, objects.c.version_id == "null")).first()
    if row is None:
        return []
    conn.execute(delete(objects).where(objects.c.seq == row.seq))
    return [segment["blob"] for segment in row.segments]


def commit_version(conn: Connection, bucket: Record, key: str, values: Record) -> tuple[str, list[str]]:
    """Make ``values`` the key's current version under the bucket's versioning state.

    Unversioned and suspended buckets replace the ``null`` version; versioned buckets
    add a version. Returns the new version id and the blobs of the replaced version.
    """
    name = bucket["name"]
    if bucket["versioning"] == "Enabled":
        version_id = new_version_id()
        discarded: list[str] = []
    else:
        version_id = "null"
        discarded = _drop_null_version(conn, name, key)
    conn.execute(update(objects).where(objects.c.bucket == name, objects.c.key == key, objects.c.is_latest)
                 .values(is_latest=False))
    conn.execute(insert(objects).values(bucket=name, key=key, version_id=version_id, is_latest=True, **values))
    return version_id, discarded


def _promote_newest(conn: Connection, bucket: str, key: str) -> None:
    newest = conn.execute(select(func.max(objects.c.seq)).where(
        objects.c.bucket == bucket, objects.c.key == key)).scalar()
    if newest is not None:
        conn.execute(update(objects).where(objects.c.seq == newest).values(is_latest=True))


def delete_key(conn: Connection, bucket: Record, key: str, version_id: str | None, *, owner: str,
               now: dt.datetime) -> tuple[Record, list[str]]:
    """DeleteObject's effect: remove a version, or add a delete marker (versioned buckets).

    Returns DeleteObject's output members and the blobs to discard after commit.
    """
    name = bucket["name"]
    if version_id is not None:
        check_version_id(version_id)
        version = find_version(conn, name, key, version_id)
        if version is None:
            return {"VersionId": version_id}, []
        conn.execute(delete(objects).where(objects.c.seq == version["seq"]))
        if version["is_latest"]:
            _promote_newest(conn, name, key)
        result: Record = {"VersionId": version_id}
        if version["delete_marker"]:
            result["DeleteMarker"] = True
        return result, blob_ids(version)
    if bucket["versioning"] == "":
        return {}, _drop_null_version(conn, name, key)
    marker_values = dict(delete_marker=True, last_modified=now, owner_account=owner, size=0, etag="",
                         storage_class="STANDARD", segments=[], acl="private")
    marker_id, discarded = commit_version(conn, bucket, key, marker_values)
    return {"DeleteMarker": True, "VersionId": marker_id}, discarded


def count_objects(conn: Connection, bucket: str) -> int:
    """Versions, delete markers and multipart uploads: S3 refuses to delete a bucket holding any."""
    versions = conn.execute(select(func.count()).select_from(objects).where(objects.c.bucket == bucket)).scalar()
    pending = conn.execute(select(func.count()).select_from(uploads).where(uploads.c.bucket == bucket)).scalar()
    return int(versions or 0) + int(pending or 0)


# --- listing sources ---------------------------------------------------------------------------------------

_LISTED = (objects.c.key, objects.c.version_id, objects.c.is_latest, objects.c.delete_marker,
           objects.c.last_modified, objects.c.size, objects.c.etag, objects.c.storage_class,
           objects.c.owner_account, objects.c.checksum, objects.c.parts_count)


def _after(column_key: Any, column_rank: Any, after: Position | None) -> list[Any]:
    if after is None:
        return []
    if after.rank is None:
        return [column_key >= after.key]
    return [(column_key > after.key) | ((column_key == after.key) & (column_rank > after.rank))]


def current_objects(conn: Connection, bucket: str) -> Fetch:
    """ListObjects' source: each key's current version, if it is not a delete marker."""

    def fetch(after: Position | None, upper: str | None, limit: int) -> Sequence[Row]:
        query = select(*_LISTED, literal(0).label("rank")).where(
            objects.c.bucket == bucket, objects.c.is_latest, objects.c.delete_marker.is_(False))
        if after is not None:
            query = query.where(objects.c.key > after.key if after.rank is not None else objects.c.key >= after.key)
        if upper is not None:
            query = query.where(objects.c.key < upper)
        return conn.execute(query.order_by(objects.c.key).limit(limit)).all()

    return fetch


def all_versions(conn: Connection, bucket: str) -> Fetch:
    """ListObjectVersions' source: every version and delete marker, newest first within a key."""
    rank = (-objects.c.seq).label("rank")

    def fetch(after: Position | None, upper: str | None, limit: int) -> Sequence[Row]:
        query = select(*_LISTED, rank).where(objects.c.bucket == bucket, *_after(objects.c.key, -objects.c.seq, after))
        if upper is not None:
            query = query.where(objects.c.key < upper)
        return conn.execute(query.order_by(objects.c.key, objects.c.seq.desc()).limit(limit)).all()

    return fetch


def version_rank(conn: Connection, bucket: str, key: str, version_id: str) -> int | None:
    """The listing rank of a version (for ``version-id-marker``), None if it does not exist."""
    seq = conn.execute(select(objects.c.seq).where(objects.c.bucket == bucket, objects.c.key == key,
                                                   objects.c.version_id == version_id)).scalar()
    return None if seq is None else -seq


_UPLOAD_RANK = literal_column("s3_uploads.rowid")


def pending_uploads(conn: Connection, bucket: str) -> Fetch:
    """ListMultipartUploads' source: uploads by key, oldest first within a key."""

    def fetch(after: Position | None, upper: str | None, limit: int) -> Sequence[Row]:
        query = select(uploads, _UPLOAD_RANK.label("rank")).where(
            uploads.c.bucket == bucket, *_after(uploads.c.key, _UPLOAD_RANK, after))
        if upper is not None:
            query = query.where(uploads.c.key < upper)
        return conn.execute(query.order_by(uploads.c.key, _UPLOAD_RANK).limit(limit)).all()

    return fetch


def upload_rank(conn: Connection, upload_id: str) -> int | None:
    return conn.execute(select(_UPLOAD_RANK).where(uploads.c.upload_id == upload_id)).scalar()
