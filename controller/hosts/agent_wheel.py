"""The wheel ``cloudlet host add`` installs on a host: this checkout's code, built once per version of it.

The wheel's version is the project's with a local label made of a digest of the code (``0.1.0+g1a2b...``), so
"the host runs the controller's code" is one comparison of version strings: a host whose installed
``cloudlet`` distribution has another version gets this wheel. The build runs on a copy of the packages
(``controller``, ``agent``, ``pyproject.toml``, ``README.md``) rather than in the checkout, so setuptools'
``build/`` directory can never slip a deleted module into the wheel.

``python -m controller.hosts.agent_wheel DIR`` builds (or finds) it in DIR and prints its path: the ansible
``common`` role installs the same wheel this way.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import subprocess
import sys
import tempfile
import tomllib
from collections.abc import Iterator
from pathlib import Path

#: The checkout the controller runs from (a wheel can only be built from source).
SOURCE = Path(__file__).resolve().parents[2]
PACKAGES = ("controller", "agent")
#: Besides the packages, what setuptools reads to build the wheel.
PROJECT_FILES = ("pyproject.toml", "README.md")


class BuildError(Exception):
    """The wheel cannot be built; the message says why and what to do."""


def _source_files(source: Path) -> Iterator[Path]:
    for name in PROJECT_FILES:
        yield source / name
    for package in PACKAGES:
        for path in sorted((source / package).rglob("*")):
            if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc":
                yield path


def code_digest(source: Path) -> str:
    """A digest of every file that goes into the wheel, with its path: any edit makes a new version."""
    digest = hashlib.sha256()
    for path in _source_files(source):
        digest.update(str(path.relative_to(source)).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:12]


def wheel_version(source: Path = SOURCE) -> str:
    """The version the wheel of ``source`` carries: the project's, labelled with the code's digest."""
    project = tomllib.loads((source / "pyproject.toml").read_text())["project"]
    return f"{project['version']}+g{code_digest(source)}"


def wheel_name(version: str) -> str:
    return f"cloudlet-{version}-py3-none-any.whl"


def _labelled(pyproject: str, version: str) -> str:
    """``pyproject.toml`` with ``version`` as the project's version (only the first ``version =`` line, which
    is the ``[project]`` table's)."""
    return re.sub(r'(?m)^version = "[^"]*"', f'version = "{version}"', pyproject, count=1)


def build(cache: Path, source: Path = SOURCE) -> Path:
    """The wheel of ``source`` in ``cache``, built when that version is not there yet (older ones are removed)."""
    if not (source / "pyproject.toml").is_file():
        raise BuildError(f"Cloudlet runs from {source}, not from a source checkout, so it cannot build the "
                         "agent's wheel: install Cloudlet on the host first and pass --python")
    version = wheel_version(source)
    wheel = cache / wheel_name(version)
    if wheel.is_file():
        return wheel
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="cloudlet-wheel-") as scratch:
        tree = Path(scratch) / "src"
        tree.mkdir()
        for name in PROJECT_FILES:
            shutil.copy(source / name, tree / name)
        (tree / "pyproject.toml").write_text(_labelled((source / "pyproject.toml").read_text(), version))
        for package in PACKAGES:  # symlinks followed: the console's vendored libraries are a link in checkouts
            shutil.copytree(source / package, tree / package, ignore=shutil.ignore_patterns("__pycache__"),
                            ignore_dangling_symlinks=True)
        done = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--disable-pip-version-check",
                               "-q", "-w", scratch, str(tree)], capture_output=True, text=True, timeout=600)
        built = Path(scratch) / wheel.name
        if done.returncode != 0 or not built.is_file():
            tail = "\n".join((done.stdout + done.stderr).strip().splitlines()[-15:])
            raise BuildError(f"building Cloudlet's wheel failed (pip wheel needs setuptools from the package "
                             f"index):\n{tail}")
        for old in cache.glob("cloudlet-*.whl"):
            old.unlink()
        shutil.move(built, wheel)
    return wheel


def main() -> int:
    if len(sys.argv) != 2:
        print("usage: python -m controller.hosts.agent_wheel DIR", file=sys.stderr)
        return 2
    try:
        print(build(Path(sys.argv[1])))
    except BuildError as exc:
        print(f"cloudlet: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
