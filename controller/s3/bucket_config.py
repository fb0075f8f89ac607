"""Bucket subresources: tagging, CORS, policy, ACL, ownership, public access block, versioning, lifecycle, SSE.

Each is stored on the bucket row as the owner sent it (after S3's validation) and read
back verbatim; the effects live elsewhere (``access.py`` for policies, ACLs and the
public access block, ``cors.py``, ``lifecycle.py``, the write path for versioning and
default encryption).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, update

from controller.api import Params, RequestContext
from controller.s3 import catalog, cors, lifecycle
from controller.s3.access import acl_grants, acl_output, bucket_resource, requested_acl
from controller.s3.acl import only_bucket_owner, stored_grants
from controller.s3.bucket_features import object_lock_of
from controller.s3.bucket_policy import is_public_policy, validate_bucket_policy
from controller.s3.buckets import OWNERSHIP_VALUES
from controller.s3.common import check_sse_algorithm, read_bucket
from controller.s3.errors import (
    MALFORMED_XML,
    AccessDenied,
    InvalidArgument,
    InvalidBucketAclWithObjectOwnership,
    InvalidBucketState,
    InvalidRequest,
    MalformedACLError,
    MalformedXML,
    NoSuchBucketPolicy,
    NoSuchCORSConfiguration,
    NoSuchLifecycleConfiguration,
    NoSuchPublicAccessBlockConfiguration,
    NoSuchTagSet,
    NotImplementedError_,
    ServerSideEncryptionConfigurationNotFoundError,
    ServiceError,
)
from controller.s3.naming import MAX_BUCKET_TAGS, bucket_arn, check_tags, tag_set
from controller.s3.service import api
from controller.s3.sse_kms import SSE_KMS
from controller.s3.state import buckets
from controller.state import Database


def _store(ctx: RequestContext, params: Params, check: Callable[[Connection], None] | None = None,
           **values: Any) -> None:
    """Write bucket columns once the bucket exists (with its expected owner) and ``check`` passes in the
    writing transaction."""
    read_bucket(ctx, params)
    with ctx.cloud.db.begin() as conn:
        catalog.require_bucket(conn, params["Bucket"])
        if check is not None:
            check(conn)
        conn.execute(update(buckets).where(buckets.c.name == params["Bucket"]).values(**values))
        Database.announce(conn, catalog.BUCKETS_TOPIC)
    ctx.audit_resources.append(bucket_arn(ctx.cloud.config.partition, params["Bucket"]))


# --- tagging -----------------------------------------------------------------------------------------------


@api.operation("PutBucketTagging", resources=bucket_resource)
def put_bucket_tagging(ctx: RequestContext, params: Params) -> Params:
    tags = check_tags((params.get("Tagging") or {}).get("TagSet") or [], limit=MAX_BUCKET_TAGS)
    _store(ctx, params, tags=tags)
    return {}


@api.operation("GetBucketTagging", resources=bucket_resource)
def get_bucket_tagging(ctx: RequestContext, params: Params) -> Params:
    tags = read_bucket(ctx, params)["tags"]
    if not tags:
        raise NoSuchTagSet("The TagSet does not exist", BucketName=params["Bucket"])
    return {"TagSet": tag_set(tags)}


@api.operation("DeleteBucketTagging", resources=bucket_resource, action="s3:PutBucketTagging")
def delete_bucket_tagging(ctx: RequestContext, params: Params) -> Params:
    _store(ctx, params, tags=None)
    return {}


# --- CORS ---------------------------------------------------------------------------------------------------


@api.operation("PutBucketCors", resources=bucket_resource, action="s3:PutBucketCORS")
def put_bucket_cors(ctx: RequestContext, params: Params) -> Params:
    rules = cors.check_configuration(params.get("CORSConfiguration") or {})
    _store(ctx, params, cors={"CORSRules": rules})
    return {}


@api.operation("GetBucketCors", resources=bucket_resource, action="s3:GetBucketCORS")
def get_bucket_cors(ctx: RequestContext, params: Params) -> Params:
    configuration = read_bucket(ctx, params)["cors"]
    if not configuration:
        raise NoSuchCORSConfiguration("The CORS configuration does not exist", BucketName=params["Bucket"])
    return configuration


@api.operation("DeleteBucketCors", resources=bucket_resource, action="s3:PutBucketCORS")
def delete_bucket_cors(ctx: RequestContext, params: Params) -> Params:
    _store(ctx, params, cors=None)
    return {}


# --- policy -------------------------------------------------------------------------------------------------


@api.operation("PutBucketPolicy", resources=bucket_resource)
def put_bucket_policy(ctx: RequestContext, params: Params) -> Params:
    bucket = read_bucket(ctx, params)
    text = params.get("Policy") or ""
    validate_bucket_policy(bucket["name"], text, ctx.cloud.config.partition)
    if (bucket["public_access_block"] or {}).get("BlockPublicPolicy") and is_public_policy(text):
        raise AccessDenied("Access Denied")
    _store(ctx, params, policy=text)
    return {}


@api.operation("GetBucketPolicy", resources=bucket_resource)
def get_bucket_policy(ctx: RequestContext, params: Params) -> Params:
    text = read_bucket(ctx, params)["policy"]
    if not text:
        raise NoSuchBucketPolicy("The bucket policy does not exist", BucketName=params["Bucket"])
    return {"Policy": text}


@api.operation("DeleteBucketPolicy", resources=bucket_resource)
def delete_bucket_policy(ctx: RequestContext, params: Params) -> Params:
    _store(ctx, params, policy=None)
    return {}


@api.operation("GetBucketPolicyStatus", resources=bucket_resource)
def get_bucket_policy_status(ctx: RequestContext, params: Params) -> Params:
    bucket = read_bucket(ctx, params)
    if not bucket["policy"]:
        raise NoSuchBucketPolicy("The bucket policy does not exist", BucketName=params["Bucket"])
    return {"PolicyStatus": {"IsPublic": is_public_policy(bucket["policy"])}}


# --- ACL ----------------------------------------------------------------------------------------------------


@api.operation("GetBucketAcl", resources=bucket_resource)
def get_bucket_acl(ctx: RequestContext, params: Params) -> Params:
    bucket = read_bucket(ctx, params)
    owner = bucket["owner_account"]
    return acl_output(ctx, acl_grants(bucket["acl"], owner=owner, bucket=bucket, on_bucket=True), owner)


@api.operation("PutBucketAcl", resources=bucket_resource)
def put_bucket_acl(ctx: RequestContext, params: Params) -> Params:
    bucket = read_bucket(ctx, params)
    acl = requested_acl(ctx, params, owner=bucket["owner_account"], bucket=bucket, on_bucket=True, body=True)
    if acl is None:
        raise MalformedACLError(MALFORMED_XML)
    _store(ctx, params, acl=acl)
    return {}


# --- ownership controls -------------------------------------------------------------------------------------


@api.operation("PutBucketOwnershipControls", resources=bucket_resource)
def put_bucket_ownership_controls(ctx: RequestContext, params: Params) -> Params:
    bucket = read_bucket(ctx, params)
    rules = (params.get("OwnershipControls") or {}).get("Rules") or []
    if len(rules) != 1 or rules[0].get("ObjectOwnership") not in OWNERSHIP_VALUES:
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our published "
                           "schema")
    ownership = rules[0]["ObjectOwnership"]
    owner = bucket["owner_account"]
    if ownership == "BucketOwnerEnforced" and not only_bucket_owner(
            stored_grants(bucket["acl"], owner=owner, bucket_owner=owner, on_bucket=True), owner):
        raise InvalidBucketAclWithObjectOwnership(
            "Bucket cannot have ACLs set with ObjectOwnership's BucketOwnerEnforced setting")
    _store(ctx, params, ownership=ownership)
    return {}


@api.operation("GetBucketOwnershipControls", resources=bucket_resource)
def get_bucket_ownership_controls(ctx: RequestContext, params: Params) -> Params:
    ownership = read_bucket(ctx, params)["ownership"]
    if not ownership:
        raise ServiceError("The bucket ownership controls were not found", code="OwnershipControlsNotFoundError",
                           status=404, BucketName=params["Bucket"])
    return {"OwnershipControls": {"Rules": [{"ObjectOwnership": ownership}]}}


@api.operation("DeleteBucketOwnershipControls", resources=bucket_resource,
               action="s3:PutBucketOwnershipControls")
def delete_bucket_ownership_controls(ctx: RequestContext, params: Params) -> Params:
    _store(ctx, params, ownership=None)
    return {}


# --- public access block ------------------------------------------------------------------------------------

_BLOCK_SETTINGS = ("BlockPublicAcls", "IgnorePublicAcls", "BlockPublicPolicy", "RestrictPublicBuckets")


@api.operation("PutPublicAccessBlock", resources=bucket_resource, action="s3:PutBucketPublicAccessBlock")
def put_public_access_block(ctx: RequestContext, params: Params) -> Params:
    configuration = params.get("PublicAccessBlockConfiguration") or {}
    if not any(name in configuration for name in _BLOCK_SETTINGS):
        raise InvalidRequest("Must specify at least one configuration.")
    _store(ctx, params, public_access_block={name: bool(configuration.get(name)) for name in _BLOCK_SETTINGS})
    return {}


@api.operation("GetPublicAccessBlock", resources=bucket_resource, action="s3:GetBucketPublicAccessBlock")
def get_public_access_block(ctx: RequestContext, params: Params) -> Params:
    configuration = read_bucket(ctx, params)["public_access_block"]
    if not configuration:
        raise NoSuchPublicAccessBlockConfiguration("The public access block configuration was not found",
                                                   BucketName=params["Bucket"])
    return {"PublicAccessBlockConfiguration": configuration}


@api.operation("DeletePublicAccessBlock", resources=bucket_resource, action="s3:PutBucketPublicAccessBlock")
def delete_public_access_block(ctx: RequestContext, params: Params) -> Params:
    _store(ctx, params, public_access_block=None)
    return {}


# --- versioning ---------------------------------------------------------------------------------------------


@api.operation("PutBucketVersioning", resources=bucket_resource)
def put_bucket_versioning(ctx: RequestContext, params: Params) -> Params:
    configuration = params.get("VersioningConfiguration") or {}
    status = configuration.get("Status")
    if status not in ("Enabled", "Suspended"):
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our published "
                           "schema")
    if configuration.get("MFADelete") == "Enabled":
        raise NotImplementedError_("MFA Delete is not supported by Cloudlet.")

    def keep_locked_bucket_versioned(conn: Connection) -> None:
        if status != "Enabled" and object_lock_of(conn, params["Bucket"]):
            raise InvalidBucketState("An Object Lock configuration is present on this bucket, so the versioning "
                                     "state cannot be changed.", BucketName=params["Bucket"])

    _store(ctx, params, keep_locked_bucket_versioned, versioning=status)
    return {}


@api.operation("GetBucketVersioning", resources=bucket_resource)
def get_bucket_versioning(ctx: RequestContext, params: Params) -> Params:
    status = read_bucket(ctx, params)["versioning"]
    return {"Status": status} if status else {}


# --- lifecycle ----------------------------------------------------------------------------------------------

@api.operation("PutBucketLifecycleConfiguration", resources=bucket_resource,
               action="s3:PutLifecycleConfiguration")
def put_bucket_lifecycle_configuration(ctx: RequestContext, params: Params) -> Params:
    rules = lifecycle.check_configuration(params.get("LifecycleConfiguration") or {})
    _store(ctx, params, lifecycle={"Rules": lifecycle.rules_to_json(rules)})
    return {}


@api.operation("GetBucketLifecycleConfiguration", resources=bucket_resource,
               action="s3:GetLifecycleConfiguration")
def get_bucket_lifecycle_configuration(ctx: RequestContext, params: Params) -> Params:
    bucket = read_bucket(ctx, params)
    if not bucket["lifecycle"]:
        raise NoSuchLifecycleConfiguration("The lifecycle configuration does not exist",
                                           BucketName=params["Bucket"])
    return {"Rules": lifecycle.stored_rules(bucket["lifecycle"])}


@api.operation("DeleteBucketLifecycle", resources=bucket_resource, action="s3:PutLifecycleConfiguration")
def delete_bucket_lifecycle(ctx: RequestContext, params: Params) -> Params:
    _store(ctx, params, lifecycle=None)
    return {}


# --- default encryption -------------------------------------------------------------------------------------


@api.operation("PutBucketEncryption", resources=bucket_resource, action="s3:PutEncryptionConfiguration")
def put_bucket_encryption(ctx: RequestContext, params: Params) -> Params:
    configuration = params.get("ServerSideEncryptionConfiguration") or {}
    rules = configuration.get("Rules") or []
    if len(rules) != 1 or not rules[0].get("ApplyServerSideEncryptionByDefault"):
        raise MalformedXML("The XML you provided was not well-formed or did not validate against our published "
                           "schema")
    default = rules[0]["ApplyServerSideEncryptionByDefault"]
    check_sse_algorithm(default.get("SSEAlgorithm", ""))
    if default.get("KMSMasterKeyID") and default["SSEAlgorithm"] != SSE_KMS:
        raise InvalidArgument("a KMSMasterKeyID is not applicable if the default sse algorithm is not aws:kms or "
                              "aws:kms:dsse", ArgumentName="ApplyServerSideEncryptionByDefault")
    _store(ctx, params, encryption={"Rules": rules})
    return {}


@api.operation("GetBucketEncryption", resources=bucket_resource, action="s3:GetEncryptionConfiguration")
def get_bucket_encryption(ctx: RequestContext, params: Params) -> Params:
    configuration = read_bucket(ctx, params)["encryption"]
    if not configuration:
        raise ServerSideEncryptionConfigurationNotFoundError(
            "The server side encryption configuration was not found", BucketName=params["Bucket"])
    return {"ServerSideEncryptionConfiguration": configuration}


@api.operation("DeleteBucketEncryption", resources=bucket_resource, action="s3:PutEncryptionConfiguration")
def delete_bucket_encryption(ctx: RequestContext, params: Params) -> Params:
    _store(ctx, params, encryption=None)
    return {}
