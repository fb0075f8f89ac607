"""EC2 filter matching as AWS does it, and DescribeAccountAttributes, in process.

Wildcards follow "Filter" in the EC2 API Reference (API_Filter.html): ``*`` any run, ``?`` one character,
a backslash escapes either; values compare case-sensitively, booleans as ``true``/``false``.
"""

from __future__ import annotations

import datetime as dt
import sqlite3

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controller.ec2.filters import apply_filters, pattern, sql_glob, text
from controller.errors import ServiceError
from tests.unit.harness import OTHER_ACCOUNT, Clouds, VpcCloud

ROWS = [
    {"Id": "a", "Cidr": "10.0.0.0/16", "Default": True, "Count": 251, "Parts": ["x", "y"],
     "Tags": [{"Key": "Name", "Value": "web*1"}, {"Key": "env", "Value": "prod"}]},
    {"Id": "b", "Cidr": "10.1.0.0/16", "Default": False, "Count": 12, "Parts": [], "Tags": []},
]
FIELDS = {"id": "Id", "cidr": "Cidr", "is-default": "Default", "count": "Count", "part": "Parts[]"}


def ids(filters: list[dict]) -> list[str]:
    return [row["Id"] for row in apply_filters(ROWS, filters, FIELDS)]


def test_values_or_names_and() -> None:
    assert ids([{"Name": "cidr", "Values": ["10.1.0.0/16", "10.0.0.0/16"]}]) == ["a", "b"]
    assert ids([{"Name": "cidr", "Values": ["10.*"]}, {"Name": "is-default", "Values": ["false"]}]) == ["b"]
    assert ids([{"Name": "part", "Values": ["y"]}]) == ["a"]


def test_wildcards_escapes_and_case() -> None:
    assert ids([{"Name": "cidr", "Values": ["10.?.0.0/16"]}]) == ["a", "b"]
    assert ids([{"Name": "cidr", "Values": ["10.0.0.0/1?"]}]) == ["a"]
    assert ids([{"Name": "tag:Name", "Values": ["web\\*1"]}]) == ["a"]
    assert ids([{"Name": "tag:Name", "Values": ["web\\*2"]}]) == []
    assert ids([{"Name": "tag:Name", "Values": ["WEB*"]}]) == []
    assert ids([{"Name": "cidr", "Values": ["10.[01].0.0/16"]}]) == []  # no character classes in EC2


def test_booleans_and_numbers_compare_as_aws_writes_them() -> None:
    assert ids([{"Name": "is-default", "Values": ["true"]}]) == ["a"]
    assert ids([{"Name": "is-default", "Values": ["True"]}]) == []
    assert ids([{"Name": "count", "Values": ["12"]}]) == ["b"]
    assert ids([{"Name": "count", "Values": ["2*"]}]) == ["a"]


def test_times_compare_in_iso_8601_with_milliseconds() -> None:
    moment = dt.datetime(2021, 9, 29, 11, 4, 43, 305000, tzinfo=dt.UTC)
    assert text(moment) == "2021-09-29T11:04:43.305Z"
    assert text(moment.replace(tzinfo=None)) == "2021-09-29T11:04:43.305Z"
    assert pattern("2021-09-29T*").fullmatch(text(moment))


def test_tag_filters() -> None:
    assert ids([{"Name": "tag-key", "Values": ["env"]}]) == ["a"]
    assert ids([{"Name": "tag-value", "Values": ["prod"]}]) == ["a"]
    assert ids([{"Name": "tag:env", "Values": ["*"]}]) == ["a"]
    rows = [{"Id": "c", "TagSet": [{"Key": "k", "Value": "v"}]}]
    assert apply_filters(rows, [{"Name": "tag:k", "Values": ["v"]}], {}, tags_key="TagSet") == rows
    assert apply_filters(rows, [{"Name": "tag:k", "Values": ["v"]}], {},
                         tags_key=lambda row: [{"Key": "k", "Value": "other"}]) == []


def test_an_undocumented_name_is_refused_as_aws_does() -> None:
    with pytest.raises(ServiceError) as excinfo:
        ids([{"Name": "cidr-blocks", "Values": ["x"]}])
    assert excinfo.value.code == "InvalidParameterValue"
    assert excinfo.value.message == "The filter 'cidr-blocks' is invalid"


def test_a_member_the_row_lacks_matches_nothing() -> None:
    assert apply_filters([{"Id": "a"}], [{"Name": "owner", "Values": ["*"]}], {"owner": "Owner.Id"}) == []


@settings(max_examples=300, deadline=None)
@given(value=st.text(alphabet="ab*?\\[]", max_size=6), subject=st.text(alphabet="ab*?\\[]", max_size=6))
def test_sql_and_python_agree_on_every_value(value: str, subject: str) -> None:
    """DescribeInstances answers some filters in SQL: SQLite's GLOB must match exactly what the pattern does."""
    glob, exact = sql_glob(value)
    with sqlite3.connect(":memory:") as db:
        in_sql = db.execute("SELECT ? = ?" if exact is not None else "SELECT ? GLOB ?",
                            (subject, exact if exact is not None else glob)).fetchone()[0] == 1
    assert in_sql == bool(pattern(value).fullmatch(subject))


# --- DescribeAccountAttributes (API_DescribeAccountAttributes.html) ------------------------------------------------


@pytest.fixture
def cloud(clouds: Clouds) -> VpcCloud:
    return clouds.vpc()


def attributes(cloud: VpcCloud, *names: str, account: str = "111111111111") -> dict[str, list[str]]:
    params = {"AttributeNames": list(names)} if names else {}
    answer = cloud.call("DescribeAccountAttributes", params, account=account)["AccountAttributes"]
    return {a["AttributeName"]: [v["AttributeValue"] for v in a["AttributeValues"]] for a in answer}


def test_every_documented_attribute_with_this_clouds_values(cloud: VpcCloud) -> None:
    default_vpc = cloud.call("DescribeVpcs", {"Filters": [{"Name": "is-default", "Values": ["true"]}]})["Vpcs"]
    assert attributes(cloud) == {
        "supported-platforms": ["VPC"], "default-vpc": [default_vpc[0]["VpcId"]],
        "max-instances": ["20"], "max-elastic-ips": [str(cloud.config.elastic_ips_per_account)],
        "vpc-max-elastic-ips": [str(cloud.config.elastic_ips_per_account)],
        "vpc-max-security-groups-per-interface": [str(cloud.config.security_groups_per_interface)]}


def test_limits_follow_the_configuration_the_cloud_enforces(clouds: Clouds) -> None:
    cloud = clouds.vpc(elastic_ips_per_account=2, security_groups_per_interface=3)
    assert attributes(cloud, "vpc-max-elastic-ips", "vpc-max-security-groups-per-interface") == {
        "vpc-max-elastic-ips": ["2"], "vpc-max-security-groups-per-interface": ["3"]}
    for _ in range(2):
        cloud.call("AllocateAddress", {"Domain": "vpc"})
    cloud.refused("AllocateAddress", {"Domain": "vpc"}, "AddressLimitExceeded")


def test_named_attributes_in_the_order_asked_and_default_vpc_none(cloud: VpcCloud) -> None:
    vpc_id = attributes(cloud, "default-vpc", account=OTHER_ACCOUNT)["default-vpc"][0]
    answer = cloud.call("DescribeAccountAttributes", {"AttributeNames": ["default-vpc", "supported-platforms"]},
                        account=OTHER_ACCOUNT)["AccountAttributes"]
    assert [a["AttributeName"] for a in answer] == ["default-vpc", "supported-platforms"]
    for subnet in cloud.call("DescribeSubnets", {"Filters": [{"Name": "vpc-id", "Values": [vpc_id]}]},
                             account=OTHER_ACCOUNT)["Subnets"]:
        cloud.call("DeleteSubnet", {"SubnetId": subnet["SubnetId"]}, account=OTHER_ACCOUNT)
    for gateway in cloud.call("DescribeInternetGateways", {"Filters": [{"Name": "attachment.vpc-id",
                                                                        "Values": [vpc_id]}]},
                              account=OTHER_ACCOUNT)["InternetGateways"]:
        cloud.call("DetachInternetGateway", {"InternetGatewayId": gateway["InternetGatewayId"], "VpcId": vpc_id},
                   account=OTHER_ACCOUNT)
        cloud.call("DeleteInternetGateway", {"InternetGatewayId": gateway["InternetGatewayId"]},
                   account=OTHER_ACCOUNT)
    cloud.call("DeleteVpc", {"VpcId": vpc_id}, account=OTHER_ACCOUNT)
    assert attributes(cloud, "default-vpc", account=OTHER_ACCOUNT) == {"default-vpc": ["none"]}


def test_an_unknown_attribute_is_refused(cloud: VpcCloud) -> None:
    error = cloud.refused("DescribeAccountAttributes", {"AttributeNames": ["default-vpc", "max-vpcs"]},
                          "InvalidParameterValue")
    assert "max-vpcs" in error.message


@pytest.mark.parametrize(("operation", "lookup"), [
    ("DescribeVpcs", {"VpcIds": ["vpc-0123456789abcdef0"]}),
    ("DescribeAddresses", {"PublicIps": ["198.51.100.250"]}),
    ("DescribeKeyPairs", {"KeyNames": ["no-such-key"]}),
    ("DescribePlacementGroups", {"GroupNames": ["no-such-group"]}),
    ("DescribeInstanceTypes", {"InstanceTypes": ["m9.huge"]}),
    ("DescribeRegions", {"RegionNames": ["mars-1"]}),
    ("DescribeAvailabilityZones", {"ZoneNames": ["mars-1a"]}),
    ("DescribeInstances", {"InstanceIds": ["i-0123456789abcdef0"]}),
    ("DescribeInstanceStatus", {"InstanceIds": ["i-0123456789abcdef0"]}),
])
def test_a_bad_filter_name_is_refused_before_anything_is_looked_up(cloud: VpcCloud, operation: str,
                                                                   lookup: dict) -> None:
    """Malformed input comes first: the filter name is refused even when the ids named do not exist."""
    error = cloud.refused(operation, {**lookup, "Filters": [{"Name": "no-such-filter", "Values": ["x"]}]},
                          "InvalidParameterValue")
    assert error.message == "The filter 'no-such-filter' is invalid"


def test_tag_filters_only_where_the_resource_has_tags(cloud: VpcCloud) -> None:
    """DescribeInstanceStatus lists no tag filter and EC2 refuses one ("The filter 'tag:Name' is invalid",
    aws/aws-cli#7225); a filter without a name is 'null' to EC2 (aws/aws-sdk-js-v3#6063)."""
    error = cloud.refused("DescribeInstanceStatus", {"Filters": [{"Name": "tag:Name", "Values": ["x"]}]},
                          "InvalidParameterValue")
    assert error.message == "The filter 'tag:Name' is invalid"
    cloud.refused("DescribeAvailabilityZones", {"Filters": [{"Name": "tag-key", "Values": ["x"]}]},
                  "InvalidParameterValue")
    assert cloud.call("DescribeVpcs", {"Filters": [{"Name": "tag-key", "Values": ["x"]}]})["Vpcs"] == []
    error = cloud.refused("DescribeVpcs", {"Filters": [{"Values": ["x"]}]}, "InvalidParameterValue")
    assert error.message == "The filter 'null' is invalid"


def test_a_filter_without_values_matches_nothing(cloud: VpcCloud) -> None:
    assert cloud.call("DescribeVpcs")["Vpcs"]
    assert cloud.call("DescribeVpcs", {"Filters": [{"Name": "vpc-id", "Values": []}]})["Vpcs"] == []
