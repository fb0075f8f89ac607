"""controller/service_calls.py: a service's call to another goes through the gateway, IAM and the audit trail,
and answers with the callee's own output or error, whatever protocol the callee speaks."""

from __future__ import annotations

import pytest

from controller.service_calls import ServiceCallError, call
from tests.unit.harness import Clouds, root


def test_calls_query_json_and_ec2_services_and_reads_their_answers(clouds: Clouds) -> None:
    harness = clouds.instances()
    cloud, principal = harness.cloud, root(harness.account)
    vpc = call(cloud, principal, "ec2", "CreateVpc", {"CidrBlock": "10.9.0.0/16"}, invoked_by="autoscaling.amazonaws.com")
    assert vpc["Vpc"]["CidrBlock"] == "10.9.0.0/16"
    found = call(cloud, principal, "ec2", "DescribeVpcs", {"VpcIds": [vpc["Vpc"]["VpcId"]]},
                 invoked_by="autoscaling.amazonaws.com")
    assert [v["VpcId"] for v in found["Vpcs"]] == [vpc["Vpc"]["VpcId"]]
    queue = call(cloud, principal, "sqs", "CreateQueue", {"QueueName": "calls"}, invoked_by="monitoring.amazonaws.com")
    assert queue["QueueUrl"].endswith("/calls")
    topic = call(cloud, principal, "sns", "CreateTopic", {"Name": "calls"}, invoked_by="monitoring.amazonaws.com")
    assert topic["TopicArn"].endswith(":calls")


def test_the_callee_error_arrives_with_its_code_and_status(clouds: Clouds) -> None:
    harness = clouds.instances()
    with pytest.raises(ServiceCallError) as raised:
        call(harness.cloud, root(harness.account), "ec2", "DescribeVpcs", {"VpcIds": ["vpc-0123456789abcdef0"]},
             invoked_by="autoscaling.amazonaws.com")
    assert (raised.value.code, raised.value.status) == ("InvalidVpcID.NotFound", 400)


def test_s3_subresources_and_integer_query_members_reach_their_operation(clouds: Clouds) -> None:
    """S3's serializer puts the subresource in the path (``?versioning``) and leaves ``max-keys`` an integer."""
    harness = clouds.instances()
    cloud, principal = harness.cloud, root(harness.account)

    def s3(operation: str, params: dict[str, object]) -> dict[str, object]:
        return call(cloud, principal, "s3", operation, params, invoked_by="console")

    s3("CreateBucket", {"Bucket": "calls-bucket"})
    s3("PutBucketVersioning", {"Bucket": "calls-bucket", "VersioningConfiguration": {"Status": "Enabled"}})
    assert s3("GetBucketVersioning", {"Bucket": "calls-bucket"})["Status"] == "Enabled"
    s3("PutObject", {"Bucket": "calls-bucket", "Key": "a/b", "Body": b"x"})
    listed = s3("ListObjectsV2", {"Bucket": "calls-bucket", "Delimiter": "/", "MaxKeys": 5})
    assert listed["CommonPrefixes"] == [{"Prefix": "a/"}] and listed["MaxKeys"] == 5
    with pytest.raises(ServiceCallError) as raised:
        s3("GetBucketPolicy", {"Bucket": "calls-bucket"})
    assert raised.value.code == "NoSuchBucketPolicy"
