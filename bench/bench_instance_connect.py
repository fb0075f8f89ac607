"""EC2 Instance Connect: what a key push and the metadata answer carrying it cost, next to their floors.

A real ``cloudlet up --no-agent`` and a fake host (registered through the agent RPC, no VMs) with one
"running" instance, as in bench/bench_ec2_api.py. Measured one call at a time:

1. ``SendSSHPublicKey`` (IAM on the instance ARN, key check, one write) against ``sts:GetCallerIdentity``,
   the cheapest signed call there is (no authorization, no state): the ratio is what the push adds; and
   ``ec2:CreateTags`` on the same instance for scale (another one-row write, durable before it answers).
2. The metadata answer an agent fetches for the instance (``GET /hosts/<id>/metadata?eni=``) holding every
   key pushed in step 1 (all still active) against the same answer with none: the ratio is what serving
   ``managed-ssh-keys`` adds.

The login latency on a real guest (push to an accepted SSH login: the agent's metadata cache, at most
5 s, plus the tiny AMI's 1 s poll) is printed by tests/e2e/test_instance_connect_vm.py.

    .venv/bin/python bench/bench_instance_connect.py [--calls 200]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report  # noqa: E402
from cryptography.hazmat.primitives import serialization  # noqa: E402
from cryptography.hazmat.primitives.asymmetric import ed25519  # noqa: E402

from tests.support import CloudletProcess  # noqa: E402

HOST = {"host_id": "h-00000000000eicb0", "hostname": "fake-bench-host (no agent, no VMs)", "zone": "home-1a",
        "vcpus": 64, "memory_mib": 262144, "disk_gib": 1000, "hypervisor": "qemu", "agent_version": "bench",
        "capabilities": ["compute"]}


def rpc(cloud: CloudletProcess, method: str, path: str, body: dict | None = None) -> dict:
    token = (cloud.data_dir / "agent.token").read_text().strip()
    request = urllib.request.Request(f"{cloud.endpoint}/_cloudlet/agent/v1{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def median_ms(call: Callable[[], object], calls: int) -> float:
    for _ in range(5):
        call()
    samples = []
    for _ in range(calls):
        started = time.perf_counter()
        call()
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) * 1000


def public_key() -> str:
    key = ed25519.Ed25519PrivateKey.generate().public_key()
    return key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH).decode() + " bench"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cl-bench-eic-") as work:
        cloud = CloudletProcess(Path(work) / "data").start()
        try:
            rpc(cloud, "POST", "/hosts", HOST)
            ec2 = cloud.client("ec2")
            image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            [instance] = ec2.run_instances(ImageId=image_id, InstanceType="t3.micro", MinCount=1, MaxCount=1,
                                           Placement={"AvailabilityZone": "home-1a"})["Instances"]
            instance_id = instance["InstanceId"]
            rpc(cloud, "POST", f"/hosts/{HOST['host_id']}/instances",
                {"complete": True, "instances": [{"instance_id": instance_id, "power": "running"}]})
            eni = instance["NetworkInterfaces"][0]["NetworkInterfaceId"]
            sts, eic = cloud.client("sts"), cloud.client("ec2-instance-connect")
            metadata = f"/hosts/{HOST['host_id']}/metadata?eni={eni}"
            bare = median_ms(lambda: rpc(cloud, "GET", metadata), args.calls)
            floor = median_ms(sts.get_caller_identity, args.calls)
            tag = median_ms(lambda: ec2.create_tags(Resources=[instance_id], Tags=[{"Key": "k", "Value": "v"}]),
                            args.calls)
            key = public_key()
            push = median_ms(lambda: eic.send_ssh_public_key(InstanceId=instance_id, InstanceOSUser="root",
                                                             SSHPublicKey=key), args.calls)
            # The pushes above expire after 60 s: the next answers carry every one of them (args.calls + 5).
            keyed = median_ms(lambda: rpc(cloud, "GET", metadata), args.calls)
            held = rpc(cloud, "GET", metadata)["meta_data"]["managed-ssh-keys"]["active-keys"]["root"].count(
                "#Timestamp=")
        finally:
            cloud.stop()
    print(f"SendSSHPublicKey                      p50 {push:6.2f} ms")
    print(f"sts:GetCallerIdentity (floor)         p50 {floor:6.2f} ms   ratio {push / floor:4.2f}x")
    print(f"ec2:CreateTags (a write, for scale)   p50 {tag:6.2f} ms")
    print(f"metadata answer, {held:3d} active keys     p50 {keyed:6.2f} ms")
    print(f"metadata answer, no key (floor)       p50 {bare:6.2f} ms   ratio {keyed / bare:4.2f}x")
    report("SendSSHPublicKey p50 over sts:GetCallerIdentity", push / floor, "x", push_p50_ms=push,
           floor_p50_ms=floor, create_tags_p50_ms=tag)
    report("agent's metadata answer p50, holding every pushed SSH key over none", keyed / bare, "x",
           keyed_p50_ms=keyed, bare_p50_ms=bare, active_keys=held)


if __name__ == "__main__":
    main()
