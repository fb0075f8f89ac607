"""A real single-host cloud for VM tests: one controller (``cloudlet up --no-agent``) and one agent process as on a
host (root, libvirt, QEMU under TCG where KVM cannot run guests), each run with its own state dir and namespace
prefix so nothing here can touch another run, and everything removed at the end, also when a test fails.

``VmLab.start(settings)`` writes ``settings`` into the cloud's ``cloudlet.json`` first (shorter notices and
periods for tests), ``ssh`` runs a command on an instance from inside its VPC, ``in_vpc`` runs a host command in
the VPC's router namespace (a client inside the VPC).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import paramiko

from tests.agent.compute_lab import (
    destroy_leftover_domains,
    ssh_in_namespace,
    vm_work_dir,
)
from tests.e2e.helpers import terminate_all_instances
from tests.support import CloudletProcess, wait_for

REPO = Path(__file__).resolve().parents[2]


@dataclass
class VmLab:
    cloud: CloudletProcess
    work: Path
    prefix: str
    agent: subprocess.Popen[bytes] | None = None
    key: paramiko.PKey | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def start(cls, name: str, settings: dict[str, Any] | None = None) -> VmLab:
        run = secrets.token_hex(3)
        work = vm_work_dir(name, run)
        (work / "data" / "cloudlet.json").write_text(json.dumps(settings or {}))
        lab = cls(CloudletProcess(work / "data"), work, f"cl-{name[:3]}{run[:4]}-")
        try:
            lab.cloud.start()
            lab.start_agent()
            wait_for(lambda: (lab.host() or {}).get("hypervisor") in ("kvm", "qemu"), 90, "the agent to register "
                     "a hypervisor (first start probes KVM)", interval=0.5)
            key = lab.ec2().create_key_pair(KeyName="lab", KeyType="ed25519")
            key_file = work / "lab.pem"
            key_file.write_text(key["KeyMaterial"])
            key_file.chmod(0o600)
            lab.key = paramiko.Ed25519Key.from_private_key_file(str(key_file))
        except BaseException:
            lab.clean_up()
            raise
        return lab

    @property
    def agent_dir(self) -> Path:
        return self.work / "agent"

    def start_agent(self) -> None:
        env = {**{k: v for k, v in os.environ.items() if k != "CLOUDLET_COMPUTE_DIR"}, "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-m", "agent.main", "--controller", self.cloud.endpoint, "--token-file",
                str(self.cloud.data_dir / "agent.token"), "--zone", "home-1a", "--state-dir", str(self.agent_dir),
                "--name-prefix", self.prefix]
        log = (self.work / "agent.log").open("ab")
        self.agent = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def host(self) -> dict[str, Any] | None:
        token = (self.cloud.data_dir / "agent.token").read_text().strip()
        request = urllib.request.Request(f"{self.cloud.endpoint}/_cloudlet/agent/v1/hosts",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            hosts = json.loads(response.read())["hosts"]
        host_id = (self.agent_dir / "host-id").read_text().strip() if (self.agent_dir / "host-id").exists() else ""
        return next((h for h in hosts if h["host_id"] == host_id), None)

    def client(self, service: str) -> Any:
        return self.cloud.client(service)

    def ec2(self) -> Any:
        return self.cloud.client("ec2")

    def tiny_image(self) -> str:
        images = self.ec2().describe_images(Owners=["amazon"], Filters=[{"Name": "name",
                                                                        "Values": ["cloudlet-tiny-*"]}])
        return images["Images"][0]["ImageId"]

    def instance(self, instance_id: str) -> dict[str, Any]:
        return self.ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def router(self, vpc_id: str) -> str:
        """The VPC's router namespace on this host: a client inside the VPC."""
        return f"{self.prefix}{vpc_id}"

    def ssh(self, instance_id: str, command: str, timeout: float = 90.0) -> str:
        """Run ``command`` on the instance as root, from inside its VPC (retrying until SSH answers)."""
        found = self.instance(instance_id)
        return ssh_in_namespace(self.router(found["VpcId"]), found["PrivateIpAddress"], self.key, command,
                                timeout=timeout)

    def in_vpc(self, vpc_id: str, *argv: str, timeout: float = 15.0) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["ip", "netns", "exec", self.router(vpc_id), *argv], capture_output=True, text=True,
                              timeout=timeout)

    def clean_up(self) -> None:
        """Terminate what runs, stop the agent, and remove whatever is left: domains, taps, namespaces, files."""
        try:
            if self.cloud.proc is not None:
                terminate_all_instances(self.ec2())
        except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever happened
            print(f"cleanup: termination through the API failed: {exc}")
        if self.agent is not None and self.agent.poll() is None:
            self.agent.terminate()
            try:
                self.agent.wait(15)
            except subprocess.TimeoutExpired:
                self.agent.kill()
        if (self.agent_dir / "compute").exists():
            destroy_leftover_domains(self.agent_dir / "compute")
        subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", self.prefix,
                        "--state-dir", str(self.agent_dir)], cwd=REPO, capture_output=True)
        self.cloud.stop()
        shutil.rmtree(self.work, ignore_errors=True)
