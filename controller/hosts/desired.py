"""The desired document of one host, assembled from sections that services provide.

An agent asks ``GET /hosts/<id>/desired`` and gets one JSON object per *section*; each section is
built by a provider that a service declares on its ``ServiceApi`` (``api.host_sections``, in the
order agents apply them) and consumed on the agent by the reconciler of the same name
(``agent.service.reconcilers``). EC2 declares ``network`` (the VPC dataplane document),
``namespaces`` (``cloudlet netns attach``) and ``instances`` (what the compute agent runs).

A service that changes what a host should run calls ``controller.hosts.generation.bump(conn)`` in the
same write transaction, so that waiting agents wake up. A provider must be a pure read: it runs on
every long-poll wake-up, in the request thread.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from agent.contract.desired import DesiredState
from agent.contract.hosts import HostRecord
from controller.config import Config
from controller.state import Database


@dataclass
class HostContext:
    """What a section provider gets: the cloud's state and config, the asking host and all hosts."""

    db: Database
    config: Config
    host_id: str
    host: HostRecord | None
    hosts: list[HostRecord] = field(default_factory=list)


SectionProvider = Callable[[HostContext], Any]


def assemble(providers: Mapping[str, SectionProvider], db: Database, config: Config, host_id: str,
             host: HostRecord | None, hosts: list[HostRecord], generation: int) -> DesiredState:
    """Every section for ``host_id``, in the providers' order, with the digest of their content.

    The digest ignores the generation number embedded in the network document, so a generation that
    changed nothing for this host keeps its digest (and the waiting agent keeps waiting).
    """
    ctx = HostContext(db, config, host_id, host, hosts)
    sections = {name: provider(ctx) for name, provider in providers.items()}
    return DesiredState(generation=generation, digest=digest(sections), changed=True, sections=sections)


def digest(sections: dict[str, Any]) -> str:
    comparable = dict(sections)
    network = comparable.get("network")
    if isinstance(network, dict):
        comparable["network"] = {k: v for k, v in network.items() if k != "generation"}
    text = json.dumps(comparable, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]
