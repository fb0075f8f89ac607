"""EC2 instances: DescribeInstances latency with 1,000 instances, and RunInstances-to-SSH-ready vs QEMU directly.

1. **DescribeInstances at 1,000 and 10,000 instances** (targets: p50 of a page under 50 ms; issue 16: from
   1,000 to 10,000, each page's p50 grows at most 2x). A real ``cloudlet up --no-agent`` on
   a loopback port; the instances are made by RunInstances itself (batches of 100), placed on a *fake host*:
   a registration sent through the agent RPC for a host that runs no agent and no VMs (8,192 vCPUs, 8 TiB), so
   the store holds exactly what launches write (instances, interfaces, addresses, volumes, tags). Then boto3
   calls, one at a time: the whole listing (1,000 instances in one answer), a 100-instance page, and a
   filtered call (a tag matching 100 instances).

2. **RunInstances to SSH ready** (needs root, libvirt, QEMU, dnsmasq; skipped otherwise): a real controller
   and agent, the tiny AMI launched through the EC2 API until paramiko logs in from the VPC namespace, next to
   ``bench/bench_boot.py`` run in the same invocation (the same disk booted through the driver alone and by
   ``qemu-system-x86_64`` directly, the physical limit on this host, under the same accelerator). Overhead is
   reported against the direct boot, in seconds and as a ratio (targets: under 1 s, under 1.15x).

    .venv/bin/python bench/bench_ec2_api.py [--instances 1000,10000] [--calls 50] [--boots 3] [--no-boot]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.common import REPO, percentile, report  # noqa: E402
from tests.support import CloudletProcess  # noqa: E402

FAKE_HOST = {"host_id": "h-0000000000bench0", "hostname": "fake-bench-host (no agent, no VMs)", "zone": "home-1a",
             "vcpus": 8192, "memory_mib": 8 * 1024 * 1024, "disk_gib": 200_000, "hypervisor": "qemu",
             "agent_version": "bench", "capabilities": ["compute"]}


#: Issue 6's targets: DescribeInstances p50 at 1,000 instances; RunInstances to SSH ready over QEMU directly
#: (issue 16 tightens the ratio to 1.15x). Issue 16's growth bound: a page's p50 at most 2x from 1,000 to 10,000.
DESCRIBE_P50_MS, DESCRIBE_AT_INSTANCES = 50, 1000
BOOT_OVERHEAD_S, BOOT_RATIO = 1.0, 1.15
GROWTH_BOUND = 2.0
#: The whole listing in one answer is timed only up to this many instances (beyond, it is megabytes per call).
WHOLE_LISTING_UP_TO = 1000


def percentiles(samples: list[float]) -> str:
    return (f"p50 {percentile(samples, 0.5) * 1000:6.1f} ms   p90 {percentile(samples, 0.9) * 1000:6.1f} ms"
            f"   max {max(samples) * 1000:6.1f} ms")


def agent_rpc(cloud: CloudletProcess, method: str, path: str, body: dict | None = None) -> dict:
    token = (cloud.data_dir / "agent.token").read_text().strip()
    request = urllib.request.Request(f"{cloud.endpoint}/_cloudlet/agent/v1{path}", method=method,
                                     data=json.dumps(body).encode() if body is not None else None,
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


class RawCaller:
    """Signed EC2 query requests over a kept-alive connection, timed to the response's last byte: the server's
    share of a call, without boto3's parsing of the answer."""

    def __init__(self, cloud: CloudletProcess) -> None:
        from botocore.auth import SigV4Auth
        from botocore.credentials import Credentials

        creds = cloud.root_credentials()
        self.auth = SigV4Auth(Credentials(creds.access_key_id, creds.secret_access_key), "ec2", cloud.region)
        self.endpoint = cloud.endpoint
        self.port = cloud.port

    def time(self, action: str, query: str) -> float:
        import http.client

        from botocore.awsrequest import AWSRequest

        body = f"Action={action}&Version=2016-11-15" + (f"&{query}" if query else "")
        request = AWSRequest(method="POST", url=self.endpoint + "/", data=body,
                             headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
        self.auth.add_auth(request)
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            t0 = time.perf_counter()
            conn.request("POST", "/", body=body, headers=dict(request.headers))
            response = conn.getresponse()
            response.read()
            elapsed = time.perf_counter() - t0
        finally:
            conn.close()
        assert response.status == 200, response.status
        return elapsed


def bench_describe(instances: int, calls: int) -> dict[str, float]:
    """DescribeInstances over a store of ``instances``: each case's server-side p50 in seconds."""
    print(f"== DescribeInstances with {instances} instances in the store (fake host: no VMs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="cl-bench-ec2-") as work:
        cloud = CloudletProcess(Path(work) / "data").start()
        try:
            agent_rpc(cloud, "POST", "/hosts", FAKE_HOST)
            ec2 = cloud.client("ec2")
            image_id = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
            # a subnet of its own: the default subnets give public addresses, of which the lab pool has ~250
            vpc_id = ec2.create_vpc(CidrBlock="10.20.0.0/16")["Vpc"]["VpcId"]
            subnet_id = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.20.0.0/17", AvailabilityZone="home-1a")[
                "Subnet"]["SubnetId"]
            started = time.monotonic()
            made = 0
            while made < instances:
                batch = min(100, instances - made)
                tags = [{"ResourceType": "instance", "Tags": [{"Key": "batch", "Value": str(made // 100)}]}]
                # the fake host beats as an agent would, or it counts as down (no room) after the timeout
                agent_rpc(cloud, "POST", f"/hosts/{FAKE_HOST['host_id']}/heartbeat",
                          {"host_id": FAKE_HOST["host_id"], "load": 0.0, "free_memory_mib": FAKE_HOST["memory_mib"]})
                ec2.run_instances(ImageId=image_id, InstanceType="t3.nano", MinCount=batch, MaxCount=batch,
                                  SubnetId=subnet_id, TagSpecifications=tags)
                made += batch
            print(f"  {made} instances launched in {time.monotonic() - started:.1f} s "
                  f"({(time.monotonic() - started) / made * 1000:.1f} ms each, in batches of 100)")
            listed = sum(len(r["Instances"]) for r in ec2.describe_instances()["Reservations"])
            assert listed == made, (listed, made)
            cases = {
                "no match (a call's fixed cost)": ({"Filters": [{"Name": "tag:batch", "Values": ["none"]}]},
                                                    "Filter.1.Name=tag:batch&Filter.1.Value.1=none"),
                "one page of 100": ({"MaxResults": 100}, "MaxResults=100"),
                "tag filter (100 match)": ({"Filters": [{"Name": "tag:batch", "Values": ["3"]}]},
                                           "Filter.1.Name=tag:batch&Filter.1.Value.1=3"),
            }
            if made <= WHOLE_LISTING_UP_TO:
                cases[f"all {made} in one answer"] = ({}, "")
            signer = RawCaller(cloud)
            p50s = {}
            for label, (params, query) in cases.items():
                ec2.describe_instances(**params)  # warm
                client_side, server_side = [], []
                for _ in range(calls):
                    t0 = time.perf_counter()
                    ec2.describe_instances(**params)
                    client_side.append(time.perf_counter() - t0)
                    server_side.append(signer.time("DescribeInstances", query))
                print(f"  {label:30s} boto3:  {percentiles(client_side)}", flush=True)
                print(f"  {'':30s} HTTP:   {percentiles(server_side)}   (request to last byte, no parsing)",
                      flush=True)
                p50s[label] = percentile(server_side, 0.5)
                paged = not label.startswith("all ")  # the target is for answers of a page, not of everything
                report(f"EC2 DescribeInstances, {label}, {made} instances stored: p50 request to last byte",
                       p50s[label] * 1000, "ms",
                       at_most=DESCRIBE_P50_MS if made >= DESCRIBE_AT_INSTANCES and paged else None,
                       boto3_p50_ms=percentile(client_side, 0.5) * 1000, calls=calls)
            return p50s
        finally:
            cloud.stop()


def report_growth(small: int, large: int, p50s: dict[int, dict[str, float]]) -> None:
    """Issue 16's bound: each paged case's p50 at ``large`` instances over its p50 at ``small``."""
    for label in p50s[small].keys() & p50s[large].keys():
        growth = p50s[large][label] / p50s[small][label]
        print(f"  {label:30s} p50 grows {growth:.2f}x from {small} to {large} instances")
        report(f"EC2 DescribeInstances, {label}: p50 at {large} instances over at {small}", growth, "x",
               at_most=GROWTH_BOUND, small_p50_ms=p50s[small][label] * 1000, large_p50_ms=p50s[large][label] * 1000)


# --- RunInstances to SSH ready ----------------------------------------------------------------------------------


def boot_prerequisites() -> list[str]:
    missing = [t for t in ("qemu-system-x86_64", "qemu-img", "virsh", "dnsmasq", "nft") if shutil.which(t) is None]
    if os.geteuid() != 0:
        missing.append("root")
    return missing


def bench_boot_side_by_side(boots: int) -> None:
    """Interleaved rounds: bench_boot (driver alone, then QEMU directly), then one launch through the API."""
    missing = boot_prerequisites()
    if missing:
        print(f"== RunInstances to SSH ready: skipped, needs {', '.join(missing)}")
        return
    print(f"== tiny AMI to SSH ready, {boots} interleaved rounds: the driver alone and QEMU directly "
          "(bench/bench_boot.py --runs 1), then RunInstances through the EC2 API", flush=True)
    timings: dict[str, list[float]] = {"direct": [], "driver": [], "api": []}
    accelerator = "?"
    with ApiLab() as lab:
        for round_number in range(1, boots + 1):
            out = subprocess.run([sys.executable, str(REPO / "bench" / "bench_boot.py"), "--runs", "1"], cwd=REPO,
                                 capture_output=True, text=True).stdout
            direct = re.search(r"qemu-system-x86_64 directly\s+([\d.]+) s", out)
            driver = re.search(r"through the driver \(libvirt\)\s+([\d.]+) s", out)
            found = re.search(r"^accelerator: (\S+)", out, re.MULTILINE)
            if not (direct and driver):
                print(f"  bench_boot gave no figures:\n{out[-2000:]}")
                return
            accelerator = found.group(1) if found else accelerator
            timings["direct"].append(float(direct.group(1)))
            timings["driver"].append(float(driver.group(1)))
            timings["api"].append(lab.boot_once())
            print(f"  round {round_number}: QEMU directly {timings['direct'][-1]:5.2f} s   driver "
                  f"{timings['driver'][-1]:5.2f} s   RunInstances -> SSH {timings['api'][-1]:5.2f} s", flush=True)
    direct_median, driver_median, api_median = (statistics.median(timings[k]) for k in ("direct", "driver", "api"))
    print(f"\ntiny AMI under {accelerator} ({'TCG emulation' if accelerator == 'qemu' else 'KVM'}), medians:")
    print(f"  qemu-system-x86_64 directly (physical limit)  {direct_median:5.2f} s")
    print(f"  the compute driver (libvirt) alone            {driver_median:5.2f} s")
    print(f"  RunInstances through the EC2 API              {api_median:5.2f} s   overhead "
          f"{api_median - direct_median:+.2f} s, ratio {api_median / direct_median:.2f}x  (targets: < 1 s, < 1.15x)")
    medians = {"api_s": api_median, "qemu_direct_s": direct_median, "driver_alone_s": driver_median,
               "accelerator": accelerator, "rounds": boots}
    report("EC2 tiny AMI, RunInstances to SSH ready: seconds added over QEMU booting it directly",
           api_median - direct_median, "s", at_most=BOOT_OVERHEAD_S, **medians)
    report("EC2 tiny AMI, RunInstances to SSH ready: time over QEMU booting it directly",
           api_median / direct_median, "x", at_most=BOOT_RATIO, **medians)


class ApiLab:
    """A real controller and agent (own state dir and namespace prefix) to launch the tiny AMI through the API."""

    def __init__(self) -> None:
        run = os.urandom(3).hex()
        self.work = Path("/var/tmp") / f"cl-bench-ec2-{run}"
        self.prefix = f"cl-b{run[:4]}-"
        self.cloud = CloudletProcess(self.work / "data")
        self.agent: subprocess.Popen[bytes] | None = None

    def __enter__(self) -> ApiLab:
        import paramiko

        from tests.agent.compute_lab import build_tiny_image, ensure_libvirtd

        ensure_libvirtd()
        build_tiny_image()
        self.work.mkdir(mode=0o755)
        self.cloud.start()
        self.agent = subprocess.Popen(
            [sys.executable, "-m", "agent.main", "--controller", self.cloud.endpoint, "--token-file",
             str(self.work / "data" / "agent.token"), "--zone", "home-1a", "--state-dir", str(self.work / "agent"),
             "--name-prefix", self.prefix], cwd=REPO, stdout=(self.work / "agent.log").open("wb"),
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 90
        while not any(h.get("hypervisor") in ("kvm", "qemu")
                      for h in agent_rpc(self.cloud, "GET", "/hosts")["hosts"]):
            if time.monotonic() > deadline:
                raise RuntimeError("the agent did not register a hypervisor")
            time.sleep(0.5)
        self.ec2 = self.cloud.client("ec2")
        (self.work / "k.pem").write_text(self.ec2.create_key_pair(KeyName="bench", KeyType="ed25519")["KeyMaterial"])
        self.key = paramiko.Ed25519Key.from_private_key_file(str(self.work / "k.pem"))
        self.image_id = self.ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
        return self

    def boot_once(self) -> float:
        """Seconds from RunInstances to a root login over SSH from the VPC namespace; the instance is then
        terminated (and gone) before this returns."""
        import paramiko

        from tests.agent.compute_lab import in_netns

        started = time.monotonic()
        instance = self.ec2.run_instances(ImageId=self.image_id, InstanceType="t3.micro", KeyName="bench",
                                          MinCount=1, MaxCount=1)["Instances"][0]
        namespace, address = f"{self.prefix}{instance['VpcId']}", instance["PrivateIpAddress"]
        while True:
            try:
                with in_netns(namespace):
                    sock = socket.create_connection((address, 22), timeout=1.0)
                client = paramiko.SSHClient()
                client.set_missing_host_key_policy(paramiko.AutoAddPolicy())
                client.connect(address, username="root", pkey=self.key, sock=sock, timeout=5, banner_timeout=5,
                               auth_timeout=5, allow_agent=False, look_for_keys=False)
                client.exec_command("true")[1].channel.recv_exit_status()
                client.close()
                break
            except (OSError, paramiko.SSHException):
                if time.monotonic() - started > 120:
                    raise
                time.sleep(0.05)
        elapsed = time.monotonic() - started
        self.ec2.terminate_instances(InstanceIds=[instance["InstanceId"]])
        while self.ec2.describe_instances(InstanceIds=[instance["InstanceId"]])["Reservations"][0]["Instances"][0][
                "State"]["Name"] != "terminated":
            time.sleep(0.2)
        return elapsed

    def __exit__(self, *exc: object) -> None:
        if self.agent is not None:
            self.agent.terminate()
            try:
                self.agent.wait(30)
            except subprocess.TimeoutExpired:
                self.agent.kill()
        subprocess.run([sys.executable, "-m", "agent.main", "--teardown", "--name-prefix", self.prefix, "--state-dir",
                        str(self.work / "agent")], cwd=REPO, capture_output=True)
        self.cloud.stop()
        shutil.rmtree(self.work, ignore_errors=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", default="1000,10000",
                        help="store sizes, comma-separated; the growth from the first to the last is reported")
    parser.add_argument("--calls", type=int, default=50)
    parser.add_argument("--boots", type=int, default=3)
    parser.add_argument("--no-boot", action="store_true", help="only the API latency part")
    args = parser.parse_args()
    sizes = [int(size) for size in args.instances.split(",")]
    p50s = {size: bench_describe(size, args.calls) for size in sizes}
    if len(sizes) > 1:
        report_growth(sizes[0], sizes[-1], p50s)
    if not args.no_boot:
        bench_boot_side_by_side(args.boots)
    return 0


if __name__ == "__main__":
    sys.exit(main())
