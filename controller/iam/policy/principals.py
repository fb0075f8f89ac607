"""Who is calling, and how a ``Principal``/``NotPrincipal`` element names them.

How a resource-based policy names the caller changes the decision within an account
(IAM User Guide, "Policy evaluation logic"), so matching returns a strength, not a
boolean:

- :data:`DIRECT`: the statement names the caller itself (IAM user ARN, role session
  ARN, federated user ARN, service, web-identity provider, canonical user) or everyone
  (``*``). In the same account such a grant stands on its own: an implicit deny in
  identity policies, the permissions boundary or the session policy doesn't limit it.
- :data:`LIMITED`: the statement names the IAM role of a role session, or the IAM user
  behind a federated user session. The grant counts only if the boundary and the
  session policy also allow.
- :data:`ACCOUNT`: the statement names the caller's account (``123456789012`` or
  ``arn:aws:iam::123456789012:root``). That delegates to the account: the caller still
  needs an identity-based allow. For the account's root user it is a direct grant.

``NotPrincipal`` (IAM User Guide, "AWS JSON policy elements: NotPrincipal") works the
other way round and differs by effect: an Allow skips a caller named by any of its
identities (:meth:`PrincipalSpec.names_any`), a Deny exempts only a caller named by all
of them (:meth:`PrincipalSpec.excludes`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

NONE, ACCOUNT, LIMITED, DIRECT = 0, 1, 2, 3

ROOT, USER, ROLE, ASSUMED_ROLE, FEDERATED_USER = "root", "user", "role", "assumed-role", "federated-user"
SERVICE, ANONYMOUS = "service", "anonymous"
_AWS_KINDS = frozenset({ROOT, USER, ROLE, ASSUMED_ROLE, FEDERATED_USER})

_ACCOUNT_ID = re.compile(r"\d{12}")
_ROOT_ARN = re.compile(r"arn:[\w-]+:iam::(\d{12}):root")
_ROLE_ARN = re.compile(r"arn:[\w-]+:iam::(\d{12}):role/(?:.*/)?([^/]+)")
_SESSION_ARN = re.compile(r"arn:[\w-]+:sts::(\d{12}):assumed-role/([^/]+)/.+")


@dataclass(frozen=True, slots=True)
class Caller:
    """The requester as principal matching sees it; built once per evaluation."""

    kind: str
    arn: str
    account: str
    role: tuple[str, str] | None = None
    federated_by: str = ""
    federated_provider: str = ""
    canonical_user: str = ""

    @classmethod
    def describe(cls, arn: str, account: str = "", *, role_arn: str = "", federated_by_arn: str = "",
                 federated_provider: str = "", canonical_user: str = "") -> Caller:
        """Classify ``arn`` (user, role session, root, federated user, service, anonymous)."""
        kind = _kind_of(arn)
        if not account:
            parts = arn.split(":")
            account = parts[4] if kind in _AWS_KINDS and len(parts) > 4 else ""
        role = _role_key(role_arn) if role_arn else None
        if role is None and kind in (ASSUMED_ROLE, ROLE):
            role = _role_key(arn)
        return cls(kind, arn, account, role, federated_by_arn, federated_provider, canonical_user)


def _kind_of(arn: str) -> str:
    if not arn or arn in ("*", ANONYMOUS):
        return ANONYMOUS
    if not arn.startswith("arn:"):
        return SERVICE
    parts = arn.split(":", 5)
    resource = parts[5] if len(parts) == 6 else ""
    if resource == "root":
        return ROOT
    for prefix, kind in (("user/", USER), ("assumed-role/", ASSUMED_ROLE), ("federated-user/", FEDERATED_USER),
                         ("role/", ROLE)):
        if resource.startswith(prefix):
            return kind
    return USER


def _role_key(arn: str) -> tuple[str, str] | None:
    """(account, role name) of a role ARN or of a role session ARN; paths don't matter."""
    match = _ROLE_ARN.fullmatch(arn) or _SESSION_ARN.fullmatch(arn)
    return (match.group(1), match.group(2)) if match else None


@dataclass(frozen=True, slots=True)
class PrincipalSpec:
    """A compiled ``Principal`` or ``NotPrincipal`` element."""

    everyone: bool
    arns: frozenset[str]
    accounts: frozenset[str]
    roles: frozenset[tuple[str, str]]
    services: frozenset[str]
    federated: frozenset[str]
    canonical_users: frozenset[str]

    @classmethod
    def build(cls, everyone: bool, aws: list[str], services: list[str], federated: list[str],
              canonical_users: list[str]) -> PrincipalSpec:
        arns: set[str] = set()
        accounts: set[str] = set()
        roles: set[tuple[str, str]] = set()
        for value in aws:
            if value == "*":
                everyone = True
            elif _ACCOUNT_ID.fullmatch(value):
                accounts.add(value)
            elif root := _ROOT_ARN.fullmatch(value):
                accounts.add(root.group(1))
            else:
                arns.add(value)
                role = _ROLE_ARN.fullmatch(value)
                if role:
                    roles.add((role.group(1), role.group(2)))
        return cls(everyone, frozenset(arns), frozenset(accounts), frozenset(roles),
                   frozenset(service.lower() for service in services), frozenset(federated),
                   frozenset(canonical_users))

    def strength(self, caller: Caller) -> int:
        """How this ``Principal`` element names ``caller`` (NONE if it doesn't)."""
        if self.everyone:
            return DIRECT
        kind = caller.kind
        if kind in _AWS_KINDS:
            if caller.arn in self.arns and kind != ROLE:
                return DIRECT
            if caller.account in self.accounts:
                return DIRECT if kind == ROOT else ACCOUNT if not self._names_limited(caller) else LIMITED
            return LIMITED if self._names_limited(caller) else NONE
        if kind == SERVICE:
            return DIRECT if caller.arn.lower() in self.services else NONE
        if caller.federated_provider and caller.federated_provider in self.federated:
            return DIRECT
        if caller.canonical_user and caller.canonical_user in self.canonical_users:
            return DIRECT
        return NONE

    def _names_limited(self, caller: Caller) -> bool:
        if caller.role is not None and caller.role in self.roles:
            return True
        return bool(caller.federated_by) and caller.federated_by in self.arns

    def names_any(self, caller: Caller) -> bool:
        """Whether a ``NotPrincipal`` element names any identity of ``caller`` (an Allow then skips it).

        "Allow to everyone but these" must never reach a listed principal by another of
        its names, so naming the user, the session, its role or its account is enough.
        """
        if self.everyone:
            return True
        kind = caller.kind
        if kind == SERVICE:
            return caller.arn.lower() in self.services
        if kind not in _AWS_KINDS:
            return (bool(caller.federated_provider) and caller.federated_provider in self.federated) or (
                bool(caller.canonical_user) and caller.canonical_user in self.canonical_users)
        return caller.arn in self.arns or caller.account in self.accounts or self._names_limited(caller)

    def excludes(self, caller: Caller) -> bool:
        """Whether a ``NotPrincipal`` element of a Deny statement exempts ``caller``.

        AWS evaluates every identity of the requester (account, role, session...) and
        exempts it only when all of them are listed: that's why its examples name the
        session ARN, the role ARN and the account together.
        """
        if self.everyone:
            return True
        kind = caller.kind
        if kind == SERVICE:
            return caller.arn.lower() in self.services
        if kind not in _AWS_KINDS:
            return bool(caller.federated_provider) and caller.federated_provider in self.federated
        if caller.account not in self.accounts:
            return False
        if kind == ROOT:
            return True
        if kind in (ASSUMED_ROLE, ROLE) and (caller.role is None or caller.role not in self.roles):
            return False
        return kind == ROLE or caller.arn in self.arns
