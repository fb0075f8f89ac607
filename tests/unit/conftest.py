"""Fixtures of the in-process tests: real clouds from :mod:`tests.unit.harness`, closed after each test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from controller.server import HttpServer
from controller.wsgi import create_app
from tests.unit.harness import Clouds, InstanceCloud


@pytest.fixture
def clouds(tmp_path: Path) -> Iterator[Clouds]:
    """Makes harnesses on real clouds under ``tmp_path``; every one is closed when the test ends."""
    made = Clouds(tmp_path)
    yield made
    made.close()


@pytest.fixture
def ic(clouds: Clouds) -> InstanceCloud:
    """An instances cloud with two agent hosts, one in each of two zones."""
    made = clouds.instances()
    made.add_host("h-0000000000000000a", "home-1a")
    made.add_host("h-0000000000000000b", "home-1b")
    return made


@pytest.fixture
def server(ic: InstanceCloud) -> Iterator[HttpServer]:
    """``ic``'s controller on a loopback port, for agent RPC calls over real HTTP (``harness.agent_link``)."""
    running = HttpServer(create_app(ic.cloud), "127.0.0.1", 0, 4)
    running.start()
    yield running
    running.stop()
