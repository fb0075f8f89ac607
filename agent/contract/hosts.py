"""Registration, liveness and the host record: how an agent tells the controller what its host is.

``POST /hosts`` takes a :class:`HostRegistration` (an upsert, sent at every start; refused with 426 when its
``contract_version`` is of another major), ``POST /hosts/<id>/heartbeat`` a :class:`Heartbeat`, and ``GET
/hosts`` answers :class:`HostRecord` s.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from agent.contract.codec import Message

#: Capabilities an agent may report (others, e.g. compute's, are free-form strings).
CAPABILITY_VPC_DATAPLANE = "vpc-dataplane"
CAPABILITY_METADATA = "instance-metadata"
CAPABILITY_NAMESPACE_INSTANCES = "namespace-instances"
#: The host runs Lambda execution environments and serves ``FunctionInvocation`` at ``functions_url``.
CAPABILITY_FUNCTIONS = "lambda-functions"
#: The host sends Reachability Analyzer's probes (the ``probes`` section): the controller waits for no
#: probe from an agent without it, so older agents keep working with the verdict alone.
CAPABILITY_PROBES = "reachability-probes"
#: A designated gateway host (``cloudlet-agent --gateway``): the controller places NAT gateways there.
CAPABILITY_GATEWAY = "vpc-gateway"


@dataclass
class HostRegistration(Message):
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
    #: Where the controller sends ``FunctionInvocation`` (``POST <functions_url>/invoke``, the agent's bearer
    #: token); None when the host runs no Lambda functions.
    functions_url: str | None = None
    #: Where the controller opens EC2 Instance Connect Endpoint tunnels (``agent.network.tunnel``: a JSON
    #: header line with the agents' bearer token, then raw TCP); None when the host serves none.
    tunnel_url: str | None = None
    #: How other hosts live-migrate guests to this one (``MigrationTarget`` of ``agent.contract.instances``
    #: without the host id: ``libvirt_uri``, ``address``, ``compute_dir``, ``owner``); None: it takes none.
    migration: dict[str, str] | None = None


@dataclass
class Heartbeat(Message):
    """Sent every few seconds: the host is alive, and how busy it is (404 answers "register again")."""

    host_id: str
    load: float
    free_memory_mib: int


@dataclass
class HostRecord(Message):
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
    #: False while the host drains: running work stays, nothing new is placed there.
    schedulable: bool = True
