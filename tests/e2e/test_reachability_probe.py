"""Reachability Analyzer's verdicts confirmed by real probes through the dataplane, both ways.

One ``cloudlet up`` with its agent (a name prefix of its own). boto3 makes a VPC with an ``apps`` and a
``data`` subnet; the database interface's group opens 80 and 8080 to the client's group, and the data
subnet's network ACL denies 8080 inbound. A neighbour in the client's own subnet has the database's group.
All three interfaces are plugged into namespace instances with ``cloudlet netns attach`` on this host, so
the agent probes every analysis (routed to the database, on-link to the neighbour): the allowed paths'
packets arrive, those closed by the group (23) or the ACL (8080) see nothing, and each analysis says so in
its ``WarningMessage``. Nothing leaves the VPC's namespaces (10.82.0.0/16 only).
"""

from __future__ import annotations

import sys
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from agent.network import naming, netns
from tests.e2e.dataplane_helpers import wait_until
from tests.e2e.namespace_lab import NamespaceLab, running
from tests.prerequisites import missing_root, missing_tools, require
from tests.support import CloudletProcess

require(missing_root() + missing_tools("nft", "dnsmasq", "nsenter", "bridge"), "Reachability probe tests")
pytestmark = pytest.mark.root

RUN = uuid.uuid4().hex[:6]
PREFIX = f"cl-{RUN}-"
VPC_CIDR, APPS_CIDR, DATA_CIDR = "10.82.0.0/16", "10.82.1.0/24", "10.82.2.0/24"
CLIENT_IP, NEIGHBOUR_IP, DATABASE_IP = "10.82.1.10", "10.82.1.20", "10.82.2.10"


@dataclass
class Lab(NamespaceLab):
    #: Interfaces by name: the ``database`` in the data subnet, its ``neighbour`` (same group) beside the client.
    targets: dict[str, str] = field(default_factory=dict)


def build(t: Lab) -> None:
    """The VPC through boto3 (the AWS CLI's own path is covered by test_reachability.py; each of its calls costs
    a second of start-up here), then the three namespace instances."""
    ec2 = t.cloudlet.client("ec2")
    t.vpc_id = ec2.create_vpc(CidrBlock=VPC_CIDR)["Vpc"]["VpcId"]
    apps, data = (ec2.create_subnet(VpcId=t.vpc_id, CidrBlock=block, AvailabilityZone="home-1a")["Subnet"][
        "SubnetId"] for block in (APPS_CIDR, DATA_CIDR))
    clients = ec2.create_security_group(GroupName=f"{RUN}-clients", Description="clients", VpcId=t.vpc_id)["GroupId"]
    database = ec2.create_security_group(GroupName=f"{RUN}-db", Description="db", VpcId=t.vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=database, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": port, "ToPort": port, "UserIdGroupPairs": [{"GroupId": clients}]}
        for port in (80, 8080)])
    acl = ec2.create_network_acl(VpcId=t.vpc_id)["NetworkAcl"]["NetworkAclId"]
    ec2.create_network_acl_entry(NetworkAclId=acl, Egress=False, RuleNumber=90, Protocol="6", PortRange={
        "From": 8080, "To": 8080}, CidrBlock="0.0.0.0/0", RuleAction="deny")
    for egress in (False, True):
        ec2.create_network_acl_entry(NetworkAclId=acl, Egress=egress, RuleNumber=100, Protocol="-1",
                                     CidrBlock="0.0.0.0/0", RuleAction="allow")
    associations = ec2.describe_network_acls(Filters=[{"Name": "association.subnet-id", "Values": [data]}])[
        "NetworkAcls"][0]["Associations"]
    association = next(a["NetworkAclAssociationId"] for a in associations if a["SubnetId"] == data)
    ec2.replace_network_acl_association(AssociationId=association, NetworkAclId=acl)
    t.eni = ec2.create_network_interface(SubnetId=apps, Groups=[clients], PrivateIpAddress=CLIENT_IP)[
        "NetworkInterface"]["NetworkInterfaceId"]
    t.plug_instance("client", CLIENT_IP)
    for name, subnet, address in (("database", data, DATABASE_IP), ("neighbour", apps, NEIGHBOUR_IP)):
        t.targets[name] = ec2.create_network_interface(SubnetId=subnet, Groups=[database], PrivateIpAddress=address)[
            "NetworkInterface"]["NetworkInterfaceId"]
        t.plug(t.targets[name], name[:5], address)


@pytest.fixture(scope="module")
def probe_lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lab]:
    data_dir = tmp_path_factory.mktemp("reach-probe") / "data"
    cloud = CloudletProcess(data_dir, agent=True, extra_env={"CLOUDLET_AGENT_NAME_PREFIX": PREFIX})
    with running(Lab(cloud, PREFIX), build) as t:
        yield t


def analyze(t: Lab, target: str, port: int) -> dict[str, Any]:
    """A path from the client to ``target`` on TCP ``port``, analysed; the analysis once it settled."""
    ec2 = t.cloudlet.client("ec2")
    path = ec2.create_network_insights_path(Source=t.eni, Destination=t.targets[target], Protocol="tcp",
                                            DestinationPort=port)["NetworkInsightsPath"]["NetworkInsightsPathId"]
    t.cleanup.append(lambda: ec2.delete_network_insights_path(NetworkInsightsPathId=path))
    started = ec2.start_network_insights_analysis(NetworkInsightsPathId=path)["NetworkInsightsAnalysis"]
    analysis_id = started["NetworkInsightsAnalysisId"]
    t.cleanup.append(lambda: ec2.delete_network_insights_analysis(NetworkInsightsAnalysisId=analysis_id))
    assert started["Status"] == "running"
    found: dict[str, Any] = {}

    def settled() -> bool:
        found.update(ec2.describe_network_insights_analyses(NetworkInsightsAnalysisIds=[analysis_id])[
            "NetworkInsightsAnalyses"][0])
        return found["Status"] == "succeeded"

    wait_until(settled, 10, "the analysis to settle", interval=0.1)
    return found


@pytest.mark.parametrize("target", ["database", "neighbour"])
def test_an_allowed_path_is_confirmed_by_a_probe_that_arrives(probe_lab: Lab, target: str) -> None:
    started = time.monotonic()
    found = analyze(probe_lab, target, 80)
    assert found["NetworkPathFound"] is True
    assert found["WarningMessage"].startswith("A dataplane probe arrived at the destination"), found
    assert "confirms" in found["WarningMessage"]
    print(f"settled in {time.monotonic() - started:.2f} s", file=sys.stderr)
    router = naming.router_netns(PREFIX, probe_lab.vpc_id)
    names = [line.split(": ")[1].split("@")[0] for line in netns.command(router, ["ip", "-o", "link"]).splitlines()]
    assert not [name for name in names if name.startswith("q")], "the probe's transient port is gone"


@pytest.mark.parametrize(("target", "port", "code"), [("database", 23, "ENI_SG_RULES_MISMATCH"),
                                                      ("database", 8080, "SUBNET_ACL_RESTRICTION"),
                                                      ("neighbour", 23, "ENI_SG_RULES_MISMATCH")])
def test_a_blocked_path_is_confirmed_by_a_probe_that_does_not_arrive(probe_lab: Lab, target: str, port: int,
                                                                     code: str) -> None:
    found = analyze(probe_lab, target, port)
    assert found["NetworkPathFound"] is False
    assert code in [e["ExplanationCode"] for e in found["Explanations"]]
    assert found["WarningMessage"].startswith("A dataplane probe did not reach the destination"), found
    assert "confirms" in found["WarningMessage"]
