"""Reachability Analyzer's dataplane probes: the ``probes`` section's requests and the agent's results.

A host with the ``reachability-probes`` capability gets :class:`ProbeRequest` s in its ``probes`` section
and answers each with a :class:`ProbeResult` in a ``ProbesReport`` (``agent.contract.reports``).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ProbeRequest:
    """One Reachability Analyzer probe, in the ``probes`` section of the host that plugs the source ENI.

    The agent sends one packet as the source interface would (its MAC and address, into its subnet's bridge,
    so the same anti-spoofing, ACL and security group rules judge it) and watches the destination's bridge
    port for it; both interfaces are plugged on this host. ``probe_id`` is the analysis id; ``protocol`` is
    ``tcp`` (a SYN) or ``udp``. Addresses and MACs are the interfaces' own; ``destination_address`` may be a
    public address the VPC translates. The answer is a :class:`ProbeResult` (``POST /hosts/<id>/probes``).
    """

    probe_id: str
    protocol: str
    destination_port: int
    source_eni: str
    source_vpc_id: str
    source_subnet_id: str
    source_mac: str
    source_address: str
    destination_eni: str
    destination_vpc_id: str
    destination_subnet_id: str
    destination_mac: str
    destination_address: str
    #: The destination ENI's bridge-side interface (``agent.contract.network.Attachment.port``).
    destination_bridge_port: str
    #: True when ``destination_address`` is on the source's subnet: the frame goes to ``destination_mac``
    #: directly, otherwise to the subnet router.
    on_link: bool = False


#: What a probe saw: its packet reached the destination's port, or did not within the watch window; ``error``
#: when it could not be sent or watched (``detail`` says why).
PROBE_ARRIVED, PROBE_NOT_ARRIVED, PROBE_ERROR = "arrived", "not-arrived", "error"


@dataclass
class ProbeResult:
    """The agent's report of one :class:`ProbeRequest`: ``outcome`` is one of the ``PROBE_*`` values."""

    probe_id: str
    outcome: str
    detail: str = ""
    seconds: float = 0.0
