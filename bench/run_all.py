"""`make bench`: run every benchmark in bench/ one after another (each prints its own ratios)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent

if __name__ == "__main__":
    failures = 0
    for script in sorted(HERE.glob("bench_*.py")):
        print(f"\n######## {script.name}", flush=True)
        failures += subprocess.run([sys.executable, str(script)], cwd=HERE).returncode != 0
    sys.exit(1 if failures else 0)
