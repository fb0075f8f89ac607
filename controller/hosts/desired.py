"""The desired document of one host, assembled from sections that services provide.

An agent asks ``GET /hosts/<id>/desired`` and gets one JSON object per *section*; each section is
built by a provider registered here and consumed on the agent by the reconciler of the same name
(``agent.service.reconcilers``). Built in:

- ``network``: the VPC dataplane document (``agent.network.model.HostNetwork`` as JSON) from
  ``controller.ec2.desired``, with the VXLAN endpoints of the other hosts filled in;
- ``namespaces``: the namespace instances plugged on this host (``cloudlet netns attach``), so the
  agent can address them.

Adding a section (e.g. EC2 instances) is one call at import time of the providing module::

    from controller.hosts.desired import register_section
    register_section("instances", instances_for_host)   # instances_for_host(ctx: HostContext) -> JSON

and, in every write transaction that changes what a host should run, ``controller.hosts.generation
.bump(conn)`` so that waiting agents wake up (VPC writes already bump their own counter). A provider
must be a pure read: it runs on every long-poll wake-up, in the request thread.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from agent.wire import DesiredState, HostRecord
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

_sections: dict[str, SectionProvider] = {}


def register_section(name: str, provider: SectionProvider) -> None:
    """Add (or replace) the provider of section ``name``; sections appear in registration order."""
    _sections[name] = provider


def assemble(db: Database, config: Config, host_id: str, host: HostRecord | None, hosts: list[HostRecord],
             generation: int) -> DesiredState:
    """Every section for ``host_id``, with the digest of their content.

    The digest ignores the generation number embedded in the network document, so a generation that
    changed nothing for this host keeps its digest (and the waiting agent keeps waiting).
    """
    ctx = HostContext(db, config, host_id, host, hosts)
    sections = {name: provider(ctx) for name, provider in _sections.items()}
    return DesiredState(generation=generation, digest=digest(sections), changed=True, sections=sections)


def digest(sections: dict[str, Any]) -> str:
    comparable = dict(sections)
    network = comparable.get("network")
    if isinstance(network, dict):
        comparable["network"] = {k: v for k, v in network.items() if k != "generation"}
    text = json.dumps(comparable, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:32]


# --- built-in sections -------------------------------------------------------------------------------------


def network_section(ctx: HostContext) -> dict[str, Any]:
    """The VPC dataplane document; hosts carry their underlay addresses so VXLAN flooding lists and
    remote ports are known (``desired_network_for_host`` builds the same document without them)."""
    from agent.network import model
    from controller.ec2.desired import HostInfo, compile_host_network, load_network

    hosts = [HostInfo(h.host_id, h.zone, up=h.state == "up", vtep=h.underlay_ip) for h in ctx.hosts]
    with ctx.db.read() as conn:
        rows = load_network(conn)
    return model.to_json(compile_host_network(rows, ctx.host_id, ctx.config, hosts))


def namespaces_section(ctx: HostContext) -> list[dict[str, Any]]:
    """The namespace instances of this host (``controller.ec2.interfaces.namespace_attachments``)."""
    from controller.ec2.interfaces import namespace_attachments

    with ctx.db.read() as conn:
        return namespace_attachments(conn, ctx.host_id)


register_section("network", network_section)
register_section("namespaces", namespaces_section)
