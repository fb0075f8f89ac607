"""The ``smithy-rpc-v2-cbor`` protocol, checked against botocore's own serializer and parser.

Requests are built by ``botocore.serialize`` exactly as a client builds them and answers are read
by ``botocore.parsers.RpcV2CBORParser``, so what passes here is what SDKs send and accept. The
CloudWatch model (rpc-v2-cbor first, query-compatible) is the real case; a small model of every
shape kind covers what CloudWatch's operations lack (input blobs, maps of structures).
"""

from __future__ import annotations

import datetime as dt
import math
import struct
from typing import Any
from urllib.parse import urlencode

import cbor2
import pytest
from botocore import parsers, serialize
from botocore.model import OperationModel, ServiceModel

from controller.errors import ServiceError
from controller.protocol import (
    HttpRequest,
    HttpResponse,
    find_operation,
    load_service_model,
    parse_request,
    serialize_error,
    serialize_response,
)
from controller.protocol.cbor import PROTOCOL, cbor_error_document, dump_cbor
from controller.protocol.routing import wire_model
from tests.unit import test_protocol_roundtrip as roundtrip

UTC = dt.UTC
CW = load_service_model("cloudwatch")


def cbor_request(operation: str, params: dict[str, Any], model: ServiceModel = CW) -> HttpRequest:
    """The request botocore sends for ``operation`` in rpc-v2-cbor."""
    serialized = serialize.create_serializer(PROTOCOL, include_validation=True).serialize_to_request(
        params, model.operation_model(operation))
    headers = {name.lower(): value for name, value in serialized["headers"].items()}
    return HttpRequest("POST", serialized["url_path"], headers=headers, body=serialized["body"])


def raw_request(operation: str, body: bytes) -> HttpRequest:
    return HttpRequest("POST", f"/service/GraniteServiceVersion20100801/operation/{operation}",
                       headers={"smithy-protocol": "rpc-v2-cbor", "content-type": "application/cbor"}, body=body)


def parse(request: HttpRequest, model: ServiceModel = CW) -> dict[str, Any]:
    """What the service's handler receives for ``request``."""
    return parse_request(find_operation(model, request), request)


def read_back(operation_model: OperationModel, response: HttpResponse) -> dict[str, Any]:
    """The answer as botocore's rpc-v2-cbor parser hands it to a client."""
    assert isinstance(response.body, bytes)
    parsed = parsers.create_parser(PROTOCOL).parse(
        {"status_code": response.status, "headers": {k.lower(): v for k, v in response.headers.items()},
         "body": response.body}, operation_model.output_shape)
    parsed.pop("ResponseMetadata", None)
    return parsed


def client_error(request: HttpRequest, model: ServiceModel = CW) -> ServiceError:
    with pytest.raises(ServiceError) as caught:
        parse(request, model)
    assert caught.value.status == 400
    return caught.value


# ---------------------------------------------------------------------------------------
# CloudWatch requests


def test_put_metric_data_round_trip() -> None:
    params = {"Namespace": "App/Web", "MetricData": [
        {"MetricName": "Latency", "Timestamp": dt.datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC),
         "Dimensions": [{"Name": "Host", "Value": "web-1"}, {"Name": "Zone", "Value": "é-1a"}],
         "Values": [1.5, 0.0, -2.25, float("nan"), float("inf"), float("-inf")], "Counts": [1.0, 2.0, 3.0],
         "Unit": "Milliseconds", "StorageResolution": 1},
        {"MetricName": "Requests", "Timestamp": dt.datetime(2024, 5, 1, 12, 1, tzinfo=UTC),
         "StatisticValues": {"SampleCount": 3, "Sum": 4.5, "Minimum": 1, "Maximum": 2.5}, "Value": 7},
    ], "EntityMetricData": [{"Entity": {"KeyAttributes": {"Type": "Service", "Name": "web"},
                                       "Attributes": {"Env": "prod"}},
                             "MetricData": [{"MetricName": "Up", "Value": 1.0}]}],
        "StrictEntityValidation": False}
    parsed = parse(cbor_request("PutMetricData", params))
    first, second = parsed["MetricData"]
    assert parsed["Namespace"] == "App/Web" and parsed["StrictEntityValidation"] is False
    assert first["Timestamp"] == dt.datetime(2024, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert first["Dimensions"] == [{"Name": "Host", "Value": "web-1"}, {"Name": "Zone", "Value": "é-1a"}]
    values = first["Values"]
    assert values[:3] == [1.5, 0.0, -2.25] and math.isnan(values[3]) and values[4:] == [math.inf, -math.inf]
    assert (first["Counts"], first["Unit"], first["StorageResolution"]) == ([1.0, 2.0, 3.0], "Milliseconds", 1)
    assert isinstance(first["StorageResolution"], int)
    assert second["Timestamp"] == dt.datetime(2024, 5, 1, 12, 1, tzinfo=UTC)
    assert second["StatisticValues"] == {"SampleCount": 3.0, "Sum": 4.5, "Minimum": 1.0, "Maximum": 2.5}
    assert second["Value"] == 7.0
    assert parsed["EntityMetricData"][0]["Entity"] == {"KeyAttributes": {"Type": "Service", "Name": "web"},
                                                       "Attributes": {"Env": "prod"}}


def test_get_metric_data_request() -> None:
    params = {"MetricDataQueries": [
        {"Id": "m1", "MetricStat": {"Metric": {"Namespace": "AWS/EC2", "MetricName": "CPUUtilization",
                                               "Dimensions": [{"Name": "InstanceId", "Value": "i-1"}]},
                                    "Period": 60, "Stat": "Average", "Unit": "Percent"}, "ReturnData": False},
        {"Id": "e1", "Expression": "m1 * 2", "Label": "Double", "ReturnData": True, "Period": 300},
    ], "StartTime": dt.datetime(2024, 5, 1, tzinfo=UTC), "EndTime": dt.datetime(2024, 5, 1, 1, 30, 0, 500000, tzinfo=UTC),
        "ScanBy": "TimestampDescending", "MaxDatapoints": 100800, "LabelOptions": {"Timezone": "+0130"}}
    parsed = parse(cbor_request("GetMetricData", params))
    assert parsed["StartTime"] == dt.datetime(2024, 5, 1, tzinfo=UTC)
    assert parsed["EndTime"] == dt.datetime(2024, 5, 1, 1, 30, 0, 500000, tzinfo=UTC)
    assert parsed["MetricDataQueries"] == params["MetricDataQueries"]
    assert (parsed["ScanBy"], parsed["MaxDatapoints"], parsed["LabelOptions"]) == (
        "TimestampDescending", 100800, {"Timezone": "+0130"})


def test_describe_alarms_request_and_empty_bodies() -> None:
    params = {"AlarmNames": ["a", "b"], "AlarmTypes": ["MetricAlarm", "CompositeAlarm"],
              "StateValue": "ALARM", "MaxRecords": 50, "NextToken": "tok"}
    assert parse(cbor_request("DescribeAlarms", params)) == params
    # botocore sends an empty map for no parameters; other clients may send nothing at all.
    assert parse(cbor_request("DescribeAlarms", {})) == {}
    assert parse(raw_request("DescribeAlarms", b"")) == {}
    assert parse(raw_request("ListDashboards", dump_cbor({"DashboardNamePrefix": None}))) == {}


def test_lenient_but_typed_numbers_and_timestamps() -> None:
    """Integral floats are integers, integers are doubles, and an untagged number is epoch seconds."""
    body = dump_cbor({"MetricDataQueries": [{"Id": "m", "Expression": "1", "Period": 60.0}],
                      "StartTime": 1714521600, "EndTime": cbor2.CBORTag(1, 1714525200.5)})
    parsed = parse(raw_request("GetMetricData", body))
    assert parsed["MetricDataQueries"][0]["Period"] == 60 and isinstance(parsed["MetricDataQueries"][0]["Period"], int)
    assert parsed["StartTime"] == dt.datetime(2024, 5, 1, tzinfo=UTC)
    assert parsed["EndTime"] == dt.datetime(2024, 5, 1, 1, 0, 0, 500000, tzinfo=UTC)


# ---------------------------------------------------------------------------------------
# CloudWatch responses


def test_get_metric_data_response_round_trip() -> None:
    operation = CW.operation_model("GetMetricData")
    stamps = [dt.datetime(2024, 5, 1, 0, 1, tzinfo=UTC), dt.datetime(2024, 5, 1, 0, 0, 0, 123000, tzinfo=UTC)]
    output = {"MetricDataResults": [
        {"Id": "m1", "Label": "CPU", "Timestamps": stamps, "Values": [12.5, float("nan")], "StatusCode": "Complete",
         "Messages": [{"Code": "MaxDatapoints", "Value": "cut"}]},
        {"Id": "e1", "Timestamps": [], "Values": [], "StatusCode": "PartialData"},
    ], "NextToken": None, "Messages": []}
    response = serialize_response(operation, output, "rid-7")
    assert response.status == 200
    assert response.headers == {"Content-Type": "application/cbor", "smithy-protocol": "rpc-v2-cbor",
                                "x-amzn-RequestId": "rid-7"}
    got = read_back(operation, response)
    first, second = got["MetricDataResults"]
    assert [stamp.astimezone(UTC) for stamp in first["Timestamps"]] == stamps
    assert first["Values"][0] == 12.5 and math.isnan(first["Values"][1])
    assert (first["StatusCode"], first["Messages"]) == ("Complete", [{"Code": "MaxDatapoints", "Value": "cut"}])
    assert second == {"Id": "e1", "Timestamps": [], "Values": [], "StatusCode": "PartialData"}
    assert "NextToken" not in got and got["Messages"] == []
    # Timestamps go out as tag 1 with a double, as Smithy's rpc-v2-cbor writes them.
    assert isinstance(response.body, bytes)
    for seconds in (1714521660.0, 1714521600.123):
        assert b"\xc1\xfb" + struct.pack(">d", seconds) in response.body


def test_describe_alarms_response_round_trip() -> None:
    operation = CW.operation_model("DescribeAlarms")
    updated = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    alarm = {"AlarmName": "high-cpu", "AlarmArn": "arn:aws:cloudwatch:home-1:123456789012:alarm:high-cpu",
             "ActionsEnabled": True, "AlarmActions": ["arn:aws:sns:home-1:123456789012:t"], "OKActions": [],
             "StateValue": "ALARM", "StateReason": "Threshold crossed", "StateUpdatedTimestamp": updated,
             "AlarmConfigurationUpdatedTimestamp": updated, "MetricName": "CPUUtilization", "Namespace": "AWS/EC2",
             "Statistic": "Average", "Dimensions": [{"Name": "InstanceId", "Value": "i-1"}], "Period": 60,
             "EvaluationPeriods": 2, "DatapointsToAlarm": 2, "Threshold": 80, "TreatMissingData": "missing",
             "ComparisonOperator": "GreaterThanThreshold", "Unit": None}
    composite = {"AlarmName": "both", "AlarmRule": "ALARM(high-cpu)", "ActionsEnabled": False,
                 "StateValue": "OK", "StateUpdatedTimestamp": updated}
    got = read_back(operation, serialize_response(
        operation, {"MetricAlarms": [alarm], "CompositeAlarms": [composite], "NextToken": "n2"}, "rid"))
    metric = got["MetricAlarms"][0]
    assert metric["StateUpdatedTimestamp"].astimezone(UTC) == updated
    assert metric["Threshold"] == 80.0 and isinstance(metric["Threshold"], float)
    assert metric["ActionsEnabled"] is True and metric["OKActions"] == [] and "Unit" not in metric
    assert {key: value for key, value in metric.items() if "Timestamp" not in key} == {
        key: value for key, value in alarm.items() if "Timestamp" not in key and value is not None}
    assert got["CompositeAlarms"][0]["ActionsEnabled"] is False and got["NextToken"] == "n2"


def test_operation_without_output_answers_with_an_empty_body() -> None:
    operation = CW.operation_model("PutMetricData")
    response = serialize_response(operation, None, "rid")
    assert (response.status, response.body) == (200, b"")
    assert read_back(operation, response) == {}


def test_blob_output_and_text_without_utf8_form() -> None:
    operation = CW.operation_model("GetMetricWidgetImage")
    image = bytes(range(256))
    assert read_back(operation, serialize_response(operation, {"MetricWidgetImage": image}, "r")) == {
        "MetricWidgetImage": image}
    operation = CW.operation_model("ListDashboards")
    got = read_back(operation, serialize_response(
        operation, {"DashboardEntries": [{"DashboardName": "bad\ud800name", "Size": 2**40}]}, "r"))
    assert got["DashboardEntries"] == [{"DashboardName": "bad\\ud800name", "Size": 2**40}]


# ---------------------------------------------------------------------------------------
# every shape kind, on a model of its own

KINDS = ServiceModel({
    "metadata": {"apiVersion": "2024-01-01", "endpointPrefix": "kinds", "protocol": PROTOCOL,
                 "protocols": [PROTOCOL], "serviceId": "Kinds", "targetPrefix": "Kinds", "jsonVersion": "1.0",
                 "signatureVersion": "v4"},
    "operations": {"Echo": {"name": "Echo", "http": {"method": "POST", "requestUri": "/"},
                            "input": {"shape": "Everything"}, "output": {"shape": "Everything"}}},
    "shapes": {
        "Everything": {"type": "structure", "required": ["Text"], "members": {
            "Text": {"shape": "Text"}, "Color": {"shape": "Color"}, "Small": {"shape": "Small"},
            "Big": {"shape": "Big"}, "Single": {"shape": "Single"}, "Double": {"shape": "Double"},
            "Flag": {"shape": "Flag"}, "Data": {"shape": "Data"}, "When": {"shape": "When"},
            "Texts": {"shape": "Texts"}, "Nested": {"shape": "NestedMap"}, "Inner": {"shape": "Inner"}}},
        "Inner": {"type": "structure", "members": {"Numbers": {"shape": "Numbers"}, "Data": {"shape": "Data"},
                                                   "Inner": {"shape": "Inner"}}},
        "NestedMap": {"type": "map", "key": {"shape": "Text"}, "value": {"shape": "Inner"}},
        "Texts": {"type": "list", "member": {"shape": "Text"}},
        "Numbers": {"type": "list", "member": {"shape": "Big"}},
        "Text": {"type": "string"}, "Color": {"type": "string", "enum": ["red", "green"]},
        "Small": {"type": "integer"}, "Big": {"type": "long"}, "Single": {"type": "float"},
        "Double": {"type": "double"}, "Flag": {"type": "boolean"}, "Data": {"type": "blob"},
        "When": {"type": "timestamp"},
    }}, service_name="kinds")

EVERYTHING = {"Text": "héllo ☃", "Color": "green", "Small": -24, "Big": 2**53 + 1, "Single": 0.5,
              "Double": -1e300, "Flag": True, "Data": b"\x00\xffbytes", "When": dt.datetime(1969, 7, 20, 20, 17, 40,
                                                                                          tzinfo=UTC),
              "Texts": ["", "a" * 300], "Nested": {"k": {"Numbers": [0, -1, 2**40], "Data": b""}, "e": {}},
              "Inner": {"Inner": {"Inner": {"Numbers": []}}}}


def test_every_shape_kind_round_trips_both_ways() -> None:
    request = cbor_request("Echo", EVERYTHING, KINDS)
    operation = find_operation(KINDS, request)
    parsed = parse_request(operation, request)
    assert parsed == EVERYTHING
    assert read_back(operation, serialize_response(operation, parsed, "r")) == {
        **EVERYTHING, "When": EVERYTHING["When"].astimezone(parsers.DEFAULT_TIMESTAMP_PARSER(0).tzinfo)}


def test_special_doubles_both_ways() -> None:
    request = cbor_request("Echo", {"Text": "t", "Double": float("nan"), "Single": float("-inf")}, KINDS)
    operation = find_operation(KINDS, request)
    parsed = parse_request(operation, request)
    assert math.isnan(parsed["Double"]) and parsed["Single"] == -math.inf
    got = read_back(operation, serialize_response(operation, {"Text": "t", "Double": float("inf"),
                                                              "Single": float("nan")}, "r"))
    assert got["Double"] == math.inf and math.isnan(got["Single"])


# ---------------------------------------------------------------------------------------
# bad input: the json protocol's errors, never a 500


def kinds_call(document: Any) -> HttpRequest:
    body = document if isinstance(document, bytes) else dump_cbor(document)
    return HttpRequest("POST", "/service/Kinds/operation/Echo", headers={"smithy-protocol": "rpc-v2-cbor"},
                       body=body)


@pytest.mark.parametrize(("document", "words"), [
    (b"\xa1\x64Te", "Malformed CBOR"),                          # cut off
    (b"\xa1\x64Text\x61t\x00", "after the request's map"),      # trailing data
    (b"\x81" * 2000, "Malformed CBOR"),                         # nested past any sane depth
    (b"\x5b\xff\xff\xff\xff\xff\xff\xff\xff", "Malformed CBOR"),  # a byte string of 2**64 bytes
    (b"\xa1\x64Text\x62\xc3\x28", "Malformed CBOR"),            # text that is not UTF-8
    ([1, 2], "Expected a map but found a CBOR array"),
    ({"Text": 5}, "Expected a text string but found a CBOR integer"),
    ({"Text": "t", "Small": "5"}, "Expected an integer but found a CBOR text string"),
    ({"Text": "t", "Small": 1.5}, "Expected an integer"),
    ({"Text": "t", "Small": True}, "Expected an integer but found a CBOR boolean"),
    ({"Text": "t", "Double": "NaN"}, "Expected a number"),
    ({"Text": "t", "Flag": 1}, "Expected a boolean"),
    ({"Text": "t", "Data": "aGk="}, "Expected a byte string but found a CBOR text string"),
    ({"Text": "t", "When": "2024-01-01T00:00:00Z"}, "Expected a timestamp"),
    ({"Text": "t", "When": float("nan")}, "Invalid timestamp"),
    (b"\xa2\x64Text\x61t\x64When\xc1\xfb\x7f\xf0\x00\x00\x00\x00\x00\x00", "Malformed CBOR"),  # tag 1 infinity
    ({"Text": "t", "Texts": {"a": "b"}}, "Expected an array but found a CBOR map"),
    ({"Text": "t", "Nested": {1: {}}}, "Expected a text string map key"),
    ({"Text": "t", "Nested": {"k": []}}, "Expected a map"),
    ({"Text": "t", "Inner": {"Numbers": [1, "2"]}}, "Expected an integer"),
])
def test_bad_input_is_a_serialization_exception(document: Any, words: str) -> None:
    error = client_error(kinds_call(document), KINDS)
    assert error.code == "SerializationException"
    assert words in error.message


def test_nulls_are_absent_and_required_members_are_checked() -> None:
    assert parse(kinds_call({"Text": "t", "Small": None, "Texts": ["a", None], "Flag": cbor2.undefined}),
                 KINDS) == {"Text": "t", "Texts": ["a", None]}
    error = client_error(kinds_call({"Small": 1}), KINDS)
    assert error.code == "ValidationException"
    assert "'text' failed to satisfy constraint: Member must not be null" in error.message
    error = client_error(raw_request("PutMetricData", dump_cbor({"MetricData": []})))
    assert error.code == "ValidationException" and "'namespace'" in error.message


# ---------------------------------------------------------------------------------------
# errors


@pytest.mark.parametrize(("error", "code", "status"), [
    (ServiceError("bad value", code="InvalidParameterValue"), "InvalidParameterValue", 400),
    (ServiceError("bad value", code="InvalidParameterValueException"), "InvalidParameterValue", 400),
    (ServiceError("no such", code="ResourceNotFound", status=404), "ResourceNotFound", 404),
    (ServiceError("1 validation error detected", code="ValidationException"), "ValidationError", 400),
    (ServiceError("unlisted", code="Throttling", status=400), "Throttling", 400),
])
def test_query_compatible_errors_reach_botocore_with_their_query_code(error: ServiceError, code: str,
                                                                      status: int) -> None:
    operation = CW.operation_model("PutMetricData")
    response = serialize_error(CW, error, "rid-e", operation)
    assert response.status == status
    assert response.headers["Content-Type"] == "application/cbor"
    assert response.headers["x-amzn-query-error"] == f"{code};Sender"
    parsed = parsers.create_parser(PROTOCOL).parse(
        {"status_code": response.status, "headers": {k.lower(): v for k, v in response.headers.items()},
         "body": response.body}, None)
    assert parsed["Error"]["Code"] == code and parsed["Error"]["Message"] == error.message
    assert parsed["ResponseMetadata"]["RequestId"] == "rid-e"


def test_error_extras_are_typed_by_the_error_shape() -> None:
    shape = CW.shape_for("LimitExceededException")
    document = cbor_error_document(ServiceError("x", code="LimitExceededException", Extra=3, Other=object()),
                                   shape)
    assert document["__type"] == "LimitExceededException" and document["Extra"] == 3
    assert isinstance(document["Other"], str)
    assert cbor2.loads(dump_cbor(document))["Extra"] == 3


def test_text_error_lengths() -> None:
    parser = parsers.create_parser(PROTOCOL)
    for size in (0, 23, 24, 255, 256, 70000):
        document = {"__type": "Code", "message": "é" * size}
        assert parser._initial_body_parse(dump_cbor(document)) == document


# ---------------------------------------------------------------------------------------
# a model offering several protocols answers in the one the client spoke


def spoken_request(protocol: str, operation: str, params: dict[str, Any]) -> HttpRequest:
    serialized = serialize.create_serializer(protocol).serialize_to_request(params, CW.operation_model(operation))
    headers = {name.lower(): value for name, value in serialized["headers"].items()}
    body = serialized["body"]
    if isinstance(body, dict):
        body = urlencode(body)
        headers.setdefault("content-type", "application/x-www-form-urlencoded; charset=utf-8")
    return HttpRequest("POST", serialized["url_path"], headers=headers,
                       body=body.encode() if isinstance(body, str) else body)


@pytest.mark.parametrize("protocol", ["smithy-rpc-v2-cbor", "json", "query"])
def test_cloudwatch_speaks_each_protocol_of_its_model(protocol: str) -> None:
    """botocore itself prefers json for CloudWatch, older SDKs send query, Smithy SDKs rpc-v2-cbor."""
    when = dt.datetime(2024, 5, 1, 12, 0, tzinfo=UTC)
    params = {"MetricDataQueries": [{"Id": "m1", "MetricStat": {
        "Metric": {"Namespace": "N", "MetricName": "M", "Dimensions": [{"Name": "d", "Value": "v"}]},
        "Period": 60, "Stat": "Sum"}}], "StartTime": when, "EndTime": when}
    request = spoken_request(protocol, "GetMetricData", params)
    operation = find_operation(CW, request)
    assert operation.service_model.metadata["protocol"] == protocol
    assert parse_request(operation, request) == params
    output = {"MetricDataResults": [{"Id": "m1", "Timestamps": [when], "Values": [2.5], "StatusCode": "Complete"}]}
    response = serialize_response(operation, output, "rid")
    body = response.body if isinstance(response.body, bytes) else b"".join(response.body)
    parsed = parsers.create_parser(protocol).parse(
        {"status_code": 200, "headers": {k.lower(): v for k, v in response.headers.items()}, "body": body},
        operation.output_shape)
    result = parsed["MetricDataResults"][0]
    assert result["Values"] == [2.5] and [stamp.astimezone(UTC) for stamp in result["Timestamps"]] == [when]
    error = serialize_error(CW, ServiceError("nope", code="InvalidParameterValue"), "rid", operation)
    error_body = error.body if isinstance(error.body, bytes) else b"".join(error.body)
    parsed_error = parsers.create_parser(protocol).parse(
        {"status_code": error.status, "headers": {k.lower(): v for k, v in error.headers.items()},
         "body": error_body}, None)
    assert parsed_error["Error"]["Code"] == "InvalidParameterValue"


def test_protocol_views_are_built_once() -> None:
    json_call = spoken_request("json", "ListMetrics", {})
    first, second = find_operation(CW, json_call), find_operation(CW, json_call)
    assert first.service_model is second.service_model and first.service_model is not CW
    assert wire_model(CW, json_call) is first.service_model
    assert wire_model(CW, cbor_request("ListMetrics", {})) is CW


# ---------------------------------------------------------------------------------------
# every CloudWatch operation, with the round-trip suite's generator (every member filled)


@pytest.mark.parametrize("operation_name", CW.operation_names)
def test_every_cloudwatch_operation_round_trips_in_cbor(operation_name: str) -> None:
    operation = CW.operation_model(operation_name)
    params = roundtrip.Generator("cloudwatch", for_input=True).structure(operation.input_shape) \
        if operation.input_shape else {}
    request = roundtrip.to_http_request("cloudwatch", operation, params)
    assert request.header("smithy-protocol") == "rpc-v2-cbor"
    assert find_operation(CW, request).name == operation_name
    parsed = roundtrip.drop_shadowed(operation.input_shape, parse_request(operation, request))
    assert roundtrip.same(params, parsed), f"\nsent   {roundtrip.normalize(params)}\nparsed {parsed}"
    shape = operation.output_shape
    output = roundtrip.Generator("cloudwatch", for_input=False).structure(shape) if shape is not None else {}
    got = read_back(operation, serialize_response(operation, output, "rid"))
    assert roundtrip.same(output, got), f"\nsent   {roundtrip.normalize(output)}\nparsed {got}"
