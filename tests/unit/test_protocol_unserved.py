"""Naming and answering services Cloudlet does not serve, from the models' metadata alone."""

from __future__ import annotations

import pytest
from botocore.parsers import create_parser

from controller.errors import ServiceError
from controller.protocol import HttpRequest, find_operation, load_service_model, serialize_error
from controller.protocol.catalog import catalog
from controller.protocol.faults import unavailable_operation_error
from controller.protocol.routing import identify_service, request_protocol, unserved_model


def signed(service: str, **headers: str) -> dict[str, str]:
    return {"authorization": f"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20240517/us-east-1/{service}/aws4_request, "
                             "SignedHeaders=host;x-amz-date, Signature=abc", **headers}


def test_catalog_reads_every_model_metadata() -> None:
    entries = {entry.name: entry for entry in catalog()}
    assert len(entries) > 400
    assert entries["dynamodb"].target_prefix == "DynamoDB_20120810"
    assert entries["cloudwatch"].signing_name == "monitoring"
    assert entries["sns"].protocol == "query" and entries["sns"].api_version == "2010-03-31"
    assert entries["s3"].metadata == load_service_model("s3").metadata


@pytest.mark.parametrize(("request_", "service"), [
    (HttpRequest("POST", "/", headers=signed("dynamodb", **{"x-amz-target": "DynamoDB_20120810.ListTables"})),
     "dynamodb"),
    (HttpRequest("POST", "/", headers=signed("dynamodb", **{"x-amz-target": "DynamoDBStreams_20120810.ListStreams"})),
     "dynamodbstreams"),
    (HttpRequest("POST", "/", headers={"x-amz-target": "Kinesis_20131202.ListStreams"}), "kinesis"),
    (HttpRequest("POST", "/", headers=signed("monitoring")), "cloudwatch"),
    (HttpRequest("POST", "/", headers=signed("rds"), body=b"Action=DescribeDBClusters&Version=2014-10-31"), "rds"),
    (HttpRequest("GET", "/2015-03-31/functions", headers=signed("lambda")), "lambda"),
    (HttpRequest("POST", "/", body=b"Action=ListTopics&Version=2010-03-31"), "sns"),
    (HttpRequest("POST", "/", headers=signed("no-such-service")), None),
    (HttpRequest("GET", "/whatever"), None),
])
def test_identify_service(request_: HttpRequest, service: str | None) -> None:
    assert identify_service(request_) == service


def test_request_protocol_follows_what_the_client_sent() -> None:
    metadata = load_service_model("cloudwatch").metadata
    cbor = HttpRequest("POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics",
                       headers={"smithy-protocol": "rpc-v2-cbor"})
    json_ = HttpRequest("POST", "/", headers={"x-amz-target": "GraniteServiceVersion20100801.ListMetrics"})
    query = HttpRequest("POST", "/", headers={"content-type": "application/x-www-form-urlencoded"},
                        body=b"Action=ListMetrics&Version=2010-08-01")
    assert [request_protocol(metadata, r) for r in (cbor, json_, query)] == ["smithy-rpc-v2-cbor", "json", "query"]
    model = load_service_model("cloudwatch")
    assert {find_operation(model, r).name for r in (cbor, json_, query)} == {"ListMetrics"}
    with pytest.raises(ServiceError) as caught:
        find_operation(model, HttpRequest("POST", "/service/X/operation/Nope", headers={"smithy-protocol": "rpc-v2-cbor"}))
    assert caught.value.code == "UnknownOperationException"


@pytest.mark.parametrize(("service", "request_", "code", "status"), [
    ("dynamodb", HttpRequest("POST", "/", headers={"x-amz-target": "DynamoDB_20120810.ListTables"}),
     "UnknownOperationException", 400),
    ("sns", HttpRequest("POST", "/", body=b"Action=ListTopics"), "InvalidAction", 400),
    ("route53", HttpRequest("GET", "/2013-04-01/hostedzone"), "InvalidAction", 400),
    ("lambda", HttpRequest("GET", "/2015-03-31/functions/"), "UnknownOperationException", 400),
    ("cloudwatch", HttpRequest("POST", "/service/GraniteServiceVersion20100801/operation/ListMetrics",
                               headers={"smithy-protocol": "rpc-v2-cbor"}), "UnknownOperationException", 400),
    ("cloudwatch", HttpRequest("POST", "/", body=b"Action=ListMetrics&Version=2010-08-01"), "InvalidAction", 400),
])
def test_unserved_errors_parse_with_the_services_own_client(service: str, request_: HttpRequest, code: str,
                                                             status: int) -> None:
    """Rendered from metadata alone, and read back by botocore's parser for the protocol spoken."""
    wire = unserved_model(service, request_)
    operation = find_operation(load_service_model(service), request_).name
    error = unavailable_operation_error(wire.metadata["protocol"], service, operation, "not served")
    response = serialize_error(wire, error, "rid-1")
    assert response.status == status
    parsed = create_parser(wire.metadata["protocol"]).parse(
        {"status_code": response.status, "headers": response.headers, "body": response.body}, None)
    assert parsed["Error"]["Code"] == code
    assert operation in parsed["Error"]["Message"]


def test_s3_keeps_its_own_not_implemented() -> None:
    error = unavailable_operation_error("rest-xml", "s3", "PutBucketInventoryConfiguration", "not yet")
    assert (error.code, error.status) == ("NotImplemented", 501)
