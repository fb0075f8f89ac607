"""Two simulated hosts that guests can live-migrate between (``cloudlet host drain``), for the migration test
and ``bench/bench_migration.py``.

Built on ``tests/e2e/hosts_lab.py`` (one agent process per host, an underlay switch namespace between their
underlay namespaces, 198.18.0.0/24). Host A runs guests on the machine's libvirtd; host B on a second one
(``tests/e2e/second_libvirtd.py``: libvirt refuses to migrate to the daemon a guest comes from) and registers
it as its migration endpoint; both take the migration stream on 127.0.0.1 (their QEMUs share the root
network namespace). :meth:`MigrationLab.clean_up` removes everything it started, also after a failure.

- :class:`EchoStream`: one TCP connection from a namespace to a guest's echo server, a numbered line every
  0.1 s (``tests/e2e/echo_stream.py``), whose longest gap is the outage a migration caused.
"""

from __future__ import annotations

import json
import secrets
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agent.network import netns
from tests.agent import dataplane_lab as lab
from tests.agent.compute_lab import destroy_leftover_domains, vm_work_dir
from tests.e2e.dataplane_helpers import addresses_in, wait_until
from tests.e2e.helpers import terminate_all_instances
from tests.e2e.hosts_lab import SimulatedHost, build_underlay, registered_hosts, remove_underlay
from tests.e2e.second_libvirtd import SecondLibvirtd
from tests.support import REPO, CloudletProcess, wait_for

UNDERLAY = {"a": "198.18.0.1", "b": "198.18.0.2"}
SYSTEM_LIBVIRT = "qemu:///system"


@dataclass
class MigrationLab:
    work: Path
    run: str
    cloud: CloudletProcess
    libvirtd_b: SecondLibvirtd
    hosts: dict[str, SimulatedHost] = field(default_factory=dict)
    namespaces: dict[str, lab.Instance] = field(default_factory=dict)

    @classmethod
    def start(cls) -> MigrationLab:
        run = secrets.token_hex(2)
        work = vm_work_dir("migration", run)
        lab_ = cls(work, run, CloudletProcess(work / "data"), SecondLibvirtd(work / "libvirtd-b", f"cl-{run}-hostb"))
        lab_.hosts = {h: SimulatedHost(h, f"cl-{run}{h}-", work / f"agent-{h}", address, f"cl-{run}-u{h}")
                      for h, address in UNDERLAY.items()}
        try:
            build_underlay(lab_.switch, list(lab_.hosts.values()))
            lab_.cloud.start()
            lab_.libvirtd_b.start()
            lab_.hosts["a"].start(lab_.cloud, "--libvirt-uri", SYSTEM_LIBVIRT, log=work / "agent-a.log")
            # B takes the guests; A's daemon is not reachable from inside B's mount namespace, so A takes none
            lab_.hosts["b"].start(lab_.cloud, "--libvirt-uri", lab_.libvirtd_b.uri, "--migration-uri",
                                  lab_.libvirtd_b.uri, "--migration-address", "127.0.0.1", log=work / "agent-b.log")
            wait_for(lambda: all((lab_.host(h) or {}).get("hypervisor") in ("kvm", "qemu") for h in UNDERLAY), 120,
                     "both agents to register a hypervisor", interval=0.5)
        except BaseException:
            lab_.clean_up()
            raise
        return lab_

    @property
    def switch(self) -> str:
        return f"cl-{self.run}-sw"

    @property
    def agents(self) -> dict[str, subprocess.Popen[bytes]]:
        return {h: host.process for h, host in self.hosts.items() if host.process is not None}

    def prefix(self, host: str) -> str:
        return self.hosts[host].prefix

    def state_dir(self, host: str) -> Path:
        return self.hosts[host].state_dir

    def libvirt_uri(self, host: str) -> str:
        return SYSTEM_LIBVIRT if host == "a" else self.libvirtd_b.uri

    def host_id(self, host: str) -> str:
        return self.hosts[host].host_id()

    def host(self, host: str) -> dict[str, Any] | None:
        return registered_hosts(self.cloud).get(self.host_id(host)) if self.host_id(host) else None

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
        found = self.described(instance_id)
        return found if found["State"]["Name"] == "running" else None

    def described(self, instance_id: str) -> dict[str, Any]:
        return self.ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

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
        for host in self.hosts.values():
            host.stop()
        compute_b = self.state_dir("b") / "compute"
        if compute_b.exists() and self.libvirtd_b.answers():
            destroy_leftover_domains(compute_b, self.libvirtd_b.uri)
        for host in self.hosts.values():
            host.teardown()
        self.libvirtd_b.stop()
        self.cloud.stop()
        remove_underlay(self.switch, list(self.hosts.values()))
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
