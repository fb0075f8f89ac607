"""EC2 instances as real VMs: the issue's "Done when", through the AWS CLI and boto3 against a real Cloudlet.

One controller (``cloudlet up --no-agent``) and one agent process run as on a host (root, libvirt, QEMU
under TCG where KVM cannot run guests), the agent with its own state dir and namespace prefix so nothing
here can touch another run. One tiny-AMI instance is launched with a key pair and a user-data script and
carried through its life; the tests run in file order and share it:

launch -> running -> SSH with the key from the VPC namespace (paramiko) -> the script ran, the metadata
service answers -> boot output in get-console-output -> stop/start keeps the root disk, a type change while
stopped shows in the guest -> the agent killed with SIGKILL and restarted adopts it -> capacity exhaustion
and an AMI the account may not use answer AWS's errors -> terminate leaves no domain, disk, tap or interface. On the way, a spot instance is interrupted with its
notice in IMDS when an on-demand launch needs its capacity.

Without root, QEMU, libvirt or dnsmasq the module is skipped, unless CLOUDLET_REQUIRE_VM_TESTS=1 (CI).
Everything is removed at the end, also when a test fails.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.helpers import terminate_all_instances
from tests.prerequisites import missing_for_vms, require
from tests.support import CloudletProcess, wait_for

REPO = Path(__file__).resolve().parents[2]


require(missing_for_vms(), "VM tests")
pytestmark = [pytest.mark.vm, pytest.mark.root, pytest.mark.slow]

import paramiko  # noqa: E402

from tests.agent.compute_lab import (  # noqa: E402
    build_tiny_image,
    destroy_leftover_domains,
    ensure_libvirtd,
    ssh_in_namespace,
)

#: A spot instance's notice in this run (AWS gives two minutes; the test waits the whole notice).
SPOT_NOTICE_SECONDS = 15
USER_DATA = """#!/bin/sh
echo "user-data ran as $(id -u)" > /root/user-data-marker
echo "hello from user-data on $(hostname)"
"""


@dataclass
class Env:
    cloud: CloudletProcess
    work: Path
    prefix: str
    agent_args: list[str]
    agent: subprocess.Popen[bytes] | None = None
    key_file: Path = field(default_factory=Path)
    key: paramiko.PKey | None = None
    facts: dict[str, Any] = field(default_factory=dict)

    @property
    def agent_dir(self) -> Path:
        return self.work / "agent"

    @property
    def compute_dir(self) -> Path:
        """The agent keeps compute in its state dir when QEMU can traverse it (it can here: 0755 all the way)."""
        return self.agent_dir / "compute"

    def start_agent(self) -> None:
        env = {**{k: v for k, v in os.environ.items() if k != "CLOUDLET_COMPUTE_DIR"}, "PYTHONUNBUFFERED": "1"}
        log = (self.work / "agent.log").open("ab")
        self.agent = subprocess.Popen(self.agent_args, cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT)

    def agent_rpc(self, path: str) -> Any:
        token = (self.cloud.data_dir / "agent.token").read_text().strip()
        request = urllib.request.Request(f"{self.cloud.endpoint}/_cloudlet/agent/v1{path}",
                                         headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=10) as response:
            return json.loads(response.read())

    def host(self) -> dict[str, Any] | None:
        host_id = (self.agent_dir / "host-id").read_text().strip() if (self.agent_dir / "host-id").exists() else ""
        return next((h for h in self.agent_rpc("/hosts")["hosts"] if h["host_id"] == host_id), None)

    def ec2(self) -> Any:
        return self.cloud.client("ec2")

    def instance(self, instance_id: str) -> dict[str, Any]:
        return self.ec2().describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]

    def namespace(self, vpc_id: str) -> str:
        return f"{self.prefix}{vpc_id}"




def state_of(env: Env, instance_id: str) -> str:
    return env.instance(instance_id)["State"]["Name"]


def ssh(env: Env, instance_id: str, command: str, timeout: float = 90.0) -> str:
    """Run ``command`` on the instance as root, from inside its VPC (retrying until SSH answers)."""
    instance = env.instance(instance_id)
    return ssh_in_namespace(env.namespace(instance["VpcId"]), instance["PrivateIpAddress"], env.key, command,
                            timeout=timeout)


def leftovers(env: Env, instance_id: str) -> list[str]:
    """Anything of the instance still on the host: domain, files, taps (in any namespace)."""
    found = []
    domains = subprocess.run(["virsh", "-c", "qemu:///system", "list", "--all", "--name"], capture_output=True,
                             text=True).stdout.split()
    if instance_id in domains:
        found.append(f"domain {instance_id}")
    found += [str(p) for p in env.compute_dir.glob(f"**/{instance_id}*")]
    tap = "cl-t" + instance_id[2:10]
    for namespace in [None, *subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout.split()]:
        if namespace is not None and not namespace.startswith(env.prefix):
            continue
        argv = ["ip", "-o", "link"] if namespace is None else ["ip", "-n", namespace, "-o", "link"]
        links = subprocess.run(argv, capture_output=True, text=True).stdout
        found += [f"tap {m} in {namespace or 'root'}" for m in re.findall(rf"\b({tap}[0-9a-f]{{2}})\b", links)]
    return found


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Env]:
    ensure_libvirtd()
    build_tiny_image()
    run = secrets.token_hex(3)
    # Not under pytest's 0700 temp dirs: QEMU (libvirt-qemu) and dnsmasq (nobody) must traverse these paths.
    work = Path("/var/tmp") / f"cl-e2e-ec2-{run}"
    work.mkdir(mode=0o755)
    (work / "data").mkdir(mode=0o700)
    (work / "data" / "cloudlet.json").write_text(json.dumps({"spot_interruption_notice_seconds": SPOT_NOTICE_SECONDS}))
    cloud = CloudletProcess(work / "data")
    prefix = f"cl-e{run[:4]}-"
    env = Env(cloud, work, prefix, [])
    try:
        cloud.start()
        env.agent_args = [sys.executable, "-m", "agent.main", "--controller", cloud.endpoint, "--token-file",
                          str(work / "data" / "agent.token"), "--zone", "home-1a", "--state-dir",
                          str(env.agent_dir), "--name-prefix", prefix]
        env.start_agent()
        wait_for(lambda: (env.host() or {}).get("hypervisor") in ("kvm", "qemu"), 90, "the agent to register "
                 "a hypervisor (first start probes KVM)", interval=0.5)
        yield env
    finally:
        _clean_up(env)


def _clean_up(env: Env) -> None:
    """Terminate what runs, stop the agent, and remove whatever is left: domains, taps, namespaces, files."""
    try:
        if env.cloud.proc is not None:
            terminate_all_instances(env.ec2())
    except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever happened
        print(f"cleanup: termination through the API failed: {exc}")
    if env.agent is not None and env.agent.poll() is None:
        env.agent.terminate()
        try:
            env.agent.wait(15)
        except subprocess.TimeoutExpired:
            env.agent.kill()
    if env.compute_dir.exists():
        destroy_leftover_domains(env.compute_dir)
    subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", env.prefix, "--state-dir",
                    str(env.agent_dir)], cwd=REPO, capture_output=True)
    env.cloud.stop()
    shutil.rmtree(env.work, ignore_errors=True)


@pytest.fixture(scope="module")
def instance_id(env: Env) -> str:
    key = env.ec2().create_key_pair(KeyName="k", KeyType="ed25519")
    env.key_file = env.work / "k.pem"
    env.key_file.write_text(key["KeyMaterial"])
    env.key_file.chmod(0o600)
    env.key = paramiko.Ed25519Key.from_private_key_file(str(env.key_file))
    script = env.work / "script.sh"
    script.write_text(USER_DATA)
    images = env.ec2().describe_images(Owners=["amazon"], Filters=[{"Name": "name", "Values": ["cloudlet-tiny-*"]}])
    image_id = images["Images"][0]["ImageId"]
    started = time.monotonic()
    result = env.cloud.aws("ec2", "run-instances", "--image-id", image_id, "--instance-type", "t3.micro",
                           "--key-name", "k", "--user-data", f"file://{script}")
    launched = json.loads(result.stdout)["Instances"][0]
    env.facts.update(image_id=image_id, launched_at=started)
    return launched["InstanceId"]


def test_run_instances_reaches_running_and_answers_ssh_with_the_key(env: Env, instance_id: str) -> None:
    wait_for(lambda: state_of(env, instance_id) == "running", 60, "running")
    assert ssh(env, instance_id, "cat /root/user-data-marker").strip() == "user-data ran as 0"
    env.facts["ssh_ready_seconds"] = time.monotonic() - env.facts["launched_at"]
    instance = env.instance(instance_id)
    metadata = ssh(env, instance_id, "for p in instance-id instance-type local-ipv4 ami-id "
                                     "placement/availability-zone; do "
                                     "wget -qO- http://169.254.169.254/latest/meta-data/$p; echo; done").split()
    assert metadata == [instance_id, "t3.micro", instance["PrivateIpAddress"], env.facts["image_id"],
                        instance["Placement"]["AvailabilityZone"]]
    key_line = ssh(env, instance_id, "cat /root/.ssh/authorized_keys").strip()
    assert key_line.startswith("ssh-ed25519 ") and key_line.endswith(" k")


def test_cpu_load_in_the_guest_shows_in_cloudwatch(env: Env, instance_id: str) -> None:
    cloudwatch = env.cloud.client("cloudwatch")

    def peak(metric: str, statistic: str) -> float:
        now = time.time()
        found = cloudwatch.get_metric_statistics(
            Namespace="AWS/EC2", MetricName=metric, Dimensions=[{"Name": "InstanceId", "Value": instance_id}],
            StartTime=now - 300, EndTime=now + 60, Period=60, Statistics=[statistic])["Datapoints"]
        return max((p[statistic] for p in found), default=0.0)

    ssh(env, instance_id, "(while :; do :; done) </dev/null >/dev/null 2>&1 & echo $! > /tmp/burner; echo ok")
    try:
        wait_for(lambda: peak("CPUUtilization", "Maximum") > 20, 60, "the loaded guest's CPUUtilization")
    finally:
        ssh(env, instance_id, "kill $(cat /tmp/burner); echo ok")
    assert peak("NetworkIn", "Sum") > 0 and peak("StatusCheckFailed", "Maximum") == 0


def test_console_output_shows_the_boot_and_the_user_data(env: Env, instance_id: str) -> None:
    def console() -> str:
        return env.cloud.aws("ec2", "get-console-output", "--instance-id", instance_id, "--output", "text",
                             "--query", "Output").stdout

    output = wait_for(lambda: (text := console()) and "hello from user-data" in text and text, 30,
                      "the user-data's line on the console")
    assert "Linux version" in output and "cloudlet-init" in output


def test_stop_start_keeps_the_root_disk_and_a_type_change_shows_in_the_guest(env: Env, instance_id: str) -> None:
    ssh(env, instance_id, "echo kept > /root/survivor && sync")
    assert ssh(env, instance_id, "nproc").strip() == "2"
    env.ec2().stop_instances(InstanceIds=[instance_id])
    wait_for(lambda: state_of(env, instance_id) == "stopped", 60, "stopped")
    env.cloud.aws("ec2", "start-instances", "--instance-ids", instance_id)  # a guest powered off by ACPI boots again
    wait_for(lambda: state_of(env, instance_id) == "running", 180, "running again")
    assert ssh(env, instance_id, "cat /root/survivor").strip() == "kept"
    env.ec2().stop_instances(InstanceIds=[instance_id])
    wait_for(lambda: state_of(env, instance_id) == "stopped", 60, "stopped")
    env.ec2().modify_instance_attribute(InstanceId=instance_id, InstanceType={"Value": "t3.xlarge"})
    env.ec2().start_instances(InstanceIds=[instance_id])
    wait_for(lambda: state_of(env, instance_id) == "running", 180, "running after the type change")
    assert ssh(env, instance_id, "cat /root/survivor").strip() == "kept"
    assert ssh(env, instance_id, "nproc").strip() == "4"  # t3.xlarge: 4 vCPUs
    memory_kib = int(ssh(env, instance_id, "awk '/MemTotal/ {print $2}' /proc/meminfo"))
    assert 4 * 1024 * 1024 > memory_kib > 3.5 * 1024 * 1024  # 16 GiB x 0.25 = 4 GiB, minus the kernel's share
    assert ssh(env, instance_id, "cat /root/user-data-marker").strip() == "user-data ran as 0"


def test_an_agent_killed_with_sigkill_adopts_its_instances_when_it_comes_back(env: Env, instance_id: str) -> None:
    before = float(ssh(env, instance_id, "cut -d' ' -f1 /proc/uptime"))
    assert env.agent is not None
    env.agent.send_signal(signal.SIGKILL)
    env.agent.wait(10)
    assert state_of(env, instance_id) == "running"
    env.start_agent()
    status = env.agent_dir / "status.json"
    wait_for(lambda: status.exists() and json.loads(status.read_text())["pid"] == env.agent.pid
             and "instances" in json.loads(status.read_text())["applied"], 60, "the restarted agent to reconcile")
    after = float(ssh(env, instance_id, "cut -d' ' -f1 /proc/uptime"))
    assert after > before  # the same guest kept running: adopted, not rebooted
    assert state_of(env, instance_id) == "running"


def test_cloudlet_ssh_opens_a_session_through_the_vpc(env: Env, instance_id: str) -> None:
    result = subprocess.run([sys.executable, "-m", "controller.cli", "--data-dir", str(env.cloud.data_dir), "ssh",
                             "-i", str(env.key_file), "--name-prefix", env.prefix, "--agent-state-dir",
                             str(env.agent_dir), instance_id, "cat", "/root/user-data-marker"],
                            cwd=REPO, capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "user-data ran as 0"


def test_create_image_captures_the_root_volume_for_new_instances(env: Env, instance_id: str) -> None:
    ec2 = env.ec2()
    image_id = ec2.create_image(InstanceId=instance_id, Name="captured", NoReboot=True)["ImageId"]
    image = wait_for(lambda: (i := ec2.describe_images(ImageIds=[image_id])["Images"][0])["State"] != "pending"
                     and i, 90, "the capture")
    assert image["State"] == "available", image.get("StateReason")
    assert image["SourceInstanceId"] == instance_id and image["RootDeviceType"] == "ebs"
    copy = ec2.run_instances(ImageId=image_id, InstanceType="t3.micro", KeyName="k", MinCount=1,
                             MaxCount=1)["Instances"][0]["InstanceId"]
    try:
        wait_for(lambda: state_of(env, copy) == "running", 60, "the copy running")
        assert ssh(env, copy, "cat /root/survivor").strip() == "kept"  # written on the source before the capture
    finally:
        ec2.terminate_instances(InstanceIds=[copy])
        wait_for(lambda: state_of(env, copy) == "terminated", 60, "the copy terminated")
    assert state_of(env, instance_id) == "running"  # NoReboot: the source never stopped


def test_a_spot_instance_gets_its_notice_in_imds_when_an_on_demand_launch_needs_its_capacity(
        env: Env, instance_id: str) -> None:
    """r5.2xlarge guests take 16 GiB here (a quarter of the type): the host fits one beside the small ones, so
    the on-demand launch of a second reclaims the spot one, which sees AWS's notice and is then terminated."""
    ec2 = env.ec2()
    market = {"MarketType": "spot", "SpotOptions": {"InstanceInterruptionBehavior": "terminate"}}
    spot = ec2.run_instances(ImageId=env.facts["image_id"], InstanceType="r5.2xlarge", KeyName="k", MinCount=1,
                             MaxCount=1, InstanceMarketOptions=market)["Instances"][0]
    assert spot["InstanceLifecycle"] == "spot"
    on_demand = None
    try:
        wait_for(lambda: state_of(env, spot["InstanceId"]) == "running", 120, "the spot instance running")
        metadata = "wget -qO- http://169.254.169.254/latest/meta-data/"
        assert ssh(env, spot["InstanceId"], metadata + "instance-life-cycle").strip() == "spot"
        on_demand = ec2.run_instances(ImageId=env.facts["image_id"], InstanceType="r5.2xlarge", MinCount=1,
                                      MaxCount=1)["Instances"][0]["InstanceId"]
        notice = wait_for(lambda: _spot_notice(env, spot["InstanceId"]), 30, "the interruption notice in IMDS")
        assert notice["action"] == "terminate"
        request = ec2.describe_spot_instance_requests(SpotInstanceRequestIds=[spot["SpotInstanceRequestId"]])
        assert request["SpotInstanceRequests"][0]["Status"]["Code"] == "marked-for-termination"
        wait_for(lambda: state_of(env, spot["InstanceId"]) in ("shutting-down", "terminated"),
                 SPOT_NOTICE_SECONDS + 30, "the interruption at the end of the notice")
        assert env.instance(spot["InstanceId"])["StateReason"]["Code"] == "Server.SpotInstanceTermination"
        wait_for(lambda: state_of(env, on_demand) == "running", 120, "the on-demand instance running")
    finally:
        ec2.terminate_instances(InstanceIds=[spot["InstanceId"], *([on_demand] if on_demand else [])])


def _spot_notice(env: Env, instance_id: str) -> dict[str, Any] | None:
    try:
        return json.loads(ssh(env, instance_id, "wget -qO- http://169.254.169.254/latest/meta-data/spot/"
                                                "instance-action", timeout=10))
    except Exception:  # noqa: BLE001 - 404 until the notice is given
        return None


def test_capacity_exhaustion_answers_insufficient_instance_capacity(env: Env, instance_id: str) -> None:
    result = env.cloud.aws("ec2", "run-instances", "--image-id", env.facts["image_id"], "--instance-type",
                           "r5.24xlarge", check=False)
    assert result.returncode != 0 and "InsufficientInstanceCapacity" in result.stderr


def test_an_ami_the_account_may_not_use_answers_aws_errors(env: Env, instance_id: str) -> None:
    created = subprocess.run([sys.executable, "-m", "controller.cli", "account", "create", "other", "--data-dir",
                              str(env.cloud.data_dir)], cwd=REPO, capture_output=True, text=True, check=True).stdout
    key_id = re.search(r"aws_access_key_id = (\S+)", created).group(1)
    secret = re.search(r"aws_secret_access_key = (\S+)", created).group(1)
    from tests.support import Credentials

    other = env.cloud.client("ec2", Credentials(key_id, secret))
    manifest = REPO / "images" / "out" / "tiny" / "manifest.json"
    private = env.ec2().register_image(Name="private-tiny", ImageLocation=str(manifest))["ImageId"]
    for image_id, code in ((private, "AuthFailure"), ("ami-0123456789abcdef0", "InvalidAMIID.NotFound")):
        with pytest.raises(Exception) as excinfo:
            other.run_instances(ImageId=image_id, MinCount=1, MaxCount=1)
        assert excinfo.value.response["Error"]["Code"] == code  # type: ignore[attr-defined]
    env.ec2().deregister_image(ImageId=private)


def test_terminate_leaves_no_domain_disk_tap_or_interface(env: Env, instance_id: str) -> None:
    eni_id = env.instance(instance_id)["NetworkInterfaces"][0]["NetworkInterfaceId"]
    assert leftovers(env, instance_id)  # the instance is there to begin with
    env.ec2().terminate_instances(InstanceIds=[instance_id])
    wait_for(lambda: state_of(env, instance_id) == "terminated", 60, "terminated")
    wait_for(lambda: not leftovers(env, instance_id), 15, f"no leftovers (still: {leftovers(env, instance_id)})")
    interfaces = env.ec2().describe_network_interfaces(Filters=[{"Name": "network-interface-id",
                                                                 "Values": [eni_id]}])["NetworkInterfaces"]
    assert interfaces == []
    print(f"\nRunInstances to SSH-ready: {env.facts.get('ssh_ready_seconds', float('nan')):.1f} s "
          f"(hypervisor {(env.host() or {}).get('hypervisor')})")
