"""``cloudlet host add`` joins a simulated host over SSH; drain, re-join and remove it.

The host is a network namespace of the test's own with a real SSH server in it (dropbear, with a host key
and an authorized key the test makes; in the server's mount namespace ``/etc/passwd`` is a copy whose root
has the test's home, so the machine's own ``/root/.ssh`` is never read or written). A veth joins it to the root namespace on 198.18.231.0/30 (a
benchmark range nothing else on the machine uses), where the controller listens, so the joined agent reaches
the controller over an address of its own, as a second machine would.

The first joins name ``--python`` (the tests' own interpreter, which has the code); the last ones let ``host
add`` install the code itself into virtualenvs under the test's directory. The namespace has no network, so
the dependencies come from a wheelhouse the test fills from the machine's package index (``pip wheel``), which
``host add --wheelhouse`` copies over: the offline-site route, with a real pip install of every dependency.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agent.network import netns
from tests.e2e.dataplane_helpers import wait_until
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import REPO, CloudletProcess

#: Where dropbear runs SFTP sessions from (Debian's openssh-sftp-server).
SFTP_SERVER = "/usr/lib/sftp-server"
require(missing_root() + missing_tools("dropbear", "dropbearkey", "ssh-keygen", "unshare", "ip")
        + ([] if Path(SFTP_SERVER).exists() else [f"{SFTP_SERVER} (apt-get install openssh-sftp-server)"]),
        "host join tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:5]
NAMESPACE = f"clj-{RUN}"
HOST_SIDE, CONTROLLER_SIDE = "198.18.231.2", "198.18.231.1"
PREFIX = f"clj{RUN}-"


@dataclass
class Lab:
    cloud: CloudletProcess
    base: Path
    key: Path
    state_dir: Path
    sshd: subprocess.Popen[bytes] | None = None

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "controller.cli", "host", "--data-dir", str(self.cloud.data_dir),
                               *args], cwd=REPO, capture_output=True, text=True, timeout=120)

    def add(self, *options: str) -> subprocess.CompletedProcess[str]:
        """Join the namespace's host; ``options`` choose how it gets the code (default: it has it already)."""
        return self.cli("add", f"ssh://root@{HOST_SIDE}:22", "--az", "home-1b", "--identity", str(self.key),
                        *(options or ("--python", sys.executable)), "--state-dir", str(self.state_dir),
                        "--name-prefix", PREFIX, "--controller-url", self.cloud.endpoint)

    def wheelhouse(self) -> Path:
        """Wheels of every dependency of Cloudlet, from the machine's package index (made once per module)."""
        wheelhouse = self.base / "wheelhouse"
        if not wheelhouse.is_dir():
            requirements = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
            made = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--disable-pip-version-check", "-w",
                                   str(wheelhouse), *requirements], capture_output=True, text=True, timeout=600)
            assert made.returncode == 0, made.stderr
        return wheelhouse

    def start_sshd(self, host_key: Path, sftp: bool = True) -> None:
        """dropbear with the machine's SFTP server (openssh-sftp-server), or, ``sftp=False``, without one: its
        path is hidden in the server's mount namespace, as on a host that never installed it."""
        self.stop_sshd()
        hide_sftp = "" if sftp else f"mount --bind /dev/null {SFTP_SERVER} && "
        script = (f"mount --bind {self.base / 'passwd'} /etc/passwd && {hide_sftp}"
                  f"exec dropbear -F -E -s -p {HOST_SIDE}:22 -r {host_key} -P {self.base / 'dropbear.pid'}")
        self.sshd = subprocess.Popen(["ip", "netns", "exec", NAMESPACE, "unshare", "--mount", "sh", "-c", script],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_until(lambda: _listening(), 10, "dropbear to listen")

    def stop_sshd(self) -> None:
        if self.sshd is not None:
            os.killpg(self.sshd.pid, signal.SIGTERM)
            self.sshd.wait(timeout=10)
            self.sshd = None

    def host_id(self) -> str:
        return (self.state_dir / "host-id").read_text().strip()

    def call(self, method: str, path: str, token: str, body: dict[str, object] | None = None) -> int:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(f"{self.cloud.endpoint}/_cloudlet/agent/v1{path}", data=data,
                                         method=method, headers={"Authorization": f"Bearer {token}",
                                                                 "Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                return response.status
        except urllib.error.HTTPError as error:
            return error.code


def _listening() -> bool:
    out = subprocess.run(["ip", "netns", "exec", NAMESPACE, "ss", "-ltn"], capture_output=True, text=True).stdout
    return f"{HOST_SIDE}:22" in out


def _end_what_runs_in_the_namespace() -> None:
    """dropbear serves each connection from a process of its own session, which outlives the listener and,
    once the veth is gone, waits for a peer that can no longer close: end them all before that."""
    pids = subprocess.run(["ip", "netns", "pids", NAMESPACE], capture_output=True, text=True).stdout.split()
    for pid in map(int, pids):
        os.kill(pid, signal.SIGTERM)


def _argv(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")


def _agent_pids() -> list[int]:
    out = subprocess.run(["pgrep", "-f", f"agent.main.*--name-prefix {PREFIX}"], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    base = tmp_path_factory.mktemp("host-join")
    (base / "home" / ".ssh").mkdir(parents=True, mode=0o700)
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(base / "id_ed25519")], check=True)
    (base / "home" / ".ssh" / "authorized_keys").write_text((base / "id_ed25519.pub").read_text())
    os.chmod(base / "home" / ".ssh" / "authorized_keys", 0o600)
    passwd = Path("/etc/passwd").read_text().splitlines()
    (base / "passwd").write_text("".join(
        (":".join([*line.split(":")[:5], str(base / "home"), *line.split(":")[6:]]) if line.startswith("root:")
         else line) + "\n" for line in passwd))
    for name in ("hostkey", "otherkey"):
        subprocess.run(["dropbearkey", "-t", "ed25519", "-f", str(base / name)], check=True, capture_output=True)
    subprocess.run(["ip", "netns", "add", NAMESPACE], check=True)
    veth = f"clj{RUN}r"
    lab = Lab(CloudletProcess(base / "data", listen_host=CONTROLLER_SIDE), base, base / "id_ed25519",
              base / "agent-state")
    try:
        subprocess.run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", NAMESPACE],
                       check=True)
        subprocess.run(["ip", "addr", "add", f"{CONTROLLER_SIDE}/30", "dev", veth], check=True)
        subprocess.run(["ip", "link", "set", veth, "up"], check=True)
        for command in (["addr", "add", f"{HOST_SIDE}/30", "dev", "eth0"], ["link", "set", "eth0", "up"],
                        ["link", "set", "lo", "up"]):
            subprocess.run(["ip", "-n", NAMESPACE, *command], check=True)
        lab.start_sshd(base / "hostkey")
        lab.cloud.start()
        yield lab
    finally:
        for pid in _agent_pids():
            os.kill(pid, signal.SIGTERM)
        wait_until(lambda: not _agent_pids(), 20, "the joined agent to stop")
        subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", PREFIX, "--state-dir",
                        str(lab.state_dir)], cwd=REPO, capture_output=True, timeout=60)
        lab.stop_sshd()
        _end_what_runs_in_the_namespace()
        lab.cloud.stop()
        subprocess.run(["ip", "link", "del", veth], capture_output=True)
        subprocess.run(["ip", "netns", "del", NAMESPACE], capture_output=True)
        leftovers = [name for name in netns.list_names() if name.startswith(f"clj{RUN}") or name == NAMESPACE]
        assert not leftovers, f"namespaces left behind: {leftovers}"


def test_a_host_joins_over_ssh_and_its_credential_acts_for_it_alone(lab: Lab) -> None:
    joined = lab.add()
    assert joined.returncode == 0, joined.stdout + joined.stderr
    host_id = lab.host_id()
    assert "(first use)" in joined.stdout and f"{host_id} joined home-1b" in joined.stdout
    listed = lab.cli("list").stdout
    line = next(row for row in listed.splitlines() if row.startswith(host_id))
    assert line.split()[1:3] == ["home-1b", "up"]
    token = (lab.state_dir / "agent.token").read_text().strip()
    assert oct((lab.state_dir / "agent.token").stat().st_mode & 0o777) == "0o600"
    assert _agent_pids(), "the agent runs in the joined host"
    assert lab.call("GET", "/hosts", token) == 200
    assert lab.call("POST", f"/hosts/{host_id}/heartbeat", token, {"load": 0.1, "free_memory_mib": 100}) == 200
    assert lab.call("POST", "/hosts/h-00000000000000000/heartbeat", token, {"load": 0, "free_memory_mib": 1}) == 403
    assert lab.call("GET", "/hosts", token[:-1] + "x") == 401


def test_drain_rejoin_and_remove(lab: Lab) -> None:
    host_id = lab.host_id()
    refused = lab.cli("remove", host_id, "--identity", str(lab.key))
    assert refused.returncode == 1 and f"run `cloudlet host drain {host_id}` first" in refused.stderr
    drained = lab.cli("drain", host_id)
    assert drained.returncode == 0 and "drained" in drained.stdout
    assert "draining" in next(row for row in lab.cli("list").stdout.splitlines() if row.startswith(host_id))
    old_token = (lab.state_dir / "agent.token").read_text().strip()
    again = lab.add()
    assert again.returncode == 0, again.stdout + again.stderr
    assert lab.host_id() == host_id, "a re-join keeps the host's id"
    new_token = (lab.state_dir / "agent.token").read_text().strip()
    assert lab.call("GET", "/hosts", new_token) == 200
    wait_until(lambda: lab.call("GET", "/hosts", old_token) == 401, 10, "the first credential to end (1 s cache)")
    removed = lab.cli("remove", host_id, "--identity", str(lab.key))
    assert removed.returncode == 0, removed.stdout + removed.stderr
    wait_until(lambda: not _agent_pids(), 20, "remove to stop the joined agent")
    assert host_id not in lab.cli("list").stdout
    assert not [name for name in netns.list_names() if name.startswith(PREFIX)], "remove clears the host"
    wait_until(lambda: lab.call("GET", "/hosts", new_token) == 401, 10, "the removed host's credential to end")


def test_a_changed_host_key_is_refused_and_a_missing_host_is_explained(lab: Lab) -> None:
    lab.start_sshd(lab.base / "otherkey")
    try:
        refused = lab.add()
        assert refused.returncode == 1 and "host key changed" in refused.stderr, refused.stderr
    finally:
        lab.start_sshd(lab.base / "hostkey")
    unknown = lab.cli("drain", "h-00000000000000000")
    assert unknown.returncode == 1 and "no host h-00000000000000000 is registered" in unknown.stderr
    wrong_zone = lab.cli("add", f"ssh://root@{HOST_SIDE}", "--az", "mars-1a")
    assert wrong_zone.returncode == 2 and "not one of the region's zones" in wrong_zone.stderr


def test_pip_failing_on_the_host_says_what_to_do(lab: Lab) -> None:
    lonely = lab.base / "lonely-wheelhouse"  # a wheelhouse without Cloudlet's dependencies
    lonely.mkdir()
    (lonely / next(lab.wheelhouse().glob("jmespath-*.whl")).name).write_bytes(
        next(lab.wheelhouse().glob("jmespath-*.whl")).read_bytes())
    lab.start_sshd(lab.base / "hostkey", sftp=False)
    try:
        failed = lab.add("--venv", str(lab.base / "venv-failed"), "--installer", "ssh", "--wheelhouse", str(lonely))
    finally:
        lab.start_sshd(lab.base / "hostkey")
    assert failed.returncode == 1, failed.stdout + failed.stderr
    assert "creating the virtualenv" in failed.stdout and "(1 files, " in failed.stdout
    assert "copied with tar through the shell" in failed.stdout, "a host without SFTP gets the files anyway"
    assert "pip could not install Cloudlet" in failed.stderr and "--wheelhouse DIR" in failed.stderr
    assert "No matching distribution" in failed.stderr, failed.stderr
    assert not (lab.state_dir / "install").exists(), "the staged wheels are removed"
    through_ansible = lab.add("--venv", str(lab.base / "venv-failed"), "--installer", "ansible", "--wheelhouse",
                              str(lonely))
    assert through_ansible.returncode == 1, through_ansible.stdout + through_ansible.stderr
    assert "Install Cloudlet into its virtualenv" in through_ansible.stdout
    assert "pip could not install Cloudlet" in through_ansible.stderr, through_ansible.stderr
    assert "No matching distribution" in through_ansible.stderr and "--wheelhouse DIR" in through_ansible.stderr
    assert not (lab.state_dir / "install").exists(), "the role removes the staged wheels after a failure too"


def test_a_host_without_the_code_gets_it_installed_and_its_agent_registers(lab: Lab) -> None:
    venv = lab.base / "venv"
    joined = lab.add("--venv", str(venv), "--installer", "ssh", "--wheelhouse", str(lab.wheelhouse()))
    assert joined.returncode == 0, joined.stdout + joined.stderr
    host_id = lab.host_id()
    version = next(line for line in joined.stdout.splitlines() if line.startswith("==> installing cloudlet"))
    version = version.split()[3]
    assert "+g" in version, "the wheel's version names the code it holds"
    for progress in (f"copying cloudlet-{version}-py3-none-any.whl (", "copying the wheelhouse", f"creating the virtualenv "
                     f"{venv}", f"installing cloudlet-{version}-py3-none-any.whl into {venv}",
                     f"installed cloudlet {version}", "copied with SFTP", f"{host_id} joined home-1b"):
        assert progress in joined.stdout, joined.stdout
    assert [Path(_argv(pid)[0]) for pid in _agent_pids()] == [venv / "bin" / "python"]
    assert next(row for row in lab.cli("list").stdout.splitlines() if row.startswith(host_id)).split()[2] == "up"

    again = lab.add("--venv", str(venv), "--installer", "ssh")
    assert again.returncode == 0, again.stdout + again.stderr
    assert "==> installing" not in again.stdout and f"cloudlet {version} in {venv}/bin/python" in again.stdout


def test_the_ansible_installer_runs_the_same_script_through_the_common_role(lab: Lab) -> None:
    venv = lab.base / "venv-ansible"
    joined = lab.add("--venv", str(venv), "--installer", "ansible", "--wheelhouse", str(lab.wheelhouse()))
    assert joined.returncode == 0, joined.stdout + joined.stderr
    for progress in ("(ansible)", "ansible-playbook ansible/install-code.yml", "Install Cloudlet into its virtualenv",
                     f"{lab.host_id()} joined home-1b"):
        assert progress in joined.stdout, joined.stdout
    assert [Path(_argv(pid)[0]) for pid in _agent_pids()] == [venv / "bin" / "python"]
    assert not (lab.base / "wheelhouse.tar").exists() and not (lab.state_dir / "install").exists()
