"""S3 access control lists: canned ACLs, explicit grants, and the policy statements they amount to.

An ACL is kept in the ``acl`` column of its bucket, object or upload row, in one of two forms:

- a canned ACL's name (``public-read``...), expanded when read because some depend on who owns
  the bucket (``bucket-owner-read`` on an object grants the bucket owner READ);
- explicit grants as JSON (``{"grants": [{"permission": "READ", "group": "AllUsers"}, ...]}``),
  from ``x-amz-grant-*`` headers or an ``AccessControlPolicy`` body, their grantees resolved to
  accounts when written (canonical ids and e-mail addresses), so reading them needs no lookup.

Grants become resource-policy statements without ``Sid`` (an ACL can never collide with the
bucket policy it is combined with): a grant to an account names its root (the account then
delegates with its own IAM policies, as AWS does), ``AllUsers`` is ``*`` (anonymous callers
included), ``AuthenticatedUsers`` is any signed caller. The permission-to-action mapping is
the one in the S3 User Guide ("Access control list (ACL) overview", *Mapping of ACL
permissions and access policy permissions*).

Everything here is pure: resolving a grantee goes through the :class:`Resolver` the caller passes.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from controller.s3.errors import (
    MALFORMED_XML,
    InvalidArgument,
    InvalidRequest,
    MalformedACLError,
    ServiceError,
)

log = logging.getLogger(__name__)

CANNED_ACLS = frozenset({"private", "public-read", "public-read-write", "authenticated-read",
                         "bucket-owner-read", "bucket-owner-full-control", "aws-exec-read", "log-delivery-write"})
PERMISSIONS = ("FULL_CONTROL", "WRITE", "WRITE_ACP", "READ", "READ_ACP")
GROUP_URIS = {"AllUsers": "http://acs.amazonaws.com/groups/global/AllUsers",
              "AuthenticatedUsers": "http://acs.amazonaws.com/groups/global/AuthenticatedUsers",
              "LogDelivery": "http://acs.amazonaws.com/groups/s3/LogDelivery"}
_GROUPS_BY_URI = {uri: name for name, uri in GROUP_URIS.items()}
PUBLIC_GROUPS = frozenset({"AllUsers", "AuthenticatedUsers"})
GRANT_HEADERS = {"GrantFullControl": "FULL_CONTROL", "GrantRead": "READ", "GrantReadACP": "READ_ACP",
                 "GrantWrite": "WRITE", "GrantWriteACP": "WRITE_ACP"}
MAX_GRANTS = 100
LOG_DELIVERY_SERVICE = "logging.s3.amazonaws.com"

_BUCKET_ACTIONS = {"READ": ("s3:ListBucket", "s3:ListBucketVersions", "s3:ListBucketMultipartUploads"),
                   "READ_ACP": ("s3:GetBucketAcl",), "WRITE_ACP": ("s3:PutBucketAcl",)}
#: WRITE on a bucket is permission on the objects in it.
_BUCKET_WRITE_ACTIONS = ("s3:PutObject", "s3:DeleteObject", "s3:AbortMultipartUpload")
_OBJECT_ACTIONS = {"READ": ("s3:GetObject", "s3:GetObjectVersion"),
                   "READ_ACP": ("s3:GetObjectAcl", "s3:GetObjectVersionAcl"),
                   "WRITE_ACP": ("s3:PutObjectAcl", "s3:PutObjectVersionAcl")}
#: One grantee of an ``x-amz-grant-*`` header: ``id="…"``, ``uri=…``, ``emailAddress="…"`` (quotes optional).
_GRANTEE_ITEM = re.compile(r'\s*(id|uri|emailaddress)\s*=\s*(?:"([^"]*)"|([^",\s]+))\s*(?:,|$)', re.IGNORECASE)



@dataclass(frozen=True)
class Grant:
    """One grant: a permission to an account or to one of S3's predefined groups."""

    permission: str
    account: str = ""
    group: str = ""

    @property
    def public(self) -> bool:
        return self.group in PUBLIC_GROUPS

    @property
    def valid(self) -> bool:
        """Names exactly one grantee (an account, or a group S3 defines) and a known permission."""
        return self.permission in PERMISSIONS and bool(self.account) != (self.group in GROUP_URIS)


class Resolver(Protocol):
    """Turns grantees as clients name them into accounts (None when no account matches)."""

    def account_of_canonical_id(self, canonical_id: str) -> str | None: ...

    def accounts_of_email(self, email: str) -> list[str]: ...


# --- reading stored ACLs --------------------------------------------------------------------------------


def canned_grants(name: str, *, owner: str, bucket_owner: str, on_bucket: bool) -> list[Grant]:
    """The grants a canned ACL stands for (S3 User Guide, "Canned ACL")."""
    grants = [Grant("FULL_CONTROL", account=owner)] if owner else []
    if name in ("public-read", "public-read-write"):
        grants.append(Grant("READ", group="AllUsers"))
    if name == "public-read-write":
        grants.append(Grant("WRITE", group="AllUsers"))
    if name == "authenticated-read":
        grants.append(Grant("READ", group="AuthenticatedUsers"))
    if not on_bucket and bucket_owner != owner:
        if name == "bucket-owner-read":
            grants.append(Grant("READ", account=bucket_owner))
        if name == "bucket-owner-full-control":
            grants.append(Grant("FULL_CONTROL", account=bucket_owner))
    if name == "log-delivery-write" and on_bucket:
        grants += [Grant("WRITE", group="LogDelivery"), Grant("READ_ACP", group="LogDelivery")]
    return grants


def stored_grants(stored: str | None, *, owner: str, bucket_owner: str, on_bucket: bool) -> list[Grant]:
    """The grants of an ``acl`` column; an unreadable value counts as ``private`` (and is logged)."""
    stored = stored or "private"
    if stored in CANNED_ACLS:
        return canned_grants(stored, owner=owner, bucket_owner=bucket_owner, on_bucket=on_bucket)
    try:
        grants = [Grant(item["permission"], account=item.get("account", ""), group=item.get("group", ""))
                  for item in json.loads(stored)["grants"]]
        if all(grant.valid for grant in grants):
            return grants
    except (ValueError, KeyError, TypeError, AttributeError):
        pass
    log.warning("unreadable stored ACL %r: treated as private", stored[:80])
    return canned_grants("private", owner=owner, bucket_owner=bucket_owner, on_bucket=on_bucket)


def encode_grants(grants: Iterable[Grant]) -> str:
    """The ``acl`` column value for explicit grants."""
    items = []
    for grant in grants:
        item = {"permission": grant.permission}
        item.update({"account": grant.account} if grant.account else {"group": grant.group})
        items.append(item)
    return json.dumps({"grants": items}, separators=(",", ":"))


def acl_document(grants: Iterable[Grant], owner: str, canonical_id: Callable[[str], str],
                 display_name: Callable[[str], str]) -> dict[str, Any]:
    """GetBucketAcl/GetObjectAcl's answer: the owner and every grant, accounts as canonical users."""
    grant_list = []
    for grant in grants:
        if grant.account:
            grantee = {"Type": "CanonicalUser", "ID": canonical_id(grant.account),
                       "DisplayName": display_name(grant.account)}
        else:
            grantee = {"Type": "Group", "URI": GROUP_URIS[grant.group]}
        grant_list.append({"Grantee": grantee, "Permission": grant.permission})
    return {"Owner": {"ID": canonical_id(owner), "DisplayName": display_name(owner)}, "Grants": grant_list}


def is_public(grants: Iterable[Grant]) -> bool:
    """S3's definition of a public ACL: a grant to AllUsers or AuthenticatedUsers."""
    return any(grant.public for grant in grants)


def only_bucket_owner(grants: Iterable[Grant], bucket_owner: str) -> bool:
    """An ACL a bucket with ACLs disabled still accepts: full control for the bucket owner, nothing else."""
    return all(grant.account == bucket_owner and grant.permission == "FULL_CONTROL" for grant in grants)


# --- what clients send ----------------------------------------------------------------------------------


def request_grants(params: dict[str, Any], resolver: Resolver, *, body: bool = False) -> list[Grant] | None:
    """Explicit grants of a request (``x-amz-grant-*`` headers, or the ACL body when ``body``); None if none.

    A canned ACL together with grants is S3's InvalidRequest.
    """
    headers = {member: params[member] for member in GRANT_HEADERS if params.get(member)}
    document = params.get("AccessControlPolicy") if body else None
    if not headers and document is None:
        return None
    if params.get("ACL"):
        raise InvalidRequest("Specifying both Canned ACLs and Header Grants is not allowed")
    if headers and document is not None:
        raise ServiceError("This request does not support content", code="UnexpectedContent", status=400)
    if document is not None:
        grants = _body_grants(document, resolver)
    else:
        grants = [grant for member, value in headers.items()
                  for grant in _header_grants(GRANT_HEADERS[member], value, resolver)]
    if len(grants) > MAX_GRANTS:
        raise MalformedACLError(f"An ACL may hold at most {MAX_GRANTS} grants")
    return grants


def _header_grants(permission: str, value: str, resolver: Resolver) -> list[Grant]:
    """``x-amz-grant-read: id="...", uri="...", emailAddress="..."``, one or more grantees."""
    grants, position = [], 0
    while position < len(value):
        match = _GRANTEE_ITEM.match(value, position)
        if match is None or match.end() == position:
            raise InvalidArgument("Invalid grantee header value", ArgumentName=f"x-amz-grant-{permission.lower()}",
                                  ArgumentValue=value)
        kind, name = match.group(1).lower(), match.group(2) if match.group(2) is not None else match.group(3)
        grants.append(_grant(permission, {"id": "CanonicalUser", "uri": "Group",
                                          "emailaddress": "AmazonCustomerByEmail"}[kind], name, resolver))
        position = match.end()
    if not grants:
        raise InvalidArgument("Invalid grantee header value", ArgumentName=f"x-amz-grant-{permission.lower()}",
                              ArgumentValue=value)
    return grants


def _body_grants(document: Any, resolver: Resolver) -> list[Grant]:
    if not isinstance(document, dict):
        raise MalformedACLError(MALFORMED_XML)
    grants = []
    for item in document.get("Grants") or []:
        grantee = item.get("Grantee") if isinstance(item, dict) else None
        permission = item.get("Permission") if isinstance(item, dict) else None
        if not isinstance(grantee, dict) or permission not in PERMISSIONS:
            raise MalformedACLError(MALFORMED_XML)
        kind = grantee.get("Type")
        name = {"CanonicalUser": grantee.get("ID"), "Group": grantee.get("URI"),
                "AmazonCustomerByEmail": grantee.get("EmailAddress")}.get(kind or "")
        if not name:
            raise MalformedACLError(MALFORMED_XML)
        grants.append(_grant(permission, kind, name, resolver))
    return grants


def _grant(permission: str, kind: str, name: str, resolver: Resolver) -> Grant:
    if kind == "Group":
        group = _GROUPS_BY_URI.get(name)
        if group is None:
            raise InvalidArgument("Invalid group uri", ArgumentName="uri", ArgumentValue=name)
        return Grant(permission, group=group)
    if kind == "CanonicalUser":
        account = resolver.account_of_canonical_id(name)
        if account is None:
            raise InvalidArgument("Invalid id", ArgumentName="CanonicalUser/ID", ArgumentValue=name)
        return Grant(permission, account=account)
    accounts = resolver.accounts_of_email(name)
    if not accounts:
        raise ServiceError("The e-mail address you provided does not match any account on record.",
                           code="UnresolvableGrantByEmailAddress", status=400, EmailAddressProvided=name)
    if len(accounts) > 1:
        raise ServiceError("The e-mail address you provided is associated with more than one account.",
                           code="AmbiguousGrantByEmailAddress", status=400, EmailAddressProvided=name)
    return Grant(permission, account=accounts[0])


# --- what grants allow --------------------------------------------------------------------------------


def grant_statements(grants: Iterable[Grant], *, resource_owner: str, bucket_arn: str, object_arn: str | None,
                     partition: str, ignore_public: bool) -> list[dict[str, Any]]:
    """Resource-policy statements equivalent to a bucket ACL (``object_arn`` None) or an object ACL.

    Grants to the resource owner add nothing (the owner has every permission) and are left
    out; public grants are left out under the ``IgnorePublicAcls`` block.
    """
    by_grantee: dict[Grant, list[str]] = {}
    for grant in grants:
        if not grant.valid or grant.account == resource_owner or (grant.public and ignore_public):
            continue
        permissions = ("READ", "WRITE", "READ_ACP", "WRITE_ACP") if grant.permission == "FULL_CONTROL" else (
            grant.permission,)
        for permission in permissions:
            key = Grant("", account=grant.account, group=grant.group)
            by_grantee.setdefault(key, []).append(permission)
    statements = []
    for grantee, permissions in by_grantee.items():
        for resource, actions in _actions(permissions, bucket_arn, object_arn).items():
            statement: dict[str, Any] = {"Effect": "Allow", "Principal": _principal(grantee, partition),
                                         "Action": actions, "Resource": resource}
            if grantee.group == "AuthenticatedUsers":
                statement["Condition"] = {"Null": {"aws:PrincipalAccount": "false"}}
            statements.append(statement)
    return statements


def _actions(permissions: list[str], bucket_arn: str, object_arn: str | None) -> dict[str, list[str]]:
    actions: dict[str, list[str]] = {}
    for permission in dict.fromkeys(permissions):
        if object_arn is not None:
            actions.setdefault(object_arn, []).extend(_OBJECT_ACTIONS.get(permission, ()))
        elif permission == "WRITE":
            actions.setdefault(f"{bucket_arn}/*", []).extend(_BUCKET_WRITE_ACTIONS)
        else:
            actions.setdefault(bucket_arn, []).extend(_BUCKET_ACTIONS[permission])
    return {resource: names for resource, names in actions.items() if names}


def _principal(grantee: Grant, partition: str) -> Any:
    if grantee.account:
        return {"AWS": f"arn:{partition}:iam::{grantee.account}:root"}
    if grantee.group == "LogDelivery":
        return {"Service": LOG_DELIVERY_SERVICE}
    if grantee.group == "AuthenticatedUsers":
        return {"AWS": "*"}
    return "*"
