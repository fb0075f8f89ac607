"""The heartbeat timeout is a setting: a cloud judges hosts down by its own, and its local agent beats often
enough to stay up under it (tests shorten it to see a lost host in seconds rather than 30 s)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from controller.cli import agent_argv
from controller.config import Config
from controller.hosts import state as hosts_state
from tests.unit.harness import Clouds, InstanceCloud


@pytest.fixture(autouse=True)
def default_timeout_after() -> Iterator[None]:
    """The timeout is per process: put the default back for the tests that run after these."""
    yield
    hosts_state.use_heartbeat_timeout(Config.host_heartbeat_timeout_seconds)


def silent_for(ic: InstanceCloud, host_id: str, seconds: float) -> None:
    """Move the host's last heartbeat ``seconds`` into the past."""
    with ic.db.begin() as conn:
        conn.execute(update(hosts_state.hosts).where(hosts_state.hosts.c.host_id == host_id).values(
            last_heartbeat=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=seconds)))


def states(ic: InstanceCloud) -> dict[str, str]:
    return {host.host_id: host.state for host in hosts_state.list_hosts(ic.db)}


def test_a_cloud_with_a_short_timeout_finds_a_silent_host_down_sooner(clouds: Clouds) -> None:
    default = clouds.instances()
    default.add_host("h-quiet")
    silent_for(default, "h-quiet", 10)
    assert states(default) == {"h-quiet": "up"}  # 10 s is well within the default 30 s

    short = clouds.instances(host_heartbeat_timeout_seconds=6)
    short.add_host("h-quiet")
    short.add_host("h-beating")
    silent_for(short, "h-quiet", 10)
    silent_for(short, "h-beating", 2)
    assert states(short) == {"h-beating": "up", "h-quiet": "down"}
    with short.db.read() as conn:
        assert not hosts_state.host_is_up(conn, "h-quiet") and hosts_state.host_is_up(conn, "h-beating")


def test_the_local_agent_beats_three_times_within_the_timeout(tmp_path: Path) -> None:
    argv = agent_argv(Config.load(tmp_path))
    assert float(argv[argv.index("--heartbeat-interval") + 1]) == 10.0
    (tmp_path / "cloudlet.json").write_text(json.dumps({"host_heartbeat_timeout_seconds": 6}))
    argv = agent_argv(Config.load(tmp_path))
    assert float(argv[argv.index("--heartbeat-interval") + 1]) == 2.0


@pytest.mark.parametrize("seconds", [0, -5])
def test_a_timeout_that_is_not_positive_is_refused(tmp_path: Path, seconds: float) -> None:
    (tmp_path / "cloudlet.json").write_text(json.dumps({"host_heartbeat_timeout_seconds": seconds}))
    with pytest.raises(ValueError, match="host_heartbeat_timeout_seconds must be positive"):
        Config.load(tmp_path)
