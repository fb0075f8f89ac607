"""agent/compute/metrics.py: EC2's per-interval metrics from libvirt's cumulative counters (pure)."""

from __future__ import annotations

import datetime as dt

from agent.compute.metrics import MetricsSampler, Usage, measure, usage_from_stats


def test_cpu_is_the_share_of_the_instances_vcpus_and_the_rest_are_deltas() -> None:
    before = Usage(at=100.0, vcpus=2, cpu_time_ns=5_000_000_000, net_rx_bytes=1000, net_tx_bytes=10,
                   disk_read_ops=3)
    after = Usage(at=110.0, vcpus=2, cpu_time_ns=15_000_000_000, net_rx_bytes=5000, net_tx_bytes=30,
                  disk_read_ops=7)
    figures = measure(before, after)
    assert figures is not None
    assert figures["CPUUtilization"] == 50.0  # 10 s of CPU over 10 s on 2 vCPUs
    assert (figures["NetworkIn"], figures["NetworkOut"], figures["DiskReadOps"]) == (4000.0, 20.0, 4.0)


def test_a_restarted_domain_or_no_elapsed_time_measures_nothing() -> None:
    busy = Usage(at=10.0, vcpus=1, cpu_time_ns=9_000_000_000)
    assert measure(busy, Usage(at=20.0, vcpus=1, cpu_time_ns=1_000)) is None
    assert measure(busy, busy) is None
    assert measure(Usage(at=0.0, vcpus=1, cpu_time_ns=0), Usage(at=1.0, vcpus=1, cpu_time_ns=5 * 10**9))[
        "CPUUtilization"] == 100.0  # capped: a clock skew never reports more than every vCPU


def test_the_sampler_reports_instances_with_an_earlier_sample_and_forgets_stopped_ones() -> None:
    sampler = MetricsSampler()
    now = dt.datetime(2026, 12, 5, tzinfo=dt.UTC)
    first = sampler.report({"i-1": Usage(at=0.0, vcpus=1, cpu_time_ns=0)}, now)
    assert first["instances"] == []
    second = sampler.report({"i-1": Usage(at=10.0, vcpus=1, cpu_time_ns=2 * 10**9),
                             "i-2": Usage(at=10.0, vcpus=1, cpu_time_ns=0)}, now)
    assert [(i["instance_id"], i["metrics"]["CPUUtilization"]) for i in second["instances"]] == [("i-1", 20.0)]
    third = sampler.report({"i-2": Usage(at=20.0, vcpus=1, cpu_time_ns=10**9)}, now)
    assert [i["instance_id"] for i in third["instances"]] == ["i-2"]


def test_libvirt_stats_records_sum_every_nic_and_disk() -> None:
    stats = {"cpu.time": 42, "vcpu.current": 2, "net.count": 2, "net.0.rx.bytes": 10, "net.1.rx.bytes": 5,
             "net.0.tx.pkts": 1, "block.count": 1, "block.0.wr.bytes": 4096, "block.0.wr.reqs": 1}
    usage = usage_from_stats(stats, 7.0)
    assert (usage.cpu_time_ns, usage.vcpus, usage.net_rx_bytes, usage.net_tx_packets) == (42, 2, 15, 1)
    assert (usage.disk_write_bytes, usage.disk_write_ops, usage.at) == (4096, 1, 7.0)


def test_tap_counters_are_the_guests_view_and_win_over_libvirts_own() -> None:
    from agent.compute.metrics import NicCounters
    from agent.compute.vif import tap_counters

    links = [{"IFLA_IFNAME": "cl-tabc", "IFLA_STATS64": {"rx_bytes": 10, "tx_bytes": 700, "rx_packets": 1,
                                                          "tx_packets": 7}},
             {"IFLA_IFNAME": "eth0", "IFLA_STATS64": {"rx_bytes": 5}}]
    found = tap_counters(links, lambda name: name.startswith("cl-t"))
    assert found == {"cl-tabc": NicCounters(rx_bytes=700, tx_bytes=10, rx_packets=7, tx_packets=1)}
    usage = usage_from_stats({"net.count": 1, "net.0.rx.bytes": 0}, 1.0, list(found.values()))
    assert (usage.net_rx_bytes, usage.net_tx_packets) == (700, 1)
