"""Bucket operations: create, head, list, delete, location.

Bucket names are one namespace across every account of the cloud, as in AWS: creating
a name another account holds is ``BucketAlreadyExists``, one you hold is
``BucketAlreadyOwnedByYou``. A bucket lives in the cloud's region; a
``LocationConstraint`` naming another region is refused, and none means "here" (AWS
would read that as us-east-1; a one-region cloud has nothing else to mean).
"""

from __future__ import annotations

from sqlalchemy import delete, insert, select

from controller.api import Params, RequestContext
from controller.s3 import catalog
from controller.s3.access import bucket_resource, requested_acl
from controller.s3.acl import only_bucket_owner, stored_grants
from controller.s3.bucket_features import OBJECT_LOCK_ON, write_features
from controller.s3.common import owner, read_bucket
from controller.s3.errors import (
    BucketAlreadyExists,
    BucketAlreadyOwnedByYou,
    BucketNotEmpty,
    IllegalLocationConstraintException,
    InvalidArgument,
    InvalidBucketAclWithObjectOwnership,
)
from controller.s3.naming import bucket_arn, check_bucket_name
from controller.s3.paging import decode_token, encode_token
from controller.s3.service import api
from controller.s3.state import buckets
from controller.state import Database, utcnow

OWNERSHIP_VALUES = frozenset({"BucketOwnerPreferred", "ObjectWriter", "BucketOwnerEnforced"})


@api.operation("CreateBucket", resources=bucket_resource)
def create_bucket(ctx: RequestContext, params: Params) -> Params:
    name = params["Bucket"]
    check_bucket_name(name)
    location = (params.get("CreateBucketConfiguration") or {}).get("LocationConstraint")
    if location and location != ctx.region:
        raise IllegalLocationConstraintException(
            f"The {location} location constraint is incompatible for the region specific endpoint this request "
            "was sent to.", LocationConstraint=location)
    ownership = params.get("ObjectOwnership")
    if ownership is not None and ownership not in OWNERSHIP_VALUES:
        raise InvalidArgument("Invalid x-amz-object-ownership header", ArgumentName="x-amz-object-ownership",
                              ArgumentValue=ownership)
    acl = requested_acl(ctx, params, owner=ctx.account_id, bucket=None, on_bucket=True) or "private"
    if ownership == "BucketOwnerEnforced" and not only_bucket_owner(
            stored_grants(acl, owner=ctx.account_id, bucket_owner=ctx.account_id, on_bucket=True), ctx.account_id):
        raise InvalidBucketAclWithObjectOwnership(
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
    arn = bucket_arn(ctx.cloud.config.partition, name)
    with ctx.cloud.db.begin() as conn:
        existing = catalog.get_bucket(conn, name)
        if existing is not None:
            if existing["owner_account"] == ctx.account_id:
                raise BucketAlreadyOwnedByYou("Your previous request to create the named bucket succeeded and you "
                                              "already own it.", BucketName=name)
            raise BucketAlreadyExists("The requested bucket name is not available. The bucket namespace is shared "
                                      "by all users of the system. Please select a different name and try again.",
                                      BucketName=name)
        object_lock = bool(params.get("ObjectLockEnabledForBucket"))
        conn.execute(insert(buckets).values(name=name, owner_account=ctx.account_id, region=ctx.region,
                                            created_at=utcnow(), versioning="Enabled" if object_lock else "",
                                            acl=acl, ownership=ownership))
        if object_lock:  # as on S3, Object Lock comes with versioning, and neither can be turned off
            write_features(conn, name, object_lock=dict(OBJECT_LOCK_ON))
        Database.announce(conn, catalog.BUCKETS_TOPIC)  # a cached "no such bucket" goes in every process
    ctx.audit_resources.append(arn)
    return {"Location": f"/{name}", "BucketArn": arn}


@api.operation("HeadBucket", resources=bucket_resource, action="s3:ListBucket")
def head_bucket(ctx: RequestContext, params: Params) -> Params:
    bucket = read_bucket(ctx, params)
    return {"BucketRegion": bucket["region"], "AccessPointAlias": False,
            "BucketArn": bucket_arn(ctx.cloud.config.partition, bucket["name"])}


@api.operation("ListBuckets", action="s3:ListAllMyBuckets")
def list_buckets(ctx: RequestContext, params: Params) -> Params:
    """The caller's account's buckets, by name, in pages when ``max-buckets`` asks for them."""
    limit = params.get("MaxBuckets")
    if limit is not None and not 1 <= limit <= 10000:
        raise InvalidArgument("Argument max-buckets must be an integer between 1 and 10000",
                              ArgumentName="max-buckets", ArgumentValue=str(limit))
    prefix = params.get("Prefix") or ""
    after = decode_token(params["ContinuationToken"]) if params.get("ContinuationToken") else ""
    query = select(buckets.c.name, buckets.c.created_at, buckets.c.region).where(
        buckets.c.owner_account == ctx.account_id, buckets.c.name > after)
    if prefix:
        query = query.where(buckets.c.name.startswith(prefix, autoescape=True))
    if params.get("BucketRegion"):
        query = query.where(buckets.c.region == params["BucketRegion"])
    query = query.order_by(buckets.c.name)
    if limit is not None:
        query = query.limit(limit + 1)
    with ctx.cloud.db.read() as conn:
        rows = conn.execute(query).all()
    output: Params = {"Owner": owner(ctx, ctx.account_id)}
    if limit is not None and len(rows) > limit:
        rows = rows[:limit]
        output["ContinuationToken"] = encode_token(rows[-1].name)
    partition = ctx.cloud.config.partition
    output["Buckets"] = [{"Name": row.name, "CreationDate": row.created_at, "BucketRegion": row.region,
                          "BucketArn": bucket_arn(partition, row.name)} for row in rows]
    if prefix:
        output["Prefix"] = prefix
    return output


@api.operation("DeleteBucket", resources=bucket_resource)
def delete_bucket(ctx: RequestContext, params: Params) -> Params:
    name = params["Bucket"]
    read_bucket(ctx, params)
    with ctx.cloud.db.begin() as conn:
        catalog.require_bucket(conn, name)
        if catalog.count_objects(conn, name):
            raise BucketNotEmpty("The bucket you tried to delete is not empty", BucketName=name)
        conn.execute(delete(buckets).where(buckets.c.name == name))
        Database.announce(conn, catalog.BUCKETS_TOPIC)
    ctx.audit_resources.append(bucket_arn(ctx.cloud.config.partition, name))
    return {}


@api.operation("GetBucketLocation", resources=bucket_resource)
def get_bucket_location(ctx: RequestContext, params: Params) -> Params:
    region = read_bucket(ctx, params)["region"]
    return {"LocationConstraint": None if region == "us-east-1" else region}
