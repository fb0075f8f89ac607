"""Global condition keys (``aws:*``) built from a plain description of the request.

The engine only reads a key -> values mapping; this fills it the way AWS does
("AWS global condition context keys" in the IAM User Guide), including which keys are
*absent* for which principal: ``aws:username`` exists for IAM users only,
``aws:MultiFactorAuthPresent`` only for temporary credentials (hence the
``BoolIfExists`` idiom), ``aws:PrincipalArn`` of a role session is the role's ARN.
Service-specific keys (``s3:prefix``, ``ec2:InstanceType``...) are added by the
service on top.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

PRINCIPAL_TYPES = {"root": "Account", "user": "User", "assumed-role": "AssumedRole",
                   "federated-user": "FederatedUser", "anonymous": "Anonymous"}
_SESSION_ARN = re.compile(r"arn:([\w-]+):sts::(\d{12}):assumed-role/([^/]+)/.+")


@dataclass(frozen=True)
class CallerFacts:
    """What is known about a request's caller and circumstances.

    ``kind`` uses the values of ``controller.api.Principal.kind`` (``root``, ``user``,
    ``assumed-role``, ``federated-user``, ``anonymous``). ``temporary_credentials`` is
    True for STS credentials. ``tag_keys`` defaults to the keys of ``request_tags``.
    """

    account_id: str
    arn: str
    kind: str
    user_id: str = ""
    name: str = ""
    role_arn: str = ""
    principal_tags: Mapping[str, str] = field(default_factory=dict)
    source_ip: str = ""
    #: ``aws:SourceVpc`` / ``aws:SourceVpce``: set when the request came from inside a VPC (through the API
    #: relay of the host's agent), the endpoint only when it came through a VPC endpoint.
    source_vpc: str = ""
    source_vpce: str = ""
    secure_transport: bool = False
    now: dt.datetime | None = None
    region: str = ""
    user_agent: str = ""
    temporary_credentials: bool = False
    token_issued_at: dt.datetime | None = None
    mfa_authenticated_at: dt.datetime | None = None
    request_tags: Mapping[str, str] = field(default_factory=dict)
    tag_keys: Sequence[str] | None = None
    resource_tags: Mapping[str, str] = field(default_factory=dict)
    called_via: Sequence[str] = ()
    source_identity: str = ""
    principal_org_id: str = ""
    #: ``aws:PrincipalOrgPaths``: the path of the caller's account in its organization (``o-.../r-.../ou-.../``).
    principal_org_paths: Sequence[str] = ()


def iso_time(moment: dt.datetime) -> str:
    """``2024-05-01T12:00:00Z``: the form AWS puts in ``aws:CurrentTime``."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)
    return moment.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def principal_arn_key(facts: CallerFacts) -> str:
    """The value of ``aws:PrincipalArn``: the role ARN (not the session ARN) for role sessions."""
    if facts.kind != "assumed-role":
        return facts.arn
    if facts.role_arn:
        return facts.role_arn
    session = _SESSION_ARN.fullmatch(facts.arn)
    if session is None:
        return facts.arn
    partition, account, role = session.groups()
    return f"arn:{partition}:iam::{account}:role/{role}"


def global_context(facts: CallerFacts) -> dict[str, str | list[str]]:
    """The ``aws:*`` condition keys for a request, ready for ``EvaluationRequest.context``."""
    now = facts.now or dt.datetime.now(dt.UTC)
    keys: dict[str, str | list[str]] = {
        "aws:CurrentTime": iso_time(now),
        "aws:EpochTime": str(int(now.timestamp())),
        "aws:SecureTransport": _bool(facts.secure_transport),
        "aws:PrincipalType": PRINCIPAL_TYPES.get(facts.kind, facts.kind),
        "aws:ViaAWSService": _bool(bool(facts.called_via)),
    }
    if facts.kind == "anonymous":
        keys["aws:userid"] = facts.user_id or "anonymous"
    else:
        keys["aws:PrincipalAccount"] = facts.account_id
        keys["aws:PrincipalArn"] = principal_arn_key(facts)
        keys["aws:PrincipalIsAWSService"] = "false"
        keys["aws:userid"] = facts.user_id or (facts.account_id if facts.kind == "root" else "")
        if not keys["aws:userid"]:
            del keys["aws:userid"]
    if facts.kind == "user" and facts.name:
        keys["aws:username"] = facts.name
    # Through a VPC endpoint AWS has no public source address: aws:VpcSourceIp replaces aws:SourceIp.
    source_ip_key = "aws:VpcSourceIp" if facts.source_vpce else "aws:SourceIp"
    optional = {source_ip_key: facts.source_ip, "aws:SourceVpc": facts.source_vpc,
                "aws:SourceVpce": facts.source_vpce, "aws:RequestedRegion": facts.region,
                "aws:UserAgent": facts.user_agent, "aws:SourceIdentity": facts.source_identity,
                "aws:PrincipalOrgID": facts.principal_org_id}
    keys.update({key: value for key, value in optional.items() if value})
    if facts.temporary_credentials or facts.mfa_authenticated_at is not None:
        keys["aws:MultiFactorAuthPresent"] = _bool(facts.mfa_authenticated_at is not None)
    if facts.mfa_authenticated_at is not None:
        age = max(0, int((now - facts.mfa_authenticated_at).total_seconds()))
        keys["aws:MultiFactorAuthAge"] = str(age)
    if facts.token_issued_at is not None:
        keys["aws:TokenIssueTime"] = iso_time(facts.token_issued_at)
    for prefix, tags in (("aws:PrincipalTag/", facts.principal_tags), ("aws:RequestTag/", facts.request_tags),
                         ("aws:ResourceTag/", facts.resource_tags)):
        for tag_key, tag_value in tags.items():
            keys[prefix + tag_key] = tag_value
    tag_keys = list(facts.tag_keys) if facts.tag_keys is not None else list(facts.request_tags)
    if tag_keys:
        keys["aws:TagKeys"] = tag_keys
    if facts.principal_org_paths:
        keys["aws:PrincipalOrgPaths"] = list(facts.principal_org_paths)
    if facts.called_via:
        keys["aws:CalledVia"] = list(facts.called_via)
        keys["aws:CalledViaFirst"] = facts.called_via[0]
        keys["aws:CalledViaLast"] = facts.called_via[-1]
    return keys


def _bool(value: bool) -> str:
    return "true" if value else "false"
