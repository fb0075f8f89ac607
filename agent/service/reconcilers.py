"""The agent's reconcilers: one per section of the desired document.

The controller's desired document has named sections (``network``, ``namespaces``, ``instances``...);
the agent hands each section to the reconciler registered under the same name, in registration order
(``network`` first, so interfaces exist before anything plugs into them). A reconciler converges the
host to its section and must be idempotent: it is called again with the same section after a failure,
while it reports ``wants_retry``, and at every periodic drift repair.

``agent.main`` registers the network and namespace reconcilers, then lets each feature register its
own with the host's :class:`AgentContext`, as ``agent.compute.service.register`` does::

    registry.add("instances", MyReconciler(...), capabilities=["compute"], hypervisor="qemu")

``capabilities`` and ``hypervisor`` go into the host's registration, so the controller learns what
this host can run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from agent.client import ControllerClient

log = logging.getLogger("cloudlet.agent.service")

@runtime_checkable
class Reconciler(Protocol):
    """Converges one section of the desired document. ``reconcile`` raises on failure (it is retried).

    Optional members, looked up with ``getattr``: ``repair(desired)`` for the periodic drift repair
    (``reconcile`` is used otherwise), ``wants_retry`` (a property: True while something is pending,
    e.g. a port whose tap does not exist yet; the agent then calls again within a second) and
    ``close()`` (the agent is stopping: release sockets and threads, but never undo what was built).
    """

    def reconcile(self, desired: Any) -> None: ...


@dataclass
class AgentContext:
    """What a feature registering its reconciler may use: who this host is, where it keeps state, how to reach the controller, and
    whether the VPC dataplane runs here (it needs root)."""

    host_id: str
    zone: str
    state_dir: Path
    client: ControllerClient
    dataplane: bool
    name_prefix: str = "cl-"
    #: The libvirtd compute uses (a second one per simulated host in the one-machine lab).
    libvirt_uri: str = "qemu:///system"


@dataclass
class Registered:
    name: str
    reconciler: Reconciler
    capabilities: list[str] = field(default_factory=list)
    hypervisor: str | None = None


class ReconcilerRegistry:
    """Reconcilers by section name, in registration order."""

    def __init__(self) -> None:
        self._entries: dict[str, Registered] = {}

    def add(self, name: str, reconciler: Reconciler, *, capabilities: list[str] | None = None,
            hypervisor: str | None = None) -> None:
        if name in self._entries:
            raise ValueError(f"a reconciler for section {name!r} is already registered")
        if not callable(getattr(reconciler, "reconcile", None)):
            raise TypeError(f"{reconciler!r} has no reconcile(desired) method")
        self._entries[name] = Registered(name, reconciler, list(capabilities or []), hypervisor)

    def entries(self) -> list[Registered]:
        return list(self._entries.values())

    def names(self) -> list[str]:
        return list(self._entries)

    def capabilities(self) -> list[str]:
        return sorted({c for entry in self._entries.values() for c in entry.capabilities})

    def hypervisor(self) -> str | None:
        return next((e.hypervisor for e in self._entries.values() if e.hypervisor), None)

    def close(self) -> None:
        for entry in reversed(self.entries()):
            close = getattr(entry.reconciler, "close", None)
            if close is not None:
                try:
                    close()
                except Exception:
                    log.exception("closing the %s reconciler failed", entry.name)

