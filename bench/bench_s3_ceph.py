"""S3 on Ceph: GET and PUT through Cloudlet (``s3_backend: cluster``) vs straight to radosgw, one run.

A single-node Ceph cluster (tests/ceph_cluster.py: monitor, manager, one file-backed BlueStore OSD,
radosgw on loopback) holds a Cloudlet's blobs; the same objects (same sizes, same bytes) are written and
read through Cloudlet and directly through the gateway, the two requests of each sample back to back so
both see the same load. Each request is timed alone (one stream, keep-alive, presigned SigV4 URLs, the
lean client of bench_s3.py), and the figures are per-request medians and Cloudlet's median over
radosgw's: what putting Cloudlet's API, auth and metadata in front of a Ceph cluster costs a client.
The ratios are reported without a target, for comparison over time: Cloudlet proxies every byte through
its own process on the same cores as the cluster, and signs a second request to it.

Sizes: 4 KiB (Cloudlet keeps objects up to 64 KiB inline in its own state: no Ceph round trip),
256 KiB (the smallest that goes to Ceph) and 8 MiB.

    .venv/bin/python bench/bench_s3_ceph.py [--samples 40]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_s3 import BUCKET, Connection, Target, boto  # noqa: E402
from common import report  # noqa: E402

from tests.ceph_cluster import CephCluster, missing_binaries  # noqa: E402
from tests.e2e.s3_backends import ceph_settings, cloudlet_on_cluster  # noqa: E402

KiB = 1024
MiB = 1024 * KiB
SIZES = {"4 KiB": 4 * KiB, "256 KiB": 256 * KiB, "8 MiB": 8 * MiB}


def timed(connection: Connection, method: str, url: str, body: memoryview | None = None) -> float:
    started = time.perf_counter()
    connection.request(method, url, body)
    return time.perf_counter() - started


def measure(targets: list[Target], size: int, samples: int) -> dict[str, dict[str, list[float]]]:
    """PUT then GET latencies (seconds) per target, the targets' requests of one sample back to back."""
    payloads = [memoryview(os.urandom(size)) for _ in range(min(samples, 8))]
    connections = {target.name: Connection(target.endpoint) for target in targets}
    times: dict[str, dict[str, list[float]]] = {t.name: {"PUT": [], "GET": []} for t in targets}
    for method in ("PUT", "GET"):
        for sample in range(samples + 2):  # the first two warm the connections and caches up
            key = f"obj-{size}-{sample}"
            for target in targets:
                body = payloads[sample % len(payloads)] if method == "PUT" else None
                elapsed = timed(connections[target.name], method, target.url(method, key), body)
                if sample >= 2:
                    times[target.name][method].append(elapsed)
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=40, help="requests per size, method and target")
    args = parser.parse_args()
    missing = missing_binaries()
    if missing:
        print(f"Ceph is not installed here (missing {', '.join(missing)}): `make install` installs it")
        return 1
    with tempfile.TemporaryDirectory(prefix="cloudlet-bench-ceph-") as workdir:
        started = time.monotonic()
        with CephCluster(Path(workdir) / "ceph") as ceph:
            print(f"Ceph cluster up in {time.monotonic() - started:.1f} s ({ceph.timings})", flush=True)
            gateway = Target("radosgw", ceph.rgw_endpoint, boto(ceph.rgw_endpoint, ceph.access_key,
                                                               ceph.secret_key, "us-east-1"))
            gateway.client.create_bucket(Bucket=BUCKET)
            cloud = cloudlet_on_cluster(Path(workdir) / "cloudlet", ceph_settings(ceph, "cloudlet-blobs")).start()
            try:
                creds = cloud.root_credentials()
                cloudlet = Target("cloudlet", cloud.endpoint, boto(cloud.endpoint, creds.access_key_id,
                                                                   creds.secret_access_key, cloud.region))
                cloudlet.client.create_bucket(Bucket=BUCKET)
                run(args.samples, cloudlet, gateway)
            finally:
                cloud.stop()
    return 0


def run(samples: int, cloudlet: Target, gateway: Target) -> None:
    print(f"\n{'workload':<16} {'Cloudlet ms':>12} {'radosgw ms':>11} {'ratio':>7}   (per-request medians, "
          f"{samples} samples)")
    for label, size in SIZES.items():
        times = measure([cloudlet, gateway], size, samples if size < MiB else max(10, samples // 2))
        for method in ("PUT", "GET"):
            ours, theirs = (statistics.median(times[name][method]) for name in ("cloudlet", "radosgw"))
            print(f"{method + ' ' + label:<16} {ours * 1000:>12.2f} {theirs * 1000:>11.2f} {ours / theirs:>6.2f}x",
                  flush=True)
            report(f"S3 {label} {method} through Cloudlet on Ceph: median latency over radosgw's", ours / theirs,
                   "x", cloudlet_ms=round(ours * 1000, 2),
                   radosgw_ms=round(theirs * 1000, 2),
                   cloudlet_mib_s=round(size / MiB / ours, 1), radosgw_mib_s=round(size / MiB / theirs, 1))


if __name__ == "__main__":
    sys.exit(main())
