"""``cloudlet up --uplink ...``: the choice is recorded in cloudlet.json and handed to the local agent."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controller.cli import agent_argv, main, record_settings
from controller.config import Config
from tests.unit.harness import Clouds


def test_up_records_the_uplink_and_keeps_other_settings(tmp_path: Path) -> None:
    (tmp_path / "cloudlet.json").write_text(json.dumps({"region": "home-1"}))
    record_settings(tmp_path, {"uplink": "nat", "eip_pool": "198.18.5.200-198.18.5.220", "uplink_interface": "eth0"})
    saved = json.loads((tmp_path / "cloudlet.json").read_text())
    assert saved == {"region": "home-1", "uplink": "nat", "eip_pool": "198.18.5.200-198.18.5.220",
                     "uplink_interface": "eth0"}
    argv = agent_argv(Config.load(tmp_path))
    assert argv[argv.index("--uplink") + 1] == "nat"
    assert argv[argv.index("--uplink-interface") + 1] == "eth0"
    assert "--uplink-bridge" not in argv


def test_a_lab_agent_gets_no_host_settings(tmp_path: Path) -> None:
    (tmp_path / "cloudlet.json").write_text(json.dumps({"uplink_interface": "eth0"}))
    argv = agent_argv(Config.load(tmp_path))
    assert argv[argv.index("--uplink") + 1] == "lab" and "--uplink-interface" not in argv


@pytest.mark.parametrize("settings", [{"uplink": "nat"}, {"uplink": "bridge", "eip_pool": "10.9.0.10-10.9.0.20"},
                                      {"uplink": "nat", "eip_pool": "10.9.0.10"}])
def test_a_bad_choice_is_refused_and_nothing_is_written(tmp_path: Path, settings: dict[str, str],
                                                         capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--data-dir", str(tmp_path), "up"] + [arg for key, value in settings.items()
                                                  for arg in (f"--{key.replace('_', '-')}", value)]
    assert main(argv) == 2
    assert "cloudlet up:" in capsys.readouterr().err
    assert not (tmp_path / "cloudlet.json").exists()


def test_elastic_ips_come_from_a_lan_range_and_never_its_first_address(clouds: Clouds) -> None:
    cloud = clouds.vpc(uplink="nat", eip_pool="198.18.5.200-198.18.5.202")
    assert cloud.call("AllocateAddress", {"Domain": "vpc"})["PublicIp"] == "198.18.5.201"
    cloud.refused("AllocateAddress", {"Address": "198.18.5.200"}, "InvalidParameterValue")
    assert cloud.call("AllocateAddress", {"Address": "198.18.5.202"})["PublicIp"] == "198.18.5.202"
    cloud.refused("AllocateAddress", {}, "InsufficientAddressCapacity")  # the range is used up
