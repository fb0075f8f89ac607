"""Which contract a message speaks, and the rule that decides whether two sides can talk.

``CONTRACT_VERSION`` is ``MAJOR.MINOR``. A minor version only *adds* optional fields (with defaults) or
new sections and reports, so a reader fills what an older sender left out and ignores what a newer one
added: an agent one minor version behind (or ahead) keeps working. A major version changes the meaning or
the shape of something that exists; two sides of different majors refuse each other, and the controller
says so at registration (HTTP 426, naming both versions), so an old agent stops at once instead of
misreading its documents. ``API_VERSION`` is the URL path segment (``/_cloudlet/agent/v1/``) and follows
the major.

Minor history of major 1: 1.0 the original messages; 1.1 ``HostRegistration.underlay_ip``; 1.2
``functions_url``; 1.3 ``tunnel_url``; 1.4 ``contract_version`` on every message and typed reports;
1.5 ``HostRegistration.migration`` and the instances section's ``incoming`` and ``migrate_to``; 1.6 the
instances section's ``send_disk`` and ``disk_from`` (a ``StagedDisk``: stopped instances' disks moved by drain).
"""

from __future__ import annotations

CONTRACT_VERSION = "1.6"
#: The agent's own release (informational: ``HostRecord`` shows it; compatibility is ``CONTRACT_VERSION``'s).
AGENT_VERSION = "0.2.0"
#: What a message without ``contract_version`` speaks: every sender before 1.4 was of major 1.
UNVERSIONED = "1.0"
API_VERSION = "v1"
#: The header every agent RPC request carries its credential in (``Bearer <credential>``).
TOKEN_HEADER = "Authorization"


class ContractError(ValueError):
    """A message cannot be read: a missing field, a field of the wrong type or value, or (the subclass)
    a major version this side does not speak. The text names the message and the field."""


class IncompatibleVersion(ContractError):
    """The peer speaks another major version of the contract (the controller answers 426)."""


def major(version: str) -> int:
    """The major part of ``MAJOR.MINOR``; ContractError for anything else."""
    head, dot, tail = version.partition(".")
    if not (head.isdigit() and dot and tail.isdigit()):
        raise ContractError(f"contract_version {version!r} is not MAJOR.MINOR")
    return int(head)


def check_compatible(theirs: str, ours: str = CONTRACT_VERSION) -> None:
    """Raise IncompatibleVersion when ``theirs`` is of another major than ``ours`` (minors always mix)."""
    if major(theirs) != major(ours):
        raise IncompatibleVersion(f"the peer speaks contract {theirs}, this side speaks {ours} "
                                  f"(major {major(ours)} only)")
