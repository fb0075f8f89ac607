"""CloudWatch metrics: PutMetricData ingestion rate and GetMetricStatistics latency, Cloudlet vs moto's server,
side by side in one run.

Ingestion: ``--streams`` concurrent clients each send PutMetricData in batches of 20 datums for ``--seconds``,
in two shapes: plain ``Value`` datums (20 datapoints a call) and ``Values`` arrays of 10 values with
``Counts`` of 1 (200 datapoints a call). The rate counted is datapoints accepted per second: one per plain
datum, one per entry of a ``Values`` array. Each stream writes 20 metrics with its own dimension, timestamps
of the current minute. Target (issue 17): at least 3x moto on both shapes.

Reads: one metric holds the same 1,200 datapoints on both servers (20 per minute over the last hour);
GetMetricStatistics asks for its five statistics per minute over that hour (60 datapoints back), one call
at a time, p50/p99. It runs after the ingestion, so each server also holds what it ingested (Cloudlet,
being faster, holds more). The answers are checked: both must count the 1,200 samples.

The client is lean (one keep-alive connection per stream, CloudWatch's awsJson1_0 protocol, which both
servers speak, SigV4 signed with hmac) so that on the same 2 cores it costs both servers equally and little;
boto3 would spend more CPU than either server.

    .venv/bin/python bench/bench_cloudwatch.py [--seconds 4] [--streams 4] [--samples 200]
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from common import JsonClient, MotoServer, percentile, report

from tests.support import CloudletProcess

TARGET_PREFIX = "GraniteServiceVersion20100801"
BATCH = 20
VALUES_PER_DATUM = 10
PROBE = ("Bench/Probe", "Latency")
PROBE_PER_MINUTE = 20
RATIO_TARGET = 3.0


def batch(stream: int, arrays: bool, sequence: int) -> tuple[list[dict[str, Any]], int]:
    """20 datums for ``stream`` (plain values or Values arrays) and how many datapoints they carry."""
    now = time.time()
    data = []
    for index in range(BATCH):
        datum: dict[str, Any] = {"MetricName": f"m{index}", "Timestamp": now, "Unit": "Milliseconds",
                                 "Dimensions": [{"Name": "Stream", "Value": f"s{stream}"}]}
        if arrays:
            datum["Values"] = [float((sequence + index + k) % 97) for k in range(VALUES_PER_DATUM)]
            datum["Counts"] = [1.0] * VALUES_PER_DATUM
        else:
            datum["Value"] = float((sequence + index) % 97)
        data.append(datum)
    return data, BATCH * (VALUES_PER_DATUM if arrays else 1)


def ingestion(make_client: Any, arrays: bool, streams: int, seconds: float) -> float:
    """Datapoints accepted per second over ``streams`` concurrent PutMetricData loops."""
    clients = [make_client() for _ in range(streams)]
    namespace = f"Bench/{'Arrays' if arrays else 'Values'}"
    for stream, client in enumerate(clients):   # warm-up: connections, metric identities
        client.call("PutMetricData", {"Namespace": namespace, "MetricData": batch(stream, arrays, 0)[0]})
    counts = [0] * streams
    stop = time.perf_counter() + seconds
    barrier = threading.Barrier(streams + 1)

    def run(stream: int) -> None:
        client, sequence = clients[stream], 0
        barrier.wait()
        while time.perf_counter() < stop:
            sequence += 1
            data, points = batch(stream, arrays, sequence)
            client.call("PutMetricData", {"Namespace": namespace, "MetricData": data})
            counts[stream] += points

    workers = [threading.Thread(target=run, args=(i,)) for i in range(streams)]
    for worker in workers:
        worker.start()
    begun = time.perf_counter()
    barrier.wait()
    for worker in workers:
        worker.join()
    return sum(counts) / (time.perf_counter() - begun)


def load_probe(client: JsonClient, hour_start: float) -> None:
    """The read probe: PROBE_PER_MINUTE datapoints in each of the 60 minutes after ``hour_start``."""
    points = [{"MetricName": PROBE[1], "Timestamp": hour_start + minute * 60 + second * 2.5, "Unit": "Milliseconds",
               "Value": float(minute + second)}
              for minute in range(60) for second in range(PROBE_PER_MINUTE)]
    for start in range(0, len(points), 500):
        client.call("PutMetricData", {"Namespace": PROBE[0], "MetricData": points[start:start + 500]})


def read_latencies(client: JsonClient, hour_start: float, samples: int) -> list[float]:
    """Seconds per GetMetricStatistics over the probe's hour, one call at a time (after checking the answer)."""
    params = {"Namespace": PROBE[0], "MetricName": PROBE[1], "StartTime": hour_start, "EndTime": hour_start + 3600,
              "Period": 60, "Statistics": ["SampleCount", "Sum", "Average", "Minimum", "Maximum"]}
    answer = client.call("GetMetricStatistics", params)
    counted = sum(point["SampleCount"] for point in answer.get("Datapoints", []))
    if counted != 60 * PROBE_PER_MINUTE:
        raise RuntimeError(f"GetMetricStatistics counted {counted} samples, not {60 * PROBE_PER_MINUTE}: {answer}")
    latencies = []
    for _ in range(samples):
        started = time.perf_counter()
        client.call("GetMetricStatistics", params)
        latencies.append(time.perf_counter() - started)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=4.0, help="duration of each ingestion measurement")
    parser.add_argument("--streams", type=int, default=4, help="concurrent PutMetricData clients")
    parser.add_argument("--rounds", type=int, default=3, help="ingestion rounds (medians are reported)")
    parser.add_argument("--samples", type=int, default=200, help="GetMetricStatistics calls to time")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="bench-cw-"))
    moto = MotoServer()
    cloud = CloudletProcess(workdir / "data", extra_env={"CLOUDLET_LOG": "WARNING"}).start()
    try:
        creds = cloud.root_credentials()
        targets = {
            "cloudlet": lambda: JsonClient(cloud.endpoint, creds.access_key_id, creds.secret_access_key, cloud.region,
                                         service="monitoring", target_prefix=TARGET_PREFIX),
            "moto": lambda: JsonClient(moto.endpoint, "testing", "testing", "us-east-1", service="monitoring",
                                     target_prefix=TARGET_PREFIX),
        }
        rows = []
        for arrays in (False, True):
            label = (f"Values arrays ({VALUES_PER_DATUM} each)" if arrays else "plain values")
            rates: dict[str, list[float]] = {name: [] for name in targets}
            for _ in range(args.rounds):   # alternate, so drift hits both alike
                for name, make in targets.items():
                    rates[name].append(ingestion(make, arrays, args.streams, args.seconds))
            medians = {name: statistics.median(values) for name, values in rates.items()}
            rows.append((label, medians))
            print(f"  {label:<26} cloudlet {medians['cloudlet']:8.0f} dp/s   moto {medians['moto']:8.0f} dp/s",
                  flush=True)
        hour_start = (time.time() // 60) * 60 - 3600
        latencies = {}
        for name, make in targets.items():
            client = make()
            load_probe(client, hour_start)
            latencies[name] = read_latencies(client, hour_start, args.samples)
    finally:
        cloud.stop()
        moto.stop()
        shutil.rmtree(workdir, ignore_errors=True)
    summarize(rows, latencies, args)


def summarize(rows: list[tuple[str, dict[str, float]]], latencies: dict[str, list[float]], args: Any) -> None:
    print(f"\n== CloudWatch: Cloudlet vs moto, PutMetricData datapoints accepted per second (batches of {BATCH} "
          f"datums, {args.streams} streams, {args.rounds} rounds x {args.seconds:g} s, medians; 2 cores shared by "
          "servers and client)")
    print(f"{'workload':<28} {'cloudlet':>10} {'moto':>10} {'vs moto':>9}")
    ratios = []
    for label, rates in rows:
        ratio = rates["cloudlet"] / rates["moto"] if rates["moto"] else float("inf")
        ratios.append(ratio)
        print(f"{label:<28} {rates['cloudlet']:10.0f} {rates['moto']:10.0f} {ratio:8.1f}x")
        report(f"PutMetricData, {label}, {args.streams} streams: datapoints/s over moto's", ratio, "x",
               at_least=RATIO_TARGET, cloudlet_dps=round(rates["cloudlet"]), moto_dps=round(rates["moto"]))
    print(f"\nGetMetricStatistics, 5 statistics x 60 one-minute periods over {60 * PROBE_PER_MINUTE} datapoints "
          f"({args.samples} sequential calls)")
    medians = {name: statistics.median(values) for name, values in latencies.items()}
    p99s = {name: percentile(values, 0.99) for name, values in latencies.items()}
    for name in latencies:
        print(f"  {name:<10} p50 {medians[name] * 1000:7.2f} ms   p99 {p99s[name] * 1000:7.2f} ms")
    print(f"  p50 ratio cloudlet / moto: {medians['cloudlet'] / medians['moto']:.2f} (lower is better)")
    report(f"GetMetricStatistics, {60 * PROBE_PER_MINUTE:,} datapoints, 60 periods: p50 latency over moto's",
           medians["cloudlet"] / medians["moto"], "x",
           cloudlet_p50_ms=medians["cloudlet"] * 1000, moto_p50_ms=medians["moto"] * 1000,
           cloudlet_p99_ms=p99s["cloudlet"] * 1000, moto_p99_ms=p99s["moto"] * 1000)
    print(f"target (issue 17): ingestion >= {RATIO_TARGET:g}x moto: "
          + ("met" if min(ratios) >= RATIO_TARGET else f"NOT met (lowest {min(ratios):.1f}x)"))


if __name__ == "__main__":
    main()
