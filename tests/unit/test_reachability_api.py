"""Reachability Analyzer's API, called as functions on a real Cloud: paths, analyses, tags, errors, paging."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from botocore.waiter import NormalizedOperationMethod, Waiter, WaiterModel

from tests.unit.harness import ACCOUNT, OTHER_ACCOUNT, Clouds, VpcCloud, snapshot

#: Botocore has no waiter for analyses; this is the one a client would write (and the AWS console polls alike).
WAITERS = WaiterModel({"version": 2, "waiters": {"AnalysisSucceeded": {
    "operation": "DescribeNetworkInsightsAnalyses", "delay": 0, "maxAttempts": 5, "acceptors": [
        {"state": "success", "matcher": "pathAll", "argument": "NetworkInsightsAnalyses[].Status",
         "expected": "succeeded"},
        {"state": "failure", "matcher": "pathAny", "argument": "NetworkInsightsAnalyses[].Status",
         "expected": "failed"}]}}})


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc()


def default_subnets(cloud: VpcCloud) -> list[str]:
    return sorted(s["SubnetId"] for s in cloud.call("DescribeSubnets")["Subnets"])


def interface(cloud: VpcCloud, subnet: str, instance: str) -> str:
    return cloud.launch(subnet, instance)


def new_path(cloud: VpcCloud, source: str, destination: str | None, **extra: Any) -> dict[str, Any]:
    params = {"Source": source, "Protocol": "tcp", "ClientToken": extra.pop("ClientToken", None) or f"t-{source}"
              f"-{destination}-{sorted(extra.items())}", **extra}
    if destination:
        params["Destination"] = destination
    return cloud.call("CreateNetworkInsightsPath", params)["NetworkInsightsPath"]


def analyze(cloud: VpcCloud, path_id: str, token: str = "") -> dict[str, Any]:
    started = cloud.call("StartNetworkInsightsAnalysis", {"NetworkInsightsPathId": path_id,
                                                          "ClientToken": token or f"a-{path_id}"})
    assert started["NetworkInsightsAnalysis"]["Status"] == "running"
    analysis_id = started["NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"]
    return cloud.call("DescribeNetworkInsightsAnalyses", {"NetworkInsightsAnalysisIds": [analysis_id]})[
        "NetworkInsightsAnalyses"][0]


def test_two_instances_of_the_default_vpc_reach_each_other_through_the_default_group(cloud: VpcCloud) -> None:
    first, second = default_subnets(cloud)
    client, server = interface(cloud, first, "i-0000000000000000a"), interface(cloud, second, "i-0000000000000000b")
    path = new_path(cloud, client, server, DestinationPort=22)
    assert path["NetworkInsightsPathArn"] == f"arn:aws:ec2:home-1:{ACCOUNT}:network-insights-path/" \
        f"{path['NetworkInsightsPathId']}"
    assert path["SourceArn"].endswith(f":network-interface/{client}") and path["Protocol"] == "tcp"
    result = analyze(cloud, path["NetworkInsightsPathId"])
    assert result["Status"] == "succeeded" and result["NetworkPathFound"] is True
    groups = [c for c in result["ForwardPathComponents"] if "SecurityGroupRule" in c]
    assert groups[-1]["SecurityGroupRule"]["Direction"] == "ingress"  # the default group's rule for itself
    assert result["ReturnPathComponents"]


def test_the_internet_reaches_an_instance_once_its_group_allows_it(cloud: VpcCloud) -> None:
    """AWS's own example: igw -> instance on 22 is blocked by the security group until a rule allows it."""
    subnet = default_subnets(cloud)[0]
    server = interface(cloud, subnet, "i-0000000000000000b")
    igw = cloud.call("DescribeInternetGateways")["InternetGateways"][0]["InternetGatewayId"]
    path_id = new_path(cloud, igw, server, DestinationPort=22)["NetworkInsightsPathId"]
    blocked = analyze(cloud, path_id, "first")
    assert blocked["NetworkPathFound"] is False
    assert [e["ExplanationCode"] for e in blocked["Explanations"]] == ["ENI_SG_RULES_MISMATCH"]
    assert blocked["Explanations"][0]["Direction"] == "ingress"
    group = cloud.call("DescribeSecurityGroups")["SecurityGroups"][0]["GroupId"]
    cloud.call("AuthorizeSecurityGroupIngress", {"GroupId": group, "IpPermissions": [
        {"IpProtocol": "tcp", "FromPort": 22, "ToPort": 22, "IpRanges": [{"CidrIp": "0.0.0.0/0"}]}]})
    assert analyze(cloud, path_id, "second")["NetworkPathFound"] is True


def test_the_waiter_a_client_writes_finishes_on_its_first_poll(cloud: VpcCloud) -> None:
    first, second = default_subnets(cloud)
    path_id = new_path(cloud, interface(cloud, first, "i-0000000000000000a"),
                       interface(cloud, second, "i-0000000000000000b"))["NetworkInsightsPathId"]
    analysis_id = cloud.call("StartNetworkInsightsAnalysis", {"NetworkInsightsPathId": path_id, "ClientToken": "w"})[
        "NetworkInsightsAnalysis"]["NetworkInsightsAnalysisId"]
    polls: list[dict[str, Any]] = []

    def describe(**params: Any) -> dict[str, Any]:
        polls.append(params)
        return cloud.call("DescribeNetworkInsightsAnalyses", params)

    waiter = Waiter("AnalysisSucceeded", WAITERS.get_waiter("AnalysisSucceeded"), NormalizedOperationMethod(describe))
    waiter.wait(NetworkInsightsAnalysisIds=[analysis_id])
    assert len(polls) == 1


def test_filter_in_arns_requires_the_path_to_traverse_them(cloud: VpcCloud) -> None:
    first, second = default_subnets(cloud)
    path_id = new_path(cloud, interface(cloud, first, "i-0000000000000000a"),
                       interface(cloud, second, "i-0000000000000000b"))["NetworkInsightsPathId"]
    nat = f"arn:aws:ec2:home-1:{ACCOUNT}:natgateway/nat-0123456789abcdef0"
    started = cloud.call("StartNetworkInsightsAnalysis", {"NetworkInsightsPathId": path_id, "ClientToken": "f",
                                                          "FilterInArns": [nat]})["NetworkInsightsAnalysis"]
    result = cloud.call("DescribeNetworkInsightsAnalyses", {
        "NetworkInsightsAnalysisIds": [started["NetworkInsightsAnalysisId"]]})["NetworkInsightsAnalyses"][0]
    assert result["NetworkPathFound"] is False and result["FilterInArns"] == [nat]
    assert [e["ExplanationCode"] for e in result["Explanations"]] == ["COMPONENT_FILTER_RESTRICTION"]


def test_client_tokens_make_creation_idempotent(cloud: VpcCloud) -> None:
    subnet = default_subnets(cloud)[0]
    eni = interface(cloud, subnet, "i-0000000000000000a")
    params = {"Source": eni, "DestinationIp": "10.9.9.9", "Protocol": "TCP", "ClientToken": "same"}
    first = cloud.call("CreateNetworkInsightsPath", params)["NetworkInsightsPath"]
    assert cloud.call("CreateNetworkInsightsPath", params)["NetworkInsightsPath"] == first
    cloud.refused("CreateNetworkInsightsPath", {**params, "DestinationIp": "10.9.9.8"}, "IdempotentParameterMismatch")
    start = {"NetworkInsightsPathId": first["NetworkInsightsPathId"], "ClientToken": "once"}
    analysis = cloud.call("StartNetworkInsightsAnalysis", start)["NetworkInsightsAnalysis"]
    again = cloud.call("StartNetworkInsightsAnalysis", start)["NetworkInsightsAnalysis"]
    assert again["NetworkInsightsAnalysisId"] == analysis["NetworkInsightsAnalysisId"]
    assert len(cloud.call("DescribeNetworkInsightsAnalyses")["NetworkInsightsAnalyses"]) == 1


@pytest.mark.parametrize(("params", "code"), [
    ({"Source": "igw-0123456789abcdef0", "Destination": "eni-0123456789abcdef0", "Protocol": "tcp"},
     "InvalidInternetGatewayID.NotFound"),
    ({"Source": "sg-0123456789abcdef0", "Destination": "eni-0123456789abcdef0", "Protocol": "tcp"},
     "InvalidParameterValue"),
    ({"Source": "eni-nothex", "DestinationIp": "10.0.0.1", "Protocol": "tcp"}, "InvalidNetworkInterfaceId.Malformed"),
    ({"Source": "arn:aws:ec2:home-1:222222222222:instance/i-0123456789abcdef0", "DestinationIp": "10.0.0.1",
      "Protocol": "tcp"}, "InvalidParameterValue"),
    ({"Source": "eni-0123456789abcdef0", "Protocol": "tcp"}, "MissingParameter"),
    ({"Source": "eni-0123456789abcdef0", "DestinationIp": "10.0.0.300", "Protocol": "tcp"}, "InvalidParameterValue"),
    ({"Source": "eni-0123456789abcdef0", "DestinationIp": "10.0.0.1", "Protocol": "icmp"}, "InvalidParameterValue"),
    ({"Source": "eni-0123456789abcdef0", "DestinationIp": "10.0.0.1", "Protocol": "tcp", "DestinationPort": 70000},
     "InvalidParameterValue"),
    ({"Source": "eni-0123456789abcdef0", "DestinationIp": "10.0.0.1", "Protocol": "tcp", "DestinationPort": 80,
      "FilterAtSource": {"SourceAddress": "10.0.0.2"}}, "InvalidParameterCombination"),
    ({"Source": "eni-0123456789abcdef0", "Destination": "eni-0123456789abcdef1", "DestinationIp": "10.0.0.1",
      "Protocol": "tcp", "FilterAtDestination": {"DestinationAddress": "10.0.0.2"}}, "InvalidParameterCombination"),
])
def test_bad_paths_are_refused_and_change_nothing(cloud: VpcCloud, params: dict[str, Any], code: str) -> None:
    before = snapshot(cloud)
    cloud.refused("CreateNetworkInsightsPath", {**params, "ClientToken": "x"}, code)
    assert snapshot(cloud) == before
    assert cloud.call("DescribeNetworkInsightsPaths")["NetworkInsightsPaths"] == []


def test_unknown_ids_get_the_documented_errors(cloud: VpcCloud) -> None:
    missing_path, missing_analysis = "nip-0123456789abcdef0", "nia-0123456789abcdef0"
    cloud.refused("StartNetworkInsightsAnalysis", {"NetworkInsightsPathId": missing_path, "ClientToken": "x"},
                  "InvalidNetworkInsightsPathId.NotFound")
    cloud.refused("DeleteNetworkInsightsPath", {"NetworkInsightsPathId": missing_path},
                  "InvalidNetworkInsightsPathId.NotFound")
    cloud.refused("DescribeNetworkInsightsPaths", {"NetworkInsightsPathIds": [missing_path]},
                  "InvalidNetworkInsightsPathId.NotFound")
    cloud.refused("DescribeNetworkInsightsPaths", {"NetworkInsightsPathIds": ["nip-x"]},
                  "InvalidNetworkInsightsPathId.Malformed")
    cloud.refused("DeleteNetworkInsightsAnalysis", {"NetworkInsightsAnalysisId": missing_analysis},
                  "InvalidNetworkInsightsAnalysisId.NotFound")
    cloud.refused("DescribeNetworkInsightsAnalyses", {"NetworkInsightsAnalysisIds": [missing_analysis]},
                  "InvalidNetworkInsightsAnalysisId.NotFound")
    cloud.refused("StartNetworkInsightsAnalysis", {"NetworkInsightsPathId": missing_path, "ClientToken": "x",
                                                   "FilterOutArns": ["arn:aws:ec2:home-1:1:vpc/vpc-1"]},
                  "UnsupportedOperation")


def test_a_path_with_analyses_cannot_be_deleted_until_they_are(cloud: VpcCloud) -> None:
    eni = interface(cloud, default_subnets(cloud)[0], "i-0000000000000000a")
    path_id = new_path(cloud, eni, None, DestinationIp="172.31.99.9")["NetworkInsightsPathId"]
    analysis_id = analyze(cloud, path_id)["NetworkInsightsAnalysisId"]
    error = cloud.refused("DeleteNetworkInsightsPath", {"NetworkInsightsPathId": path_id},
                          "AnalysisExistsForNetworkInsightsPath")
    assert analysis_id in error.message
    assert cloud.call("DeleteNetworkInsightsAnalysis", {"NetworkInsightsAnalysisId": analysis_id}) == {
        "NetworkInsightsAnalysisId": analysis_id}
    assert cloud.call("DeleteNetworkInsightsPath", {"NetworkInsightsPathId": path_id}) == {
        "NetworkInsightsPathId": path_id}
    assert cloud.call("DescribeNetworkInsightsPaths")["NetworkInsightsPaths"] == []


def test_tags_filters_and_pages(cloud: VpcCloud) -> None:
    first, second = default_subnets(cloud)
    client, server = interface(cloud, first, "i-0000000000000000a"), interface(cloud, second, "i-0000000000000000b")
    tagged = cloud.call("CreateNetworkInsightsPath", {
        "Source": client, "Destination": server, "Protocol": "udp", "ClientToken": "tagged",
        "FilterAtDestination": {"DestinationPortRange": {"FromPort": 53, "ToPort": 53}},
        "TagSpecifications": [{"ResourceType": "network-insights-path", "Tags": [{"Key": "team", "Value": "net"}]}],
    })["NetworkInsightsPath"]
    assert tagged["Tags"] == [{"Key": "team", "Value": "net"}]
    others = [new_path(cloud, client, None, DestinationIp=f"172.31.50.{n}")["NetworkInsightsPathId"] for n in range(3)]
    path_id = tagged["NetworkInsightsPathId"]

    def paths(**params: Any) -> list[str]:
        return [p["NetworkInsightsPathId"] for p in cloud.call("DescribeNetworkInsightsPaths", params)[
            "NetworkInsightsPaths"]]

    assert paths(Filters=[{"Name": "protocol", "Values": ["udp"]}]) == [path_id]
    assert paths(Filters=[{"Name": "destination", "Values": [server]}]) == [path_id]
    assert paths(Filters=[{"Name": "filter-at-destination.destination-port-range", "Values": ["53-53"]}]) == [path_id]
    assert paths(Filters=[{"Name": "tag:team", "Values": ["net"]}]) == [path_id]
    assert sorted(paths(Filters=[{"Name": "source", "Values": [client]}])) == sorted([path_id, *others])
    cloud.refused("DescribeNetworkInsightsPaths", {"Filters": [{"Name": "nope", "Values": ["x"]}]},
                  "InvalidParameterValue")
    page = cloud.call("DescribeNetworkInsightsPaths", {"MaxResults": 3})
    rest = cloud.call("DescribeNetworkInsightsPaths", {"MaxResults": 3, "NextToken": page["NextToken"]})
    assert len(page["NetworkInsightsPaths"]) == 3 and "NextToken" not in rest
    assert len({p["NetworkInsightsPathId"] for p in page["NetworkInsightsPaths"] + rest["NetworkInsightsPaths"]}) == 4
    cloud.refused("DescribeNetworkInsightsPaths", {"MaxResults": 0}, "InvalidParameterValue")

    cloud.call("CreateTags", {"Resources": [path_id], "Tags": [{"Key": "env", "Value": "lab"}]})
    described = cloud.call("DescribeTags", {"Filters": [{"Name": "resource-id", "Values": [path_id]}]})["Tags"]
    assert {(t["Key"], t["ResourceType"]) for t in described} == {("team", "network-insights-path"),
                                                                  ("env", "network-insights-path")}
    cloud.call("DeleteTags", {"Resources": [path_id], "Tags": [{"Key": "team"}]})
    found = analyze(cloud, path_id)
    blocked = analyze(cloud, others[0])
    analysis_id = found["NetworkInsightsAnalysisId"]
    cloud.call("CreateTags", {"Resources": [analysis_id], "Tags": [{"Key": "k", "Value": "v"}]})

    def analyses(**params: Any) -> list[str]:
        return [a["NetworkInsightsAnalysisId"] for a in cloud.call("DescribeNetworkInsightsAnalyses", params)[
            "NetworkInsightsAnalyses"]]

    assert analyses(Filters=[{"Name": "path-found", "Values": ["false"]}]) == [blocked["NetworkInsightsAnalysisId"]]
    assert analyses(Filters=[{"Name": "status", "Values": ["succeeded"]}, {"Name": "tag:k", "Values": ["v"]}]) == [
        analysis_id]
    assert analyses(NetworkInsightsPathId=path_id) == [analysis_id]
    later = dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    assert analyses(AnalysisStartTime=later) == []
    assert len(analyses(AnalysisEndTime=later)) == 2
    cloud.refused("CreateTags", {"Resources": [path_id], "Tags": [{"Key": "k", "Value": "v"}]},
                  "InvalidNetworkInsightsPathId.NotFound", account=OTHER_ACCOUNT)
    assert cloud.call("DescribeNetworkInsightsPaths", account=OTHER_ACCOUNT)["NetworkInsightsPaths"] == []
