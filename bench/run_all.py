"""`make bench`: run the benchmarks in bench/ one after another, then print one summary table of every
verdict they reported (figure, target, met or not) and write it as JSON, so runs can be compared over time.

Each benchmark prints its own detailed tables as it goes, and hands its verdicts to :func:`common.report`,
which appends them to the file named by ``CLOUDLET_BENCH_RESULTS``. A benchmark that fails, or reports
nothing, shows as such in the table. ``make bench BENCH="bench_api bench_s3"`` runs only those.

The JSON goes to ``bench/results/<UTC time>.json`` and ``bench/results/latest.json``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from common import RESULTS_ENV, figure

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"


def run(script: Path) -> dict[str, Any]:
    """Run one benchmark; its verdicts, exit status and duration."""
    print(f"\n######## {script.name}", flush=True)
    with tempfile.NamedTemporaryFile("r", suffix=".jsonl") as verdicts:
        started = time.monotonic()
        status = subprocess.run([sys.executable, str(script)], cwd=HERE,
                                env=os.environ | {RESULTS_ENV: verdicts.name}).returncode
        rows = [json.loads(line) for line in Path(verdicts.name).read_text().splitlines() if line.strip()]
    return {"benchmark": script.stem, "exit_status": status, "seconds": round(time.monotonic() - started, 1),
            "verdicts": rows}


def table(runs: list[dict[str, Any]]) -> str:
    """The summary: a line per verdict, and one for a benchmark that failed or reported nothing."""
    lines = [f"{'benchmark':<22} {'measured':>14} {'target':>14}  {'':<7} what", "-" * 110]
    for one in runs:
        name = one["benchmark"].removeprefix("bench_")
        if one["exit_status"] != 0:
            lines.append(f"{name:<22} {'':>14} {'':>14}  {'FAILED':<7} exit status {one['exit_status']}: "
                         "see its output")
        elif not one["verdicts"]:
            lines.append(f"{name:<22} {'':>14} {'':>14}  {'-':<7} reported no verdict")
        for verdict in one["verdicts"]:
            met = {True: "met", False: "NOT MET", None: ""}[verdict["met"]]
            measured = figure(verdict["measured"], verdict["unit"])
            lines.append(f"{name:<22} {measured:>14} {verdict['target']:>14}  {met:<7} {verdict['row']}")
    verdicts = [v for one in runs for v in one["verdicts"] if v["met"] is not None]
    failed = sum(one["exit_status"] != 0 for one in runs)
    lines += ["-" * 110, f"{sum(v['met'] for v in verdicts)} of {len(verdicts)} targets met"
              + (f"; {failed} benchmark(s) failed" if failed else "")]
    return "\n".join(lines)


def save(runs: list[dict[str, Any]], started: dt.datetime) -> Path:
    RESULTS.mkdir(exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                            text=True).stdout.strip()
    document = {"started": started.isoformat(timespec="seconds"), "commit": commit, "cores": os.cpu_count(),
                "machine": platform.platform(), "benchmarks": runs}
    path = RESULTS / f"{started.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.write_text(json.dumps(document, indent=1) + "\n")
    (RESULTS / "latest.json").write_text(path.read_text())
    return path


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="benchmarks to run (bench_api or api); all when none")
    args = parser.parse_args()
    wanted = {name.removesuffix(".py").removeprefix("bench_") for name in args.names}
    scripts = [s for s in sorted(HERE.glob("bench_*.py")) if not wanted or s.stem.removeprefix("bench_") in wanted]
    unknown = wanted - {s.stem.removeprefix("bench_") for s in scripts}
    if unknown:
        print(f"no such benchmark: {', '.join(sorted(unknown))} (see bench/bench_*.py)", file=sys.stderr)
        return 2
    started = dt.datetime.now(dt.UTC)
    runs = [run(script) for script in scripts]
    print("\n######## summary\n" + table(runs))
    print(f"\nwritten to {save(runs, started)}")
    return 1 if any(one["exit_status"] != 0 for one in runs) else 0


if __name__ == "__main__":
    sys.exit(main())
