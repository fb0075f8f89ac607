"""SQS over its older query protocol: a botocore client built from the 2012-11-05 query model, and raw forms.

``test_sqs_query_model.json`` is SQS's query-protocol model as botocore shipped it before SQS moved
to JSON (documentation stripped): the client it makes sends ``Action=...`` forms and parses XML
answers exactly as older SDKs and Celery's kombu do, so it checks the wire independently of
Cloudlet's own tables.
"""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from xml.etree import ElementTree

import boto3
import botocore.session
import pytest
import requests
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials as BotoCredentials

from tests.e2e.helpers import denied
from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e

MODEL = Path(__file__).with_name("test_sqs_query_model.json")
NS = "{http://queue.amazonaws.com/doc/2012-11-05/}"


@pytest.fixture(scope="module")
def query_sqs(cloudlet: CloudletProcess, tmp_path_factory: pytest.TempPathFactory) -> Any:
    models = tmp_path_factory.mktemp("models")
    (models / "sqs" / "2012-11-05").mkdir(parents=True)
    shutil.copy(MODEL, models / "sqs" / "2012-11-05" / "service-2.json")
    session = botocore.session.get_session()
    session.get_component("data_loader").search_paths.insert(0, str(models))
    creds = cloudlet.root_credentials()
    client = boto3.session.Session(botocore_session=session).client(
        "sqs", endpoint_url=cloudlet.endpoint, region_name=cloudlet.region,
        aws_access_key_id=creds.access_key_id, aws_secret_access_key=creds.secret_access_key,
        config=Config(retries={"max_attempts": 1}))
    assert client.meta.service_model.protocol == "query"
    return client


def signed_form(cloudlet: CloudletProcess, url: str, params: dict[str, str]) -> requests.Response:
    """POST a signed query form to ``url`` (the endpoint, or a queue URL as kombu does)."""
    creds = cloudlet.root_credentials()
    body = urlencode({"Version": "2012-11-05", **params})
    request = AWSRequest("POST", url, data=body,
                         headers={"Content-Type": "application/x-www-form-urlencoded; charset=utf-8"})
    SigV4Auth(BotoCredentials(creds.access_key_id, creds.secret_access_key), "sqs", cloudlet.region).add_auth(request)
    return requests.post(url, data=body, headers=dict(request.headers.items()), timeout=30)


def test_the_whole_flow_over_the_query_protocol(query_sqs: Any, unique: str) -> None:
    url = query_sqs.create_queue(QueueName=unique, Attributes={"VisibilityTimeout": "40"},
                                 tags={"team": "blue"})["QueueUrl"]
    assert query_sqs.get_queue_url(QueueName=unique)["QueueUrl"] == url
    assert url in query_sqs.list_queues(QueueNamePrefix=unique)["QueueUrls"]
    attrs = {"color": {"DataType": "String", "StringValue": "red"}, "bin": {"DataType": "Binary", "BinaryValue": b"\x01"}}
    sent = query_sqs.send_message(QueueUrl=url, MessageBody="hello <&>", MessageAttributes=attrs)
    batch = query_sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "one", "MessageBody": "1"}, {"Id": "bad", "MessageBody": "2", "DelaySeconds": 1000}])
    assert [e["Id"] for e in batch["Successful"]] == ["one"]
    assert [(e["Id"], e["Code"], e["SenderFault"]) for e in batch["Failed"]] == [
        ("bad", "InvalidParameterValue", True)]
    messages = query_sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"],
                                         MessageAttributeNames=["All"])["Messages"]
    by_body = {m["Body"]: m for m in messages}
    assert set(by_body) == {"hello <&>", "1"}
    first = by_body["hello <&>"]
    assert first["MessageId"] == sent["MessageId"]
    assert first["MessageAttributes"] == attrs
    assert first["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert first["Attributes"]["ApproximateReceiveCount"] == "1"
    changed = query_sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": first["ReceiptHandle"], "VisibilityTimeout": 60}])
    assert [e["Id"] for e in changed["Successful"]] == ["a"]
    deleted = query_sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(messages)])
    assert len(deleted["Successful"]) == 2
    read = query_sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert read["VisibilityTimeout"] == "40" and read["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert query_sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "blue"}
    query_sqs.delete_queue(QueueUrl=url)


def test_query_errors_carry_the_legacy_codes(query_sqs: Any, unique: str) -> None:
    assert denied(query_sqs.get_queue_url, QueueName=unique)[:2] == ("AWS.SimpleQueueService.NonExistentQueue", 400)
    url = query_sqs.create_queue(QueueName=unique)["QueueUrl"]
    too_many = [{"Id": str(i), "MessageBody": "x"} for i in range(11)]
    assert denied(query_sqs.send_message_batch, QueueUrl=url, Entries=too_many)[0] == \
        "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"
    assert denied(query_sqs.set_queue_attributes, QueueUrl=url, Attributes={"DelaySeconds": "901"})[0] == \
        "InvalidAttributeValue"


def test_a_form_posted_to_the_queue_url_needs_no_queue_url_parameter(cloudlet: CloudletProcess, unique: str,
                                                                     query_sqs: Any) -> None:
    url = query_sqs.create_queue(QueueName=unique)["QueueUrl"]
    sent = signed_form(cloudlet, url, {"Action": "SendMessage", "MessageBody": "via the queue URL"})
    assert sent.status_code == 200, sent.text
    assert sent.headers["Content-Type"].startswith("text/xml")
    root = ElementTree.fromstring(sent.content)
    assert root.tag == f"{NS}SendMessageResponse"
    message_id = root.findtext(f"{NS}SendMessageResult/{NS}MessageId")
    received = signed_form(cloudlet, url, {"Action": "ReceiveMessage", "AttributeName.1": "SenderId"})
    message = ElementTree.fromstring(received.content).find(f"{NS}ReceiveMessageResult/{NS}Message")
    assert message is not None and message.findtext(f"{NS}MessageId") == message_id
    assert message.findtext(f"{NS}Body") == "via the queue URL"
    assert message.findtext(f"{NS}Attribute/{NS}Name") == "SenderId"


def test_a_raw_query_error_is_an_error_response_document(cloudlet: CloudletProcess, unique: str) -> None:
    response = signed_form(cloudlet, cloudlet.endpoint + "/", {"Action": "GetQueueUrl", "QueueName": unique})
    assert response.status_code == 400
    root = ElementTree.fromstring(response.content)
    assert root.tag == f"{NS}ErrorResponse"
    assert root.findtext(f"{NS}Error/{NS}Code") == "AWS.SimpleQueueService.NonExistentQueue"
    assert root.findtext(f"{NS}Error/{NS}Type") == "Sender"
    assert root.findtext(f"{NS}RequestId")
