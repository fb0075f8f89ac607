"""The web console: time to first paint, and the API calls behind it, of the instances page with 1,000
instances, side by side with the floor of the same browser and server (the sign-in page, which reads
nothing) and with the API call the page shows (DescribeInstances for one page, through boto3); and the time
until a VPC's topology with 50 subnets and 500 ENIs is drawn, beside the fetch of its graph document alone.

A ``cloudlet up`` without an agent gets a registered host where nothing runs (instances stay ``pending``,
which is all a listing needs) and 1,000 instances on it. Headless Chromium (Debian's chromium and
chromium-driver, through selenium) signs in as root, then loads each page ``--rounds`` times; a load's
figure is the browser's own first-contentful-paint (Paint Timing API), measured from the navigation's start.
The page's API calls are counted in CloudTrail: the events of the console session's temporary key (ASIA)
during the loads, per load. The topology is drawn when its script has rendered the graph document and
marked the picture with the document's digest; measured from the navigation's start.

    .venv/bin/python bench/bench_console.py [--instances 1000] [--subnets 50] [--enis 500] [--rounds 15]
"""

from __future__ import annotations

import argparse
import datetime as dt
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests
from common import REPO, report

from tests.console.conftest import CHROMEDRIVER, CHROMIUM, PASSWORD
from tests.e2e.helpers import agent_rpc
from tests.support import CloudletProcess

TARGET_MS = 1000.0


def populate(cloud: CloudletProcess, count: int) -> None:
    """A host with room for ``count`` instances where nothing runs, and the instances on it."""
    agent_rpc(cloud, "POST", "/hosts", {
        "host_id": "h-bench0console0", "hostname": "bench-no-vms", "zone": "home-1a", "vcpus": 4 * count,
        "memory_mib": 1024 * count, "disk_gib": 20 * count, "hypervisor": "qemu", "agent_version": "bench",
        "capabilities": ["compute"]})
    ec2 = cloud.client("ec2")
    image = ec2.describe_images(Owners=["amazon"])["Images"][0]["ImageId"]
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]  # private: the EIP pool is small
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.0.0/20", AvailabilityZone="home-1a")["Subnet"]
    for start in range(0, count, 100):
        batch = min(100, count - start)
        ec2.run_instances(ImageId=image, InstanceType="t3.micro", MinCount=batch, MaxCount=batch,
                          SubnetId=subnet["SubnetId"])


def big_vpc(cloud: CloudletProcess, subnets: int, enis: int) -> str:
    """A VPC of ``subnets`` subnets over two zones and ``enis`` interfaces spread over them."""
    ec2 = cloud.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.60.0.0/16")["Vpc"]["VpcId"]
    made = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.60.{index}.0/24",
                              AvailabilityZone=("home-1a", "home-1b")[index % 2])["Subnet"]["SubnetId"]
            for index in range(subnets)]
    for index in range(enis):
        ec2.create_network_interface(SubnetId=made[index % subnets])
    return vpc


def drawn_ms(driver: Any, url: str) -> float:
    """Load the topology page and return when its picture was drawn (ms from the navigation's start)."""
    driver.get(url)
    for _ in range(1000):
        at = driver.execute_script("return document.querySelector('[data-digest]') ? performance.now() : null")
        if at is not None:
            return float(at)
        time.sleep(0.01)
    raise RuntimeError(f"{url} never drew its picture")


def browser() -> Any:
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,900",
                     "--disable-gpu", "--no-first-run"):
        options.add_argument(argument)
    return webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))


def first_paint_ms(driver: Any, url: str) -> float:
    """Load ``url`` and return its first-contentful-paint (ms from the navigation's start)."""
    driver.get(url)
    for _ in range(100):
        paints = driver.execute_script(
            "return performance.getEntriesByName('first-contentful-paint').map(e => e.startTime)")
        if paints:
            return float(paints[0])
        time.sleep(0.02)
    raise RuntimeError(f"{url} never painted")


def sign_in(driver: Any, console: str, account: str) -> None:
    from selenium.webdriver.common.by import By

    driver.get(f"{console}/signin")
    driver.find_element(By.ID, "account").send_keys(account)
    user = driver.find_element(By.ID, "user_name")
    user.clear()
    user.send_keys("root")
    driver.find_element(By.ID, "password").send_keys(PASSWORD)
    driver.find_element(By.CSS_SELECTOR, "form button[type=submit]").click()
    for _ in range(200):
        if "/signin" not in driver.current_url:
            return
        time.sleep(0.05)
    raise RuntimeError("sign-in did not leave the sign-in page")


def session_calls(cloud: CloudletProcess, since: float, until: float) -> int:
    """CloudTrail events made with a console session's temporary key between two times."""
    trail = cloud.client("cloudtrail")
    window = {"StartTime": dt.datetime.fromtimestamp(since, dt.UTC),
              "EndTime": dt.datetime.fromtimestamp(until, dt.UTC)}
    count = 0
    for page in trail.get_paginator("lookup_events").paginate(**window):
        count += sum(1 for e in page["Events"] if (e.get("AccessKeyId") or "").startswith("ASIA"))
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=1000)
    parser.add_argument("--subnets", type=int, default=50)
    parser.add_argument("--enis", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=15)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-console-") as scratch:
        cloud = CloudletProcess(Path(scratch) / "data").start()
        driver = None
        try:
            subprocess.run([sys.executable, "-m", "controller.cli", "account", "root-password", "--data-dir",
                            str(cloud.data_dir), "--account", cloud.account_id], input=PASSWORD + "\n",
                           text=True, check=True, cwd=REPO, capture_output=True, timeout=60)
            print(f"launching {args.instances} instances (nothing boots)", flush=True)
            populate(cloud, args.instances)
            console = f"{cloud.endpoint}/console"
            driver = browser()
            sign_in(driver, console, cloud.account_id)
            floor = [first_paint_ms(driver, f"{console}/signin") for _ in range(args.rounds)]
            sign_in(driver, console, cloud.account_id)
            time.sleep(1.5)  # the sign-in's own calls land in the trail before the window opens
            opened = time.time()
            page = [first_paint_ms(driver, f"{console}/ec2/instances") for _ in range(args.rounds)]
            closed = time.time()
            ec2 = cloud.client("ec2")
            api = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                ec2.describe_instances(MaxResults=50)
                api.append((time.perf_counter() - started) * 1000)
            time.sleep(2.5)  # the trail's writer batches
            calls = session_calls(cloud, opened, closed + 1) / args.rounds
            print(f"a VPC of {args.subnets} subnets and {args.enis} interfaces", flush=True)
            vpc = big_vpc(cloud, args.subnets, args.enis)
            drawn = [drawn_ms(driver, f"{console}/vpc/{vpc}") for _ in range(args.rounds)]
            http = requests.Session()
            for cookie in driver.get_cookies():
                http.cookies.set(cookie["name"], cookie["value"])
            document = []
            for _ in range(args.rounds):
                started = time.perf_counter()
                answer = http.get(f"{console}/vpc/{vpc}/graph.json", timeout=30)
                answer.raise_for_status()
                document.append((time.perf_counter() - started) * 1000)
        finally:
            if driver is not None:
                driver.quit()
            cloud.stop()
    page_ms, floor_ms, api_ms, drawn_med, document_ms = (statistics.median(v) for v in (page, floor, api, drawn,
                                                                                         document))
    print(f"\n{'':34}{'median':>10}{'p90':>10}")
    for name, values in (("instances page, first paint", page), ("sign-in page, first paint", floor),
                         ("DescribeInstances (boto3)", api), ("topology drawn", drawn),
                         ("its graph document alone", document)):
        print(f"{name:34}{statistics.median(values):>8.0f}ms{sorted(values)[int(len(values) * 0.9)]:>8.0f}ms")
    print(f"API calls per instances page load: {calls:.1f}")
    report(f"console instances page, {args.instances} instances: first paint", page_ms, "ms", at_most=TARGET_MS,
           floor_ms=round(floor_ms, 1), api_ms=round(api_ms, 1), api_calls_per_load=calls)
    report("console instances page: first paint over the sign-in page's (the browser's floor)",
           page_ms / floor_ms, "x")
    report("console instances page: first paint over its DescribeInstances call alone", page_ms / api_ms, "x")
    report("console instances page: API calls per load", calls, "", at_most=3)
    report(f"console VPC topology, {args.subnets} subnets and {args.enis} ENIs: drawn", drawn_med, "ms",
           at_most=TARGET_MS, document_ms=round(document_ms, 1))
    report("console VPC topology: drawn over fetching its graph document alone", drawn_med / document_ms, "x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
