"""Object and bucket metadata in the state store: lookups, versioning rules, listing sources.

Every function takes an open connection, so callers decide the transaction: a write
(PUT, DELETE, completing an upload) re-reads the bucket and the key's current version
inside the same ``BEGIN IMMEDIATE`` transaction that commits the change, which makes
conditional writes and versioning transitions race-free. Functions that drop versions
return the blob ids those versions used; the caller discards them *after* commit.

The statements on every GET and PUT are plain SQL run on the SQLite connection under
the SQLAlchemy one (same transaction), with rows decoded by the tables' own column
types: building and executing a SQLAlchemy statement costs ten times what SQLite takes
to answer it, on every request.
Bucket rows, read by nearly every request and written rarely, are also cached
(:class:`BucketCache`).
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from collections.abc import Callable, Sequence
from functools import lru_cache, partial
from typing import Any

from sqlalchemy import Boolean, Connection, Table, false, func, literal, select

from controller.s3.errors import InvalidArgument, MethodNotAllowed, NoSuchVersion, no_such_bucket, no_such_key
from controller.s3.naming import new_version_id, version_sequence
from controller.s3.paging import AFTER_KEY, Fetch, Position, Row
from controller.s3.state import buckets, objects, uploads
from controller.state import JsonText, UtcDateTime

Record = dict[str, Any]


def _codec(table: Table) -> tuple[dict[str, Callable[[Any], Any]], dict[str, Callable[[Any], Any]]]:
    """Per-column decoders and encoders for plain-SQL rows, from the table's column types."""
    decoders: dict[str, Callable[[Any], Any]] = {}
    encoders: dict[str, Callable[[Any], Any]] = {}
    for column in table.columns:
        kind = column.type
        if isinstance(kind, JsonText | UtcDateTime):
            decoders[column.name] = partial(kind.process_result_value, dialect=None)
            encoders[column.name] = partial(kind.process_bind_param, dialect=None)
        elif isinstance(kind, Boolean):
            decoders[column.name] = bool
            encoders[column.name] = int
    return decoders, encoders


_BUCKET_DECODE, _ = _codec(buckets)
_OBJECT_DECODE, _OBJECT_ENCODE = _codec(objects)


def _run(conn: Connection, sql: str, params: tuple[Any, ...] = ()) -> sqlite3.Cursor:
    """Execute on the DBAPI connection under ``conn``: inside its transaction, if it has one."""
    return conn.connection.dbapi_connection.execute(sql, params)


def _first(conn: Connection, sql: str, params: tuple[Any, ...],
           decoders: dict[str, Callable[[Any], Any]] | None = None) -> Record | None:
    cursor = _run(conn, sql, params)
    try:
        row = cursor.fetchone()
        names = [column[0] for column in cursor.description]
    finally:
        cursor.close()
    if row is None:
        return None
    decoders = decoders or {}
    return {name: decoders[name](value) if name in decoders else value for name, value in zip(names, row, strict=True)}


def get_bucket(conn: Connection, name: str) -> Record | None:
    return _first(conn, "SELECT * FROM s3_buckets WHERE name = ?", (name,), _BUCKET_DECODE)


#: Announced (``Database.announce``) by every transaction that writes ``s3_buckets`` (all in this package):
#: each process serving S3 clears its :class:`BucketCache` when it hears it.
BUCKETS_TOPIC = "s3.buckets"


class BucketCache:
    """Bucket rows by name, read through from the state store.

    Every write to ``s3_buckets`` announces :data:`BUCKETS_TOPIC`, whose subscriber is
    :meth:`invalidate`: in the writing process once it commits, in the others before the
    write's answer leaves (and a request syncs the bus before reading the cache). A load that
    overlaps an invalidation is not kept (the generation moved), and one that read before a
    commit of another process is cleared by that commit's announcement, which comes after
    it: so a stale row does not outlive the announcement of the write that made it stale.
    """

    def __init__(self) -> None:
        self._rows: dict[str, Record | None] = {}
        self._generation = 0
        self._lock = threading.Lock()

    def get(self, conn_factory: Callable[[], Any], name: str) -> Record | None:
        try:
            return self._rows[name]
        except KeyError:
            pass
        generation = self._generation
        with conn_factory() as conn:
            row = get_bucket(conn, name)
        with self._lock:
            if generation == self._generation:
                self._rows[name] = row
        return row

    def invalidate(self) -> None:
        with self._lock:
            self._generation += 1
            self._rows.clear()


def version_exists(conn: Connection, seq: int) -> bool:
    """Whether version row ``seq`` is still there (its segments never change; only whether it exists)."""
    return _first(conn, "SELECT 1 AS found FROM s3_objects WHERE seq = ?", (seq,)) is not None


def require_bucket(conn: Connection, name: str) -> Record:
    bucket = get_bucket(conn, name)
    if bucket is None:
        raise no_such_bucket(name)
    return bucket


INLINE_PREFIX = "i"


def is_inline(blob_id: str) -> bool:
    """Inline ids start with ``i``; backend blob ids are hexadecimal."""
    return blob_id.startswith(INLINE_PREFIX)


def blob_ids(version: Record) -> list[str]:
    """The backend blobs of a version (inline ones are rows, read and dropped with the version)."""
    return [segment["blob"] for segment in version["segments"] if not is_inline(segment["blob"])]


def inline_data(conn: Connection, version: Record) -> dict[str, bytes]:
    """The bytes of a version's inline segments, read in the caller's snapshot."""
    found: dict[str, bytes] = {}
    for segment in version["segments"]:
        if is_inline(segment["blob"]):
            row = _first(conn, "SELECT data FROM s3_inline WHERE blob = ?", (segment["blob"],))
            if row is None:
                raise LookupError(f"inline blob {segment['blob']} of {version['key']!r} is missing")
            found[segment["blob"]] = row["data"]
    return found


def put_inline(conn: Connection, blobs: dict[str, bytes]) -> None:
    for blob_id, data in blobs.items():
        _run(conn, "INSERT INTO s3_inline (blob, data) VALUES (?, ?)", (blob_id, data)).close()


def _release(conn: Connection, segments: list[dict[str, Any]]) -> list[str]:
    """Drop the inline bytes of dropped segments now (same transaction); return the backend blobs."""
    kept = []
    for segment in segments:
        if is_inline(segment["blob"]):
            _run(conn, "DELETE FROM s3_inline WHERE blob = ?", (segment["blob"],)).close()
        else:
            kept.append(segment["blob"])
    return kept


def find_version(conn: Connection, bucket: str, key: str, version_id: str | None = None) -> Record | None:
    """The key's current version (possibly a delete marker), or the named version; None if absent."""
    if version_id is None:
        return _first(conn, "SELECT * FROM s3_objects WHERE bucket = ? AND key = ? AND is_latest = 1",
                      (bucket, key), _OBJECT_DECODE)
    return _first(conn, "SELECT * FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = ?",
                  (bucket, key, version_id), _OBJECT_DECODE)


def readable_version(conn: Connection, bucket: str, key: str, version_id: str | None) -> Record:
    """The version a GET/HEAD/copy reads, or S3's 404 (a delete marker is "no such key")."""
    if version_id is not None:
        check_version_id(version_id)
    version = find_version(conn, bucket, key, version_id)
    if version is None:
        if version_id is not None:
            refuse_malformed_version_id(version_id)
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


def refuse_malformed_version_id(version_id: str, argument: str = "versionId") -> None:
    """InvalidArgument for a string no version id could be (for one no version has, S3 answers otherwise)."""
    if version_id != "null" and version_sequence(version_id) is None:
        raise InvalidArgument("Invalid version id specified", ArgumentName=argument, ArgumentValue=version_id)


def current_etag(conn: Connection, bucket: str, key: str) -> str | None:
    """The ETag of the key's current object; None when it has none (or only a delete marker)."""
    row = _first(conn, "SELECT etag, delete_marker FROM s3_objects WHERE bucket = ? AND key = ? AND is_latest = 1",
                 (bucket, key))
    if row is None or row["delete_marker"]:
        return None
    return row["etag"]


def _drop_null_version(conn: Connection, bucket: str, key: str) -> list[str]:
    row = _first(conn, "SELECT seq, segments FROM s3_objects WHERE bucket = ? AND key = ? AND version_id = 'null'",
                 (bucket, key), _OBJECT_DECODE)
    if row is None:
        return []
    _run(conn, "DELETE FROM s3_objects WHERE seq = ?", (row["seq"],)).close()
    return _release(conn, row["segments"])


@lru_cache(maxsize=64)
def _insert_sql(columns: tuple[str, ...]) -> str:
    return f"INSERT INTO s3_objects ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"


def _insert_version(conn: Connection, values: Record) -> None:
    columns = tuple(values)
    _run(conn, _insert_sql(columns), tuple(
        _OBJECT_ENCODE[name](values[name]) if name in _OBJECT_ENCODE else values[name] for name in columns)).close()


def commit_version(conn: Connection, bucket: Record, key: str, values: Record) -> tuple[str, list[str]]:
    """Make ``values`` the key's current version under the bucket's versioning state.

    Unversioned and suspended buckets replace the ``null`` version; versioned buckets
    add a version. Returns the new version id and the blobs of the replaced version.
    """
    name = bucket["name"]
    row: Record = {"bucket": name, "key": key, "is_latest": True}
    if bucket["versioning"] == "Enabled":
        # the id carries the row's sequence: a version-id-marker stays a position after a delete
        sequence = _next_sequence(conn)
        version_id = new_version_id(sequence)
        row.update(seq=sequence)
        discarded: list[str] = []
    else:
        version_id = "null"
        discarded = _drop_null_version(conn, name, key)
    _run(conn, "UPDATE s3_objects SET is_latest = 0 WHERE bucket = ? AND key = ? AND is_latest = 1",
         (name, key)).close()
    _insert_version(conn, {**row, "version_id": version_id, **values})
    return version_id, discarded


def _next_sequence(conn: Connection) -> int:
    """The ``seq`` the next version row gets (AUTOINCREMENT never reuses one; the caller holds the write lock).
    On PostgreSQL it is taken from the column's sequence, which then never hands it out again."""
    if conn.dialect.name == "postgresql":
        return int(_first(conn, "SELECT nextval(pg_get_serial_sequence('s3_objects', 'seq')) AS seq", ())["seq"])
    found = _first(conn, "SELECT seq FROM sqlite_sequence WHERE name = 's3_objects'", ())
    return int(found["seq"]) + 1 if found else 1


def _promote_newest(conn: Connection, bucket: str, key: str) -> None:
    _run(conn, "UPDATE s3_objects SET is_latest = 1 WHERE seq = (SELECT max(seq) FROM s3_objects "
         "WHERE bucket = ? AND key = ?)", (bucket, key)).close()


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
            refuse_malformed_version_id(version_id)
            return {"VersionId": version_id}, []
        _run(conn, "DELETE FROM s3_objects WHERE seq = ?", (version["seq"],)).close()
        if version["is_latest"]:
            _promote_newest(conn, name, key)
        result: Record = {"VersionId": version_id}
        if version["delete_marker"]:
            result["DeleteMarker"] = True
        return result, _release(conn, version["segments"])
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
    if after.rank == AFTER_KEY:
        return [column_key > after.key]
    return [(column_key > after.key) | ((column_key == after.key) & (column_rank > after.rank))]


def current_objects(conn: Connection, bucket: str) -> Fetch:
    """ListObjects' source: each key's current version, if it is not a delete marker."""

    def fetch(after: Position | None, upper: str | None, limit: int) -> Sequence[Row]:
        query = select(*_LISTED, literal(0).label("rank")).where(
            objects.c.bucket == bucket, objects.c.is_latest, objects.c.delete_marker == false())
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


def version_marker_position(conn: Connection, bucket: str, key: str, version_id: str) -> Position:
    """Where ListObjectVersions resumes after ``(key-marker, version-id-marker)``.

    A marker is a position, not a reference: after a version that still exists, or after
    the place a deleted one had (its sequence is inside the id). A deleted ``null`` version
    left no trace, so the key's remaining versions are listed again rather than skipped.
    Only a string that is no version id at all is InvalidArgument.
    """
    seq = conn.execute(select(objects.c.seq).where(objects.c.bucket == bucket, objects.c.key == key,
                                                   objects.c.version_id == version_id)).scalar()
    if seq is None:
        seq = version_sequence(version_id)
    if seq is not None:
        return Position(key, -seq)
    refuse_malformed_version_id(version_id, "version-id-marker")
    return Position(key)  # the null version


def pending_uploads(conn: Connection, bucket: str) -> Fetch:
    """ListMultipartUploads' source: uploads by key, oldest first within a key.

    Upload ids sort by creation time (:func:`~controller.s3.naming.new_upload_id`), so the
    rank is the id itself and any ``upload-id-marker`` is a position, existing or not.
    """

    def fetch(after: Position | None, upper: str | None, limit: int) -> Sequence[Row]:
        query = select(uploads, uploads.c.upload_id.label("rank")).where(
            uploads.c.bucket == bucket, *_after(uploads.c.key, uploads.c.upload_id, after))
        if upper is not None:
            query = query.where(uploads.c.key < upper)
        return conn.execute(query.order_by(uploads.c.key, uploads.c.upload_id).limit(limit)).all()

    return fetch
