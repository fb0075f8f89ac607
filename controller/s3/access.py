"""Who may touch a bucket or object: canned ACLs, bucket policies, public access blocks, IAM resources.

S3 has three grant mechanisms; Cloudlet expresses all of them as one resource policy
so the IAM authorizer stays the single place where access is decided:

- the bucket policy, stored as the owner wrote it (validated by the IAM policy engine
  plus S3's own rules: Principal required, actions ``s3:*``, resources in the bucket);
- canned ACLs, turned into equivalent statements (``public-read`` on a bucket lets
  anyone list it, on an object lets anyone read it);
- the public access block, which refuses public ACLs/policies on write
  (BlockPublicAcls/BlockPublicPolicy) and drops them from evaluation
  (IgnorePublicAcls/RestrictPublicBuckets).

:func:`resource_lookup` builds that combined policy for an ARN; the mappers at the
end tell IAM which ARNs each operation touches, and set S3's condition keys.
"""

from __future__ import annotations

import json
from typing import Any

from controller.api import Params, RequestContext, ResourceInfo
from controller.iam import policy as iam_policy
from controller.s3 import catalog
from controller.s3.errors import AccessDenied, InvalidArgument, MalformedPolicy, NotImplementedError_
from controller.s3.naming import bucket_arn, canonical_user_id, object_arn, parse_s3_arn
from controller.s3.runtime import runtime

CANNED_ACLS = frozenset({"private", "public-read", "public-read-write", "authenticated-read",
                         "bucket-owner-read", "bucket-owner-full-control", "aws-exec-read", "log-delivery-write"})
PUBLIC_ACLS = frozenset({"public-read", "public-read-write", "authenticated-read"})
ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
AUTHENTICATED_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
MAX_POLICY_BYTES = 20 * 1024

#: Condition keys that make a statement granted to "*" non-public (S3's "public" definition).
_RESTRICTING_KEYS = frozenset({"aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce",
                               "aws:sourceowner", "aws:sourceaccount", "aws:principalorgid",
                               "aws:principalaccount", "aws:principalarn", "s3:dataaccesspointarn",
                               "s3:dataaccesspointaccount"})

_BUCKET_READ = ["s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"]
_BUCKET_WRITE = ["s3:PutObject", "s3:DeleteObject", "s3:DeleteObjectVersion", "s3:AbortMultipartUpload"]
_OBJECT_READ = ["s3:GetObject", "s3:GetObjectVersion"]


def check_canned_acl(acl: str | None, public_access_block: dict[str, Any] | None) -> str:
    """The canned ACL to store ("private" when none); refuses unknown and, when blocked, public ones."""
    if not acl:
        return "private"
    if acl not in CANNED_ACLS:
        raise InvalidArgument(f"Invalid canned ACL: {acl}", ArgumentName="x-amz-acl", ArgumentValue=acl)
    if acl in PUBLIC_ACLS and (public_access_block or {}).get("BlockPublicAcls"):
        raise AccessDenied("Access Denied")
    return acl


def refuse_grant_headers(params: Params) -> None:
    """Explicit ``x-amz-grant-*`` headers would need full ACLs; Cloudlet supports canned ACLs only."""
    if any(params.get(name) for name in ("GrantFullControl", "GrantRead", "GrantReadACP", "GrantWrite",
                                         "GrantWriteACP")):
        raise NotImplementedError_("Cloudlet supports canned ACLs (x-amz-acl) only, not x-amz-grant-* headers.",
                                   Header="x-amz-grant-*")


def acl_document(owner_account: str, acl: str, owner_name: str = "") -> dict[str, Any]:
    """GetBucketAcl/GetObjectAcl's answer for a canned ACL."""
    owner = {"ID": canonical_user_id(owner_account), "DisplayName": owner_name or owner_account}
    grants: list[dict[str, Any]] = [{"Grantee": {**owner, "Type": "CanonicalUser"}, "Permission": "FULL_CONTROL"}]
    if acl in ("public-read", "public-read-write"):
        grants.append({"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "READ"})
    if acl == "public-read-write":
        grants.append({"Grantee": {"Type": "Group", "URI": ALL_USERS}, "Permission": "WRITE"})
    if acl == "authenticated-read":
        grants.append({"Grantee": {"Type": "Group", "URI": AUTHENTICATED_USERS}, "Permission": "READ"})
    return {"Owner": owner, "Grants": grants}


def acl_from_policy(owner_account: str, document: dict[str, Any]) -> str:
    """The canned ACL an AccessControlPolicy body amounts to; NotImplemented for other grant sets."""
    grants = {(grant.get("Grantee", {}).get("URI") or grant.get("Grantee", {}).get("ID"), grant.get("Permission"))
              for grant in document.get("Grants") or []}
    owner_id = canonical_user_id(owner_account)
    grants.discard((owner_id, "FULL_CONTROL"))
    for canned in ("private", "public-read", "public-read-write", "authenticated-read"):
        expected = {(grantee, permission) for grant in acl_document(owner_account, canned)["Grants"]
                    for grantee, permission in [(grant["Grantee"].get("URI") or grant["Grantee"].get("ID"),
                                                 grant["Permission"])]}
        expected.discard((owner_id, "FULL_CONTROL"))
        if grants == expected:
            return canned
    raise NotImplementedError_("Cloudlet supports ACLs equivalent to a canned ACL (private, public-read, "
                               "public-read-write, authenticated-read) only.")


# --- bucket policies ----------------------------------------------------------------------------------


def validate_bucket_policy(bucket: str, text: str, partition: str) -> None:
    """Refuse what S3 refuses in PutBucketPolicy (MalformedPolicy with S3's message)."""
    if len(text.encode()) > MAX_POLICY_BYTES:
        raise MalformedPolicy("Policies must be less than 20 KB", Policy=text[:64])
    try:
        iam_policy.validate_policy(text, kind="resource")
    except iam_policy.PolicyError as exc:
        raise MalformedPolicy(str(exc)) from None
    document = json.loads(text)
    statements = document["Statement"]
    for statement in statements if isinstance(statements, list) else [statements]:
        for action in _as_list(statement.get("Action", statement.get("NotAction"))):
            if action != "*" and not action.lower().startswith("s3:"):
                raise MalformedPolicy("Policy has invalid action")
        for resource in _as_list(statement.get("Resource", statement.get("NotResource"))):
            if not _resource_in_bucket(resource, bucket, partition):
                raise MalformedPolicy("Policy has invalid resource")


def _resource_in_bucket(resource: str, bucket: str, partition: str) -> bool:
    base = f"arn:{partition}:s3:::{bucket}"
    return resource == base or resource.startswith(base + "/") or (resource.startswith("arn:") and "*" in resource
                                                                  and _wildcard_covers(resource, base))


def _wildcard_covers(pattern: str, base: str) -> bool:
    prefix = pattern.split("*", 1)[0]
    return base.startswith(prefix) or prefix.startswith(base)


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


def is_public_statement(statement: dict[str, Any]) -> bool:
    """An Allow to everyone (``*``) with no condition that pins callers down: public, as S3 defines it."""
    if statement.get("Effect") != "Allow":
        return False
    principal = statement.get("Principal")
    everyone = principal == "*" or (isinstance(principal, dict) and "*" in _as_list(principal.get("AWS")))
    if not everyone:
        return False
    for operator, keys in (statement.get("Condition") or {}).items():
        if operator.lower().startswith(("stringlike", "stringnotequals", "stringnotlike", "arnlike", "arnnot")):
            continue
        if any(key.lower() in _RESTRICTING_KEYS for key in keys):
            return False
    return True


def is_public_policy(text: str | None) -> bool:
    if not text:
        return False
    statements = json.loads(text).get("Statement", [])
    return any(is_public_statement(s) for s in (statements if isinstance(statements, list) else [statements]))


# --- the combined resource policy ---------------------------------------------------------------------


def _acl_statements(acl: str, arn: str, *, bucket_level: bool, bucket: str, partition: str) -> list[dict]:
    if acl not in PUBLIC_ACLS:
        return []
    principal: Any = "*"
    condition: dict[str, Any] = {}
    if acl == "authenticated-read":
        principal = {"AWS": "*"}
        condition = {"Null": {"aws:PrincipalAccount": "false"}}
    statements = []
    if bucket_level:
        statements.append({"Sid": f"CannedAcl{acl}", "Effect": "Allow", "Principal": principal,
                           "Action": _BUCKET_READ, "Resource": arn})
        if acl == "public-read-write":
            statements.append({"Sid": "CannedAclWrite", "Effect": "Allow", "Principal": principal,
                               "Action": _BUCKET_WRITE, "Resource": object_arn(partition, bucket, "*")})
    else:
        statements.append({"Sid": f"CannedAcl{acl}", "Effect": "Allow", "Principal": principal,
                           "Action": _OBJECT_READ, "Resource": arn})
    if condition:
        for statement in statements:
            statement["Condition"] = condition
    return statements


def resource_lookup(ctx: RequestContext, arn: str) -> ResourceInfo | None:
    """The owner, combined resource policy and tags of an S3 bucket or object ARN (None if no such bucket)."""
    resource = parse_s3_arn(arn)
    if resource is None or ctx.operation == "CreateBucket":
        # A bucket being created is the caller's: an existing one of another account is
        # BucketAlreadyExists from the handler, not a cross-account denial.
        return None
    partition = ctx.cloud.config.partition
    bucket = runtime(ctx.cloud).bucket(resource.bucket)
    if bucket is None:
        return None
    block = bucket["public_access_block"] or {}
    caller_is_owner = ctx.principal.account_id == bucket["owner_account"]
    object_row = None
    if resource.key is not None and not (caller_is_owner and ctx.principal.is_root):
        # the owner's root is allowed anyway: spare it the query for the object's ACL and tags
        with ctx.cloud.db.read() as conn:
            object_row = catalog.find_version(conn, resource.bucket, resource.key)
    statements: list[dict[str, Any]] = []
    if bucket["policy"]:
        restrict = block.get("RestrictPublicBuckets") and not caller_is_owner
        document = json.loads(bucket["policy"])
        raw = document.get("Statement", [])
        for statement in raw if isinstance(raw, list) else [raw]:
            if not (restrict and is_public_statement(statement)):
                statements.append(statement)
    if not block.get("IgnorePublicAcls"):
        statements += _acl_statements(bucket["acl"], bucket_arn(partition, resource.bucket), bucket_level=True,
                                      bucket=resource.bucket, partition=partition)
        if object_row is not None:
            statements += _acl_statements(object_row["acl"], arn, bucket_level=False, bucket=resource.bucket,
                                          partition=partition)
    policy_text = json.dumps({"Version": "2012-10-17", "Statement": statements}) if statements else None
    if resource.key is None:
        tags = bucket["tags"] or {}
    else:
        tags = (object_row["tags"] if object_row is not None else None) or {}
    return ResourceInfo(owner_account=bucket["owner_account"], policy=policy_text, tags=dict(tags))


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
                        ("s3:x-amz-storage-class", "StorageClass"), ("s3:x-amz-copy-source", "CopySource"),
                        ("s3:x-amz-metadata-directive", "MetadataDirective")):
        if params.get(member) is not None:
            keys[key] = str(params[member])
    return [object_arn(ctx.cloud.config.partition, params["Bucket"], params["Key"])]


def delete_objects_resource(ctx: RequestContext, params: Params) -> list[str]:
    """DeleteObjects: s3:DeleteObject on every key of the batch."""
    partition = ctx.cloud.config.partition
    entries = (params.get("Delete") or {}).get("Objects") or []
    return [object_arn(partition, params["Bucket"], entry["Key"]) for entry in entries if entry.get("Key")] or \
        bucket_resource(ctx, params)
