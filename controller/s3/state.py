"""S3's tables in the state store: buckets, object versions, multipart uploads and their parts.

Object data lives in the storage backend: a version row lists its ``segments`` (the
blobs that hold its bytes, in order, with their sizes and encryption IVs), so a
multipart object is simply the ordered list of its parts' blobs. A version row is
committed only after its blobs are durable, which is what makes a crash leave either
the old or the new object. Small objects are the exception: their bytes are a row of
``s3_inline``, written and removed in the same transaction as the version that uses
them (a 4 KiB PUT then costs one fsync, not three, and no file).

Ordering: ``seq`` increases with every write, so "newest version first" is ``seq``
descending; keys compare in SQLite's BINARY collation, which is UTF-8 byte order,
exactly S3's listing order.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Table,
    Text,
    UniqueConstraint,
)

from controller.state import JsonText, UtcDateTime, metadata

buckets = Table(
    "s3_buckets", metadata,
    Column("name", String(63), primary_key=True),
    Column("owner_account", String(12), nullable=False, index=True),
    Column("region", String(32), nullable=False),
    Column("created_at", UtcDateTime, nullable=False),
    #: "" (never enabled), "Enabled" or "Suspended"
    Column("versioning", String(16), nullable=False, default=""),
    #: a canned ACL's name, or explicit grants as JSON (see acl.py)
    Column("acl", Text, nullable=False, default="private"),
    #: the bucket policy as the owner sent it (JSON text), or NULL
    Column("policy", Text),
    Column("tags", JsonText),
    Column("cors", JsonText),
    Column("lifecycle", JsonText),
    Column("public_access_block", JsonText),
    Column("encryption", JsonText),
    Column("ownership", String(32)),
)

#: Bucket settings S3 stores and reads back but Cloudlet does not act on (see bucket_features.py): one row per
#: bucket that has any, removed with the bucket. A table of its own rather than more ``s3_buckets`` columns:
#: ``create_all`` adds a missing table to an existing state database, never a missing column.
bucket_features = Table(
    "s3_bucket_features", metadata,
    Column("bucket", String(63), ForeignKey("s3_buckets.name", ondelete="CASCADE"), primary_key=True),
    #: the WebsiteConfiguration as sent, or NULL
    Column("website", JsonText),
    #: the LoggingEnabled member of BucketLoggingStatus, or NULL (logging off)
    Column("logging", JsonText),
    #: the NotificationConfiguration (only an EventBridgeConfiguration can be stored), or NULL
    Column("notification", JsonText),
    #: {"ObjectLockEnabled": "Enabled", "Rule": {...}?} once Object Lock is on (it never goes off), or NULL
    Column("object_lock", JsonText),
)

objects = Table(
    "s3_objects", metadata,
    Column("seq", Integer, primary_key=True, autoincrement=True),
    Column("bucket", String(63), ForeignKey("s3_buckets.name"), nullable=False),
    Column("key", Text, nullable=False),
    #: "null" for objects written while versioning was off or suspended
    Column("version_id", String(64), nullable=False),
    Column("is_latest", Boolean, nullable=False),
    Column("delete_marker", Boolean, nullable=False, default=False),
    Column("last_modified", UtcDateTime, nullable=False),
    Column("owner_account", String(12), nullable=False),
    Column("size", BigInteger, nullable=False, default=0),
    Column("etag", String(80), nullable=False, default=""),
    Column("storage_class", String(32), nullable=False, default="STANDARD"),
    #: Content-Type, Cache-Control, Content-Disposition, Content-Encoding, Content-Language, Expires...
    Column("headers", JsonText),
    Column("user_metadata", JsonText),
    Column("tags", JsonText),
    Column("acl", Text, nullable=False, default="private"),
    #: {"algorithm": "CRC32", "value": "<base64>[-N]", "type": "FULL_OBJECT"|"COMPOSITE"} or NULL
    Column("checksum", JsonText),
    #: the wrapped data key and mode (see crypto.py), or NULL when stored in the clear
    Column("encryption", JsonText),
    #: [{"blob": id, "size": n, "iv": hex|null, "etag": part etag, "checksum": part checksum}, ...]
    Column("segments", JsonText, nullable=False),
    #: number of parts of a multipart object (NULL for a single PUT)
    Column("parts_count", Integer),
    UniqueConstraint("bucket", "key", "version_id", name="uq_s3_objects_version"),
    sqlite_autoincrement=True,
)
Index("ix_s3_objects_listing", objects.c.bucket, objects.c.key, objects.c.seq)
Index("ix_s3_objects_latest", objects.c.bucket, objects.c.is_latest, objects.c.key)

uploads = Table(
    "s3_uploads", metadata,
    Column("upload_id", String(80), primary_key=True),
    Column("bucket", String(63), ForeignKey("s3_buckets.name"), nullable=False),
    Column("key", Text, nullable=False),
    Column("initiated", UtcDateTime, nullable=False),
    Column("owner_account", String(12), nullable=False),
    Column("initiator_arn", Text, nullable=False),
    Column("initiator_id", Text, nullable=False),
    Column("storage_class", String(32), nullable=False),
    Column("headers", JsonText),
    Column("user_metadata", JsonText),
    Column("tags", JsonText),
    Column("acl", Text, nullable=False, default="private"),
    Column("checksum_algorithm", String(16)),
    Column("checksum_type", String(16)),
    Column("encryption", JsonText),
)
Index("ix_s3_uploads_listing", uploads.c.bucket, uploads.c.key, uploads.c.initiated)

parts = Table(
    "s3_parts", metadata,
    Column("upload_id", String(80), ForeignKey("s3_uploads.upload_id", ondelete="CASCADE"), primary_key=True),
    Column("part_number", Integer, primary_key=True),
    Column("blob", String(64), nullable=False),
    Column("size", BigInteger, nullable=False),
    Column("etag", String(80), nullable=False),
    Column("md5", String(32), nullable=False),
    Column("iv", String(32)),
    #: the part's checksum in the upload's algorithm (base64), when it has one
    Column("checksum", String(128)),
    Column("last_modified", UtcDateTime, nullable=False),
)

#: The bytes of small objects (``blob`` ids starting with ``i``), as stored (encrypted when SSE is on).
inline_blobs = Table(
    "s3_inline", metadata,
    Column("blob", String(40), primary_key=True),
    Column("data", LargeBinary, nullable=False),
)
