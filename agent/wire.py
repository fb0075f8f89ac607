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
#: Revision of the registration message: 1 = the original fields, 2 = ``underlay_ip`` added,
#: 3 = ``functions_url`` added, 4 = ``tunnel_url`` added, 5 = ``migration`` added.
REGISTRATION_SCHEMA = 5

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
    #: Where the controller sends ``FunctionInvocation`` (``POST <functions_url>/invoke``, the agent's bearer
    #: token); None when the host runs no Lambda functions.
    functions_url: str | None = None
    #: Where the controller opens EC2 Instance Connect Endpoint tunnels (``agent.network.tunnel``: a JSON
    #: header line with the agents' bearer token, then raw TCP); None when the host serves none.
    tunnel_url: str | None = None
    #: How other hosts live-migrate guests to this one (``agent.compute.migration.MigrationTarget`` without
    #: the host id: ``libvirt_uri``, ``address``, ``compute_dir``, ``owner``); None: it takes no migrations.
    migration: dict[str, str] | None = None


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
    #: False while the host drains: running work stays, nothing new is placed there.
    schedulable: bool = True


@dataclass
class DesiredState:
    """The answer to ``GET /hosts/<id>/desired``: everything this host should run, by section.

    ``generation`` is the controller's revision counter when the document was assembled; ``digest``
    identifies the content (a new generation whose document did not change for this host keeps the
    digest). ``changed`` False means "what you have is current" and ``sections`` is then empty.
    Sections: ``network`` (``agent.network.model.HostNetwork`` JSON), ``namespaces`` (namespace
    instances to address), ``probes`` (``{"probes": [ProbeRequest]}``, Reachability Analyzer's dataplane
    probes), and whatever other providers the controller registers (``instances``).
    """

    generation: int
    digest: str
    changed: bool = True
    sections: dict[str, Any] = field(default_factory=dict)


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
    #: The destination ENI's bridge-side interface (``agent.network.model.Attachment.port``).
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


@dataclass
class FunctionInvocation:
    """One invocation the controller hands to a host's function runner (``POST <functions_url>/invoke``).

    It carries everything an execution environment needs, so agents keep no Lambda state of their own:
    environments are pooled by ``(function_arn, version, revision)`` and a new revision (new code or
    configuration) never reuses an old environment. Code, layers and image archives are fetched once by
    ``code_sha256`` from ``GET /_cloudlet/agent/v1/functions/code/<sha256>`` and cached on the host.
    """

    request_id: str
    #: The unqualified function ARN, and the version that runs (``$LATEST`` or a published number).
    function_arn: str
    version: str
    #: Changes whenever this version's code or configuration changes (the function's RevisionId).
    revision: str
    #: ``Zip`` or ``Image``.
    package_type: str
    runtime: str | None
    handler: str | None
    code_sha256: str
    memory_mb: int
    timeout_s: int
    ephemeral_mb: int
    #: The function's own environment variables (decrypted); the runner adds AWS's reserved ones.
    environment: dict[str, str]
    #: The execution role's session for new environments: AccessKeyId, SecretAccessKey, SessionToken, Expiration.
    credentials: dict[str, str]
    region: str
    log_group: str
    #: The event, as the JSON text the caller sent.
    payload: str
    #: Where the function's SDK calls go (``AWS_ENDPOINT_URL`` inside the environment): the Cloudlet API.
    endpoint_url: str
    #: Layers in the function's order: ``{"arn": ..., "code_sha256": ...}``; unpacked under /opt, later ones on top.
    layers: list[dict[str, str]] = field(default_factory=list)
    #: Image functions' overrides: ``EntryPoint``, ``Command``, ``WorkingDirectory`` (AWS's ImageConfig).
    image_config: dict[str, Any] = field(default_factory=dict)
    #: The invoked ARN as the caller named it (qualified by alias or version), for the context object.
    invoked_function_arn: str = ""
    client_context: str | None = None
    #: How many environments this function version may run at once on this host (reserved concurrency).
    max_environments: int | None = None
    #: How long an idle environment is kept warm before it is reclaimed.
    idle_seconds: int = 600


@dataclass
class FunctionResult:
    """The runner's answer to one ``FunctionInvocation``.

    ``status``: ``ok``; ``function_error`` (the handler raised: ``payload`` is the runtime's error document);
    ``timeout``, ``crashed`` (the runtime exited, out of memory included) and ``init_error`` (the environment
    never became ready): for these ``payload`` is the AWS-shaped error document the runner wrote; ``throttled``
    (no environment could be had within ``max_environments``).
    """

    request_id: str
    status: str
    #: The function's response (or error document), as text.
    payload: str
    #: What the ``X-Amz-Function-Error`` header says (``Unhandled``), None on success.
    function_error: str | None
    #: This invocation's log lines ``[timestamp_ms, text]`` in order: a cold start's INIT_START and init output
    #: first, then START, the handler's output, END and REPORT, exactly as AWS writes them.
    log: list[list[Any]]
    #: The log stream of the environment that ran it (``2026/12/04/[$LATEST]<environment id>``).
    log_stream: str
    cold: bool
    duration_ms: float
    billed_ms: int
    max_memory_mb: int
    init_ms: float | None = None


def to_json(message: Any) -> dict[str, Any]:
    return asdict(message)


def from_json(cls: type[T], data: dict[str, Any]) -> T:
    """Build a message, ignoring unknown fields (newer peers may add some) and requiring known ones."""
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]
    return cls(**{k: v for k, v in data.items() if k in names})
