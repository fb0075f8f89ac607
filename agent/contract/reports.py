"""The reports agents POST under ``/hosts/<id>/...``: one typed message per endpoint.

States in reports are absolute (what the agent sees now, never a delta of state), so a report sent again
after a lost answer says the same thing. Each message checks its own values in ``__post_init__``, so
``agent.contract.codec.from_json`` is the one place a report is validated: the controller answers a
malformed one 400 naming the field. Values of a closed set are listed here, beside the field they fill.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from agent.contract.codec import Message
from agent.contract.probes import PROBE_ARRIVED, PROBE_ERROR, PROBE_NOT_ARRIVED, ProbeResult
from agent.contract.version import ContractError

VOLUME_STATES = ("available", "failed")
SNAPSHOT_STATES = ("completed", "failed")
BATCH_STATES = ("RUNNING", "SUCCEEDED", "FAILED")
TARGET_STATES = ("initial", "healthy", "unhealthy", "draining", "unavailable")
PROBE_OUTCOMES = (PROBE_ARRIVED, PROBE_NOT_ARRIVED, PROBE_ERROR)


def _one_of(value: str, allowed: tuple[str, ...], where: str) -> None:
    if value not in allowed:
        raise ContractError(f"{where} {value!r} is not one of {', '.join(allowed)}")


# --- compute: POST /hosts/<id>/instances and /metrics ---------------------------------------------------------


@dataclass
class InstanceObservation:
    """One instance as the compute agent sees it: ``power`` is the driver's state (``running``,
    ``shutoff``...), ``absent`` or ``failed``; ``start_serial`` the last start request carried out."""

    instance_id: str
    power: str
    stopped_by_guest: bool = False
    error: str = ""
    start_serial: int | None = None


@dataclass
class InstancesReport(Message):
    """``POST /hosts/<id>/instances``. ``complete``: every instance of the host's ``instances`` section is
    listed (one left out has nothing on the host). ``consoles`` are base64 console tails (only those that
    changed), ``reboots`` the reboot requests carried out, ``volumes`` the non-root EBS volumes plugged into
    each instance (None: the agent does not say)."""

    instances: list[InstanceObservation] = field(default_factory=list)
    complete: bool = False
    consoles: dict[str, str] = field(default_factory=dict)
    reboots: dict[str, int] = field(default_factory=dict)
    capture_failures: dict[str, str] = field(default_factory=dict)
    volumes: dict[str, list[str]] | None = None

    def __post_init__(self) -> None:
        for instance_id, text in self.consoles.items():
            try:
                base64.b64decode(text, validate=True)
            except (binascii.Error, ValueError):
                raise ContractError(f"consoles.{instance_id}: not base64") from None

    def console_bytes(self) -> dict[str, bytes]:
        return {instance_id: base64.b64decode(text) for instance_id, text in self.consoles.items()}


#: The EC2 metric names a compute agent reports (CloudWatch's AWS/EC2 names).
EC2_METRICS = ("CPUUtilization", "NetworkIn", "NetworkOut", "NetworkPacketsIn", "NetworkPacketsOut",
               "DiskReadBytes", "DiskWriteBytes", "DiskReadOps", "DiskWriteOps")


@dataclass
class InstanceMetrics:
    instance_id: str
    metrics: dict[str, float]
    #: The sampling interval the figures cover.
    seconds: float = 0.0

    def __post_init__(self) -> None:
        for name, value in self.metrics.items():
            _one_of(name, EC2_METRICS, f"{self.instance_id}: metric")
            if value < 0:
                raise ContractError(f"{self.instance_id}: metric {name} is negative")


@dataclass
class MetricsReport(Message):
    """``POST /hosts/<id>/metrics``: counters sampled at ``time`` (ISO 8601 with its UTC offset)."""

    time: str
    instances: list[InstanceMetrics]

    def __post_init__(self) -> None:
        self.when()

    def when(self) -> dt.datetime:
        """``time`` in UTC; ContractError when it is not an ISO 8601 timestamp with its offset."""
        try:
            when = dt.datetime.fromisoformat(self.time)
        except ValueError:
            raise ContractError(f"time {self.time!r} is not an ISO 8601 timestamp") from None
        if when.tzinfo is None:
            raise ContractError(f"time {self.time!r} must carry its UTC offset")
        return when.astimezone(dt.UTC)


# --- storage: POST /hosts/<id>/volumes ------------------------------------------------------------------------


@dataclass
class VolumeObservation:
    state: str
    size_bytes: int = 0
    error: str = ""

    def __post_init__(self) -> None:
        _one_of(self.state, VOLUME_STATES, "state")


@dataclass
class SnapshotObservation:
    state: str
    size_bytes: int = 0
    error: str = ""

    def __post_init__(self) -> None:
        _one_of(self.state, SNAPSHOT_STATES, "state")


@dataclass
class VolumesReport(Message):
    """``POST /hosts/<id>/volumes``: what the host's pool holds, by volume and snapshot id. ``complete``:
    every volume of the host's ``volumes`` section is listed (a deleted one that is not has no file left)."""

    complete: bool = False
    volumes: dict[str, VolumeObservation] = field(default_factory=dict)
    snapshots: dict[str, SnapshotObservation] = field(default_factory=dict)


# --- Batch: POST /hosts/<id>/batch ----------------------------------------------------------------------------


@dataclass
class BatchAttemptReport:
    """One attempt's transition and new log lines ``[ms, text, end offset]`` (``end`` is the offset in the
    attempt's log file just past the line, so lines already ingested are skipped; agents before 1.4 sent
    ``[ms, text]`` pairs). Times are epoch milliseconds."""

    job_id: str
    attempt: int
    state: str
    started_at: int | None = None
    stopped_at: int | None = None
    exit_code: int | None = None
    reason: str | None = None
    logs: list[list[Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        _one_of(self.state, BATCH_STATES, "state")
        for i, line in enumerate(self.logs):
            if len(line) not in (2, 3) or not isinstance(line[0], int) or not isinstance(line[1], str) \
                    or (len(line) == 3 and not isinstance(line[2], int)):
                raise ContractError(f"logs[{i}]: expected [ms, text, end offset]")


@dataclass
class BatchReport(Message):
    attempts: list[BatchAttemptReport]


# --- load balancing: POST /hosts/<id>/loadbalancers -----------------------------------------------------------


@dataclass
class TargetHealth:
    target_group_arn: str
    id: str
    port: int
    state: str
    reason: str | None = None
    description: str | None = None

    def __post_init__(self) -> None:
        _one_of(self.state, TARGET_STATES, "state")
        if not 0 < self.port < 65536:
            raise ContractError(f"port {self.port} is not a port number")
        if not self.target_group_arn or not self.id:
            raise ContractError("target_group_arn and id must not be empty")


@dataclass
class LoadBalancerNodeReport:
    """One load balancer node's targets' health and its counters (deltas since its previous report)."""

    load_balancer_arn: str
    interface_id: str
    targets: list[TargetHealth] = field(default_factory=list)
    counters: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.load_balancer_arn or not self.interface_id:
            raise ContractError("load_balancer_arn and interface_id must not be empty")
        negative = sorted(name for name, value in self.counters.items() if value < 0)
        if negative:
            raise ContractError(f"counters {', '.join(negative)} are negative")


@dataclass
class LoadBalancersReport(Message):
    nodes: list[LoadBalancerNodeReport]


# --- network: POST /hosts/<id>/probes -------------------------------------------------------------------------


@dataclass
class ProbesReport(Message):
    """Reachability Analyzer probes' outcomes (each :class:`ProbeResult` ``outcome`` is a ``PROBE_*``)."""

    results: list[ProbeResult]

    def __post_init__(self) -> None:
        for result in self.results:
            _one_of(result.outcome, PROBE_OUTCOMES, f"{result.probe_id}: outcome")
