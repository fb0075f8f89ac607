"""Joining hosts: SSH targets, the host assessment, the agent's command line and unit, per-host credentials."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.hosts import join
from controller.hosts.credentials import AgentCredentials, AgentIdentity
from controller.hosts.join import AgentSettings, JoinError, SshTarget
from controller.state import Database

GOOD = {"arch": "x86_64", "cpus": "8", "mem_available_kib": str(16 * 2**20), "kvm": "yes", "qemu": "yes",
        "libvirt": "yes", "nft": "yes", "ip": "yes", "dnsmasq": "yes", "podman": "yes", "systemd": "yes",
        "root": "yes", "python_agent": "0.2.0", "disk_free_kib": str(100 * 2**20), "host_id": ""}


def test_ssh_targets_parse_with_defaults_and_refuse_what_is_not_one() -> None:
    assert SshTarget.parse("ssh://admin@10.0.0.5:2222") == SshTarget("admin", "10.0.0.5", 2222)
    assert SshTarget.parse("ssh://node2") == SshTarget("root", "node2", 22)
    assert SshTarget.parse("root@node3") == SshTarget("root", "node3", 22)
    assert str(SshTarget.parse("node3")) == "ssh://root@node3:22"
    for bad in ("http://node", "ssh://", "ssh://node:notaport", "ssh://node/path"):
        with pytest.raises(JoinError):
            SshTarget.parse(bad)


def test_a_complete_host_passes_and_the_hypervisor_follows_kvm() -> None:
    kvm = join.assess(GOOD, "/opt/cloudlet/venv/bin/python")
    assert (kvm.hypervisor, kvm.problems, kvm.warnings, kvm.systemd, kvm.host_id) == ("kvm", (), (), True, None)
    tcg = join.assess({**GOOD, "kvm": "no"}, "py")
    assert tcg.hypervisor == "tcg" and not tcg.problems and "TCG" in tcg.warnings[0]
    bare = join.assess({**GOOD, "libvirt": "no", "podman": "no"}, "py")
    assert bare.hypervisor == "none" and not bare.problems and len(bare.warnings) == 2


def test_each_missing_requirement_is_a_problem_that_says_what_to_do() -> None:
    facts = {**GOOD, "root": "no", "nft": "no", "python_agent": "no", "mem_available_kib": "1024",
             "disk_free_kib": "1024", "arch": "aarch64", "host_id": "nonsense"}
    problems = join.assess(facts, "/usr/bin/python3").problems
    assert len(problems) == 7
    assert any("install nftables" in p for p in problems)
    assert any("/usr/bin/python3 cannot import" in p and "--python" in p for p in problems)
    assert any("join as root" in p for p in problems)
    assert any("malformed host id" in p for p in problems)
    assert join.assess({**GOOD, "host_id": "h-0123456789abcdef0"}, "py").host_id == "h-0123456789abcdef0"


def test_facts_are_key_value_lines() -> None:
    assert join.parse_facts("a=1\nnoise\nb=x=y\n") == {"a": "1", "b": "x=y"}


def test_the_agent_runs_with_the_flags_of_the_join_under_systemd_or_detached() -> None:
    settings = AgentSettings(python="/opt/cloudlet/venv/bin/python", controller_url="http://10.0.0.1:8773",
                             zone="home-1b", underlay_ip="10.0.0.5", listen_ip="10.0.0.5")
    argv = join.agent_argv(settings)
    assert argv[:3] == ["/opt/cloudlet/venv/bin/python", "-m", "agent.main"]
    assert argv[argv.index("--token-file") + 1] == "/var/lib/cloudlet/agent/agent.token"
    assert argv[argv.index("--zone") + 1] == "home-1b"
    assert argv[argv.index("--functions-listen") + 1] == "10.0.0.5:0"
    unit = join.systemd_unit(settings)
    assert "Restart=always" in unit and "ExecStart=/opt/cloudlet/venv/bin/python -m agent.main" in unit
    assert join.background_start(settings).startswith("setsid /opt/cloudlet/venv/bin/python -m agent.main")
    joined = settings.joined(SshTarget("root", "10.0.0.5"))
    assert joined == {"ssh_target": "ssh://root@10.0.0.5:22", "python": "/opt/cloudlet/venv/bin/python",
                      "state_dir": "/var/lib/cloudlet/agent", "name_prefix": "cl-"}
    detached = join.stop_command(joined, systemd=False)
    assert "agent.pid" in detached and detached.endswith("--teardown --name-prefix cl- --state-dir "
                                                         "/var/lib/cloudlet/agent")
    assert "systemctl disable --now cloudlet-agent" in join.stop_command(joined, systemd=True)


@pytest.fixture
def credentials(tmp_path: Path) -> AgentCredentials:
    db = Database(tmp_path / "state.db")
    db.create_schema()
    return AgentCredentials(db, "shared-secret-token")


def test_a_host_credential_acts_for_its_host_only(credentials: AgentCredentials) -> None:
    token = credentials.issue("h-00000000000000001", {"ssh_target": "ssh://root@n1:22", "state_dir": "/s"})
    identity = credentials.verify(token)
    assert identity == AgentIdentity("h-00000000000000001")
    assert identity.may_act_for("h-00000000000000001") and not identity.may_act_for("h-00000000000000002")
    assert credentials.verify("shared-secret-token") == AgentIdentity(None)
    assert credentials.token_for("h-00000000000000001") == token
    assert credentials.token_for("h-unjoined") == "shared-secret-token"
    assert credentials.joined_from("h-00000000000000001") == {"ssh_target": "ssh://root@n1:22", "state_dir": "/s"}
    forged = token.replace(".1.", ".2.")
    for bad in ("", "shared-secret-tokeN", forged, token[:-1] + ("0" if token[-1] != "0" else "1"),
                token.replace("h-00000000000000001", "h-00000000000000002")):
        assert credentials.verify(bad) is None, bad


def test_revoking_or_rejoining_ends_the_old_credential(credentials: AgentCredentials) -> None:
    first = credentials.issue("h-00000000000000001")
    second = credentials.issue("h-00000000000000001")
    assert first != second
    assert credentials.verify(first) is None and credentials.verify(second) is not None
    assert credentials.revoke("h-00000000000000001")
    assert credentials.verify(second) is None
    assert not credentials.revoke("h-00000000000000001")
    assert credentials.joined_from("h-00000000000000001") is None
