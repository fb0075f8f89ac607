"""Which Lambda runtimes this host can run, and the command each starts inside an environment.

A runtime is available when its interpreter exists on the host: python3.11 uses the host's CPython 3.11
(the ABI of the ``awslambdaric`` the agent ships), python3.12 only where ``/usr/bin/python3.12`` exists and
can load it, nodejs20.x where ``node`` is version 20 or later (Cloudlet's own ``bootstrap/node_ric.js``
speaks the Runtime API, since AWS's Node client needs a native addon), and the OS-only runtimes run the
package's own ``bootstrap`` executable, as on AWS.
"""

from __future__ import annotations

import functools
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

#: Where the runtime's files appear inside the environment (AWS's LAMBDA_RUNTIME_DIR).
RUNTIME_DIR = "/var/runtime"
NODE_CLIENT = Path(__file__).parent / "bootstrap" / "node_ric.js"


@dataclass(frozen=True)
class Runtime:
    """How to start one runtime: ``interpreter`` (a host path bound at the same path) and its argv."""

    name: str
    interpreter: str | None
    argv: tuple[str, ...]
    #: Shown in the INIT_START line, as AWS names its runtime builds.
    version: str
    #: Host paths the sandbox must bind read-only for the interpreter to start.
    binds: tuple[str, ...] = ()


def _python(name: str, executable: str) -> Runtime | None:
    path = Path(executable)
    if not path.exists():
        return None
    prefix = Path(sys.base_prefix)
    binds = () if str(path).startswith("/usr/") else (str(prefix),)
    return Runtime(name, str(path), (str(path), "-m", "awslambdaric"), f"python:{name[6:]}.cloudlet", binds)


def _host_python311() -> str:
    """Debian's python3.11 when present (what a Lambda host image has), else the agent's own interpreter."""
    if Path("/usr/bin/python3.11").exists():
        return "/usr/bin/python3.11"
    return str(Path(sys.base_prefix) / "bin" / f"python{sys.version_info.major}.{sys.version_info.minor}")


def _node() -> Runtime | None:
    node = shutil.which("node")
    if node is None:
        return None
    try:
        version = subprocess.run([node, "--version"], capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return None
    if int(version.lstrip("v").split(".")[0] or 0) < 20:
        return None
    real = str(Path(node).resolve())
    binds = () if real.startswith("/usr/") else (str(Path(real).parent.parent),)
    return Runtime("nodejs20.x", real, (real, f"{RUNTIME_DIR}/node_ric.js"), f"nodejs:20.{version}", binds)


@functools.cache
def available() -> dict[str, Runtime]:
    """The runtimes of this host, by Lambda runtime name (probed once per agent)."""
    found: dict[str, Runtime | None] = {
        "python3.11": _python("python3.11", _host_python311()),
        "python3.12": _python("python3.12", "/usr/bin/python3.12") if sys.version_info[:2] == (3, 12) else None,
        "nodejs20.x": _node(),
        "provided.al2023": Runtime("provided.al2023", None, ("/var/task/bootstrap",), "provided:al2023.cloudlet"),
        "provided.al2": Runtime("provided.al2", None, ("/var/task/bootstrap",), "provided:al2.cloudlet"),
    }
    return {name: runtime for name, runtime in found.items() if runtime is not None}
