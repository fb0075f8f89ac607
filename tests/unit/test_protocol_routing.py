"""Service resolution on the shared endpoint and operation lookup, especially S3's many
operations on the same paths."""

from __future__ import annotations

import pytest

from controller.errors import ServiceError
from controller.protocol import HttpRequest, find_operation, load_service_model, resolve_service


def signed(service: str) -> dict[str, str]:
    return {"authorization": f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240517/us-east-1/{service}/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=abc"}


def form(body: str, **headers: str) -> HttpRequest:
    return HttpRequest("POST", "/", headers={"content-type": "application/x-www-form-urlencoded", **headers},
                       body=body.encode())


@pytest.mark.parametrize(("request_", "service"), [
    (HttpRequest("POST", "/", headers=signed("iam")), "iam"),
    (HttpRequest("POST", "/", headers=signed("sts")), "sts"),
    (HttpRequest("GET", "/bucket/key", query=[("X-Amz-Credential", "AKID/20240517/us-east-1/s3/aws4_request")]), "s3"),
    (HttpRequest("POST", "/", headers={"x-amz-target": "AmazonSQS.SendMessage"}), "sqs"),
    (HttpRequest("POST", "/", headers={"x-amz-target": "AWSOrganizationsV20161128.ListAccounts"}), "organizations"),
    (HttpRequest("POST", "/", headers={
        "x-amz-target": "com.amazonaws.cloudtrail.v20131101.CloudTrail_20131101.DescribeTrails"}), "cloudtrail"),
    (form("Action=GetCallerIdentity&Version=2011-06-15"), "sts"),
    (form("Action=DescribeInstances&Version=2016-11-15"), "ec2"),
    (form("Action=ListTopics&Version=2010-03-31"), "sns"),
    (HttpRequest("GET", "/", query=[("Action", "ListUsers"), ("Version", "2010-05-08")]), "iam"),
    (HttpRequest("GET", "/2015-03-31/functions/"), "lambda"),
    (HttpRequest("GET", "/2015-03-31/functions/my-function/configuration"), "lambda"),
    (HttpRequest("GET", "/my-bucket"), "s3"),
])
def test_resolve_service(request_: HttpRequest, service: str) -> None:
    assert resolve_service(request_) == service


def test_signing_name_differs_from_model_name() -> None:
    request = HttpRequest("POST", "/", headers=signed("monitoring"))
    assert resolve_service(request, services=("cloudwatch", "s3")) == "cloudwatch"


def test_unknown_signed_service_is_a_client_error() -> None:
    with pytest.raises(ServiceError) as caught:
        resolve_service(HttpRequest("POST", "/", headers=signed("dynamodb")))
    assert caught.value.code == "UnknownService" and caught.value.status == 400
    with pytest.raises(ServiceError):
        resolve_service(HttpRequest("POST", "/", headers=signed("iam")), services=("s3",))


def s3_operation(method: str, path: str, query: list[tuple[str, str]] | None = None,
                 headers: dict[str, str] | None = None) -> str:
    request = HttpRequest(method, path, query=query or [], headers=headers or {})
    return find_operation(load_service_model("s3"), request).name


@pytest.mark.parametrize(("method", "path", "query", "headers", "operation"), [
    ("GET", "/", [], {}, "ListBuckets"),
    ("GET", "/b", [], {}, "ListObjects"),
    ("GET", "/b/", [], {}, "ListObjects"),
    ("GET", "/b", [("list-type", "2"), ("prefix", "x")], {}, "ListObjectsV2"),
    ("GET", "/b", [("acl", "")], {}, "GetBucketAcl"),
    ("GET", "/b", [("versioning", "")], {}, "GetBucketVersioning"),
    ("GET", "/b", [("versions", "")], {}, "ListObjectVersions"),
    ("GET", "/b", [("uploads", "")], {}, "ListMultipartUploads"),
    ("GET", "/b", [("lifecycle", "")], {}, "GetBucketLifecycleConfiguration"),
    ("GET", "/b", [("location", "")], {}, "GetBucketLocation"),
    ("GET", "/b", [("analytics", ""), ("id", "a")], {}, "GetBucketAnalyticsConfiguration"),
    ("GET", "/b", [("analytics", "")], {}, "ListBucketAnalyticsConfigurations"),
    ("PUT", "/b", [], {}, "CreateBucket"),
    ("PUT", "/b", [("tagging", "")], {}, "PutBucketTagging"),
    ("DELETE", "/b", [], {}, "DeleteBucket"),
    ("HEAD", "/b", [], {}, "HeadBucket"),
    ("POST", "/b", [("delete", "")], {}, "DeleteObjects"),
    ("PUT", "/b/k", [], {}, "PutObject"),
    ("PUT", "/b/k", [("partNumber", "1"), ("uploadId", "u")], {}, "UploadPart"),
    ("PUT", "/b/k", [], {"x-amz-copy-source": "/src/k"}, "CopyObject"),
    ("PUT", "/b/k", [("partNumber", "1"), ("uploadId", "u")], {"x-amz-copy-source": "/s/k"}, "UploadPartCopy"),
    ("PUT", "/b/k", [("acl", "")], {}, "PutObjectAcl"),
    ("GET", "/b/k", [], {}, "GetObject"),
    ("GET", "/b/k", [("partNumber", "2")], {}, "GetObject"),
    ("GET", "/b/k", [("uploadId", "u")], {}, "ListParts"),
    ("GET", "/b/k", [("tagging", "")], {}, "GetObjectTagging"),
    ("HEAD", "/b/dir/k", [], {}, "HeadObject"),
    ("DELETE", "/b/k", [], {}, "DeleteObject"),
    ("DELETE", "/b/k", [("uploadId", "u")], {}, "AbortMultipartUpload"),
    ("POST", "/b/k", [("uploads", "")], {}, "CreateMultipartUpload"),
    ("POST", "/b/k", [("uploadId", "u")], {}, "CompleteMultipartUpload"),
    ("POST", "/b/k", [("restore", "")], {}, "RestoreObject"),
])
def test_s3_most_specific_route_wins(method: str, path: str, query: list[tuple[str, str]],
                                     headers: dict[str, str], operation: str) -> None:
    assert s3_operation(method, path, query, headers) == operation


def test_s3_unknown_method_is_method_not_allowed() -> None:
    with pytest.raises(ServiceError) as caught:
        s3_operation("PATCH", "/b/k")
    assert (caught.value.code, caught.value.status) == ("MethodNotAllowed", 405)
    assert caught.value.extra["ResourceType"] == "OBJECT"


def test_lambda_routes() -> None:
    model = load_service_model("lambda")

    def name(method: str, path: str, query: list[tuple[str, str]] | None = None) -> str:
        return find_operation(model, HttpRequest(method, path, query=query or [])).name

    assert name("GET", "/2015-03-31/functions/") == "ListFunctions"
    assert name("GET", "/2015-03-31/functions/f") == "GetFunction"
    assert name("POST", "/2015-03-31/functions/f/invocations") == "Invoke"
    assert name("GET", "/2018-10-31/layers") == "ListLayers"
    assert name("GET", "/2018-10-31/layers", [("find", "LayerVersion"), ("Arn", "x")]) == "GetLayerVersionByArn"
    with pytest.raises(ServiceError) as caught:
        name("GET", "/2015-03-31/nothing-here")
    assert (caught.value.code, caught.value.status) == ("UnknownOperationException", 404)


def test_unknown_query_action_is_invalid_action() -> None:
    with pytest.raises(ServiceError) as caught:
        find_operation(load_service_model("iam"), form("Action=MakeCoffee&Version=2010-05-08"))
    assert caught.value.code == "InvalidAction"
    assert caught.value.message == "The action MakeCoffee is not valid for this web service."


def test_unknown_json_target_is_unknown_operation() -> None:
    request = HttpRequest("POST", "/", headers={"x-amz-target": "AmazonSQS.MakeCoffee"})
    with pytest.raises(ServiceError) as caught:
        find_operation(load_service_model("sqs"), request)
    assert caught.value.code == "UnknownOperationException"

