"""Code on the host: packages, layers and images fetched once by sha256, verified, and unpacked once.

Everything is content-addressed under ``<state dir>/functions``: ``code/<sha>`` the bytes as the
controller stores them, ``task/<sha>`` an unpacked zip (``/var/task``), ``opt/<digest of the layer
list>`` the layers merged in the function's order (``/opt``: later layers win), ``images/<sha>`` an
unpacked image, and ``runtime/`` the runtime clients every environment sees at ``/var/runtime``. Each
appears complete or not at all (built beside its place, then renamed), so a crash leaves no half tree.
"""

from __future__ import annotations

import compileall
import hashlib
import os
import shutil
import stat
import tempfile
import threading
import zipfile
from collections.abc import Callable
from importlib import metadata
from pathlib import Path

from agent.functions.runtimes import NODE_CLIENT

#: Distributions ``/var/runtime`` holds for Python functions: the runtime client and the SDK Lambda's
#: Python runtimes include (boto3 and its dependencies).
PYTHON_RUNTIME_DISTRIBUTIONS = ("awslambdaric", "simplejson", "snapshot-restore-py", "boto3", "botocore",
                                "s3transfer", "jmespath", "python-dateutil", "six", "urllib3")


class PackageError(Exception):
    """The code cannot be had or is not what its sha256 says; the message says which."""


class Packages:
    def __init__(self, state_dir: Path, fetch: Callable[[str, Path], None]) -> None:
        """``fetch(sha256_hex, target)`` downloads a stored package from the controller into ``target``."""
        self.root = state_dir / "functions"
        self.fetch = fetch
        self._locks: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        for name in ("code", "task", "opt", "images"):
            (self.root / name).mkdir(parents=True, exist_ok=True)

    @property
    def runtime(self) -> Path:
        """``/var/runtime``, built when a function first needs it: building it (links and ~250 compiled files,
        ~2 s) at agent start delayed every agent's registration, and most hosts' agents never run a function."""
        return self._once(self.root / "runtime", _build_runtime_dir)

    def code(self, sha256_hex: str) -> Path:
        """The package's bytes on this host, downloaded and checked the first time."""
        if len(sha256_hex) != 64 or not all(c in "0123456789abcdef" for c in sha256_hex):
            raise PackageError(f"not a sha256: {sha256_hex!r}")

        def download(target: Path) -> None:
            partial = target.with_name(target.name + ".part")
            try:
                self.fetch(sha256_hex, partial)
            except Exception as problem:  # the controller's answer or the network: either way no code here
                partial.unlink(missing_ok=True)
                raise PackageError(f"the code {sha256_hex} cannot be fetched from the controller: {problem}") from None
            digest = hashlib.sha256()
            with partial.open("rb") as data:
                for block in iter(lambda: data.read(1 << 20), b""):
                    digest.update(block)
            if digest.hexdigest() != sha256_hex:
                partial.unlink(missing_ok=True)
                raise PackageError(f"the controller sent code whose sha256 is {digest.hexdigest()}, not {sha256_hex}")
            os.rename(partial, target)

        return self._once(self.root / "code" / sha256_hex, download)

    def task(self, sha256_hex: str) -> Path:
        """The unpacked deployment package (``/var/task``)."""
        archive = self.code(sha256_hex)
        return self._once(self.root / "task" / sha256_hex, lambda dest: _unzip_into([archive], dest))

    def opt(self, layer_shas: list[str]) -> Path | None:
        """The function's layers merged in order (``/opt``), or None without layers."""
        if not layer_shas:
            return None
        archives = [self.code(sha) for sha in layer_shas]
        digest = hashlib.sha256(",".join(layer_shas).encode()).hexdigest()
        return self._once(self.root / "opt" / digest, lambda dest: _unzip_into(archives, dest))

    def image(self, sha256_hex: str):  # -> image.ImageSpec (imported lazily: only image functions need it)
        from agent.functions import image

        archive = self.code(sha256_hex)
        with self._lock_for(f"image:{sha256_hex}"):
            try:
                return image.unpack(archive, self.root / "images" / sha256_hex)
            except image.ImageError as problem:
                raise PackageError(f"the function's image cannot run: {problem}") from None

    def _lock_for(self, name: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(name, threading.Lock())

    def _once(self, dest: Path, build: Callable[[Path], None]) -> Path:
        """``dest``, built by ``build(staging path)`` the first time and renamed into place."""
        if dest.exists():
            return dest
        with self._lock_for(str(dest)):
            if dest.exists():
                return dest
            staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
            try:
                target = staging / "content"
                build(target)
                os.rename(target, dest)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
        return dest


def _unzip_into(archives: list[Path], dest: Path) -> None:
    """Extract zips one over the other into ``dest``, keeping their Unix modes (executables stay so)."""
    dest.mkdir()
    for archive in archives:
        try:
            with zipfile.ZipFile(archive) as package:
                for member in package.infolist():
                    path = Path(package.extract(member, dest))  # zipfile refuses names that climb out
                    mode = (member.external_attr >> 16) & 0o7777
                    if mode and not member.is_dir():
                        path.chmod(mode | stat.S_IRUSR | stat.S_IRGRP | stat.S_IROTH)
        except zipfile.BadZipFile:
            raise PackageError("the package is not a zip file") from None
    for path in [dest, *dest.rglob("*")]:
        if not path.is_symlink():
            path.chmod(path.stat().st_mode | stat.S_IROTH | stat.S_IRGRP | (stat.S_IXOTH if path.is_dir() else 0))


def _build_runtime_dir(dest: Path) -> None:
    """``/var/runtime``: the Python runtime client and SDK from the agent's own environment (hard links when
    possible), and the Node.js client."""
    dest.mkdir()
    for name in PYTHON_RUNTIME_DISTRIBUTIONS:
        distribution = metadata.distribution(name)
        for file in distribution.files or ():
            source = Path(distribution.locate_file(file))
            if file.parts[0] == ".." or "__pycache__" in file.parts or not source.is_file():
                continue  # scripts installed outside site-packages; bytecode is compiled below
            target = dest / file
            target.parent.mkdir(parents=True, exist_ok=True)
            _link_or_copy(str(source), str(target))
    if NODE_CLIENT.exists():
        shutil.copy2(NODE_CLIENT, dest / "node_ric.js")
    # The sandbox cannot write bytecode, so compile it now: a cold start then imports, never compiles.
    # In this process (workers=1): ~250 files take 0.6 s either way, and a pool's workers outlived an agent
    # stopped during its start, waiting on their queue forever.
    compileall.compile_dir(dest, quiet=2, workers=1)


def _link_or_copy(source: str, target: str) -> None:
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)
