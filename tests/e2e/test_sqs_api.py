"""SQS queues and messages over boto3's JSON protocol, against a real ``cloudlet up``.

Expected codes are the query-compatible codes boto3 reports (``x-amzn-query-error``), as against AWS:
``AWS.SimpleQueueService.NonExistentQueue``, ``QueueAlreadyExists``, ``InvalidAttributeValue``...
"""

from __future__ import annotations

import hashlib
import json
import time
from typing import Any

import pytest

from tests.e2e.helpers import Cleanup, allow, denied, deny, document, member_account, new_user
from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def sqs(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("sqs")


def arn_of(sqs: Any, url: str) -> str:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]


def attributes(sqs: Any, url: str) -> dict[str, str]:
    return sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]


# --- queues --------------------------------------------------------------------------------------------------

def test_create_queue_with_every_attribute_reads_them_back(sqs: Any, cloudlet: CloudletProcess, unique: str) -> None:
    dead_letter = sqs.create_queue(QueueName=f"{unique}-dlq")["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": arn_of(sqs, dead_letter), "maxReceiveCount": 3})
    given = {"DelaySeconds": "5", "MaximumMessageSize": "2048", "MessageRetentionPeriod": "120",
             "ReceiveMessageWaitTimeSeconds": "2", "VisibilityTimeout": "45", "RedrivePolicy": redrive,
             "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"}),
             "KmsMasterKeyId": "alias/aws/sqs", "KmsDataKeyReusePeriodSeconds": "600"}
    url = sqs.create_queue(QueueName=unique, Attributes=given)["QueueUrl"]
    assert url.startswith(cloudlet.endpoint + "/") and url.endswith(f"/{unique}")
    read = attributes(sqs, url)
    for name, value in given.items():
        if name.startswith("Redrive"):   # read back as compact JSON, maxReceiveCount a number, as SQS does
            assert json.loads(read[name]) == json.loads(value), name
        else:
            assert read[name] == value, name
    assert read["SqsManagedSseEnabled"] == "false"
    assert read["QueueArn"].endswith(f":{unique}")
    assert read["ApproximateNumberOfMessages"] == "0"
    assert abs(int(read["CreatedTimestamp"]) - time.time()) < 60
    assert "FifoQueue" not in read


def test_fifo_queue_attributes(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=f"{unique}.fifo", Attributes={
        "FifoQueue": "true", "ContentBasedDeduplication": "true", "DeduplicationScope": "messageGroup",
        "FifoThroughputLimit": "perMessageGroupId"})["QueueUrl"]
    read = attributes(sqs, url)
    assert (read["FifoQueue"], read["ContentBasedDeduplication"], read["DeduplicationScope"],
            read["FifoThroughputLimit"]) == ("true", "true", "messageGroup", "perMessageGroupId")


@pytest.mark.parametrize(("name", "given", "code"), [
    ("bad name!", {}, "InvalidParameterValue"),
    ("x" * 81, {}, "InvalidParameterValue"),
    ("plain.fifo", {}, "InvalidParameterValue"),
    ("plain", {"FifoQueue": "true"}, "InvalidParameterValue"),
    ("plain", {"ContentBasedDeduplication": "true"}, "InvalidAttributeName"),
    ("plain", {"Bogus": "1"}, "InvalidAttributeName"),
    ("plain", {"VisibilityTimeout": "43201"}, "InvalidAttributeValue"),
    ("plain", {"DelaySeconds": "-1"}, "InvalidAttributeValue"),
    ("plain", {"MaximumMessageSize": "1023"}, "InvalidAttributeValue"),
    ("plain", {"MessageRetentionPeriod": "59"}, "InvalidAttributeValue"),
    ("plain", {"ReceiveMessageWaitTimeSeconds": "21"}, "InvalidAttributeValue"),
    ("plain", {"Policy": "{not json"}, "InvalidAttributeValue"),
    ("plain", {"RedrivePolicy": json.dumps({"maxReceiveCount": 2})}, "InvalidAttributeValue"),
    ("plain", {"RedrivePolicy": json.dumps({"deadLetterTargetArn": "arn:aws:sqs:home-1:000000000000:none",
                                            "maxReceiveCount": 2})}, "InvalidParameterValue"),
])
def test_bad_queue_input_is_refused_and_creates_nothing(sqs: Any, unique: str, name: str, given: dict[str, str],
                                                        code: str) -> None:
    queue_name = name.replace("plain", unique)
    assert denied(sqs.create_queue, QueueName=queue_name, Attributes=given)[:2] == (code, 400)
    assert not sqs.list_queues(QueueNamePrefix=unique).get("QueueUrls")


def test_create_queue_is_idempotent_only_with_the_same_attributes(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique, Attributes={"VisibilityTimeout": "40"})["QueueUrl"]
    assert sqs.create_queue(QueueName=unique, Attributes={"VisibilityTimeout": "40"})["QueueUrl"] == url
    assert sqs.create_queue(QueueName=unique)["QueueUrl"] == url
    code, status, message = denied(sqs.create_queue, QueueName=unique, Attributes={"VisibilityTimeout": "41"})
    assert (code, status) == ("QueueAlreadyExists", 400) and "VisibilityTimeout" in message
    assert attributes(sqs, url)["VisibilityTimeout"] == "40"


def test_a_deleted_name_waits_sixty_seconds(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    sqs.delete_queue(QueueUrl=url)
    assert denied(sqs.get_queue_url, QueueName=unique)[0] == "AWS.SimpleQueueService.NonExistentQueue"
    assert denied(sqs.create_queue, QueueName=unique)[0] == "AWS.SimpleQueueService.QueueDeletedRecently"
    assert denied(sqs.send_message, QueueUrl=url, MessageBody="x")[0] == "AWS.SimpleQueueService.NonExistentQueue"


def test_list_queues_by_prefix_with_pages(sqs: Any, unique: str) -> None:
    urls = [sqs.create_queue(QueueName=f"{unique}-{i}")["QueueUrl"] for i in range(5)]
    sqs.create_queue(QueueName=f"x{unique}")
    assert sorted(sqs.list_queues(QueueNamePrefix=unique)["QueueUrls"]) == sorted(urls)
    seen, token = [], None
    while True:
        page = sqs.list_queues(QueueNamePrefix=unique, MaxResults=2, **({"NextToken": token} if token else {}))
        assert len(page["QueueUrls"]) <= 2
        seen += page["QueueUrls"]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(urls)
    assert denied(sqs.list_queues, MaxResults=1001)[0] == "InvalidParameterValue"


def test_get_queue_url_of_another_account_needs_its_permission(sqs: Any, cloudlet: CloudletProcess,
                                                               unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    owner = arn_of(sqs, url).split(":")[4]
    other_account, other_keys = member_account(cloudlet, f"{unique}-other")
    other = cloudlet.client("sqs", other_keys)
    assert denied(other.get_queue_url, QueueName=unique, QueueOwnerAWSAccountId=owner)[0] == "AccessDenied"
    assert denied(other.send_message, QueueUrl=url, MessageBody="x")[0] == "AccessDenied"
    sqs.add_permission(QueueUrl=url, Label="share", AWSAccountIds=[other_account],
                       Actions=["SendMessage", "GetQueueUrl"])
    assert other.get_queue_url(QueueName=unique, QueueOwnerAWSAccountId=owner)["QueueUrl"] == url
    other.send_message(QueueUrl=url, MessageBody="from afar")
    [message] = sqs.receive_message(QueueUrl=url, MessageSystemAttributeNames=["SenderId"])["Messages"]
    assert message["Body"] == "from afar" and message["Attributes"]["SenderId"] == other_account
    assert denied(sqs.add_permission, QueueUrl=url, Label="share", AWSAccountIds=[other_account],
                  Actions=["SendMessage"])[0] == "InvalidParameterValue"
    sqs.remove_permission(QueueUrl=url, Label="share")
    assert denied(other.send_message, QueueUrl=url, MessageBody="x")[0] == "AccessDenied"
    assert denied(sqs.remove_permission, QueueUrl=url, Label="share")[0] == "InvalidParameterValue"


def test_the_queue_policy_is_evaluated_by_iam(sqs: Any, cloudlet: CloudletProcess, iam: Any, cleanup: Cleanup,
                                              unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    keys = new_user(iam, cleanup, unique)
    iam.put_user_policy(UserName=unique, PolicyName="sqs", PolicyDocument=document(allow("sqs:*")))
    user = cloudlet.client("sqs", keys)
    user.send_message(QueueUrl=url, MessageBody="allowed")
    policy = document({**deny("sqs:SendMessage", arn_of(sqs, url)), "Principal": "*"})
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"Policy": policy})
    assert json.loads(attributes(sqs, url)["Policy"]) == json.loads(policy)
    assert denied(user.send_message, QueueUrl=url, MessageBody="denied")[:2] == ("AccessDenied", 403)
    user.receive_message(QueueUrl=url)


def test_purge_queue_once_a_minute(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": "x"} for i in range(3)])
    sqs.purge_queue(QueueUrl=url)
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    code, status, _ = denied(sqs.purge_queue, QueueUrl=url)
    assert (code, status) == ("AWS.SimpleQueueService.PurgeQueueInProgress", 400)


def test_tags(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique, tags={"team": "blue"})["QueueUrl"]
    sqs.tag_queue(QueueUrl=url, Tags={"env": "test", "team": "red"})
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"team": "red", "env": "test"}
    sqs.untag_queue(QueueUrl=url, TagKeys=["team"])
    assert sqs.list_queue_tags(QueueUrl=url)["Tags"] == {"env": "test"}
    assert denied(sqs.tag_queue, QueueUrl=url, Tags={"aws:x": "y"})[0] == "InvalidParameterValue"


def test_set_queue_attributes_checks_values_and_keeps_the_queue_unchanged(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    before = attributes(sqs, url)
    assert denied(sqs.set_queue_attributes, QueueUrl=url, Attributes={"VisibilityTimeout": "10",
                                                                      "DelaySeconds": "901"})[0] == "InvalidAttributeValue"
    assert denied(sqs.set_queue_attributes, QueueUrl=url, Attributes={"FifoQueue": "true"})[0] == "InvalidAttributeValue"
    assert denied(sqs.get_queue_attributes, QueueUrl=url, AttributeNames=["Nope"])[0] == "InvalidAttributeName"
    assert attributes(sqs, url) == before
    sqs.set_queue_attributes(QueueUrl=url, Attributes={"VisibilityTimeout": "10"})
    assert attributes(sqs, url)["VisibilityTimeout"] == "10"


# --- messages ------------------------------------------------------------------------------------------------

def test_send_and_receive_with_attributes_and_digests(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    attrs = {"color": {"DataType": "String", "StringValue": "red"},
             "count": {"DataType": "Number", "StringValue": "12.5"},
             "blob": {"DataType": "Binary.gz", "BinaryValue": b"\x00\xff"},
             "app.trace": {"DataType": "String", "StringValue": "t"}}
    system = {"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1-5759e988-bd862e3fe1be46a994272793"}}
    sent = sqs.send_message(QueueUrl=url, MessageBody="héllo", MessageAttributes=attrs,
                            MessageSystemAttributes=system)
    assert sent["MD5OfMessageBody"] == hashlib.md5("héllo".encode()).hexdigest()
    [message] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["All"],
                                    MessageSystemAttributeNames=["All"])["Messages"]
    assert message["MessageId"] == sent["MessageId"] and message["Body"] == "héllo"
    assert message["MessageAttributes"] == attrs
    assert message["MD5OfMessageAttributes"] == sent["MD5OfMessageAttributes"]
    assert message["Attributes"]["AWSTraceHeader"] == system["AWSTraceHeader"]["StringValue"]
    assert message["Attributes"]["ApproximateReceiveCount"] == "1"
    assert int(message["Attributes"]["ApproximateFirstReceiveTimestamp"]) >= int(message["Attributes"]["SentTimestamp"])
    sqs.change_message_visibility(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"], VisibilityTimeout=0)
    [again] = sqs.receive_message(QueueUrl=url, MessageAttributeNames=["app.*"])["Messages"]
    assert again["MessageAttributes"] == {"app.trace": attrs["app.trace"]}
    assert again["ReceiptHandle"] != message["ReceiptHandle"]


@pytest.mark.parametrize(("extra", "code"), [
    ({"MessageBody": ""}, "MissingParameter"),
    ({"MessageBody": "bad \x01 char"}, "InvalidMessageContents"),
    ({"MessageBody": "x", "DelaySeconds": 901}, "InvalidParameterValue"),
    ({"MessageBody": "x", "MessageDeduplicationId": "d"}, "InvalidParameterValue"),
    ({"MessageBody": "x", "MessageAttributes": {"AWS.x": {"DataType": "String", "StringValue": "v"}}},
     "InvalidParameterValue"),
    ({"MessageBody": "x", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "abc"}}},
     "InvalidParameterValue"),
    ({"MessageBody": "x", "MessageAttributes": {"s": {"DataType": "String", "StringValue": ""}}},
     "InvalidParameterValue"),
    ({"MessageBody": "x", "MessageAttributes": {f"a{i}": {"DataType": "String", "StringValue": "v"}
                                                for i in range(11)}}, "InvalidParameterValue"),
    ({"MessageBody": "x" * 262_144, "MessageAttributes": {"a": {"DataType": "String", "StringValue": "v"}}},
     "InvalidParameterValue"),
])
def test_bad_messages_are_refused(sqs: Any, unique: str, extra: dict[str, Any], code: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    assert denied(sqs.send_message, QueueUrl=url, **extra)[:2] == (code, 400)
    assert attributes(sqs, url)["ApproximateNumberOfMessages"] == "0"


def test_the_limit_is_256_kib_including_attributes(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="x" * 262_144)
    sqs.send_message(QueueUrl=url, MessageBody="x" * (262_144 - 8),
                     MessageAttributes={"a": {"DataType": "String", "StringValue": "v"}})  # 1 + 6 + 1 bytes


def test_per_message_delay_and_the_counters(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="later", DelaySeconds=2)
    sqs.send_message(QueueUrl=url, MessageBody="now")
    read = attributes(sqs, url)
    assert (read["ApproximateNumberOfMessages"], read["ApproximateNumberOfMessagesDelayed"]) == ("1", "1")
    [first] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert first["Body"] == "now"
    assert attributes(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == "1"
    [second] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=5)["Messages"]
    assert second["Body"] == "later"


def test_visibility_timeout_redelivers_with_a_new_receipt_handle(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody="work")
    [first] = sqs.receive_message(QueueUrl=url, VisibilityTimeout=1)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=url)
    [second] = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=3,
                                   MessageSystemAttributeNames=["ApproximateReceiveCount"])["Messages"]
    assert second["MessageId"] == first["MessageId"]
    assert second["Attributes"]["ApproximateReceiveCount"] == "2"
    # the handle of the earlier receive is stale: the call succeeds, the message stays (API_DeleteMessage)
    sqs.delete_message(QueueUrl=url, ReceiptHandle=first["ReceiptHandle"])
    assert attributes(sqs, url)["ApproximateNumberOfMessagesNotVisible"] == "1"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=second["ReceiptHandle"])
    read = attributes(sqs, url)
    assert (read["ApproximateNumberOfMessages"], read["ApproximateNumberOfMessagesNotVisible"]) == ("0", "0")
    assert denied(sqs.delete_message, QueueUrl=url, ReceiptHandle="garbage")[0] == "ReceiptHandleIsInvalid"


def test_change_message_visibility_rules(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    sqs.send_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "MessageBody": str(i)} for i in range(2)])
    messages = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=2)["Messages"]
    assert len(messages) == 2
    handle = messages[0]["ReceiptHandle"]
    assert denied(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=handle,
                  VisibilityTimeout=43_201)[0] == "InvalidParameterValue"
    result = sqs.change_message_visibility_batch(QueueUrl=url, Entries=[
        {"Id": "a", "ReceiptHandle": handle, "VisibilityTimeout": 0},
        {"Id": "b", "ReceiptHandle": "bogus", "VisibilityTimeout": 0}])
    assert [entry["Id"] for entry in result["Successful"]] == ["a"]
    assert [(entry["Id"], entry["Code"], entry["SenderFault"]) for entry in result["Failed"]] == [
        ("b", "ReceiptHandleIsInvalid", True)]
    assert denied(sqs.change_message_visibility, QueueUrl=url, ReceiptHandle=handle,
                  VisibilityTimeout=10)[0] == "AWS.SimpleQueueService.MessageNotInflight"


@pytest.mark.parametrize(("entries", "code"), [
    ([], "AWS.SimpleQueueService.EmptyBatchRequest"),
    ([{"Id": str(i), "MessageBody": "x"} for i in range(11)], "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"),
    ([{"Id": "a", "MessageBody": "x"}, {"Id": "a", "MessageBody": "y"}],
     "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"),
    ([{"Id": "bad id", "MessageBody": "x"}], "AWS.SimpleQueueService.InvalidBatchEntryId"),
    ([{"Id": str(i), "MessageBody": "x" * 100_000} for i in range(3)], "AWS.SimpleQueueService.BatchRequestTooLong"),
])
def test_batch_wide_errors(sqs: Any, unique: str, entries: list[dict[str, Any]], code: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    assert denied(sqs.send_message_batch, QueueUrl=url, Entries=entries)[:2] == (code, 400)
    assert attributes(sqs, url)["ApproximateNumberOfMessages"] == "0"


def test_batch_entries_fail_alone(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    result = sqs.send_message_batch(QueueUrl=url, Entries=[
        {"Id": "good", "MessageBody": "fine", "DelaySeconds": 0},
        {"Id": "late", "MessageBody": "x", "DelaySeconds": 1000}])
    assert [entry["Id"] for entry in result["Successful"]] == ["good"]
    assert [(entry["Id"], entry["Code"]) for entry in result["Failed"]] == [("late", "InvalidParameterValue")]
    [message] = sqs.receive_message(QueueUrl=url)["Messages"]
    deleted = sqs.delete_message_batch(QueueUrl=url, Entries=[
        {"Id": "x", "ReceiptHandle": message["ReceiptHandle"]}, {"Id": "y", "ReceiptHandle": "bogus"}])
    assert [entry["Id"] for entry in deleted["Successful"]] == ["x"]
    assert [(entry["Id"], entry["Code"]) for entry in deleted["Failed"]] == [("y", "ReceiptHandleIsInvalid")]


def test_receive_parameters_are_checked(sqs: Any, unique: str) -> None:
    url = sqs.create_queue(QueueName=unique)["QueueUrl"]
    for extra in ({"MaxNumberOfMessages": 11}, {"MaxNumberOfMessages": 0}, {"WaitTimeSeconds": 21},
                  {"VisibilityTimeout": 43_201}):
        assert denied(sqs.receive_message, QueueUrl=url, **extra)[0] == "InvalidParameterValue"


# --- dead-letter queues --------------------------------------------------------------------------------------

def test_dead_letter_queue_after_max_receive_count_and_redrive(sqs: Any, unique: str) -> None:
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq")["QueueUrl"]
    dlq_arn = arn_of(sqs, dlq)
    source = sqs.create_queue(QueueName=unique, Attributes={"RedrivePolicy": json.dumps(
        {"deadLetterTargetArn": dlq_arn, "maxReceiveCount": "2"})})["QueueUrl"]
    source_arn = arn_of(sqs, source)
    assert sqs.list_dead_letter_source_queues(QueueUrl=dlq)["queueUrls"] == [source]
    sqs.send_message(QueueUrl=source, MessageBody="poison")
    for _ in range(2):
        [message] = sqs.receive_message(QueueUrl=source, VisibilityTimeout=0)["Messages"]
    assert "Messages" not in sqs.receive_message(QueueUrl=source)     # the third receive moved it
    [dead] = sqs.receive_message(QueueUrl=dlq, VisibilityTimeout=0,
                                 MessageSystemAttributeNames=["All"])["Messages"]
    assert dead["MessageId"] == message["MessageId"] and dead["Body"] == "poison"
    assert dead["Attributes"]["DeadLetterQueueSourceArn"] == source_arn
    assert denied(sqs.start_message_move_task, SourceArn=source_arn)[0] == "InvalidParameterValue"
    handle = sqs.start_message_move_task(SourceArn=dlq_arn)["TaskHandle"]
    deadline = time.time() + 10
    while time.time() < deadline:
        [task] = sqs.list_message_move_tasks(SourceArn=dlq_arn)["Results"]
        if task["Status"] == "COMPLETED":
            break
        time.sleep(0.1)
    assert task["Status"] == "COMPLETED" and task["ApproximateNumberOfMessagesMoved"] == 1
    assert "TaskHandle" not in task
    assert denied(sqs.cancel_message_move_task, TaskHandle=handle)[0] == "AWS.SimpleQueueService.UnsupportedOperation"
    [back] = sqs.receive_message(QueueUrl=source, WaitTimeSeconds=2)["Messages"]
    assert back["MessageId"] == message["MessageId"]


def test_redrive_allow_policy_is_enforced(sqs: Any, unique: str) -> None:
    dlq = sqs.create_queue(QueueName=f"{unique}-dlq", Attributes={
        "RedriveAllowPolicy": json.dumps({"redrivePermission": "denyAll"})})["QueueUrl"]
    redrive = json.dumps({"deadLetterTargetArn": arn_of(sqs, dlq), "maxReceiveCount": 1})
    assert denied(sqs.create_queue, QueueName=unique, Attributes={"RedrivePolicy": redrive})[0] == \
        "InvalidParameterValue"
    fifo = sqs.create_queue(QueueName=f"{unique}-f.fifo", Attributes={"FifoQueue": "true"})["QueueUrl"]
    mixed = json.dumps({"deadLetterTargetArn": arn_of(sqs, fifo), "maxReceiveCount": 1})
    assert denied(sqs.create_queue, QueueName=unique, Attributes={"RedrivePolicy": mixed})[0] == \
        "InvalidParameterValue"
    source_arn = arn_of(sqs, dlq).rsplit(":", 1)[0] + f":{unique}"
    sqs.set_queue_attributes(QueueUrl=dlq, Attributes={"RedriveAllowPolicy": json.dumps(
        {"redrivePermission": "byQueue", "sourceQueueArns": [source_arn]})})
    sqs.create_queue(QueueName=unique, Attributes={"RedrivePolicy": redrive})
