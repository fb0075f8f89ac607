"""Installing the controller's code on a joined host: the wheel's version, the install command, what a failure
means, and ``install_agent.sh``'s own checks (run for real with ``sh``)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from controller.hosts import agent_install, agent_wheel, join
from controller.hosts.agent_install import InstallPlan
from controller.hosts.join import SshTarget
from tests.unit.test_host_join import GOOD


def _tree(root: Path) -> Path:
    for name, text in (("pyproject.toml", '[project]\nname = "cloudlet"\nversion = "0.1.0"\n'),
                       ("README.md", "# Cloudlet\n"), ("controller/__init__.py", ""), ("agent/main.py", "x = 1\n")):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


def test_the_wheel_version_names_the_code_and_changes_with_it(tmp_path: Path) -> None:
    source = _tree(tmp_path)
    first = agent_wheel.wheel_version(source)
    assert first.startswith("0.1.0+g") and len(first) == len("0.1.0+g") + 12
    (source / "agent" / "__pycache__").mkdir()
    (source / "agent" / "__pycache__" / "main.cpython-311.pyc").write_bytes(b"compiled")
    assert agent_wheel.wheel_version(source) == first, "compiled files are not code"
    (source / "agent" / "main.py").write_text("x = 2\n")
    assert agent_wheel.wheel_version(source) != first
    assert agent_wheel.wheel_name(first) == f"cloudlet-{first}-py3-none-any.whl"


def test_only_the_projects_version_line_is_labelled() -> None:
    pyproject = 'name = "cloudlet"\nversion = "0.1.0"\n[tool.x]\nversion = "9"\n'
    assert agent_wheel._labelled(pyproject, "0.1.0+gabc") == (
        'name = "cloudlet"\nversion = "0.1.0+gabc"\n[tool.x]\nversion = "9"\n')


def test_a_checkout_is_needed_to_build(tmp_path: Path) -> None:
    try:
        agent_wheel.build(tmp_path / "cache", source=tmp_path)
    except agent_wheel.BuildError as exc:
        assert "--python" in str(exc)
    else:
        raise AssertionError("built a wheel without a pyproject.toml")


def test_the_install_command_points_at_the_staged_copies() -> None:
    wheel = Path("/cache/cloudlet-0.1.0+gabc-py3-none-any.whl")
    plain = InstallPlan(wheel, "/opt/cloudlet/venv", "/var/lib/cloudlet/agent/install")
    assert plain.script_argv() == ["sh", "/var/lib/cloudlet/agent/install/install_agent.sh",
                                   f"/var/lib/cloudlet/agent/install/{wheel.name}", "/opt/cloudlet/venv"]
    offline = InstallPlan(wheel, "/v", "/s", wheelhouse=Path("/wh"), index_url="http://mirror/simple")
    assert offline.script_argv() == ["sh", "/s/install_agent.sh", "--wheelhouse", "/s/wheelhouse", "--index-url",
                                     "http://mirror/simple", f"/s/{wheel.name}", "/v"]


def test_failures_say_what_to_do_next() -> None:
    venv = agent_install.explain_failure(3, "install the python3-venv package\n", "node2")
    assert venv.startswith("install the python3-venv package on node2") and "host add` again" in venv
    pip = agent_install.explain_failure(4, "ERROR: No matching distribution found for Flask>=3.0", "node2")
    assert "No matching distribution" in pip and "--wheelhouse DIR" in pip and "--pip-index-url" in pip
    assert "status 1" in agent_install.explain_failure(1, "disk full", "node2")


def test_ansible_runs_the_install_playbook_against_the_one_host_with_the_recorded_key() -> None:
    argv = agent_install.ansible_argv("ansible-playbook", SshTarget("root", "10.0.0.5", 2222), Path("/k/id"),
                                      Path("/data/ssh_known_hosts"), Path("/tmp/vars.json"))
    assert argv[:5] == ["ansible-playbook", "-i", "10.0.0.5,", "-u", "root"]
    assert "ansible_port=2222" in argv and "@/tmp/vars.json" in argv and argv[-1].endswith("install-code.yml")
    assert any("UserKnownHostsFile=/data/ssh_known_hosts" in arg and "StrictHostKeyChecking=yes" in arg
               for arg in argv)
    assert argv[argv.index("--private-key") + 1] == "/k/id"
    assert Path(argv[-1]).is_file()


def test_an_installing_join_does_not_need_the_agent_importable() -> None:
    facts = {**GOOD, "python_agent": "no"}
    assert any("cannot import" in problem for problem in join.assess(facts, "/v/bin/python").problems)
    assert not join.assess(facts, "/v/bin/python", installing=True).problems


def _script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["sh", str(agent_install.SCRIPT), *args], capture_output=True, text=True, timeout=60,
                          env={**os.environ, **(env or {})})


def test_the_script_refuses_a_host_whose_python_cannot_make_a_virtualenv(tmp_path: Path) -> None:
    shadow = tmp_path / "shadow"  # what Debian's python3 is without python3-venv: no ensurepip
    shadow.mkdir()
    (shadow / "ensurepip.py").write_text("raise ModuleNotFoundError('No module named ensurepip')\n")
    done = _script("/nowhere/cloudlet-0.1.0-py3-none-any.whl", str(tmp_path / "venv"),
                   env={"PYTHONPATH": str(shadow), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"})
    assert done.returncode == agent_install.NO_VIRTUALENV and "apt-get install python3-venv" in done.stderr
    assert not (tmp_path / "venv").exists()


def test_the_script_says_how_it_is_called() -> None:
    for args in ((), ("only-a-wheel",), ("--frobnicate", "w", "v"), ("--wheelhouse",)):
        done = _script(*args)
        assert done.returncode == 2 and "usage: install_agent.sh" in done.stderr


def test_a_failed_install_task_is_read_back_from_ansibles_output() -> None:
    failed = ('fatal: [10.0.0.5]: FAILED! => {"changed": true, "cmd": ["sh", "/s/install_agent.sh", "/s/w.whl", '
              '"/v"], "rc": 4, "stderr": "ERROR: No matching distribution found for Flask", "stdout": ""}\n')
    assert agent_install.failed_install(["TASK [x] ***\n", failed]) == (
        4, "ERROR: No matching distribution found for Flask")
    other = 'fatal: [10.0.0.5]: FAILED! => {"msg": "Failed to connect to the host via ssh", "unreachable": true}\n'
    assert agent_install.failed_install([other, "fatal: [h]: FAILED! => not json\n"]) is None
