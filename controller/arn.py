"""Amazon Resource Names: parse, validate, format, match, and fill in omitted parts.

An ARN is ``arn:partition:service:region:account-id:resource``; the resource may hold
more colons and slashes (``user/path/name``, ``log-group:name:*``) and is split into a
type and an id at its first ``/`` or ``:``.

Matching follows IAM's ``ArnLike``: ``*`` (any run) and ``?`` (one character) are the
only wildcards, each of the six colon-separated parts is matched on its own (a wildcard
in the region can't swallow a colon), while inside the resource part wildcards span
``/`` and ``:``. A bare ``*`` matches everything. Matching is case-sensitive.

Policies may leave region and account empty: for services whose resources are global
(an S3 bucket name is unique across AWS) that is the ARN itself, for the others it
means the default region and the caller's account (:func:`with_defaults`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import overload

#: Services whose resource names are unique across AWS: region and account stay empty.
GLOBAL_NAMESPACE_SERVICES = frozenset({"s3", "route53"})
#: Services without regions whose resources still belong to an account.
REGIONLESS_SERVICES = frozenset({"iam", "sts", "organizations", "cloudfront", "waf", "shield", "budgets"})

_PARTITION = re.compile(r"aws(?:-[a-z0-9]+)*")
_SERVICE = re.compile(r"[a-z0-9][a-z0-9.-]*")
_REGION = re.compile(r"(?:[a-z0-9]+(?:-[a-z0-9]+)*)?")
_ACCOUNT = re.compile(r"(?:\d{12}|aws)?")
_WILDCARD_PART = re.compile(r"[a-z0-9.*?-]*")
_FORM = "arn:partition:service:region:account-id:resource"


class ArnError(ValueError):
    """A string that is not a valid ARN; the message names the part at fault."""


@dataclass(frozen=True, slots=True)
class Arn:
    """The six parts of an ARN; ``str(arn)`` formats it back."""

    partition: str
    service: str
    region: str
    account: str
    resource: str

    @property
    def resource_type(self) -> str:
        """``user`` for ``user/path/name``; empty when no ``/`` or ``:`` follows a first character."""
        return self._resource_split()[0]

    @property
    def resource_id(self) -> str:
        """``path/name`` for ``user/path/name``; the whole resource when it has no type."""
        return self._resource_split()[1]

    def _resource_split(self) -> tuple[str, str]:
        cut = min((index for index in (self.resource.find("/"), self.resource.find(":")) if index >= 0),
                  default=-1)
        if cut <= 0:
            return "", self.resource
        return self.resource[:cut], self.resource[cut + 1:]

    def __str__(self) -> str:
        return f"arn:{self.partition}:{self.service}:{self.region}:{self.account}:{self.resource}"


def parse(value: str, *, wildcards: bool = False) -> Arn:
    """Parse and validate an ARN; ``wildcards=True`` accepts the patterns of policies.

    Raises :class:`ArnError` naming what is wrong.
    """
    parts = value.split(":", 5)
    if len(parts) != 6 or parts[0] != "arn":
        raise ArnError(f"{value!r} is not an ARN: expected {_FORM}")
    _, partition, service, region, account, resource = parts
    if wildcards:
        for name, part in (("partition", partition), ("service", service), ("region", region),
                           ("account", account)):
            if not _WILDCARD_PART.fullmatch(part):
                raise ArnError(f"ARN {value!r} has an invalid {name} {part!r}")
        if not partition or not service or not resource:
            raise ArnError(f"ARN {value!r} must have a partition, a service and a resource")
        return Arn(partition, service, region, account, resource)
    if not _PARTITION.fullmatch(partition):
        raise ArnError(f"ARN {value!r} has an invalid partition {partition!r}")
    if not _SERVICE.fullmatch(service):
        raise ArnError(f"ARN {value!r} has an invalid service {service!r}")
    if not _REGION.fullmatch(region):
        raise ArnError(f"ARN {value!r} has an invalid region {region!r}")
    if not _ACCOUNT.fullmatch(account):
        raise ArnError(f"ARN {value!r} has an invalid account ID {account!r}: it must be 12 digits")
    if not resource:
        raise ArnError(f"ARN {value!r} has no resource")
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in resource):
        raise ArnError(f"ARN {value!r} has a control character in its resource")
    return Arn(partition, service, region, account, resource)


def is_arn(value: str) -> bool:
    """Whether ``value`` is a valid, wildcard-free ARN."""
    try:
        parse(value)
    except ArnError:
        return False
    return True


def build(service: str, region: str, account: str, resource: str, *, partition: str = "aws") -> str:
    """Format (and validate) an ARN: ``build("iam", "", account, "user/path/name")``."""
    value = f"arn:{partition}:{service}:{region}:{account}:{resource}"
    parse(value)
    return value


def matches(pattern: str, value: str) -> bool:
    """Whether the ARN ``value`` matches the ``ArnLike`` ``pattern`` (see the module doc)."""
    if pattern == "*":
        return True
    regex = _pattern_regex(pattern)
    if regex is None:
        return False
    return value.count(":") >= 5 and regex.match(value) is not None


@lru_cache(maxsize=4096)
def _pattern_regex(pattern: str) -> re.Pattern[str] | None:
    """One anchored regex for a pattern: ``[^:]`` classes keep wildcards inside the first five parts."""
    if pattern.count(":") < 5:
        return None
    pieces = []
    colons = 0
    for char in pattern:
        if char == ":" and colons < 5:
            colons += 1
            pieces.append(":")
        elif char == "*":
            pieces.append("[^:]*" if colons < 5 else ".*")
        elif char == "?":
            pieces.append("[^:]" if colons < 5 else ".")
        else:
            pieces.append(re.escape(char))
    return re.compile("".join(pieces) + r"\Z", re.DOTALL)


@overload
def with_defaults(arn: str, *, region: str, account: str) -> str: ...


@overload
def with_defaults(arn: Arn, *, region: str, account: str) -> Arn: ...


def with_defaults(arn: str | Arn, *, region: str, account: str) -> str | Arn:
    """Fill an empty region and account the way a policy means them.

    ``arn:aws:ec2:::instance/i-1`` becomes ``arn:aws:ec2:<region>:<account>:instance/i-1``;
    regionless services (IAM, STS...) get the account only; services with a global
    namespace (S3 buckets, Route 53) keep both empty. Parts that are set, wildcards
    included, are kept; strings that are not ARNs (``*``) come back unchanged.
    """
    if isinstance(arn, str):
        try:
            parsed = parse(arn, wildcards=True)
        except ArnError:
            return arn
        return str(with_defaults(parsed, region=region, account=account))
    if arn.service in GLOBAL_NAMESPACE_SERVICES:
        return arn
    new_region = arn.region or ("" if arn.service in REGIONLESS_SERVICES else region)
    new_account = arn.account or account
    if (new_region, new_account) == (arn.region, arn.account):
        return arn
    return Arn(arn.partition, arn.service, new_region, new_account, arn.resource)
