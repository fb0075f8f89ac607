"""Systems Manager on real instances: Session Manager keystrokes against SSH to the same guest, and Run Command
fan-out to 20 instances.

A real controller and agent (``tests/e2e/eni_lab.py``) run tiny-AMI instances in a private subnet that
reaches Systems Manager through interface endpoints (``tests/e2e/ssm_vm_lab.py``): the guests' own agents
connect out by AWS's names, through the host agent's relay, as in the tests.

- **Keystrokes.** One character typed into a shell and its echo read back, one at a time, p50/p99: through a
  Session Manager session (client → controller's data channel → relay → the guest's agent → pty, and back)
  and, side by side, through SSH (paramiko to the guest's dropbear, from the VPC's router namespace: the
  shortest way in there is). SSH to the same guest is the limit a remote shell has.
- **Fan-out.** ``SendCommand`` of ``echo`` to 20 instances chosen by tag, timed until ListCommands says
  Success, median of several rounds; beside it, the same command to the first instance while it runs alone
  (one delivery round trip). Were a delivery all CPU in the emulated guest, 20 of them on two cores would
  take 20 / 2 = 10 times one: the ratio shows how far below that serial bound the fan-out stays.

Guests run under TCG here (no usable KVM): every figure inside a guest is slower than on real hardware, on
both sides of each ratio alike.

    .venv/bin/python bench/bench_ssm_instances.py [--keystrokes 200] [--rounds 5] [--instances 20]
"""

from __future__ import annotations

import argparse
import io
import socket
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import paramiko  # noqa: E402
from bench_ssm import command_rounds, ssh_keystrokes, ssm_keystrokes  # noqa: E402
from common import percentile, report  # noqa: E402
from guest_lab import missing_prerequisites  # noqa: E402

VPC_CIDR, SUBNET_CIDR = "10.83.0.0/16", "10.83.0.0/20"
TAG = {"Key": "tag:Bench", "Values": ["ssm"]}


def ssh_from(namespace: str, address: str) -> socket.socket:
    """A TCP connection to the guest's port 22, opened from inside the VPC's ``namespace``."""
    from tests.agent.compute_lab import in_netns

    with in_netns(namespace):
        return socket.create_connection((address, 22), timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keystrokes", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--instances", type=int, default=20)
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        print(f"bench_ssm_instances: skipped, this host lacks {', '.join(missing)}")
        return 0
    from tests.e2e.eni_lab import cloud_with_agent, tiny_image
    from tests.e2e.ssm_vm_lab import agent_failed, instance_profile, online, private_subnet
    from tests.support import wait_for

    # 20 two-vCPU guests on two cores: the default over-commit (4x) would refuse most of them.
    with cloud_with_agent("bssm", {"cpu_overcommit_ratio": 32}) as env:
        ec2, ssm = env.ec2(), env.cloud.client("ssm")
        network = private_subnet(ec2, env.cloud.region, VPC_CIDR, SUBNET_CIDR, ssh_from_vpc=True)
        profile = instance_profile(env.cloud.client("iam"))
        key = ec2.create_key_pair(KeyName="bench", KeyType="ed25519")
        launch = {"ImageId": tiny_image(ec2), "InstanceType": "t3.micro", "SubnetId": network.subnet_id,
                  "SecurityGroupIds": [network.group_id], "IamInstanceProfile": {"Name": profile},
                  "TagSpecifications": [{"ResourceType": "instance", "Tags": [{"Key": "Bench", "Value": "ssm"}]}]}
        # Keystrokes first, with the one guest alone: 20 emulated guests on two cores would measure the
        # host's run queue, not the session.
        first = ec2.run_instances(MinCount=1, MaxCount=1, KeyName="bench", **launch)["Instances"][0]
        wait_for(lambda: online(ssm, [first["InstanceId"]]) or agent_failed(env, [first["InstanceId"]]), 300,
                 "the first instance's agent to be Online", interval=2.0)
        time.sleep(5)  # the end of its boot settles
        ssm_ms = ssm_keystrokes(env.cloud, first["InstanceId"], args.keystrokes)
        pkey = paramiko.Ed25519Key.from_private_key(io.StringIO(key["KeyMaterial"]))
        address = first["PrivateIpAddress"]
        ssh_ms = ssh_keystrokes(address, pkey, args.keystrokes, sock=ssh_from(env.namespace(network.vpc_id), address))
        single = command_rounds(ssm, args.rounds, InstanceIds=[first["InstanceId"]])
        rest = ec2.run_instances(MinCount=args.instances - 1, MaxCount=args.instances - 1, **launch)["Instances"]
        ids = [first["InstanceId"]] + [instance["InstanceId"] for instance in rest]
        began = time.monotonic()
        wait_for(lambda: online(ssm, ids) or agent_failed(env, ids), 900,
                 f"{len(ids)} instances' agents to be Online", interval=5.0)
        print(f"{len(ids)} instances Online {time.monotonic() - began:.0f} s after RunInstances")
        time.sleep(10)  # the last boots settle
        fan = command_rounds(ssm, args.rounds, Targets=[TAG])

    ssm_p50, ssm_p99 = statistics.median(ssm_ms), percentile(ssm_ms, 0.99)
    ssh_p50, ssh_p99 = statistics.median(ssh_ms), percentile(ssh_ms, 0.99)
    print(f"\nkeystroke round trip to one guest ({args.keystrokes} keys)   p50        p99")
    print(f"  Session Manager                          {ssm_p50:7.2f} ms {ssm_p99:7.2f} ms")
    print(f"  SSH (paramiko -> dropbear)               {ssh_p50:7.2f} ms {ssh_p99:7.2f} ms")
    fan_median, single_median = statistics.median(fan), statistics.median(single)
    print(f"\nRun Command until Success, median of {args.rounds}: {len(ids)} instances by tag "
          f"{fan_median * 1000:.0f} ms; one instance {single_median * 1000:.0f} ms")
    report("guest session keystroke p50 over SSH's to the same guest", ssm_p50 / ssh_p50, "x",
           ssm_ms=round(ssm_p50, 3), ssh_ms=round(ssh_p50, 3))
    report("guest session keystroke p99 over SSH's to the same guest", ssm_p99 / ssh_p99, "x",
           ssm_ms=round(ssm_p99, 3), ssh_ms=round(ssh_p99, 3))
    report(f"Run Command to {len(ids)} instances over to one", fan_median / single_median, "x",
           fan_out_ms=round(fan_median * 1000, 1), one_ms=round(single_median * 1000, 1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
