"""Simulated hosts on one machine: an underlay between them, one agent process each, and a second libvirtd.

- :func:`underlay_pair`: two underlay namespaces joined by a veth, with addresses from 198.18.0.0/24 (a
  benchmark range, never the machine's own network); an agent given ``--underlay-netns`` keeps its VXLAN
  sockets there, so VPC frames between the hosts really cross that link.
- :class:`MigrationLab`: a controller and two hosts A and B that guests can live-migrate between. A runs
  guests on the machine's libvirtd; B on a second one (``tests/e2e/second_libvirtd.py``: libvirt refuses to
  migrate to the daemon a guest comes from) and registers it as its migration endpoint. Both take the
  migration stream on 127.0.0.1 (their QEMUs share the root network namespace). Everything it starts is
  removed by :meth:`MigrationLab.clean_up`, also after a failure.
- :class:`EchoStream`: one TCP connection from a namespace to a guest's echo server, a numbered line every
  0.1 s (``tests/e2e/echo_stream.py``), whose longest gap is the outage a migration caused.
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

from agent.network import netns
from tests.agent import dataplane_lab as lab
from tests.agent.compute_lab import destroy_leftover_domains, vm_work_dir
from tests.e2e.dataplane_helpers import addresses_in, wait_until
from tests.e2e.helpers import terminate_all_instances
from tests.e2e.second_libvirtd import SecondLibvirtd
from tests.support import REPO, CloudletProcess, wait_for

UNDERLAY = {"a": "198.18.0.1", "b": "198.18.0.2"}
SYSTEM_LIBVIRT = "qemu:///system"


def underlay_pair(run: str) -> dict[str, lab.Instance]:
    """Namespaces ``cl-<run>-ua`` and ``-ub`` holding each host's underlay address, joined by a veth."""
    made = {host: lab.create_instance(f"cl-{run}-u{host}") for host in UNDERLAY}
    lab.sh("ip", "link", "add", "eth0", "netns", made["a"].netns, "type", "veth", "peer", "name", "eth0",
           "netns", made["b"].netns)
    for host, address in UNDERLAY.items():
        lab.sh("ip", "-n", made[host].netns, "addr", "add", f"{address}/24", "dev", "eth0")
        lab.sh("ip", "-n", made[host].netns, "link", "set", "eth0", "up")
    return made


def agent_token_get(cloud: CloudletProcess, path: str) -> Any:
    token = (cloud.data_dir / "agent.token").read_text().strip()
    request = urllib.request.Request(f"{cloud.endpoint}/_cloudlet/agent/v1{path}",
                                     headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.load(response)


@dataclass
class MigrationLab:
    work: Path
    run: str
    cloud: CloudletProcess
    libvirtd_b: SecondLibvirtd
    namespaces: dict[str, lab.Instance] = field(default_factory=dict)
    agents: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def start(cls) -> MigrationLab:
        run = secrets.token_hex(2)
        work = vm_work_dir("migration", run)
        lab_ = cls(work, run, CloudletProcess(work / "data"), SecondLibvirtd(work / "libvirtd-b", f"cl-{run}-hostb"))
        try:
            lab_.namespaces.update({f"u{h}": ns for h, ns in underlay_pair(run).items()})
            lab_.cloud.start()
            lab_.libvirtd_b.start()
            for host in UNDERLAY:
                lab_.start_agent(host)
            wait_for(lambda: all((lab_.host(h) or {}).get("hypervisor") in ("kvm", "qemu") for h in UNDERLAY), 120,
                     "both agents to register a hypervisor", interval=0.5)
        except BaseException:
            lab_.clean_up()
            raise
        return lab_

    def prefix(self, host: str) -> str:
        return f"cl-{self.run}{host}-"

    def state_dir(self, host: str) -> Path:
        return self.work / f"agent-{host}"

    def libvirt_uri(self, host: str) -> str:
        return SYSTEM_LIBVIRT if host == "a" else self.libvirtd_b.uri

    def host_id(self, host: str) -> str:
        return (self.state_dir(host) / "host-id").read_text().strip()

    def host(self, host: str) -> dict[str, Any] | None:
        if not (self.state_dir(host) / "host-id").exists():
            return None
        return next((h for h in agent_token_get(self.cloud, "/hosts")["hosts"] if h["host_id"] == self.host_id(host)),
                    None)

    def start_agent(self, host: str) -> None:
        env = {**{k: v for k, v in os.environ.items() if k != "CLOUDLET_COMPUTE_DIR"}, "PYTHONUNBUFFERED": "1"}
        argv = [sys.executable, "-m", "agent.main", "--controller", self.cloud.endpoint, "--token-file",
                str(self.cloud.data_dir / "agent.token"), "--zone", "home-1a", "--state-dir", str(self.state_dir(host)),
                "--name-prefix", self.prefix(host), "--underlay-ip", UNDERLAY[host], "--underlay-netns",
                self.namespaces[f"u{host}"].netns, "--libvirt-uri", self.libvirt_uri(host)]
        if host == "b":  # the one that takes guests; A's daemon is not reachable from inside B's mount namespace
            argv += ["--migration-uri", self.libvirtd_b.uri, "--migration-address", "127.0.0.1"]
        log = (self.work / f"agent-{host}.log").open("ab")
        self.agents[host] = subprocess.Popen(argv, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT,
                                             start_new_session=True)

    def ec2(self) -> Any:
        return self.cloud.client("ec2")

    def cli(self, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "controller.cli", *args], cwd=REPO, capture_output=True,
                              text=True, timeout=timeout)

    def drain(self, host: str, *, undo: bool = False) -> subprocess.CompletedProcess[str]:
        return self.cli("host", "--data-dir", str(self.cloud.data_dir), "undrain" if undo else "drain",
                        self.host_id(host))

    def subnet_with_client(self, vpc_cidr: str, subnet_cidr: str, client_address: str) -> tuple[str, str]:
        """A VPC and subnet, and a namespace instance with ``client_address`` in it on host A (its ENI keeps the
        VPC on A whatever moves): (subnet id, the client's namespace)."""
        ec2 = self.ec2()
        vpc = ec2.create_vpc(CidrBlock=vpc_cidr)["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock=subnet_cidr, AvailabilityZone="home-1a")["Subnet"]["SubnetId"]
        eni = ec2.create_network_interface(SubnetId=subnet, PrivateIpAddress=client_address)[
            "NetworkInterface"]["NetworkInterfaceId"]
        client = lab.create_instance(f"cl-{self.run}-client")
        self.namespaces["client"] = client
        attached = self.cli("netns", "--data-dir", str(self.cloud.data_dir), "attach", eni, client.netns, "--host",
                            self.host_id("a"))
        if attached.returncode != 0:
            raise RuntimeError(f"cloudlet netns attach failed: {attached.stderr}")
        prefix = subnet_cidr.rsplit("/", 1)[1]
        wait_until(lambda: f"{client_address}/{prefix}" in addresses_in(client.netns), 20, "the client's address")
        return subnet, client.netns

    def launch_on_a(self, subnet: str, user_data: str) -> dict[str, Any]:
        """A running tiny-AMI instance placed on host A (B takes nothing new meanwhile), as DescribeInstances
        shows it."""
        ec2 = self.ec2()
        image = ec2.describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["cloudlet-tiny-*"]}])[
            "Images"][0]["ImageId"]
        self.drain("b")
        try:
            instance_id = ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                            SubnetId=subnet, UserData=user_data)["Instances"][0]["InstanceId"]
        finally:
            self.drain("b", undo=True)
        return wait_for(lambda: self.running(instance_id), 180, f"{instance_id} to run")

    def running(self, instance_id: str) -> dict[str, Any] | None:
        found = self.ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]
        return found if found["State"]["Name"] == "running" else None

    def domains(self, host: str) -> list[str]:
        out = subprocess.run(["virsh", "-c", self.libvirt_uri(host), "list", "--all", "--name"], capture_output=True,
                             text=True)
        return [name for name in out.stdout.split() if name]

    def clean_up(self) -> None:
        """Terminate what runs, stop the agents, remove domains, taps, namespaces, the second libvirtd, files."""
        try:
            if self.cloud.proc is not None:
                terminate_all_instances(self.ec2())
        except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever happened
            print(f"cleanup: termination through the API failed: {exc}")
        for agent in self.agents.values():
            if agent.poll() is None:
                agent.terminate()
                try:
                    agent.wait(20)
                except subprocess.TimeoutExpired:
                    agent.kill()
        for host in UNDERLAY:
            if (self.state_dir(host) / "compute").exists() and (host == "a" or self.libvirtd_b.answers()):
                destroy_leftover_domains(self.state_dir(host) / "compute", self.libvirt_uri(host))
            subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", self.prefix(host),
                            "--state-dir", str(self.state_dir(host))], cwd=REPO, capture_output=True)
        self.libvirtd_b.stop()
        self.cloud.stop()
        for instance in self.namespaces.values():
            lab.destroy(instance)
        for name in netns.list_names():
            if name.startswith(f"cl-{self.run}"):
                netns.remove(name)
        shutil.rmtree(self.work, ignore_errors=True)


class EchoStream:
    """``tests/e2e/echo_stream.py`` running in ``namespace`` against ``address:port``, connected once started."""

    def __init__(self, namespace: str, address: str, port: int) -> None:
        self.process = subprocess.Popen(["ip", "netns", "exec", namespace, sys.executable, "-m",
                                         "tests.e2e.echo_stream", address, str(port)], cwd=REPO,
                                        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != "connected":
            self.process.kill()
            raise RuntimeError(f"no TCP connection to {address}:{port} from {namespace}")

    def finish(self) -> dict[str, Any]:
        """End the stream: lines echoed, the longest gap between two of them (s), the error that broke it."""
        out, _ = self.process.communicate("", timeout=120)
        return json.loads(out.strip().splitlines()[-1])
