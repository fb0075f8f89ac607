"""The desired document: one long-poll answer per host, made of sections.

Each section is the whole truth for its kind on that host (what is listed is made or kept, what is not is
removed), so a lost answer or a restart of either side converges. The sections' own types live beside
this module: ``network`` (:mod:`agent.contract.network`), ``instances`` (:mod:`agent.contract.instances`),
``probes`` (:mod:`agent.contract.probes`); the others are described in docs/contract.md.
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
    Sections: ``network`` (``agent.contract.network.HostNetwork`` JSON), ``namespaces`` (namespace
    instances to address), ``probes`` (``{"probes": [ProbeRequest]}``, Reachability Analyzer's dataplane
    probes), and whatever other providers the controller registers (``instances``).
    """

    generation: int
    digest: str
    changed: bool = True
    sections: dict[str, Any] = field(default_factory=dict)
