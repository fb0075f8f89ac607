"""Putting the controller's code on a host being joined: its wheel, then ``install_agent.sh`` there.

``install_agent.sh`` is the one list of install steps (make the virtualenv, pip install the wheel, say what
failed). ``host add`` runs it in one of two ways that end the same: over its own SSH session (copying the
wheel, the script and an optional wheelhouse into a staging dir on the host), or through ansible, whose
``common`` role copies the same files and runs the same script (``ansible/install-code.yml``). The pure half
says where the files go, what command runs and what a failure means; the rest is the edge.
"""

from __future__ import annotations

import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from controller.hosts.agent_wheel import SOURCE
from controller.hosts.join import JoinError, SshSession, SshTarget

SCRIPT = Path(__file__).with_name("install_agent.sh")
PLAYBOOK = SOURCE / "ansible" / "install-code.yml"
#: ``install_agent.sh``'s exit statuses that have a meaning of their own.
NO_VIRTUALENV, PIP_FAILED = 3, 4


@dataclass(frozen=True)
class InstallPlan:
    """What to install where: the wheel (on this machine), the host's virtualenv and where dependencies come
    from (a wheelhouse on this machine, copied over; or an index the host reaches; or its pip configuration)."""

    wheel: Path
    venv: str
    staging: str
    wheelhouse: Path | None = None
    index_url: str | None = None

    def wheelhouse_files(self) -> list[Path]:
        return sorted(self.wheelhouse.glob("*.whl")) if self.wheelhouse else []

    def script_argv(self) -> list[str]:
        """The command the host runs, with the copies' paths in the staging dir."""
        argv = ["sh", f"{self.staging}/{SCRIPT.name}"]
        if self.wheelhouse:
            argv += ["--wheelhouse", f"{self.staging}/wheelhouse"]
        if self.index_url:
            argv += ["--index-url", self.index_url]
        return [*argv, f"{self.staging}/{self.wheel.name}", self.venv]


def megabytes(size: int) -> str:
    return f"{size / 1e6:.1f} MB"


def explain_failure(status: int, output: str, host: str) -> str:
    """What to do about ``install_agent.sh`` ending with ``status`` and ``output`` (pure)."""
    output = output.strip()
    if status == NO_VIRTUALENV:
        return f"{output} on {host}, then run `cloudlet host add` again"
    if status == PIP_FAILED:
        return (f"pip could not install Cloudlet on {host}; its output ends:\n{output}\nA host that reaches no "
                "package index can be given the dependencies: --wheelhouse DIR (wheels made with `pip wheel -w "
                "DIR .` in a checkout) or --pip-index-url URL (a mirror it reaches)")
    return f"installing Cloudlet on {host} failed (status {status}): {output}"


def install_over_ssh(session: SshSession, plan: InstallPlan, say: Callable[[str], None]) -> None:
    """Copy the wheel, the script and the wheelhouse into the staging dir, run the script, remove the copies."""
    session.run(f"mkdir -p {shlex.quote(plan.staging)}/wheelhouse && chmod 700 {shlex.quote(plan.staging)}")
    say(f"    copying {plan.wheel.name} ({megabytes(plan.wheel.stat().st_size)})")
    method = session.upload([SCRIPT, plan.wheel], plan.staging)
    wheels = plan.wheelhouse_files()
    if wheels:
        say(f"    copying the wheelhouse {plan.wheelhouse} ({len(wheels)} files, "
            f"{megabytes(sum(wheel.stat().st_size for wheel in wheels))})")
        session.upload(wheels, f"{plan.staging}/wheelhouse")
    say(f"    copied with {method}")
    status, out, err = session.execute(shlex.join(plan.script_argv()), timeout=900,
                                       on_line=lambda line: say(f"    {line}"))
    session.run(f"rm -rf {shlex.quote(plan.staging)}")
    if status != 0:
        raise JoinError(explain_failure(status, err or out, session.target.host))


def ansible_playbook() -> str | None:
    """``ansible-playbook`` beside this Python (the virtualenv ``make install`` fills) or on the PATH."""
    beside = Path(sys.executable).with_name("ansible-playbook")
    return str(beside) if beside.is_file() else shutil.which("ansible-playbook")


def ansible_argv(playbook: str, target: SshTarget, identity: Path | None, known_hosts: Path,
                 variables: Path) -> list[str]:
    """Run ``install-code.yml`` against the one host, trusting the key the join recorded (pure)."""
    ssh_options = f"-o UserKnownHostsFile={known_hosts} -o StrictHostKeyChecking=yes"
    argv = [playbook, "-i", f"{target.host},", "-u", target.user, "-e", f"ansible_port={target.port}",
            "-e", f"ansible_ssh_common_args={shlex.quote(ssh_options)}", "-e", f"@{variables}"]
    if identity:
        argv += ["--private-key", str(identity)]
    return [*argv, str(PLAYBOOK)]


def install_with_ansible(playbook: str, target: SshTarget, plan: InstallPlan, identity: Path | None,
                         known_hosts: Path, say: Callable[[str], None]) -> None:
    """The ``common`` role's ``install_code`` tasks against the host: the same files, the same script. Its task
    names are the progress lines, as they start; a failure of the script is explained as over SSH."""
    variables = {"common_wheel": str(plan.wheel), "common_venv": plan.venv, "common_staging": plan.staging,
                 "common_wheelhouse": str(plan.wheelhouse or ""), "common_index_url": plan.index_url or ""}
    say(f"    ansible-playbook {PLAYBOOK.relative_to(SOURCE)} against {target.host}")
    # Results as one line of JSON each, whatever the user's ansible.cfg says, so a failure can be read back.
    environment = {**os.environ, "ANSIBLE_NOCOLOR": "1", "ANSIBLE_STDOUT_CALLBACK": "ansible.builtin.default",
                   "ANSIBLE_CALLBACK_RESULT_FORMAT": "json", "ANSIBLE_CALLBACK_FORMAT_PRETTY": "false"}
    output: list[str] = []
    with tempfile.TemporaryDirectory(prefix="cloudlet-ansible-") as scratch:
        extra = Path(scratch) / "vars.json"
        extra.write_text(json.dumps(variables))
        with subprocess.Popen(ansible_argv(playbook, target, identity, known_hosts, extra), env=environment,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) as ansible:
            for line in ansible.stdout or ():
                output.append(line)
                if line.startswith("TASK ["):
                    say(f"    {line.removeprefix('TASK [').partition(']')[0]}")
    if ansible.returncode == 0:
        return
    failed = failed_install(output)
    if failed is not None:
        raise JoinError(explain_failure(*failed, target.host))
    raise JoinError("ansible-playbook failed:\n" + "".join(output[-20:]).strip())


def failed_install(ansible_output: list[str]) -> tuple[int, str] | None:
    """The exit status and stderr of ``install_agent.sh`` when ansible's output says that task failed (pure):
    the default callback prints ``fatal: [host]: FAILED! => {json}``."""
    for line in ansible_output:
        head, arrow, body = line.partition("FAILED! => ")
        if not (head.startswith("fatal: [") and arrow):
            continue
        try:
            result = json.loads(body)
        except ValueError:
            continue
        if isinstance(result.get("rc"), int) and "install_agent.sh" in " ".join(map(str, result.get("cmd") or [])):
            return result["rc"], result.get("stderr") or result.get("stdout") or ""
    return None
