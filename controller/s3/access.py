"""Who may touch a bucket or object: ACLs, bucket policies, public access blocks, IAM resources.

S3 has three grant mechanisms; Cloudlet expresses all of them as one resource policy
so the IAM authorizer stays the single place where access is decided:

- the bucket policy, stored as the owner wrote it (validated by the IAM policy engine
  plus S3's own rules: Principal required, actions ``s3:*``, resources in the bucket);
- ACLs, canned or explicit (``acl.py``), turned into equivalent statements (``public-read``
  on a bucket lets anyone list it, on an object lets anyone read it), ignored when the
  bucket disables ACLs (ObjectOwnership ``BucketOwnerEnforced``);
- the public access block, which refuses public ACLs/policies on write
  (BlockPublicAcls/BlockPublicPolicy) and drops them from evaluation
  (IgnorePublicAcls/RestrictPublicBuckets).

:func:`resource_lookup` builds that combined policy for an ARN; the mappers at the
end tell IAM which ARNs each operation touches, and set S3's condition keys. Whatever
is stored, the combined policy is one the engine evaluates: ACL statements carry no
``Sid``, and a stored bucket policy the engine would refuse is replaced by a deny that
leaves its owner able to repair it, never an internal error.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any

from controller.api import Params, RequestContext, ResourceInfo
from controller.iam import policy as iam_policy
from controller.iam.enforce import check_action
from controller.s3 import acl, catalog
from controller.s3.bucket_policy import is_public_statement
from controller.s3.errors import (
    AccessControlListNotSupported,
    AccessDenied,
    InvalidArgument,
    ServiceError,
    no_such_bucket,
)
from controller.s3.naming import bucket_arn, canonical_user_id, object_arn, parse_s3_arn
from controller.s3.runtime import runtime

log = logging.getLogger(__name__)
Record = dict[str, Any]

_CURRENT_VERSION = "2012-10-17"
#: What the owner can still do to a bucket whose stored policy can no longer be evaluated: repair it.
_POLICY_REPAIR_ACTIONS = ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"]


# --- ACLs ------------------------------------------------------------------------------------------------


@dataclass
class AccountResolver:
    """Grantees named by canonical user id or e-mail address, resolved against the cloud's accounts."""

    ctx: RequestContext

    def account_of_canonical_id(self, canonical_id: str) -> str | None:
        return next((account["account_id"] for account in self.ctx.cloud.credentials.list_accounts()
                     if canonical_user_id(account["account_id"]) == canonical_id), None)

    def accounts_of_email(self, email: str) -> list[str]:
        return [account["account_id"] for account in self.ctx.cloud.credentials.list_accounts()
                if (account.get("email") or "").lower() == email.lower()]


def requested_acl(ctx: RequestContext, params: Params, *, owner: str, bucket: Record | None,
                  on_bucket: bool, body: bool = False) -> str | None:
    """The ``acl`` column value a request asks for (a canned name or explicit grants), None if it asks none.

    S3's checks, in its order: an unknown canned ACL or grantee is InvalidArgument; a bucket
    with ACLs disabled (BucketOwnerEnforced) accepts only full control for its owner
    (AccessControlListNotSupported, and then the ACL stored is ``private``); a public ACL on a
    bucket that blocks them (BlockPublicAcls) is AccessDenied.
    """
    grants = acl.request_grants(params, AccountResolver(ctx), body=body)
    canned = params.get("ACL")
    if grants is None and not canned:
        return None
    if grants is None and canned not in acl.CANNED_ACLS:
        raise InvalidArgument(f"Invalid canned ACL: {canned}", ArgumentName="x-amz-acl", ArgumentValue=canned)
    bucket_owner = bucket["owner_account"] if bucket is not None else owner
    expanded = grants if grants is not None else acl.canned_grants(
        canned, owner=owner, bucket_owner=bucket_owner, on_bucket=on_bucket)
    if bucket is not None and bucket["ownership"] == "BucketOwnerEnforced":
        if not acl.only_bucket_owner(expanded, bucket_owner):
            raise AccessControlListNotSupported("The bucket does not allow ACLs")
        return "private"
    if bucket is not None and acl.is_public(expanded) and (bucket["public_access_block"] or {}).get(
            "BlockPublicAcls"):
        raise AccessDenied("Access Denied")
    return canned if grants is None else acl.encode_grants(grants)


def acl_grants(stored: str | None, *, owner: str, bucket: Record, on_bucket: bool) -> list[acl.Grant]:
    """The grants in force: the stored ACL, or only the bucket owner's full control when ACLs are disabled."""
    if bucket["ownership"] == "BucketOwnerEnforced":
        return [acl.Grant("FULL_CONTROL", account=bucket["owner_account"])]
    return acl.stored_grants(stored, owner=owner, bucket_owner=bucket["owner_account"], on_bucket=on_bucket)


def acl_output(ctx: RequestContext, grants: list[acl.Grant], owner_account: str) -> dict[str, Any]:
    """GetBucketAcl/GetObjectAcl's members for these grants."""

    def display_name(account_id: str) -> str:
        return (ctx.cloud.credentials.get_account(account_id) or {}).get("name") or account_id

    return acl.acl_document(grants, owner_account, canonical_user_id, display_name)


# --- the combined resource policy ---------------------------------------------------------------------


def _bucket_policy_statements(bucket: Record, partition: str, *,
                              restrict: bool) -> tuple[list[dict[str, Any]], str | None]:
    """The stored bucket policy's statements as they apply to this caller, and the policy's ``Version``.

    The version goes with the statements: under "2008-10-17" (or none) ``${...}`` is text, not a
    policy variable, whatever the ACL statements combined with them.

    ``restrict``: RestrictPublicBuckets for a caller outside the owner's account, which a
    public policy then grants nothing (its denies still apply). A stored policy that the
    engine can no longer evaluate never fails requests: it is replaced by a deny of
    everything but repairing the policy, for everyone but the owner account's root.
    """
    text = bucket["policy"]
    if not text:
        return [], _CURRENT_VERSION
    try:
        iam_policy.parse_policy(text, source_type="resource")
        document = json.loads(text)
        raw = document["Statement"]
        statements = raw if isinstance(raw, list) else [raw]
        public = any(is_public_statement(statement) for statement in statements)
    except (iam_policy.PolicyError, ValueError, KeyError, TypeError, AttributeError):
        log.warning("bucket %s: stored policy cannot be evaluated; only its owner's root may act", bucket["name"])
        arn = bucket_arn(partition, bucket["name"])
        return [{"Effect": "Deny", "Principal": "*", "NotAction": _POLICY_REPAIR_ACTIONS,
                 "Resource": [arn, f"{arn}/*"], "Condition": {"StringNotEquals": {
                     "aws:PrincipalArn": f"arn:{partition}:iam::{bucket['owner_account']}:root"}}}], _CURRENT_VERSION
    if restrict and public:
        statements = [statement for statement in statements if statement.get("Effect") != "Allow"]
    return statements, document.get("Version")


def resource_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """The owner, combined resource policy and tags of an S3 bucket or object ARN.

    A bucket that does not exist is NoSuchBucket for every caller, anonymous ones included,
    before any permission is weighed (as S3 answers).
    """
    resource = parse_s3_arn(arn)
    if resource is None or ctx.operation == "CreateBucket":
        # A bucket being created is the caller's: an existing one of another account is
        # BucketAlreadyExists from the handler, not a cross-account denial.
        return None
    partition = ctx.cloud.config.partition
    bucket = runtime(ctx.cloud).bucket(resource.bucket)
    if bucket is None:
        raise no_such_bucket(resource.bucket)
    block = bucket["public_access_block"] or {}
    owner_account = bucket["owner_account"]
    caller_is_owner = ctx.principal.account_id == owner_account
    object_row = None
    if resource.key is not None and not (caller_is_owner and ctx.principal.is_root):
        # the owner's root is allowed anyway: spare it the query for the object's ACL and tags;
        # a request for a version is decided by that version's ACL
        with ctx.cloud.db.read() as conn:
            object_row = catalog.find_version(conn, resource.bucket, resource.key,
                                              ctx.condition_keys.get("s3:VersionId"))
    statements, version = _bucket_policy_statements(
        bucket, partition, restrict=bool(block.get("RestrictPublicBuckets")) and not caller_is_owner)
    ignore_public = bool(block.get("IgnorePublicAcls"))
    the_bucket = bucket_arn(partition, resource.bucket)
    statements += acl.grant_statements(
        acl_grants(bucket["acl"], owner=owner_account, bucket=bucket, on_bucket=True),
        resource_owner=owner_account, bucket_arn=the_bucket, object_arn=None, partition=partition,
        ignore_public=ignore_public)
    if object_row is not None and not object_row["delete_marker"]:
        statements += acl.grant_statements(
            acl_grants(object_row["acl"], owner=object_row["owner_account"], bucket=bucket, on_bucket=False),
            resource_owner=owner_account, bucket_arn=the_bucket, object_arn=arn, partition=partition,
            ignore_public=ignore_public)
    policy_text = None
    if statements:
        policy_text = json.dumps({"Statement": statements} if version is None else
                                 {"Version": version, "Statement": statements})
    if resource.key is None:
        tags = bucket["tags"] or {}
    else:
        tags = (object_row["tags"] if object_row is not None else None) or {}
    return ResourceInfo(owner_account=owner_account, policy=policy_text, tags=dict(tags))


# --- what each operation touches ----------------------------------------------------------------------


def bucket_resource(ctx: RequestContext, params: Params) -> list[str]:
    return [bucket_arn(ctx.cloud.config.partition, params["Bucket"])]


def list_resource(ctx: RequestContext, params: Params) -> list[str]:
    """ListObjects(V2)/ListObjectVersions: the bucket, with ``s3:prefix``/``s3:delimiter``/``s3:max-keys``."""
    for key, member in (("s3:prefix", "Prefix"), ("s3:delimiter", "Delimiter"), ("s3:max-keys", "MaxKeys")):
        if params.get(member) is not None:
            ctx.condition_keys[key] = str(params[member])
    return bucket_resource(ctx, params)


def object_resource(ctx: RequestContext, params: Params) -> list[str]:
    """An object, with the request's S3 condition keys (version, ACL, encryption, storage class, tags)."""
    keys = ctx.condition_keys
    for key, member in (("s3:VersionId", "VersionId"), ("s3:x-amz-acl", "ACL"),
                        ("s3:x-amz-server-side-encryption", "ServerSideEncryption"),
                        ("s3:x-amz-server-side-encryption-aws-kms-key-id", "SSEKMSKeyId"),
                        ("s3:x-amz-storage-class", "StorageClass"), ("s3:x-amz-copy-source", "CopySource"),
                        ("s3:x-amz-metadata-directive", "MetadataDirective")):
        if params.get(member) is not None:
            keys[key] = str(params[member])
    return [object_arn(ctx.cloud.config.partition, params["Bucket"], params["Key"])]


def read_resource(ctx: RequestContext, params: Params) -> list[str]:
    """GetObject/HeadObject: the object; a missing one is S3's 404 for a caller who may list the bucket.

    S3 answers a read of an object that does not exist (or whose current version is a
    delete marker) with 404 when the caller has ``s3:ListBucket`` on the bucket, and with
    403 otherwise, so that keys cannot be probed by those who may not list them.
    """
    arns = object_resource(ctx, params)
    bucket = runtime(ctx.cloud).bucket(params["Bucket"])
    principal = ctx.principal
    if bucket is None or (principal.is_root and principal.account_id == bucket["owner_account"]):
        return arns  # the handler answers (NoSuchBucket, or the owner's own 404)
    try:
        with ctx.cloud.db.read() as conn:
            catalog.readable_version(conn, params["Bucket"], params["Key"], params.get("VersionId"))
    except ServiceError as missing:
        if missing.status != 404:
            return arns
        try:
            check_action(ctx, "s3:ListBucket", [bucket_arn(ctx.cloud.config.partition, params["Bucket"])])
        except ServiceError:
            return arns  # no listing: authorization answers 403
        raise
    return arns

