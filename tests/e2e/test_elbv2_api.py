"""The Elastic Load Balancing v2 API over the wire (no VMs): boto3 against the shared ``cloudlet up``.

Every operation's result is read back, errors are checked with their code and HTTP status, paging is
followed, and what the agent sees is checked through the agent RPC as a (fake) host gets it: the
``loadbalancers`` section, the nodes' ENIs and the load balancer's name in the ``network`` section's
resolver records, and DescribeTargetHealth after a report posted to the agents' route.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import agent_rpc, denied
from tests.support import CloudletProcess

Client = Any


class Elb:
    """The test's load balancers and target groups, deleted after it (before its VPCs)."""

    def __init__(self, client: Client) -> None:
        self.client = client
        self.load_balancers: list[str] = []
        self.target_groups: list[str] = []

    def load_balancer(self, **params: Any) -> dict[str, Any]:
        [made] = self.client.create_load_balancer(**params)["LoadBalancers"]
        self.load_balancers.append(made["LoadBalancerArn"])
        return made

    def target_group(self, **params: Any) -> dict[str, Any]:
        [made] = self.client.create_target_group(**params)["TargetGroups"]
        self.target_groups.append(made["TargetGroupArn"])
        return made

    def teardown(self) -> None:
        for arn in self.load_balancers:
            with contextlib.suppress(botocore.exceptions.ClientError):  # already deleted by the test
                self.client.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
                    {"Key": "deletion_protection.enabled", "Value": "false"}])  # a test may have left it on
            self.client.delete_load_balancer(LoadBalancerArn=arn)
        for arn in self.target_groups:
            self.client.delete_target_group(TargetGroupArn=arn)


@pytest.fixture
def elb(cloudlet: CloudletProcess, vpc_cleanup: list[str]) -> Iterator[Elb]:
    """After ``vpc_cleanup`` in the arguments, so it is torn down before the VPCs are."""
    made = Elb(cloudlet.client("elbv2"))
    yield made
    made.teardown()


def refused(call: Any, code: str, status: int = 400, **params: Any) -> str:
    got_code, got_status, message = denied(call, **params)
    assert (got_code, got_status) == (code, status), message
    return message


def _network(ec2: Client, vpc_cleanup: list[str], second: int) -> tuple[str, list[str]]:
    vpc = ec2.create_vpc(CidrBlock=f"10.{second}.0.0/16")["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc)
    ec2.modify_vpc_attribute(VpcId=vpc, EnableDnsHostnames={"Value": True})
    igw = ec2.create_internet_gateway()["InternetGateway"]["InternetGatewayId"]
    ec2.attach_internet_gateway(InternetGatewayId=igw, VpcId=vpc)
    subnets = [ec2.create_subnet(VpcId=vpc, CidrBlock=f"10.{second}.{i}.0/24",
                                 AvailabilityZone=f"home-1{zone}")["Subnet"]["SubnetId"]
               for i, zone in ((1, "a"), (2, "b"), (3, "a"))]
    return vpc, subnets


def _host(cloudlet: CloudletProcess, unique: str, zone: str) -> str:
    host_id = f"h-{unique[1:]}elb{zone[-1]}"[:19]
    agent_rpc(cloudlet, "POST", "/hosts", {
        "host_id": host_id, "hostname": f"{unique}-elb", "zone": zone, "vcpus": 2, "memory_mib": 2048,
        "disk_gib": 10, "hypervisor": "qemu", "agent_version": "test", "capabilities": ["compute"]})
    return host_id


def _sections(cloudlet: CloudletProcess, host_id: str) -> dict[str, Any]:
    return agent_rpc(cloudlet, "GET", f"/hosts/{host_id}/desired?generation=-1&wait=0")["sections"]


def test_load_balancers_read_back_errors_paging_attributes_and_tags(cloudlet: CloudletProcess, ec2: Client,
                                                                    vpc_cleanup: list[str], elb: Elb,
                                                                    unique: str) -> None:
    client = elb.client
    vpc, subnets = _network(ec2, vpc_cleanup, 60)
    name = f"{unique}-web"
    refused(client.create_load_balancer, "ValidationError", Name=name, Subnets=subnets[:1])
    refused(client.create_load_balancer, "ValidationError", Name="-bad-", Subnets=subnets[:2])
    refused(client.create_load_balancer, "ValidationError", Name="x" * 33, Subnets=subnets[:2])
    refused(client.create_load_balancer, "ValidationError", Name="internal-x", Subnets=subnets[:2])
    refused(client.create_load_balancer, "SubnetNotFound", Name=name, Subnets=[subnets[0], "subnet-0123456789abcdef0"])
    refused(client.create_load_balancer, "InvalidSecurityGroup", Name=name, Subnets=subnets[:2],
            SecurityGroups=["sg-0123456789abcdef0"])
    lb = elb.load_balancer(Name=name, Subnets=subnets[:2], Tags=[{"Key": "team", "Value": "web"}])
    arn = lb["LoadBalancerArn"]
    lb_id = arn.rsplit("/", 1)[1]
    assert arn.startswith("arn:aws:elasticloadbalancing:") and f":loadbalancer/app/{name}/" in arn
    assert (lb["Type"], lb["Scheme"], lb["VpcId"], lb["IpAddressType"], lb["State"]["Code"]) == (
        "application", "internet-facing", vpc, "ipv4", "provisioning")
    assert lb["DNSName"] == f"{name}-{lb_id}.{cloudlet.region}.elb.amazonaws.com"
    assert lb["CanonicalHostedZoneId"] == "Z35SXDOTRQ7X7K"
    default_sg = ec2.describe_security_groups(Filters=[{"Name": "vpc-id", "Values": [vpc]},
                                                       {"Name": "group-name", "Values": ["default"]}])
    assert lb["SecurityGroups"] == [default_sg["SecurityGroups"][0]["GroupId"]]
    zones = {z["ZoneName"]: z for z in lb["AvailabilityZones"]}
    assert sorted(zones) == ["home-1a", "home-1b"]
    assert all(z["LoadBalancerAddresses"][0]["IpAddress"] and z["LoadBalancerAddresses"][0]["PrivateIPv4Address"]
               for z in zones.values())
    [described] = client.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
    assert described["State"]["Code"] == "active" and described["DNSName"] == lb["DNSName"]
    # the nodes' ENIs, as AWS shows them
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "description", "Values": [f"ELB app/{name}/{lb_id}"]}])
    assert len(enis["NetworkInterfaces"]) == 2
    for eni in enis["NetworkInterfaces"]:
        assert eni["RequesterManaged"] and eni["InterfaceType"] == "interface"
        assert eni["Association"]["PublicIp"] in {z["LoadBalancerAddresses"][0]["IpAddress"] for z in zones.values()}
    # same name: same settings answer the same load balancer, others are a duplicate
    again = client.create_load_balancer(Name=name, Subnets=subnets[:2])["LoadBalancers"][0]
    assert again["LoadBalancerArn"] == arn
    refused(client.create_load_balancer, "DuplicateLoadBalancerName", Name=name, Subnets=subnets[1:],
            Scheme="internal")
    internal = elb.load_balancer(Name=f"{unique}-int", Subnets=subnets[:2], Scheme="internal", Type="network")
    assert internal["DNSName"].startswith(f"internal-{unique}-int-") and "SecurityGroups" not in internal
    assert all("IpAddress" not in z["LoadBalancerAddresses"][0] for z in internal["AvailabilityZones"])
    pages = list(client.get_paginator("describe_load_balancers").paginate(PaginationConfig={"PageSize": 1}))
    listed = [b["LoadBalancerArn"] for p in pages for b in p["LoadBalancers"]]
    assert listed.index(arn) < listed.index(internal["LoadBalancerArn"])
    assert client.describe_load_balancers(Names=[name])["LoadBalancers"][0]["LoadBalancerArn"] == arn
    refused(client.describe_load_balancers, "LoadBalancerNotFound", Names=[f"{unique}-none"])
    refused(client.describe_load_balancers, "LoadBalancerNotFound",
            LoadBalancerArns=[arn.rsplit("/", 1)[0] + "/0123456789abcdef"])
    refused(client.describe_load_balancers, "ValidationError", Names=[name], LoadBalancerArns=[arn])
    # attributes
    attributes = {a["Key"]: a["Value"] for a in client.describe_load_balancer_attributes(
        LoadBalancerArn=arn)["Attributes"]}
    assert attributes["idle_timeout.timeout_seconds"] == "60" and attributes["deletion_protection.enabled"] == "false"
    assert attributes["routing.http2.enabled"] == "true"
    client.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "idle_timeout.timeout_seconds", "Value": "120"}, {"Key": "deletion_protection.enabled", "Value": "true"}])
    attributes = {a["Key"]: a["Value"] for a in client.describe_load_balancer_attributes(
        LoadBalancerArn=arn)["Attributes"]}
    assert attributes["idle_timeout.timeout_seconds"] == "120"
    refused(client.modify_load_balancer_attributes, "ValidationError", LoadBalancerArn=arn,
            Attributes=[{"Key": "no.such.key", "Value": "1"}])
    refused(client.modify_load_balancer_attributes, "ValidationError", LoadBalancerArn=arn,
            Attributes=[{"Key": "idle_timeout.timeout_seconds", "Value": "0"}])
    refused(client.delete_load_balancer, "OperationNotPermitted", LoadBalancerArn=arn)
    # security groups and subnets
    web = ec2.create_security_group(GroupName=f"{unique}-lb", Description="lb", VpcId=vpc)["GroupId"]
    assert client.set_security_groups(LoadBalancerArn=arn, SecurityGroups=[web])["SecurityGroupIds"] == [web]
    enis = ec2.describe_network_interfaces(Filters=[{"Name": "description", "Values": [f"ELB app/{name}/{lb_id}"]}])
    assert all([g["GroupId"] for g in e["Groups"]] == [web] for e in enis["NetworkInterfaces"])
    moved = client.set_subnets(LoadBalancerArn=arn, Subnets=subnets[1:])
    assert sorted((z["ZoneName"], z["SubnetId"]) for z in moved["AvailabilityZones"]) == [
        ("home-1a", subnets[2]), ("home-1b", subnets[1])]
    refused(client.set_subnets, "InvalidConfigurationRequest", LoadBalancerArn=arn, Subnets=[subnets[0], subnets[2]])
    refused(client.set_subnets, "ValidationError", LoadBalancerArn=arn, Subnets=subnets[:1])
    # tags
    client.add_tags(ResourceArns=[arn], Tags=[{"Key": "env", "Value": "test"}])
    client.remove_tags(ResourceArns=[arn], TagKeys=["team"])
    [described] = client.describe_tags(ResourceArns=[arn])["TagDescriptions"]
    assert described["Tags"] == [{"Key": "env", "Value": "test"}]
    refused(client.add_tags, "DuplicateTagKeys", ResourceArns=[arn], Tags=[{"Key": "a", "Value": "1"},
                                                                           {"Key": "a", "Value": "2"}])
    refused(client.describe_tags, "LoadBalancerNotFound", ResourceArns=[arn.rsplit("/", 1)[0] + "/0123456789abcdef"])
    # the name in the VPC's resolver: public addresses for internet-facing, private for internal
    host_id = _host(cloudlet, unique, "home-1b")
    sections = _sections(cloudlet, host_id)
    records = {(r["name"], r["address"]) for v in sections["network"]["vpcs"] if v["id"] == vpc
               for r in (v["dns"] or {}).get("records", [])}
    [now] = client.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"]
    public = {z["LoadBalancerAddresses"][0]["IpAddress"] for z in now["AvailabilityZones"]}
    assert {a for n, a in records if n == lb["DNSName"]} == public
    private = {z["LoadBalancerAddresses"][0]["PrivateIPv4Address"] for z in internal["AvailabilityZones"]}
    assert {a for n, a in records if n == internal["DNSName"]} == private
    # delete: its ENIs go with it; deleting it again succeeds
    client.modify_load_balancer_attributes(LoadBalancerArn=arn, Attributes=[
        {"Key": "deletion_protection.enabled", "Value": "false"}])
    client.delete_load_balancer(LoadBalancerArn=arn)
    client.delete_load_balancer(LoadBalancerArn=arn)
    refused(client.describe_load_balancers, "LoadBalancerNotFound", LoadBalancerArns=[arn])
    assert ec2.describe_network_interfaces(Filters=[{"Name": "description", "Values": [
        f"ELB app/{name}/{lb_id}"]}])["NetworkInterfaces"] == []



def test_target_groups_targets_and_their_errors(ec2: Client, vpc_cleanup: list[str], elb: Elb,
                                                unique: str) -> None:
    client = elb.client
    vpc, subnets = _network(ec2, vpc_cleanup, 61)
    name = f"{unique}-tg"
    tg = elb.target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip",
                          Tags=[{"Key": "k", "Value": "v"}])
    arn = tg["TargetGroupArn"]
    assert f":targetgroup/{name}/" in arn
    assert {k: tg[k] for k in ("Protocol", "Port", "VpcId", "TargetType", "HealthCheckProtocol", "HealthCheckPort",
                               "HealthCheckPath", "HealthCheckIntervalSeconds", "HealthCheckTimeoutSeconds",
                               "HealthyThresholdCount", "UnhealthyThresholdCount", "Matcher", "LoadBalancerArns",
                               "ProtocolVersion")} == {
        "Protocol": "HTTP", "Port": 80, "VpcId": vpc, "TargetType": "ip", "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "traffic-port", "HealthCheckPath": "/", "HealthCheckIntervalSeconds": 30,
        "HealthCheckTimeoutSeconds": 5, "HealthyThresholdCount": 5, "UnhealthyThresholdCount": 2,
        "Matcher": {"HttpCode": "200"}, "LoadBalancerArns": [], "ProtocolVersion": "HTTP1"}
    tcp = elb.target_group(Name=f"{unique}-tcp", Protocol="TCP", Port=5432, VpcId=vpc)
    assert (tcp["HealthCheckProtocol"], tcp["HealthCheckTimeoutSeconds"], "HealthCheckPath" in tcp) == ("TCP", 10, False)
    # same settings: the same group; others: a duplicate
    assert client.create_target_group(Name=name, Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")[
        "TargetGroups"][0]["TargetGroupArn"] == arn
    refused(client.create_target_group, "DuplicateTargetGroupName", Name=name, Protocol="HTTP", Port=8080, VpcId=vpc)
    refused(client.create_target_group, "ValidationError", Name="bad_name", Protocol="HTTP", Port=80, VpcId=vpc)
    refused(client.create_target_group, "ValidationError", Name=f"{unique}-x", Protocol="HTTP", Port=80,
            VpcId="vpc-0123456789abcdef0")
    refused(client.create_target_group, "ValidationError", Name=f"{unique}-x", Protocol="HTTP", Port=80, VpcId=vpc,
            HealthCheckIntervalSeconds=5, HealthCheckTimeoutSeconds=10)
    modified = client.modify_target_group(TargetGroupArn=arn, HealthCheckPath="/health", Matcher={"HttpCode": "200-299"},
                                          HealthCheckIntervalSeconds=10)["TargetGroups"][0]
    assert (modified["HealthCheckPath"], modified["Matcher"], modified["HealthCheckIntervalSeconds"]) == (
        "/health", {"HttpCode": "200-299"}, 10)
    pages = list(client.get_paginator("describe_target_groups").paginate(
        Names=[name, f"{unique}-tcp"], PaginationConfig={"PageSize": 1}))
    assert [g["TargetGroupArn"] for p in pages for g in p["TargetGroups"]] == [arn, tcp["TargetGroupArn"]]
    refused(client.describe_target_groups, "TargetGroupNotFound", Names=[f"{unique}-none"])
    refused(client.describe_target_groups, "TargetGroupNotFound", TargetGroupArns=[arn[:-16] + "0123456789abcdef"])
    # attributes
    attributes = {a["Key"]: a["Value"] for a in client.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
    assert (attributes["deregistration_delay.timeout_seconds"], attributes["stickiness.enabled"],
            attributes["stickiness.type"], attributes["load_balancing.algorithm.type"]) == (
        "300", "false", "lb_cookie", "round_robin")
    client.modify_target_group_attributes(TargetGroupArn=arn, Attributes=[
        {"Key": "deregistration_delay.timeout_seconds", "Value": "0"}, {"Key": "stickiness.enabled", "Value": "true"}])
    attributes = {a["Key"]: a["Value"] for a in client.describe_target_group_attributes(TargetGroupArn=arn)["Attributes"]}
    assert (attributes["deregistration_delay.timeout_seconds"], attributes["stickiness.enabled"]) == ("0", "true")
    refused(client.modify_target_group_attributes, "ValidationError", TargetGroupArn=arn,
            Attributes=[{"Key": "stickiness.type", "Value": "nope"}])
    # targets: ip targets in the VPC; instances must be running instances of the VPC
    refused(client.register_targets, "InvalidTarget", TargetGroupArn=arn, Targets=[{"Id": "192.168.1.1"}])
    refused(client.register_targets, "InvalidTarget", TargetGroupArn=tcp["TargetGroupArn"],
            Targets=[{"Id": "i-0123456789abcdef0"}])
    client.register_targets(TargetGroupArn=arn, Targets=[{"Id": "10.61.1.10"}, {"Id": "10.61.2.10", "Port": 8080}])
    health = client.describe_target_health(TargetGroupArn=arn)["TargetHealthDescriptions"]
    assert [(h["Target"]["Id"], h["Target"]["Port"], h["TargetHealth"]["State"], h["TargetHealth"]["Reason"])
            for h in health] == [("10.61.1.10", 80, "unused", "Target.NotInUse"),
                                 ("10.61.2.10", 8080, "unused", "Target.NotInUse")]
    [asked] = client.describe_target_health(TargetGroupArn=arn, Targets=[{"Id": "10.61.9.9"}])[
        "TargetHealthDescriptions"]
    assert asked["TargetHealth"]["Reason"] == "Target.NotRegistered"
    refused(client.deregister_targets, "InvalidTarget", TargetGroupArn=arn, Targets=[{"Id": "10.61.9.9"}])
    client.deregister_targets(TargetGroupArn=arn, Targets=[{"Id": "10.61.2.10", "Port": 8080}])  # delay 0: gone
    assert [h["Target"]["Id"] for h in client.describe_target_health(TargetGroupArn=arn)[
        "TargetHealthDescriptions"]] == ["10.61.1.10"]
    refused(client.describe_target_health, "TargetGroupNotFound", TargetGroupArn=arn[:-16] + "0123456789abcdef")
    assert client.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"] == [{"Key": "k", "Value": "v"}]
    client.delete_target_group(TargetGroupArn=tcp["TargetGroupArn"])
    refused(client.describe_target_groups, "TargetGroupNotFound", TargetGroupArns=[tcp["TargetGroupArn"]])


def _post_report(cloudlet: CloudletProcess, host_id: str, body: Any) -> tuple[int, Any]:
    token = (cloudlet.data_dir / "agent.token").read_text().strip()
    request = urllib.request.Request(f"{cloudlet.endpoint}/_cloudlet/agent/v1/hosts/{host_id}/loadbalancers",
                                     method="POST", data=json.dumps(body).encode(),
                                     headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _check_metrics(cloudlet: CloudletProcess, lb_arn: str, tg_arn: str) -> None:
    """The reports' counters as AWS/ApplicationELB datapoints (two reports of 3 requests each)."""
    cloudwatch = cloudlet.client("cloudwatch")
    lb_dim = {"Name": "LoadBalancer", "Value": lb_arn.split(":loadbalancer/", 1)[1]}
    end = datetime.datetime.now(datetime.UTC) + datetime.timedelta(minutes=1)
    window = {"StartTime": end - datetime.timedelta(minutes=10), "EndTime": end, "Period": 600}
    points = cloudwatch.get_metric_statistics(Namespace="AWS/ApplicationELB", MetricName="RequestCount",
                                             Dimensions=[lb_dim], Statistics=["Sum"], **window)["Datapoints"]
    assert sum(p["Sum"] for p in points) == 6
    points = cloudwatch.get_metric_statistics(
        Namespace="AWS/ApplicationELB", MetricName="UnHealthyHostCount", Statistics=["Maximum"],
        Dimensions=[lb_dim, {"Name": "TargetGroup", "Value": tg_arn.rsplit(":", 1)[1]}], **window)["Datapoints"]
    assert [p["Maximum"] for p in points] == [1.0]


def test_listeners_rules_the_hosts_section_and_target_health(cloudlet: CloudletProcess, ec2: Client,
                                                             vpc_cleanup: list[str], elb: Elb, unique: str) -> None:
    client = elb.client
    vpc, subnets = _network(ec2, vpc_cleanup, 62)
    lb = elb.load_balancer(Name=f"{unique}-app", Subnets=subnets[:2])
    lb_arn = lb["LoadBalancerArn"]
    web = elb.target_group(Name=f"{unique}-web", Protocol="HTTP", Port=80, VpcId=vpc, TargetType="ip")
    api = elb.target_group(Name=f"{unique}-api", Protocol="HTTP", Port=8080, VpcId=vpc, TargetType="ip")
    tcp = elb.target_group(Name=f"{unique}-tcp", Protocol="TCP", Port=80, VpcId=vpc, TargetType="ip")
    client.register_targets(TargetGroupArn=web["TargetGroupArn"], Targets=[{"Id": "10.62.1.10"}])
    forward = [{"Type": "forward", "TargetGroupArn": web["TargetGroupArn"]}]
    refused(client.create_listener, "IncompatibleProtocols", LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": tcp["TargetGroupArn"]}])
    refused(client.create_listener, "ValidationError", LoadBalancerArn=lb_arn, Protocol="TCP", Port=80,
            DefaultActions=forward)
    refused(client.create_listener, "TargetGroupNotFound", LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": web["TargetGroupArn"][:-16] + "0123456789abcdef"}])
    refused(client.create_listener, "ValidationError", LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443,
            DefaultActions=forward)
    refused(client.create_listener, "LoadBalancerNotFound", LoadBalancerArn=lb_arn[:-16] + "0123456789abcdef",
            Protocol="HTTP", Port=80, DefaultActions=forward)
    [http] = client.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80, DefaultActions=forward)[
        "Listeners"]
    assert http["DefaultActions"] == [{"Type": "forward", "TargetGroupArn": web["TargetGroupArn"], "Order": 1,
                                       "ForwardConfig": {"TargetGroups": [{"TargetGroupArn": web["TargetGroupArn"],
                                                                           "Weight": 1}],
                                                         "TargetGroupStickinessConfig": {"Enabled": False}}}]
    refused(client.create_listener, "DuplicateListener", LoadBalancerArn=lb_arn, Protocol="HTTP", Port=80,
            DefaultActions=forward)
    cert = f"arn:aws:acm:{cloudlet.region}:123456789012:certificate/abcd-1234"
    [https] = client.create_listener(LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=443,
                                     Certificates=[{"CertificateArn": cert}], DefaultActions=[{
                                         "Type": "fixed-response", "FixedResponseConfig": {
                                             "StatusCode": "503", "ContentType": "text/plain", "MessageBody": "no"}}])[
        "Listeners"]
    assert (https["SslPolicy"], https["Certificates"]) == ("ELBSecurityPolicy-2016-08", [{"CertificateArn": cert}])
    assert client.describe_listener_certificates(ListenerArn=https["ListenerArn"])["Certificates"] == [
        {"CertificateArn": cert, "IsDefault": True}]
    refused(client.create_listener, "CertificateNotFound", LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=8443,
            Certificates=[{"CertificateArn": "nope"}], DefaultActions=forward)
    refused(client.create_listener, "SSLPolicyNotFound", LoadBalancerArn=lb_arn, Protocol="HTTPS", Port=8443,
            Certificates=[{"CertificateArn": cert}], SslPolicy="ELBSecurityPolicy-Nope", DefaultActions=forward)
    pages = list(client.get_paginator("describe_listeners").paginate(LoadBalancerArn=lb_arn,
                                                                     PaginationConfig={"PageSize": 1}))
    assert [li["Port"] for p in pages for li in p["Listeners"]] == [80, 443]
    refused(client.describe_listeners, "ListenerNotFound", ListenerArns=[http["ListenerArn"][:-16] + "0123456789abcdef"])
    modified = client.modify_listener(ListenerArn=https["ListenerArn"], Port=8443)["Listeners"][0]
    assert modified["Port"] == 8443 and modified["Certificates"] == [{"CertificateArn": cert}]
    # rules
    conditions = [{"Field": "path-pattern", "Values": ["/api/*"]},
                  {"Field": "http-header", "HttpHeaderConfig": {"HttpHeaderName": "X-Env", "Values": ["beta"]}}]
    weighted = [{"Type": "forward", "ForwardConfig": {
        "TargetGroups": [{"TargetGroupArn": api["TargetGroupArn"], "Weight": 3},
                         {"TargetGroupArn": web["TargetGroupArn"], "Weight": 1}],
        "TargetGroupStickinessConfig": {"Enabled": True, "DurationSeconds": 600}}}]
    [rule] = client.create_rule(ListenerArn=http["ListenerArn"], Priority=10, Conditions=conditions,
                                Actions=weighted)["Rules"]
    assert (rule["Priority"], rule["IsDefault"]) == ("10", False)
    assert rule["Conditions"][0] == {"Field": "path-pattern", "Values": ["/api/*"],
                                     "PathPatternConfig": {"Values": ["/api/*"]}}
    refused(client.create_rule, "PriorityInUse", ListenerArn=http["ListenerArn"], Priority=10, Conditions=conditions,
            Actions=forward)
    refused(client.create_rule, "ValidationError", ListenerArn=http["ListenerArn"], Priority=11,
            Conditions=[{"Field": "path-pattern", "Values": ["/a", "/b", "/c", "/d", "/e", "/f"]}], Actions=forward)
    refused(client.create_rule, "ValidationError", ListenerArn=http["ListenerArn"], Priority=11,
            Conditions=[{"Field": "no-such-field", "Values": ["x"]}], Actions=forward)
    refused(client.create_rule, "ValidationError", ListenerArn=http["ListenerArn"], Priority=11,
            Conditions=[{"Field": "source-ip", "SourceIpConfig": {"Values": ["not-a-cidr"]}}], Actions=forward)
    [second] = client.create_rule(ListenerArn=http["ListenerArn"], Priority=20, Conditions=[
        {"Field": "query-string", "QueryStringConfig": {"Values": [{"Key": "v", "Value": "1"}]}},
        {"Field": "host-header", "HostHeaderConfig": {"Values": ["*.example.com"]}}], Actions=[
        {"Type": "redirect", "RedirectConfig": {"Protocol": "HTTPS", "Port": "443", "StatusCode": "HTTP_301"}}])["Rules"]
    assert second["Actions"][0]["RedirectConfig"] == {"Protocol": "HTTPS", "Port": "443", "Host": "#{host}",
                                                      "Path": "/#{path}", "Query": "#{query}", "StatusCode": "HTTP_301"}
    listed = client.describe_rules(ListenerArn=http["ListenerArn"])["Rules"]
    assert [(r["Priority"], r["IsDefault"]) for r in listed] == [("10", False), ("20", False), ("default", True)]
    default_rule = listed[-1]["RuleArn"]
    refused(client.delete_rule, "OperationNotPermitted", RuleArn=default_rule)
    moved = client.set_rule_priorities(RulePriorities=[{"RuleArn": rule["RuleArn"], "Priority": 20},
                                                       {"RuleArn": second["RuleArn"], "Priority": 5}])["Rules"]
    assert {r["RuleArn"]: r["Priority"] for r in moved} == {rule["RuleArn"]: "20", second["RuleArn"]: "5"}
    refused(client.set_rule_priorities, "PriorityInUse", RulePriorities=[{"RuleArn": second["RuleArn"], "Priority": 20}])
    client.modify_rule(RuleArn=second["RuleArn"], Conditions=[{"Field": "http-request-method",
                                                               "HttpRequestMethodConfig": {"Values": ["GET"]}}])
    [read] = client.describe_rules(RuleArns=[second["RuleArn"]])["Rules"]
    assert read["Conditions"] == [{"Field": "http-request-method", "HttpRequestMethodConfig": {"Values": ["GET"]}}]
    refused(client.describe_rules, "RuleNotFound", RuleArns=[second["RuleArn"][:-16] + "0123456789abcdef"])
    refused(client.delete_target_group, "ResourceInUse", TargetGroupArn=api["TargetGroupArn"])
    assert client.describe_target_groups(LoadBalancerArn=lb_arn)["TargetGroups"][0]["LoadBalancerArns"] == [lb_arn]
    assert {p["Name"] for p in client.describe_ssl_policies()["SslPolicies"]} >= {"ELBSecurityPolicy-2016-08"}
    refused(client.describe_ssl_policies, "SSLPolicyNotFound", Names=["ELBSecurityPolicy-Nope"])
    limits = {x["Name"]: x["Max"] for x in client.describe_account_limits()["Limits"]}
    assert limits["application-load-balancers"] == "50"
    # the section a host of each zone gets: one node per host, with listeners, rules and target groups
    for zone in ("home-1a", "home-1b"):
        _host(cloudlet, unique, zone)
    nodes = []  # every host of the shared cloud (other tests' hosts may win a node's placement)
    for host in agent_rpc(cloudlet, "GET", "/hosts")["hosts"]:
        nodes += [(host["host_id"], n) for n in _sections(cloudlet, host["host_id"])["loadbalancers"]["nodes"]
                  if n["load_balancer_arn"] == lb_arn]
    assert {n["subnet_id"] for _, n in nodes} == set(subnets[:2])
    host_id, node = nodes[0]
    assert (node["type"], node["scheme"], node["vpc_id"], node["prefix_len"], node["idle_timeout_seconds"]) == (
        "application", "internet-facing", vpc, 24, 60)
    by_port = {li["port"]: li for li in node["listeners"]}
    assert by_port[80]["default_actions"] == [{"type": "forward", "target_groups": [
        {"target_group_arn": web["TargetGroupArn"], "weight": 1}], "stickiness": {"enabled": False,
                                                                                   "duration_seconds": 3600}}]
    assert [r["priority"] for r in by_port[80]["rules"]] == [5, 20]
    assert by_port[80]["rules"][1]["conditions"] == [
        {"field": "path-pattern", "values": ["/api/*"]},
        {"field": "http-header", "header_name": "X-Env", "values": ["beta"]}]
    assert by_port[80]["rules"][0]["conditions"] == [{"field": "http-request-method", "values": ["GET"]}]
    assert by_port[8443]["protocol"] == "HTTPS" and "BEGIN CERTIFICATE" in by_port[8443]["certificate_pem"]
    assert "PRIVATE KEY" in by_port[8443]["private_key_pem"]
    assert by_port[8443]["default_actions"][0] == {"type": "fixed-response", "status_code": "503",
                                                   "content_type": "text/plain", "message_body": "no"}
    groups = {g["name"]: g for g in node["target_groups"]}
    assert set(groups) == {f"{unique}-web", f"{unique}-api"}
    assert groups[f"{unique}-web"]["targets"] == [{"id": "10.62.1.10", "ip": "10.62.1.10", "port": 80,
                                                   "draining": False}]
    assert groups[f"{unique}-web"]["health_check"] == {
        "enabled": True, "protocol": "HTTP", "port": "traffic-port", "path": "/", "interval_seconds": 30,
        "timeout_seconds": 5, "healthy_threshold": 5, "unhealthy_threshold": 2, "matcher": "200"}
    # target health: initial until a node reports; healthy when one does
    [initial] = client.describe_target_health(TargetGroupArn=web["TargetGroupArn"])["TargetHealthDescriptions"]
    assert initial["TargetHealth"] == {"State": "initial", "Reason": "Elb.InitialHealthChecking",
                                       "Description": "Initial health checks in progress"}
    assert _post_report(cloudlet, host_id, {"nodes": "no"})[0] == 400
    report = {"nodes": [{"load_balancer_arn": lb_arn, "interface_id": node["interface_id"], "targets": [
        {"target_group_arn": web["TargetGroupArn"], "id": "10.62.1.10", "port": 80, "state": "unhealthy",
         "reason": "Target.ResponseCodeMismatch", "description": "Health checks failed with these codes: [502]"}],
        "counters": {"requests": 3, "target_5xx": 1, "target_responses": 3,
                     "target_response_time_sum_seconds": 0.03}}]}
    assert _post_report(cloudlet, host_id, report) == (200, {"ok": True})
    [unhealthy] = client.describe_target_health(TargetGroupArn=web["TargetGroupArn"])["TargetHealthDescriptions"]
    assert unhealthy["TargetHealth"] == {"State": "unhealthy", "Reason": "Target.ResponseCodeMismatch",
                                         "Description": "Health checks failed with these codes: [502]"}
    report["nodes"][0]["targets"][0].update(state="healthy", reason=None, description=None)
    assert _post_report(cloudlet, host_id, report)[0] == 200
    _check_metrics(cloudlet, lb_arn, web["TargetGroupArn"])
    [healthy] = client.describe_target_health(TargetGroupArn=web["TargetGroupArn"])["TargetHealthDescriptions"]
    assert healthy["TargetHealth"] == {"State": "healthy"} and healthy["HealthCheckPort"] == "80"
    # deregistration: draining (listed draining in the section) for the delay
    client.deregister_targets(TargetGroupArn=web["TargetGroupArn"], Targets=[{"Id": "10.62.1.10"}])
    [draining] = client.describe_target_health(TargetGroupArn=web["TargetGroupArn"])["TargetHealthDescriptions"]
    assert draining["TargetHealth"]["State"] == "draining"
    assert draining["TargetHealth"]["Reason"] == "Target.DeregistrationInProgress"
    [again] = [n for n in _sections(cloudlet, host_id)["loadbalancers"]["nodes"] if n["load_balancer_arn"] == lb_arn]
    assert {g["name"]: g for g in again["target_groups"]}[f"{unique}-web"]["targets"][0]["draining"] is True
    # registered again, it starts over from initial: an earlier registration's health does not carry over
    client.register_targets(TargetGroupArn=web["TargetGroupArn"], Targets=[{"Id": "10.62.1.10"}])
    [fresh] = client.describe_target_health(TargetGroupArn=web["TargetGroupArn"])["TargetHealthDescriptions"]
    assert fresh["TargetHealth"]["State"] == "initial"
    # deleting the listener frees its target groups; deleting the load balancer empties the section
    client.delete_listener(ListenerArn=http["ListenerArn"])
    refused(client.delete_listener, "ListenerNotFound", ListenerArn=http["ListenerArn"])
    client.delete_target_group(TargetGroupArn=api["TargetGroupArn"])
    client.delete_load_balancer(LoadBalancerArn=lb_arn)
    assert lb_arn not in {n["load_balancer_arn"] for n in _sections(cloudlet, host_id)["loadbalancers"]["nodes"]}
