"""Shared fixtures: one real Cloudlet per test session, driven over HTTP."""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support import CloudletProcess, client_models

E2E_DIR = Path(__file__).parent / "e2e"


def pytest_configure(config: pytest.Config) -> None:
    """SIGTERM (a CI timeout, ``kill``) ends the run as Ctrl-C does, so pytest still runs every fixture's
    cleanup: namespaces, agents and VMs of an interrupted run are removed, not left behind."""

    session_pid = os.getpid()

    def interrupt(signum: int, frame: object) -> None:
        if os.getpid() != session_pid:  # a child forked by a test inherits this handler: it just dies
            signal.signal(signum, signal.SIG_DFL)
            os.kill(os.getpid(), signum)
            return
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupt)
    models = Path(tempfile.mkdtemp(prefix="cloudlet-models-"))
    os.environ["AWS_DATA_PATH"] = client_models(models)
    config.add_cleanup(lambda: shutil.rmtree(models, ignore_errors=True))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Every test under tests/e2e drives a real server: mark it, so ``-m "not e2e"`` is the in-process loop."""
    for item in items:
        if E2E_DIR in item.path.parents:
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def cloudlet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[CloudletProcess]:
    """A running ``cloudlet up`` (controller only) in a temporary data dir."""
    process = CloudletProcess(tmp_path_factory.mktemp("cloudlet") / "data").start()
    try:
        yield process
    finally:
        process.stop()


@pytest.fixture
def unique() -> str:
    """A short unique prefix for names created by one test, so runs never collide."""
    return "t" + uuid.uuid4().hex[:10]


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"
