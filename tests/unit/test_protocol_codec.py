"""The tricky cases of parsing and serializing: names, streams, headers, validation, errors."""

from __future__ import annotations

import datetime as dt
import io
import json
from typing import Any
from xml.etree import ElementTree

import pytest

from controller.errors import ServiceError
from controller.protocol import (
    HttpRequest,
    find_operation,
    load_service_model,
    parse_request,
    serialize_error,
    serialize_response,
)

S3_NS = "{http://s3.amazonaws.com/doc/2006-03-01/}"


def op(service: str, name: str) -> Any:
    return load_service_model(service).operation_model(name)


def form(body: str) -> HttpRequest:
    return HttpRequest("POST", "/", headers={"content-type": "application/x-www-form-urlencoded"},
                       body=body.encode())


def json_call(service: str, target: str, document: Any) -> HttpRequest:
    body = document if isinstance(document, bytes) else json.dumps(document).encode()
    return HttpRequest("POST", "/", headers={"x-amz-target": target,
                                             "content-type": "application/x-amz-json-1.0"}, body=body)


def client_error(operation: Any, request: HttpRequest) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        parse_request(operation, request)
    assert 400 <= caught.value.status < 500
    return caught.value


class ExplodingStream(io.RawIOBase):
    """A request body that must be handed over, never read by the protocol layer."""

    def read(self, size: int = -1) -> bytes:
        raise AssertionError("the protocol layer read a streaming body")


# ---------------------------------------------------------------------------------------
# S3


def test_greedy_key_with_spaces_unicode_and_trailing_slash() -> None:
    request = HttpRequest("PUT", "/bucket/dir/sub%20dir/%C3%BC%2Bplus%25.txt", body=b"data")
    operation = find_operation(load_service_model("s3"), request)
    params = parse_request(operation, request)
    assert (params["Bucket"], params["Key"]) == ("bucket", "dir/sub dir/ü+plus%.txt")
    folder = HttpRequest("PUT", "/bucket/folder/", body=b"")
    assert parse_request(op("s3", "PutObject"), folder)["Key"] == "folder/"


def test_streaming_body_is_passed_through_unread() -> None:
    stream = ExplodingStream()
    request = HttpRequest("PUT", "/bucket/key", headers={"x-amz-meta-color": "blue", "x-amz-meta-shape": "round",
                                                          "content-length": "5", "x-amz-acl": "private"},
                          body=stream)
    params = parse_request(op("s3", "PutObject"), request)
    assert params["Body"] is stream
    assert params["Metadata"] == {"color": "blue", "shape": "round"}
    assert params["ContentLength"] == 5 and params["ACL"] == "private"


def test_get_object_streams_the_body_and_writes_metadata_headers() -> None:
    source = io.BytesIO(b"x" * 200_000)
    output = {"Body": source, "Metadata": {"color": "blue"}, "ContentLength": 200_000,
              "LastModified": dt.datetime(2024, 5, 17, 12, 0, tzinfo=dt.UTC), "ETag": '"abc"'}
    response = serialize_response(op("s3", "GetObject"), output, "rid")
    assert source.tell() == 0, "the body must not be read while serializing"
    assert response.headers["x-amz-meta-color"] == "blue"
    assert response.headers["Last-Modified"] == "Fri, 17 May 2024 12:00:00 GMT"
    assert response.headers["x-amz-request-id"] == "rid" and response.headers["x-amz-id-2"]
    chunks = list(response.body)
    assert len(chunks) > 1 and b"".join(chunks) == b"x" * 200_000


def test_s3_xml_response_has_root_namespace_flattened_lists_and_ms_timestamps() -> None:
    output = {"Name": "b", "IsTruncated": False, "KeyCount": 2,
              "Contents": [{"Key": "a&b", "Size": 1, "LastModified": dt.datetime(2024, 1, 2, 3, 4, 5, 6000)},
                           {"Key": "c", "Size": 2}]}
    body = serialize_response(op("s3", "ListObjectsV2"), output, "rid").body
    root = ElementTree.fromstring(body)
    assert root.tag == f"{S3_NS}ListBucketResult"
    contents = root.findall(f"{S3_NS}Contents")
    assert [c.findtext(f"{S3_NS}Key") for c in contents] == ["a&b", "c"]
    assert contents[0].findtext(f"{S3_NS}LastModified") == "2024-01-02T03:04:05.006Z"


def test_s3_acl_grantee_type_is_an_xsi_attribute_both_ways() -> None:
    grant = {"Grantee": {"Type": "CanonicalUser", "ID": "owner-id"}, "Permission": "FULL_CONTROL"}
    body = serialize_response(op("s3", "GetBucketAcl"), {"Grants": [grant], "Owner": {"ID": "owner-id"}}, "r").body
    assert b'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xsi:type="CanonicalUser"' in body
    request_body = (b'<AccessControlPolicy xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><AccessControlList>'
                    b'<Grant><Grantee xmlns:x="http://www.w3.org/2001/XMLSchema-instance" x:type="Group">'
                    b"<URI>http://acs.amazonaws.com/groups/global/AllUsers</URI></Grantee>"
                    b"<Permission>READ</Permission></Grant></AccessControlList></AccessControlPolicy>")
    request = HttpRequest("PUT", "/b", query=[("acl", "")], body=request_body)
    grants = parse_request(op("s3", "PutBucketAcl"), request)["AccessControlPolicy"]["Grants"]
    assert grants == [{"Grantee": {"Type": "Group", "URI": "http://acs.amazonaws.com/groups/global/AllUsers"},
                       "Permission": "READ"}]


def test_get_bucket_location_is_the_root_text() -> None:
    body = serialize_response(op("s3", "GetBucketLocation"), {"LocationConstraint": "eu-west-1"}, "r").body
    assert ElementTree.fromstring(body).text == "eu-west-1"


def test_malformed_xml_is_malformed_xml() -> None:
    request = HttpRequest("PUT", "/b", query=[("tagging", "")], body=b"<Tagging><TagSet><Tag>")
    error = client_error(op("s3", "PutBucketTagging"), request)
    assert error.code == "MalformedXML"


def test_s3_bad_header_number_is_invalid_argument() -> None:
    request = HttpRequest("GET", "/b", query=[("list-type", "2"), ("max-keys", "lots")])
    error = client_error(op("s3", "ListObjectsV2"), request)
    assert error.code == "InvalidArgument" and error.extra["ArgumentName"] == "max-keys"


def test_s3_error_document_with_extras_and_head_without_body() -> None:
    model = load_service_model("s3")
    error = ServiceError("The specified key does not exist.", code="NoSuchKey", status=400, Key="a<b")
    response = serialize_error(model, error, "rid", op("s3", "GetObject"))
    root = ElementTree.fromstring(response.body)
    assert root.tag == "Error" and root.findtext("Key") == "a<b" and root.findtext("RequestId") == "rid"
    assert response.status == 404, "the model pins NoSuchKey to 404"
    head = serialize_error(model, error, "rid", op("s3", "HeadObject"))
    assert head.status == 404 and head.body == b""


# ---------------------------------------------------------------------------------------
# EC2 and query


def test_ec2_list_naming_in_requests_and_responses() -> None:
    request = form("Action=DescribeInstances&Version=2016-11-15&InstanceId.1=i-1&InstanceId.2=i-2"
                   "&Filter.1.Name=tag%3AName&Filter.1.Value.1=web&Filter.1.Value.2=db&MaxResults=5")
    params = parse_request(op("ec2", "DescribeInstances"), request)
    assert params == {"InstanceIds": ["i-1", "i-2"], "Filters": [{"Name": "tag:Name", "Values": ["web", "db"]}],
                      "MaxResults": 5}
    output = {"Reservations": [{"ReservationId": "r-1", "Instances": [{"InstanceId": "i-1"}]}]}
    body = serialize_response(op("ec2", "DescribeInstances"), output, "rid").body
    assert b'<DescribeInstancesResponse xmlns="http://ec2.amazonaws.com/doc/2016-11-15/"><requestId>rid' in body
    assert b"<reservationSet><item><reservationId>r-1</reservationId><instancesSet><item>" in body


def test_ec2_errors() -> None:
    model = load_service_model("ec2")
    error = client_error(op("ec2", "RunInstances"), form("Action=RunInstances&Version=2016-11-15&MinCount=1"))
    assert (error.code, error.message) == ("MissingParameter", "The request must contain the parameter MaxCount")
    bad = client_error(op("ec2", "RunInstances"),
                       form("Action=RunInstances&Version=2016-11-15&MinCount=one&MaxCount=1"))
    assert bad.code == "InvalidParameterValue" and "MinCount" in bad.message
    body = serialize_error(model, ServiceError("nope", code="InvalidInstanceID.NotFound"), "rid").body
    root = ElementTree.fromstring(body)
    assert root.tag == "Response" and root.findtext("Errors/Error/Code") == "InvalidInstanceID.NotFound"
    assert root.findtext("RequestID") == "rid"


def test_iam_validation_errors_name_every_parameter() -> None:
    error = client_error(op("iam", "CreateRole"), form("Action=CreateRole&Version=2010-05-08&RoleName=bad%20name"))
    assert error.code == "ValidationError"
    assert error.message.startswith("2 validation errors detected: ")
    assert "Value 'bad name' at 'roleName' failed to satisfy constraint: Member must satisfy regular " in error.message
    assert ("Value null at 'assumeRolePolicyDocument' failed to satisfy constraint: Member must not be null"
            in error.message)
    tags = client_error(op("iam", "TagRole"), form(
        "Action=TagRole&Version=2010-05-08&RoleName=r&Tags.member.1.Key=k"))
    assert "Value null at 'tags.1.member.value'" in tags.message


def test_value_ranges_and_query_maps() -> None:
    request = form("Action=CreateRole&Version=2010-05-08&RoleName=r&AssumeRolePolicyDocument=%7B%7D"
                   "&MaxSessionDuration=60")
    error = client_error(op("iam", "CreateRole"), request)
    assert ("Value '60' at 'maxSessionDuration' failed to satisfy constraint: Member must have value greater "
            "than or equal to 3600") in error.message
    # STS leaves its duration bounds to the service (they move with its configuration).
    sts = form("Action=AssumeRole&Version=2011-06-15&RoleArn=arn%3Aaws%3Aiam%3A%3A123456789012%3Arole%2Fr"
               "&RoleSessionName=session&DurationSeconds=60")
    assert parse_request(op("sts", "AssumeRole"), sts)["DurationSeconds"] == 60
    sns = form("Action=CreateTopic&Version=2010-03-31&Name=t&Attributes.entry.1.key=DisplayName"
               "&Attributes.entry.1.value=My%20Topic")
    assert parse_request(op("sns", "CreateTopic"), sns)["Attributes"] == {"DisplayName": "My Topic"}


def test_query_response_and_error_shapes() -> None:
    model = load_service_model("iam")
    body = serialize_response(op("iam", "GetUser"), {"User": {"UserName": "u", "Path": "/", "UserId": "AIDA",
                                                              "Arn": "arn", "CreateDate": dt.datetime(2024, 1, 1)}},
                              "rid").body.decode()
    assert body.startswith('<GetUserResponse xmlns="https://iam.amazonaws.com/doc/2010-05-08/"><GetUserResult>')
    assert "<CreateDate>2024-01-01T00:00:00Z</CreateDate>" in body
    assert body.endswith("<ResponseMetadata><RequestId>rid</RequestId></ResponseMetadata></GetUserResponse>")
    response = serialize_error(model, ServiceError("no such user", code="NoSuchEntityException"), "rid")
    root = ElementTree.fromstring(response.body)
    ns = "{https://iam.amazonaws.com/doc/2010-05-08/}"
    assert root.findtext(f"{ns}Error/{ns}Code") == "NoSuchEntity" and response.status == 404
    assert root.findtext(f"{ns}Error/{ns}Type") == "Sender"


def test_bad_base64_and_bad_numbers_in_query_are_client_errors() -> None:
    error = client_error(op("sns", "Publish"), form(
        "Action=Publish&Version=2010-03-31&TopicArn=t&Message=m&MessageAttributes.entry.1.Name=a"
        "&MessageAttributes.entry.1.Value.DataType=Binary&MessageAttributes.entry.1.Value.BinaryValue=%%%"))
    assert error.code == "ValidationError"


# ---------------------------------------------------------------------------------------
# JSON services


def test_json_malformed_and_wrong_types_are_client_errors() -> None:
    trail = op("cloudtrail", "CreateTrail")
    target = "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.CreateTrail"
    assert client_error(trail, json_call("cloudtrail", target, b"{not json")).code == "SerializationException"
    wrong = client_error(trail, json_call("cloudtrail", target, {"Name": 5, "S3BucketName": "b"}))
    assert wrong.code == "SerializationException"
    missing = client_error(trail, json_call("cloudtrail", target, {"Name": "t"}))
    assert missing.code == "ValidationException" and "'s3BucketName'" in missing.message


def test_sqs_json_errors_carry_the_query_code() -> None:
    model = load_service_model("sqs")
    missing = client_error(op("sqs", "SendMessage"), json_call("sqs", "AmazonSQS.SendMessage", {"QueueUrl": "q"}))
    assert (missing.code, missing.message) == ("MissingParameter", "The request must contain the parameter MessageBody.")
    response = serialize_error(model, ServiceError("The specified queue does not exist.", code="QueueDoesNotExist"),
                               "rid")
    assert json.loads(response.body)["__type"] == "QueueDoesNotExist"
    assert response.headers["x-amzn-query-error"] == "AWS.SimpleQueueService.NonExistentQueue;Sender"
    assert response.headers["x-amzn-ErrorType"] == "QueueDoesNotExist"
    assert response.headers["Content-Type"] == "application/x-amz-json-1.0"


def test_json_response_timestamps_are_epoch_seconds() -> None:
    output = {"trailList": [{"Name": "t"}]}
    assert json.loads(serialize_response(op("cloudtrail", "DescribeTrails"), output, "r").body) == output
    events = {"Events": [{"EventId": "e", "EventTime": dt.datetime(2024, 1, 1, tzinfo=dt.UTC)}]}
    body = json.loads(serialize_response(op("cloudtrail", "LookupEvents"), events, "r").body)
    assert body["Events"][0]["EventTime"] == 1704067200


def test_organizations_reports_a_reason() -> None:
    error = client_error(op("organizations", "DescribeAccount"),
                         json_call("organizations", "AWSOrganizationsV20161128.DescribeAccount", {}))
    assert error.code == "InvalidInputException" and error.extra["Reason"] == "INPUT_REQUIRED"


# ---------------------------------------------------------------------------------------
# Lambda (rest-json)


def test_lambda_labels_querystrings_headers_and_status() -> None:
    request = HttpRequest("POST", "/2015-03-31/functions/arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Af/"
                                  "invocations", query=[("Qualifier", "1")],
                          headers={"x-amz-invocation-type": "Event"}, body=b'{"k": 1}')
    params = parse_request(op("lambda", "Invoke"), request)
    assert params == {"FunctionName": "arn:aws:lambda:us-east-1:123456789012:function:f", "Qualifier": "1",
                      "InvocationType": "Event", "Payload": b'{"k": 1}'}
    response = serialize_response(op("lambda", "Invoke"), {"StatusCode": 202, "Payload": b""}, "rid")
    assert response.status == 202 and response.headers["x-amzn-RequestId"] == "rid"
    created = serialize_response(op("lambda", "CreateFunction"), {"FunctionName": "f"}, "rid")
    assert created.status == 201 and json.loads(created.body) == {"FunctionName": "f"}


def test_lambda_errors() -> None:
    model = load_service_model("lambda")
    bad = client_error(op("lambda", "CreateFunction"),
                       HttpRequest("POST", "/2015-03-31/functions", body=b"{oops"))
    assert bad.code == "InvalidRequestContentException"
    response = serialize_error(model, ServiceError("Function not found: f", code="ResourceNotFoundException",
                                                   Type="User"), "rid")
    assert response.status == 404 and response.headers["x-amzn-ErrorType"] == "ResourceNotFoundException"
    assert json.loads(response.body) == {"__type": "ResourceNotFoundException", "Message": "Function not found: f",
                                         "Type": "User"}


# ---------------------------------------------------------------------------------------
# hostile input: always the service's client error, never anything else

NASTY_BODIES = [b"", b"\xff\xfe\x00garbage", b"{", b"[]", b'{"QueueUrl": {"x": 1}}', b"null", b"<", b"<a><b></a>",
                b'<?xml version="1.0"?><!DOCTYPE a [<!ENTITY e "x">]><a>&e;</a>', b"Action=&&&=%ZZ",
                b'{"MaxResults": "many", "Tags": "x", "StartTime": "yesterday"}', b'{"Payload": "!!notbase64"}']


@pytest.mark.parametrize("body", NASTY_BODIES)
@pytest.mark.parametrize(("service", "operation_name", "method", "path", "headers"), [
    ("sqs", "SendMessage", "POST", "/", {"x-amz-target": "AmazonSQS.SendMessage"}),
    ("cloudtrail", "LookupEvents", "POST", "/", {}),
    ("organizations", "CreateAccount", "POST", "/", {}),
    ("iam", "CreateUser", "POST", "/", {"content-type": "application/x-www-form-urlencoded"}),
    ("ec2", "RunInstances", "POST", "/", {"content-type": "application/x-www-form-urlencoded"}),
    ("s3", "PutBucketTagging", "PUT", "/b", {"content-md5": "x"}),
    ("s3", "DeleteObjects", "POST", "/b", {}),
    ("lambda", "CreateFunction", "POST", "/2015-03-31/functions", {}),
    ("lambda", "UpdateFunctionCode", "PUT", "/2015-03-31/functions/f/code", {}),
])
def test_hostile_bodies_are_client_errors(service: str, operation_name: str, method: str, path: str,
                                          headers: dict[str, str], body: bytes) -> None:
    operation = op(service, operation_name)
    request = HttpRequest(method, path, query=[("tagging", ""), ("delete", "")], headers=headers, body=body)
    try:
        parse_request(operation, request)
    except ServiceError as error:
        assert 400 <= error.status < 500 and error.code


def test_a_nul_in_any_string_is_each_services_validation_error() -> None:
    """PostgreSQL's text cannot hold U+0000: every protocol refuses it before a handler, in the service's words."""
    coral = client_error(op("ssm", "DeleteParameters"), json_call("ssm", "AmazonSSM.DeleteParameters",
                                                                  {"Names": ["ok", "a\x00b"]}))
    assert coral.code == "ValidationException" and "'a\\u0000b' at 'names.2.member'" in coral.message
    ec2 = client_error(op("ec2", "DescribeVpcs"), form("Action=DescribeVpcs&Version=2016-11-15&VpcId.1=vpc-%00"))
    assert ec2.code == "InvalidParameterValue" and "VpcId.1" in ec2.message and "null character" in ec2.message
    s3 = client_error(op("s3", "GetObject"), HttpRequest("GET", "/b/k%00ey"))
    assert s3.code == "InvalidArgument" and s3.extra["ArgumentName"] == "Key"
    iam = client_error(op("iam", "GetUser"), form("Action=GetUser&Version=2010-05-08&UserName=bob%00"))
    assert iam.code == "ValidationError"
