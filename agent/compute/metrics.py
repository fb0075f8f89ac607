"""Per-instance metrics for CloudWatch's ``AWS/EC2`` namespace, from the hypervisor's counters.

libvirt keeps cumulative counters per running domain (CPU time, bytes and packets per NIC, bytes and requests
per disk). EC2's metrics are what happened over an interval: ``CPUUtilization`` is the percentage of the
instance's vCPUs used, ``NetworkIn`` the bytes the instance received, ``DiskReadOps`` the reads it completed.
:func:`measure` turns two samples into those figures (pure); :class:`MetricsSampler` keeps the previous sample
per instance so a restart of a domain (counters back to zero) starts a new series instead of a negative one;
the compute reconciler's watcher posts :meth:`MetricsSampler.report` to ``/hosts/<id>/metrics`` every
:data:`INTERVAL` seconds. Counters are read from the host's side, so they cost the guest nothing and need no
agent inside it.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

#: Seconds between two reports: CloudWatch's detailed monitoring publishes every minute; a shorter interval
#: lets alarms and target tracking see load sooner, and the controller aggregates by the period asked for.
INTERVAL = 10.0


@dataclass(frozen=True)
class Usage:
    """One instance's cumulative counters at one moment (``at``: a monotonic clock, in seconds)."""

    at: float
    vcpus: int
    cpu_time_ns: int
    net_rx_bytes: int = 0
    net_tx_bytes: int = 0
    net_rx_packets: int = 0
    net_tx_packets: int = 0
    disk_read_bytes: int = 0
    disk_write_bytes: int = 0
    disk_read_ops: int = 0
    disk_write_ops: int = 0


#: EC2's metric names for the counters that are sums over the interval (the instance's point of view: what it
#: received is NetworkIn).
_SUMS = {
    "NetworkIn": "net_rx_bytes", "NetworkOut": "net_tx_bytes",
    "NetworkPacketsIn": "net_rx_packets", "NetworkPacketsOut": "net_tx_packets",
    "DiskReadBytes": "disk_read_bytes", "DiskWriteBytes": "disk_write_bytes",
    "DiskReadOps": "disk_read_ops", "DiskWriteOps": "disk_write_ops",
}


def measure(previous: Usage, current: Usage) -> dict[str, float] | None:
    """EC2's metrics over the interval between two samples, or None when they do not form one (no time passed,
    or a counter went backwards: the domain restarted in between)."""
    seconds = current.at - previous.at
    if seconds <= 0 or current.cpu_time_ns < previous.cpu_time_ns:
        return None
    figures: dict[str, float] = {}
    for metric, counter in _SUMS.items():
        delta = getattr(current, counter) - getattr(previous, counter)
        if delta < 0:
            return None
        figures[metric] = float(delta)
    busy = (current.cpu_time_ns - previous.cpu_time_ns) / 1e9
    figures["CPUUtilization"] = round(min(100.0, 100.0 * busy / (seconds * max(1, current.vcpus))), 4)
    return figures


class MetricsSampler:
    """The previous sample of each running instance, and the report that the next sample makes."""

    def __init__(self) -> None:
        self._previous: dict[str, Usage] = {}

    def report(self, usages: dict[str, Usage], now: dt.datetime | None = None) -> dict[str, Any]:
        """The ``/hosts/<id>/metrics`` document for the instances sampled now: one entry per instance that has
        an earlier sample to measure against. Instances no longer running are forgotten."""
        timestamp = (now or dt.datetime.now(dt.UTC)).isoformat()
        instances = []
        for instance_id, usage in sorted(usages.items()):
            previous = self._previous.get(instance_id)
            figures = measure(previous, usage) if previous is not None else None
            if figures is not None:
                instances.append({"instance_id": instance_id, "seconds": round(usage.at - previous.at, 3),
                                  "metrics": figures})
        self._previous = dict(usages)
        return {"time": timestamp, "instances": instances}


@dataclass(frozen=True)
class NicCounters:
    """One NIC's cumulative counters from the guest's point of view (what the guest received is ``rx``)."""

    rx_bytes: int
    tx_bytes: int
    rx_packets: int
    tx_packets: int

    @classmethod
    def of_tap(cls, stats: Any) -> NicCounters:
        """From the host side of a tap (netlink ``IFLA_STATS64``): what the tap sent, the guest received."""
        return cls(int(stats.get("tx_bytes") or 0), int(stats.get("rx_bytes") or 0),
                   int(stats.get("tx_packets") or 0), int(stats.get("rx_packets") or 0))


def usage_from_stats(stats: dict[str, Any], at: float, nics: list[NicCounters] | None = None) -> Usage:
    """A :class:`Usage` from one domain's ``virConnectGetAllDomainStats`` record (``cpu.time``, ``vcpu.current``,
    ``block.<i>.rd.reqs``...), summing every disk, and every NIC: from ``nics`` when given (the taps' own
    counters: libvirt reads interface statistics in its own namespace, and a plugged tap lives in its VPC's),
    else from the record's ``net.<i>.*``."""
    def total(prefix: str, count_key: str, suffix: str) -> int:
        return sum(int(stats.get(f"{prefix}.{i}.{suffix}", 0)) for i in range(int(stats.get(count_key, 0))))

    if nics is None:
        nics = [NicCounters(total("net", "net.count", "rx.bytes"), total("net", "net.count", "tx.bytes"),
                            total("net", "net.count", "rx.pkts"), total("net", "net.count", "tx.pkts"))]
    return Usage(
        at=at, vcpus=int(stats.get("vcpu.current", 1) or 1), cpu_time_ns=int(stats.get("cpu.time", 0)),
        net_rx_bytes=sum(n.rx_bytes for n in nics), net_tx_bytes=sum(n.tx_bytes for n in nics),
        net_rx_packets=sum(n.rx_packets for n in nics), net_tx_packets=sum(n.tx_packets for n in nics),
        disk_read_bytes=total("block", "block.count", "rd.bytes"),
        disk_write_bytes=total("block", "block.count", "wr.bytes"),
        disk_read_ops=total("block", "block.count", "rd.reqs"), disk_write_ops=total("block", "block.count", "wr.reqs"))
