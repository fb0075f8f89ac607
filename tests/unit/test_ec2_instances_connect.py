"""``cloudlet ssh``: finding the instance, the refusals, and the ssh command line it becomes."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from controller.ec2.instances.connect import Target, find_target, run, ssh_argv
from controller.ssh_command import add_commands
from tests.unit.harness import InstanceCloud


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_commands(parser.add_subparsers(dest="command"))
    return parser.parse_args(["ssh", *argv])


def test_the_command_line_runs_ssh_inside_the_vpc_namespace(tmp_path: Path) -> None:
    target = Target("i-0123456789abcdef0", "running", "h-1", "vpc-1", "10.0.1.5", "k")
    argv = ssh_argv(target, "cl-vpc-1", tmp_path / "k.pem", "root", tmp_path / "known", ["uname", "-a"])
    assert argv[:5] == ["ip", "netns", "exec", "cl-vpc-1", "ssh"]
    assert "-i" in argv and argv[argv.index("-i") + 1] == str(tmp_path / "k.pem")
    assert argv[-3:] == ["root@10.0.1.5", "uname", "-a"]
    args = parse("-i", "k.pem", "-l", "debian", "i-0123456789abcdef0", "cat", "-n", "/etc/hostname")
    assert (args.user, args.identity, args.remote_command) == ("debian", "k.pem", ["cat", "-n", "/etc/hostname"])


def test_the_instance_is_found_with_its_primary_address(ic: InstanceCloud) -> None:
    instance = ic.run()[0]
    target = find_target(ic.db, instance["InstanceId"])
    assert target is not None
    assert (target.vpc_id, target.private_ip, target.state) == (instance["VpcId"], instance["PrivateIpAddress"],
                                                                "pending")
    assert find_target(ic.db, "i-0123456789abcdef0") is None


def test_refusals_name_the_problem(ic: InstanceCloud, tmp_path: Path,
                                   capsys: pytest.CaptureFixture[str]) -> None:
    data_dir = ic.cloud.config.data_dir
    assert run(parse("i-0123456789abcdef0"), tmp_path / "nowhere") == 1
    assert "no cloud" in capsys.readouterr().err
    assert run(parse("i-0123456789abcdef0"), data_dir) == 1
    assert "no instance" in capsys.readouterr().err
    instance_id = ic.run()[0]["InstanceId"]
    assert run(parse(instance_id), data_dir) == 1
    assert "is pending; it must be running" in capsys.readouterr().err
    host = next(h for h in ic.hosts if ic.report(h, {instance_id: "running"}, complete=False))
    agent_dir = tmp_path / "agent"
    agent_dir.mkdir()
    (agent_dir / "host-id").write_text("h-00000000000000999\n")
    assert run(parse("--agent-state-dir", str(agent_dir), instance_id), data_dir) == 1
    assert f"runs on host {host}" in capsys.readouterr().err
    (agent_dir / "host-id").write_text(host)
    assert run(parse("--agent-state-dir", str(agent_dir), "--name-prefix", "cl-none-", instance_id), data_dir) == 1
    assert "namespace cl-none-vpc-" in capsys.readouterr().err
