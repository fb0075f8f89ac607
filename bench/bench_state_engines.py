"""Controller API throughput with its state on PostgreSQL vs SQLite (issue 15 point 8): the same calls, the
same client processes, the two clouds loaded in turns within each round.

Two ``cloudlet up`` run side by side, one on the embedded SQLite file and one on a PostgreSQL database of a
private cluster (``tests/postgres_lab.py``: Debian's server, Unix socket only, ``fsync`` on); each with one
API process, so the figures compare the stores, not process counts. The workloads are bench_api.py's (reads:
STS, DescribeAvailabilityZones, DescribeInstances, S3 GET; writes: S3 PUT, SQS send and receive). For every
workload the median round by requests/s is reported with its p50 and p99, and PostgreSQL's requests/s as a
ratio of SQLite's. No target: the figure is for comparison over time (a network hop to a real database
server costs more than this socket).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

from bench_api import WORKLOADS, ClientProcesses, Endpoint, prepare
from common import LoadResult, report

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from tests.postgres_lab import PostgresCluster  # noqa: E402
from tests.support import CloudletProcess  # noqa: E402

ENGINES = ("sqlite", "postgresql")


def start_cloud(root: Path, engine: str, cluster: PostgresCluster) -> CloudletProcess:
    data_dir = root / engine
    data_dir.mkdir()
    settings = {"workers": 1}
    if engine == "postgresql":
        settings["database_url"] = cluster.create_database("cloudlet_bench")
    (data_dir / "cloudlet.json").write_text(json.dumps(settings))
    return CloudletProcess(data_dir, extra_env={"CLOUDLET_LOG": "WARNING"}).start()


def endpoint(engine: str, cloud: CloudletProcess) -> Endpoint:
    creds = cloud.root_credentials()
    return Endpoint(engine, cloud.endpoint, creds.access_key_id, creds.secret_access_key, cloud.region)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=8, help="concurrent client processes")
    parser.add_argument("--seconds", type=float, default=3.0, help="length of one round of one cloud")
    parser.add_argument(
        "--rounds", type=int, default=3, help="rounds per workload; the median one is reported"
    )
    args = parser.parse_args()
    clients = ClientProcesses(args.clients)
    with tempfile.TemporaryDirectory(prefix="cloudlet-bench-engines-") as tmp:
        root = Path(tmp)
        cluster = PostgresCluster(root / "postgres").start()
        clouds: dict[str, CloudletProcess] = {}
        try:
            for engine in ENGINES:
                clouds[engine] = start_cloud(root, engine, cluster)
            endpoints = {engine: endpoint(engine, cloud) for engine, cloud in clouds.items()}
            fixtures = {engine: prepare(target) for engine, target in endpoints.items()}
            print(
                f"\n== API throughput by state store: {args.clients} client processes, one API process each, "
                f"median of {args.rounds} x {args.seconds:g} s, {os.cpu_count()} cores shared"
            )
            for workload in WORKLOADS:
                runs: dict[str, list[LoadResult]] = {engine: [] for engine in ENGINES}
                for _ in range(args.rounds):
                    for engine in ENGINES:
                        runs[engine].append(
                            clients.load(endpoints[engine], workload, fixtures[engine], args.seconds)
                        )
                medians = {
                    engine: sorted(found, key=lambda r: r.rps)[len(found) // 2]
                    for engine, found in runs.items()
                }
                sqlite, postgres = medians["sqlite"], medians["postgresql"]
                print(f"\n{workload}")
                for engine, result in medians.items():
                    print("  " + result.line(engine))
                print(f"  postgresql: {postgres.rps / sqlite.rps:.2f}x SQLite's req/s", flush=True)
                report(
                    f"{workload}, {args.clients} clients: PostgreSQL req/s over SQLite's",
                    postgres.rps / sqlite.rps,
                    "x",
                    sqlite_rps=round(sqlite.rps),
                    postgresql_rps=round(postgres.rps),
                    sqlite_p50_ms=sqlite.percentile(0.5) * 1000,
                    postgresql_p50_ms=postgres.percentile(0.5) * 1000,
                    sqlite_p99_ms=sqlite.percentile(0.99) * 1000,
                    postgresql_p99_ms=postgres.percentile(0.99) * 1000,
                )
        finally:
            for cloud in clouds.values():
                cloud.stop()
            cluster.stop()
            clients.close()


if __name__ == "__main__":
    main()
