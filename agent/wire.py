"""The controller <-> agent wire schemas (versioned JSON), shared by both sides.

This module is the only code the controller and the agent share; it holds plain
dataclasses and no behaviour, so either side can evolve its internals freely. Every
message travels under ``/_cloudlet/agent/<API_VERSION>/`` with the agent's bearer token.

Compatibility rule: within ``API_VERSION`` fields are only ever *added*, with defaults, so
an older peer's message still parses (``from_json`` fills the defaults) and a newer peer's
extra fields are ignored. ``HostRegistration.schema`` says which additions a sender knows.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

API_VERSION = "v1"
TOKEN_HEADER = "Authorization"
#: Revision of the registration message: 1 = the original fields, 2 = ``underlay_ip`` added.
REGISTRATION_SCHEMA = 2

#: Capabilities an agent may report (others, e.g. compute's, are free-form strings).
CAPABILITY_VPC_DATAPLANE = "vpc-dataplane"
CAPABILITY_METADATA = "instance-metadata"
CAPABILITY_NAMESPACE_INSTANCES = "namespace-instances"

T = TypeVar("T")


@dataclass
class HostRegistration:
    """Sent by an agent at start: what the host is and what it can run."""

    host_id: str
    hostname: str
    zone: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    #: kvm | qemu (TCG) | none (no compute driver on this host)
    hypervisor: str
    agent_version: str
    capabilities: list[str] = field(default_factory=list)
    #: The host's VXLAN underlay address (where other hosts send this host's VPC frames); None when the
    #: host is not part of a multi-host underlay.
    underlay_ip: str | None = None
    schema: int = 1


@dataclass
class Heartbeat:
    host_id: str
    load: float
    free_memory_mib: int


@dataclass
class HostRecord:
    """The controller's view of a host, as returned to agents and operators."""

    host_id: str
    hostname: str
    zone: str
    vcpus: int
    memory_mib: int
    disk_gib: int
    hypervisor: str
    state: str
    last_heartbeat: str
    capabilities: list[str] = field(default_factory=list)
    underlay_ip: str | None = None


@dataclass
class DesiredState:
    """The answer to ``GET /hosts/<id>/desired``: everything this host should run, by section.

    ``generation`` is the controller's revision counter when the document was assembled; ``digest``
    identifies the content (a new generation whose document did not change for this host keeps the
    digest). ``changed`` False means "what you have is current" and ``sections`` is then empty.
    Sections: ``network`` (``agent.network.model.HostNetwork`` JSON), ``namespaces`` (namespace
    instances to address), and whatever other providers the controller registers (``instances``).
    """

    generation: int
    digest: str
    changed: bool = True
    sections: dict[str, Any] = field(default_factory=dict)


def to_json(message: Any) -> dict[str, Any]:
    return asdict(message)


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    """Build a message, ignoring unknown fields (newer peers may add some) and requiring known ones."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})
