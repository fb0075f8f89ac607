"""Reachability Analyzer against a real ``cloudlet up``: boto3 with a botocore waiter, and the stock AWS CLI."""

from __future__ import annotations

import json
from typing import Any

from botocore.waiter import WaiterModel, create_waiter_with_client

from tests.support import CloudletProcess

#: Botocore ships no waiter for analyses; this is the one clients write (status succeeded, or failed).
WAITERS = WaiterModel({"version": 2, "waiters": {"AnalysisSucceeded": {
    "operation": "DescribeNetworkInsightsAnalyses", "delay": 1, "maxAttempts": 30, "acceptors": [
        {"state": "success", "matcher": "pathAll", "argument": "NetworkInsightsAnalyses[].Status",
         "expected": "succeeded"},
        {"state": "failure", "matcher": "pathAny", "argument": "NetworkInsightsAnalyses[].Status",
         "expected": "failed"}]}}})


def test_a_database_reachable_from_its_clients_only_on_its_port(ec2: Any, cloudlet: CloudletProcess, unique: str,
                                                                vpc_cleanup: list[str]) -> None:
    vpc_id = ec2.create_vpc(CidrBlock="10.41.0.0/16")["Vpc"]["VpcId"]
    vpc_cleanup.append(vpc_id)
    apps = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.41.1.0/24", AvailabilityZone="home-1a")["Subnet"]["SubnetId"]
    data = ec2.create_subnet(VpcId=vpc_id, CidrBlock="10.41.2.0/24", AvailabilityZone="home-1a")["Subnet"]["SubnetId"]
    clients = ec2.create_security_group(GroupName=f"{unique}-clients", Description="apps", VpcId=vpc_id)["GroupId"]
    database = ec2.create_security_group(GroupName=f"{unique}-db", Description="db", VpcId=vpc_id)["GroupId"]
    ec2.authorize_security_group_ingress(GroupId=database, IpPermissions=[
        {"IpProtocol": "tcp", "FromPort": 5432, "ToPort": 5432, "UserIdGroupPairs": [{"GroupId": clients}]}])
    app = ec2.create_network_interface(SubnetId=apps, Groups=[clients])["NetworkInterface"]["NetworkInterfaceId"]
    db = ec2.create_network_interface(SubnetId=data, Groups=[database])["NetworkInterface"]["NetworkInterfaceId"]
    paths, analyses = [], []
    try:
        path = ec2.create_network_insights_path(
            Source=app, Destination=db, Protocol="tcp", DestinationPort=5432,
            TagSpecifications=[{"ResourceType": "network-insights-path", "Tags": [{"Key": "Name", "Value": unique}]}],
        )["NetworkInsightsPath"]
        paths.append(path["NetworkInsightsPathId"])
        started = ec2.start_network_insights_analysis(NetworkInsightsPathId=path["NetworkInsightsPathId"])[
            "NetworkInsightsAnalysis"]
        analyses.append(started["NetworkInsightsAnalysisId"])
        assert started["Status"] == "running"
        create_waiter_with_client("AnalysisSucceeded", WAITERS, ec2).wait(
            NetworkInsightsAnalysisIds=[started["NetworkInsightsAnalysisId"]])
        found = ec2.describe_network_insights_analyses(NetworkInsightsAnalysisIds=[
            started["NetworkInsightsAnalysisId"]])["NetworkInsightsAnalyses"][0]
        assert found["NetworkPathFound"] is True
        assert found["ForwardPathComponents"][-1]["Component"]["Id"] == db

        ssh = json.loads(cloudlet.aws("ec2", "create-network-insights-path", "--source", app, "--destination", db,
                                      "--protocol", "TCP", "--destination-port", "22", "--output", "json").stdout)
        paths.append(ssh["NetworkInsightsPath"]["NetworkInsightsPathId"])
        ssh_started = json.loads(cloudlet.aws("ec2", "start-network-insights-analysis", "--network-insights-path-id",
                                              paths[-1], "--output", "json").stdout)["NetworkInsightsAnalysis"]
        analyses.append(ssh_started["NetworkInsightsAnalysisId"])
        listed = json.loads(cloudlet.aws("ec2", "describe-network-insights-analyses", "--network-insights-path-id",
                                         paths[-1], "--output", "json").stdout)["NetworkInsightsAnalyses"]
        assert [a["NetworkPathFound"] for a in listed] == [False]
        assert [e["ExplanationCode"] for e in listed[0]["Explanations"]] == ["ENI_SG_RULES_MISMATCH"]
        refused = cloudlet.aws("ec2", "delete-network-insights-path", "--network-insights-path-id", paths[-1],
                               check=False)
        assert "(AnalysisExistsForNetworkInsightsPath)" in refused.stderr
    finally:
        for analysis_id in analyses:
            ec2.delete_network_insights_analysis(NetworkInsightsAnalysisId=analysis_id)
        for path_id in paths:
            ec2.delete_network_insights_path(NetworkInsightsPathId=path_id)
