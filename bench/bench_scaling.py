"""Scale-out latency (issue 17): from a CloudWatch alarm firing to a new instance passing its load balancer
health check, against the boot time of the same instance in the same run.

A real single-host cloud (``tests/e2e/vm_lab.VmLab``: controller, agent, libvirt VMs, QEMU under TCG where KVM
cannot run guests) runs an internal application load balancer in the default VPC with two target groups,
both with the same health check (HTTP ``/`` every 5 s, 2 successes to become healthy):

* ``boot`` (the limit): RunInstances of the launch template (the tiny AMI, user data starting busybox httpd
  on port 80), the instance registered in its own target group (behind a second listener) as soon as it is
  running. An instance target, not an ``ip`` one: private addresses come back for the next instance, and
  a re-registered address shows the health reported for the instance that had it before. No Auto Scaling
  can be faster than this: it is the boot plus the same health checks.
* ``alarm -> serving``: an Auto Scaling group of the same template (min 1, max 3, desired 1, HealthCheckType
  ELB) registering its instances in the other group, a simple scaling policy (+1, no cooldown) and an alarm
  made with PutMetricAlarm whose action is the policy, timed from SetAlarmState(ALARM). The time until the
  new instance shows up in the group (alarm action, policy, reconciler) is printed beside it.

Both end at the same event: the instance is reported a healthy target of the same load balancer *and*
answers HTTP (its instance id) from inside the VPC, asked with ``wget`` from the VPC's router namespace once
the report says healthy (a report alone can come before the instance serves; the bench says when it does).
Their difference is what the alarm path (alarm action, policy, reconciler, launch, registration) adds to a
boot. Runs alternate between the two and scale back in between (the peer's instance terminated, the group's
desired capacity set back to 1), so that each starts with one guest running. Prints the medians, the
difference and whether the target holds: alarm -> serving no more than boot + 15 s.

Needs root, libvirt, QEMU, dnsmasq and haproxy, and builds the tiny AMI (``make -C images tiny``) if needed;
prints ``skipped: <reason>`` otherwise. Everything it made is removed at the end, also when it fails.

    sudo .venv/bin/python bench/bench_scaling.py [--runs 3]
"""

from __future__ import annotations

import argparse
import base64
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from common import report  # noqa: E402

#: What issue 17 allows the alarm path beyond the boot time.
SLACK = 15.0
#: How often the bench polls the APIs while timing (both paths alike); health checks run every 5 s anyway.
POLL = 0.5
#: Longest a guest may take to become healthy under TCG before the bench gives up.
BOOT_TIMEOUT = 600.0
GROUP = "bench-web"
ALARM = "bench-scale-out"
USER_DATA = """#!/bin/sh
mkdir -p /www
wget -qO /www/index.html http://169.254.169.254/latest/meta-data/instance-id
busybox httpd -p 80 -h /www
"""
#: The health check both target groups share (issue 17's settings).
HEALTH_CHECK = {"HealthCheckProtocol": "HTTP", "HealthCheckPath": "/", "HealthCheckIntervalSeconds": 5,
                "HealthCheckTimeoutSeconds": 2, "HealthyThresholdCount": 2, "UnhealthyThresholdCount": 2}
_ALIVE = ("pending", "running", "shutting-down", "stopping")


@dataclass
class Scene:
    """What the bench made in the cloud: the template, the balancer's two target groups, the group's policy."""

    vpc_id: str
    subnet_id: str
    template_id: str
    group_targets: str
    peer_targets: str
    policy_arn: str = ""


def wait(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(POLL)


def healthy(lab: Any, target_group: str) -> set[str]:
    described = lab.client("elbv2").describe_target_health(TargetGroupArn=target_group)
    return {t["Target"]["Id"] for t in described["TargetHealthDescriptions"] if t["TargetHealth"]["State"] == "healthy"}


def group_instances(lab: Any) -> list[dict[str, Any]]:
    found = lab.client("autoscaling").describe_auto_scaling_groups(AutoScalingGroupNames=[GROUP])
    return list(found["AutoScalingGroups"][0]["Instances"]) if found["AutoScalingGroups"] else []


def alive_instances(lab: Any) -> set[str]:
    return {i["InstanceId"] for r in lab.ec2().describe_instances()["Reservations"] for i in r["Instances"]
            if i["State"]["Name"] in _ALIVE}


def build(lab: Any) -> Scene:
    """The template, the balancer with its two listeners and target groups, the group, its policy and alarm;
    returns once the group's first instance is a healthy target (the balancer's node is up)."""
    ec2, elbv2, autoscaling = lab.ec2(), lab.client("elbv2"), lab.client("autoscaling")
    vpc_id = ec2.describe_vpcs(Filters=[{"Name": "is-default", "Values": ["true"]}])["Vpcs"][0]["VpcId"]
    subnets = sorted(ec2.describe_subnets(Filters=[{"Name": "vpc-id", "Values": [vpc_id]}])["Subnets"],
                     key=lambda s: s["AvailabilityZone"])
    template_id = ec2.create_launch_template(LaunchTemplateName=GROUP, LaunchTemplateData={
        "ImageId": lab.tiny_image(), "InstanceType": "t3.micro", "KeyName": "lab",
        "UserData": base64.b64encode(USER_DATA.encode()).decode()})["LaunchTemplate"]["LaunchTemplateId"]
    groups = {}
    for name in ("bench-group", "bench-peer"):
        arn = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc_id, TargetType="instance",
                                        **HEALTH_CHECK)["TargetGroups"][0]["TargetGroupArn"]
        elbv2.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
            {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}])
        groups[name] = arn
    balancer = elbv2.create_load_balancer(Name=GROUP, Type="application", Scheme="internal",
                                          Subnets=[s["SubnetId"] for s in subnets[:2]])["LoadBalancers"][0]
    for port, arn in ((80, groups["bench-group"]), (8080, groups["bench-peer"])):
        elbv2.create_listener(LoadBalancerArn=balancer["LoadBalancerArn"], Protocol="HTTP", Port=port,
                              DefaultActions=[{"Type": "forward", "TargetGroupArn": arn}])
    scene = Scene(vpc_id, subnets[0]["SubnetId"], template_id, groups["bench-group"], groups["bench-peer"])
    autoscaling.create_auto_scaling_group(
        AutoScalingGroupName=GROUP, LaunchTemplate={"LaunchTemplateId": template_id, "Version": "$Latest"},
        MinSize=1, MaxSize=3, DesiredCapacity=1, VPCZoneIdentifier=scene.subnet_id,
        TargetGroupARNs=[scene.group_targets], HealthCheckType="ELB", HealthCheckGracePeriod=120,
        DefaultCooldown=0)
    scene.policy_arn = autoscaling.put_scaling_policy(
        AutoScalingGroupName=GROUP, PolicyName="plus-one", PolicyType="SimpleScaling",
        AdjustmentType="ChangeInCapacity", ScalingAdjustment=1, Cooldown=0)["PolicyARN"]
    lab.client("cloudwatch").put_metric_alarm(
        AlarmName=ALARM, Namespace="Bench", MetricName="Load", Statistic="Average", Period=60, EvaluationPeriods=1,
        Threshold=1.0, ComparisonOperator="GreaterThanThreshold", AlarmActions=[scene.policy_arn])
    wait(lambda: len(healthy(lab, scene.group_targets)) == 1, BOOT_TIMEOUT, "the group's first healthy target")
    return scene


@dataclass
class Finish:
    """The end of one measurement: the instance is a healthy target *and* answers HTTP from inside the VPC
    with its own instance id. The second half guards the figure against a target reported healthy before its
    instance serves (HAProxy starts a new server UP until ``fall`` checks failed); ``early`` says by how much
    the report came first."""

    started: float
    first_healthy: float = 0.0

    def reached(self, lab: Any, scene: Scene, target_group: str, instance_id: str) -> bool:
        if instance_id not in healthy(lab, target_group):
            return False
        if not self.first_healthy:
            self.first_healthy = time.monotonic()
        address = lab.instance(instance_id).get("PrivateIpAddress")
        answer = lab.in_vpc(scene.vpc_id, "wget", "-qO-", "-T", "2", f"http://{address}/")
        return answer.returncode == 0 and answer.stdout.strip() == instance_id

    def early(self) -> float:
        """How long before the instance answered the target was first reported healthy (0: not before)."""
        gap = time.monotonic() - self.first_healthy
        return gap if gap > 2 * POLL else 0.0


def boot(lab: Any, scene: Scene) -> tuple[float, float]:
    """RunInstances until the instance is a healthy target that serves, registered as soon as it is running
    (as early as RegisterTargets accepts an instance target; the group's registration waits for the same)."""
    ec2, elbv2 = lab.ec2(), lab.client("elbv2")
    finish = Finish(time.monotonic())
    instance_id = ec2.run_instances(LaunchTemplate={"LaunchTemplateId": scene.template_id}, MinCount=1,
                                    MaxCount=1, SubnetId=scene.subnet_id)["Instances"][0]["InstanceId"]
    target = [{"Id": instance_id}]
    try:
        wait(lambda: lab.instance(instance_id)["State"]["Name"] == "running", BOOT_TIMEOUT, f"{instance_id} running")
        elbv2.register_targets(TargetGroupArn=scene.peer_targets, Targets=target)
        wait(lambda: finish.reached(lab, scene, scene.peer_targets, instance_id), BOOT_TIMEOUT,
             f"{instance_id} healthy and serving")
        return time.monotonic() - finish.started, finish.early()
    finally:
        try:
            elbv2.deregister_targets(TargetGroupArn=scene.peer_targets, Targets=target)
        except Exception as exc:  # noqa: BLE001 - not registered (it never ran): terminate it all the same
            print(f"  deregistering {instance_id}: {exc}")
        ec2.terminate_instances(InstanceIds=[instance_id])
        wait(lambda: instance_id not in alive_instances(lab), 120, "the peer's instance terminated")


def alarm_to_serving(lab: Any, scene: Scene) -> tuple[float, float, float]:
    """SetAlarmState(ALARM) until the group's new instance is a healthy target that serves; also when it
    joined the group, and how early it was reported healthy."""
    cloudwatch = lab.client("cloudwatch")
    members = {i["InstanceId"] for i in group_instances(lab)}
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="OK", StateReason="bench: ready to fire")
    finish = Finish(time.monotonic())
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="bench: scale out")
    launched, new = 0.0, ""
    while time.monotonic() < finish.started + BOOT_TIMEOUT:
        if not new:
            joined = {i["InstanceId"] for i in group_instances(lab)} - members
            if joined:
                launched, new = time.monotonic() - finish.started, joined.pop()
        if new and finish.reached(lab, scene, scene.group_targets, new):
            return time.monotonic() - finish.started, launched, finish.early()
        time.sleep(POLL)
    history = cloudwatch.describe_alarm_history(AlarmName=ALARM)["AlarmHistoryItems"]
    raise TimeoutError(f"no new healthy target {BOOT_TIMEOUT:.0f} s after the alarm fired (instance joined the "
                       f"group: {new or 'none'}; alarm history: {[h['HistorySummary'] for h in history[:4]]})")


def scale_back(lab: Any, scene: Scene) -> None:
    """Desired capacity 1 again; wait until one instance is left, in service and healthy, and no other runs."""
    lab.client("autoscaling").set_desired_capacity(AutoScalingGroupName=GROUP, DesiredCapacity=1)

    def settled() -> bool:
        members = group_instances(lab)
        return (len(members) == 1 and members[0]["LifecycleState"] == "InService"
                and healthy(lab, scene.group_targets) == {members[0]["InstanceId"]}
                and alive_instances(lab) == {members[0]["InstanceId"]})

    wait(settled, 180, "the group back at one instance")


def measure(lab: Any, runs: int) -> dict[str, list[float]]:
    print("building the scene (template, load balancer, group of one) ...", flush=True)
    started = time.monotonic()
    scene = build(lab)
    print(f"  ready in {time.monotonic() - started:.0f} s", flush=True)
    found: dict[str, list[float]] = {"boot": [], "serving": [], "launched": [], "early": []}
    for run in range(1, runs + 1):
        seconds, early = boot(lab, scene)
        found["boot"].append(seconds)
        found["early"].append(early)
        print(f"  run {run}: boot (RunInstances -> serving target)     {seconds:6.1f} s"
              + (f"  (reported healthy {early:.1f} s before it answered)" if early else ""), flush=True)
        seconds, launched, early = alarm_to_serving(lab, scene)
        found["serving"].append(seconds)
        found["launched"].append(launched)
        found["early"].append(early)
        print(f"  run {run}: alarm -> serving target                   {seconds:6.1f} s  "
              f"(in the group after {launched:.1f} s)"
              + (f"  (reported healthy {early:.1f} s before it answered)" if early else ""), flush=True)
        scale_back(lab, scene)
    return found


def missing_prerequisites() -> list[str]:
    from tests.prerequisites import missing_for_vms

    return missing_for_vms("haproxy")


def start_lab() -> tuple[Any, str]:
    """The cloud, or None and why this host cannot run it: libvirtd, the tiny AMI, no hypervisor for guests.
    Any other failure to start is the cloud's and raises."""
    from tests.agent.compute_lab import build_tiny_image, ensure_libvirtd
    from tests.e2e.vm_lab import VmLab

    for what, step in (("libvirtd", ensure_libvirtd), ("the tiny AMI", build_tiny_image)):
        try:
            step()
        except (RuntimeError, OSError, subprocess.CalledProcessError) as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            return None, f"{what} unavailable: {first}"
    try:
        return VmLab.start("bscale"), ""
    except AssertionError as exc:  # VmLab's wait for the agent to register a hypervisor (KVM or TCG)
        return None, f"the agent found no way to run guests: {exc}"


def stop_lab(lab: Any) -> None:
    try:
        lab.client("autoscaling").delete_auto_scaling_group(AutoScalingGroupName=GROUP, ForceDelete=True)
    except Exception as exc:  # noqa: BLE001 - cleanup goes on whatever happened (no group yet, cloud down)
        if "not found" not in str(exc):
            print(f"cleanup: deleting the group failed: {exc}")
    lab.clean_up()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3, help="measurements per path (default 3)")
    args = parser.parse_args()
    missing = missing_prerequisites()
    if missing:
        print(f"bench_scaling: skipped: needs {', '.join(missing)}")
        return 0
    print("starting a cloud (controller, agent; builds the tiny AMI if needed) ...", flush=True)
    lab, why = start_lab()
    if lab is None:
        print(f"bench_scaling: skipped: {why}")
        return 0
    try:
        hypervisor = (lab.host() or {}).get("hypervisor")
        found = measure(lab, args.runs)
    finally:
        stop_lab(lab)

    boot_median, serving_median = statistics.median(found["boot"]), statistics.median(found["serving"])
    difference, launched = serving_median - boot_median, statistics.median(found["launched"])
    holds = serving_median <= boot_median + SLACK
    early = [gap for gap in found["early"] if gap]
    print(f"\ntiny AMI, {hypervisor} ({'TCG emulation' if hypervisor == 'qemu' else 'KVM'}), median of "
          f"{args.runs}, health check every 5 s, 2 to become healthy; each ends when the instance is a healthy "
          "target and answers HTTP from inside the VPC:")
    print(f"  boot: RunInstances -> serving target          {boot_median:6.1f} s  (the limit)")
    print(f"  alarm -> new serving target                   {serving_median:6.1f} s  "
          f"(in the group after {launched:.1f} s)")
    print(f"  difference                                    {difference:+6.1f} s, ratio "
          f"{serving_median / boot_median:.2f}x  (target: <= boot + {SLACK:.0f} s: "
          f"{'holds' if holds else 'MISSED'})")
    if early:
        print(f"  note: {len(early)} of {len(found['early'])} targets were reported healthy before their instance "
              f"answered (by up to {max(early):.1f} s)")
    report("scale-out: alarm -> new serving target, beyond RunInstances -> serving target", difference, "s",
           at_most=SLACK, alarm_to_serving_s=serving_median, boot_s=boot_median, in_group_after_s=launched,
           hypervisor=hypervisor)
    return 0

if __name__ == "__main__":
    sys.exit(main())
