"""The desired document: one long-poll answer per host, made of sections.

Each section is the whole truth for its kind on that host (what is listed is made or kept, what is not is
removed), so a lost answer or a restart of either side converges. The sections' own types live beside
this module (see :class:`DesiredState`); docs/contract.md describes each.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from agent.contract.codec import Message


@dataclass
class DesiredState(Message):
    """The answer to ``GET /hosts/<id>/desired``: everything this host should run, by section.

    ``generation`` is the controller's revision counter when the document was assembled; ``digest``
    identifies the content (a new generation whose document did not change for this host keeps the
    digest). ``changed`` False means "what you have is current" and ``sections`` is then empty.
    Sections, typed in this package: ``network`` (``network.HostNetwork``), ``instances``
    (``instances.InstancesSection``), ``efs`` (``efs.EfsSection``), ``loadbalancers``
    (``loadbalancers.LoadBalancersSection``), ``probes`` (``{"probes": [probes.ProbeRequest]}``), ``volumes``
    (``volumes.VolumesSection``); still plain JSON: ``namespaces``, ``batch``. An agent ignores a section it has no reconciler for.
    """

    generation: int
    digest: str
    changed: bool = True
    sections: dict[str, Any] = field(default_factory=dict)
