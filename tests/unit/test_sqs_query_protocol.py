"""SQS's query protocol, served from its json model by the protocol layer (controller/protocol/query_compat.py).

The wire names checked here are those of SQS's API reference examples (the ``Query request`` and
``Response`` samples on each action's page), not of Cloudlet's own table.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode
from xml.etree import ElementTree

from controller import protocol
from controller.errors import ServiceError
from controller.protocol import HttpRequest

NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


def form(**params: str) -> HttpRequest:
    return HttpRequest("POST", "/", headers={"content-type": "application/x-www-form-urlencoded"},
                       body=urlencode({"Version": "2012-11-05", **params}).encode())


def model() -> object:
    return protocol.load_service_model("sqs")


def test_a_query_send_message_batch_parses_with_the_legacy_entry_names() -> None:
    request = form(**{
        "Action": "SendMessageBatch", "QueueUrl": "http://h/123456789012/q",
        "SendMessageBatchRequestEntry.1.Id": "a", "SendMessageBatchRequestEntry.1.MessageBody": "one",
        "SendMessageBatchRequestEntry.1.DelaySeconds": "5",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Name": "color",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.DataType": "String",
        "SendMessageBatchRequestEntry.1.MessageAttribute.1.Value.StringValue": "red",
        "SendMessageBatchRequestEntry.2.Id": "b", "SendMessageBatchRequestEntry.2.MessageBody": "two"})
    operation = protocol.find_operation(model(), request)
    assert operation.service_model.protocol == "query"
    params = protocol.parse_request(operation, request)
    assert params == {"QueueUrl": "http://h/123456789012/q", "Entries": [
        {"Id": "a", "MessageBody": "one", "DelaySeconds": 5,
         "MessageAttributes": {"color": {"DataType": "String", "StringValue": "red"}}},
        {"Id": "b", "MessageBody": "two"}]}


def test_create_queue_attributes_and_tags_use_attribute_and_tag_entries() -> None:
    request = form(Action="CreateQueue", QueueName="q", **{
        "Attribute.1.Name": "VisibilityTimeout", "Attribute.1.Value": "40",
        "Tag.1.Key": "team", "Tag.1.Value": "blue"})
    params = protocol.parse_request(protocol.find_operation(model(), request), request)
    assert params == {"QueueName": "q", "Attributes": {"VisibilityTimeout": "40"}, "tags": {"team": "blue"}}


def test_receive_message_answers_in_xml_with_message_and_attribute_elements() -> None:
    request = form(Action="ReceiveMessage", QueueUrl="http://h/123456789012/q", **{"AttributeName.1": "All"})
    operation = protocol.find_operation(model(), request)
    assert protocol.parse_request(operation, request)["AttributeNames"] == ["All"]
    output = {"Messages": [{"MessageId": "m-1", "ReceiptHandle": "r", "MD5OfBody": "d", "Body": "hello",
                            "Attributes": {"SenderId": "123456789012"},
                            "MessageAttributes": {"color": {"DataType": "String", "StringValue": "red"}}}]}
    response = protocol.serialize_response(operation, output, "req-1")
    root = ElementTree.fromstring(response.body)
    assert root.tag == f"{NS}ReceiveMessageResponse"
    [message] = root.findall(f"{NS}ReceiveMessageResult/{NS}Message")
    assert message.findtext(f"{NS}Body") == "hello"
    assert message.findtext(f"{NS}Attribute/{NS}Name") == "SenderId"
    assert message.findtext(f"{NS}Attribute/{NS}Value") == "123456789012"
    assert message.findtext(f"{NS}MessageAttribute/{NS}Value/{NS}StringValue") == "red"
    assert root.findtext(f"{NS}ResponseMetadata/{NS}RequestId") == "req-1"


def test_errors_of_a_query_call_are_xml_with_the_legacy_code() -> None:
    request = form(Action="GetQueueUrl", QueueName="missing")
    operation = protocol.find_operation(model(), request)
    error = ServiceError("The specified queue does not exist.", code="QueueDoesNotExist")
    response = protocol.serialize_error(model(), error, "req-2", operation)
    root = ElementTree.fromstring(response.body)
    assert root.findtext(f"{NS}Error/{NS}Code") == "AWS.SimpleQueueService.NonExistentQueue"
    assert root.findtext(f"{NS}Error/{NS}Type") == "Sender"
    assert response.status == 400


def test_json_calls_still_get_the_json_model() -> None:
    request = HttpRequest("POST", "/", headers={"content-type": "application/x-amz-json-1.0",
                                                "x-amz-target": "AmazonSQS.GetQueueUrl"},
                          body=json.dumps({"QueueName": "q"}).encode())
    operation = protocol.find_operation(model(), request)
    assert operation.service_model.protocol == "json"
    assert protocol.parse_request(operation, request) == {"QueueName": "q"}
