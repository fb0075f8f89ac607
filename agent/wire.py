"""The controller <-> agent wire schemas (versioned JSON), shared by both sides.

This module is the only code the controller and the agent share; it holds plain
dataclasses and no behaviour, so either side can evolve its internals freely. Every
message travels under ``/_cloudlet/agent/<API_VERSION>/`` with the agent's bearer token.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any, TypeVar

API_VERSION = "v1"
TOKEN_HEADER = "Authorization"

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


def to_json(message: Any) -> dict[str, Any]:
    return asdict(message)


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    """Build a message, ignoring unknown fields (newer peers may add some) and requiring known ones."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})
