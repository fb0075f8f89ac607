"""SNS topics, subscriptions and publishing, on a real Cloud: AWS's rules and errors, and read-back."""

from __future__ import annotations

import json
from typing import Any

import pytest

from controller.auth.store import ANONYMOUS
from controller.sns import delivery_policy, envelope, message_rules
from tests.unit.harness import CloudHarness

ACCOUNT = "111111111111"
OTHER = "222222222222"
REGION = "home-1"


class SnsCloud(CloudHarness):
    service = "sns"


@pytest.fixture
def sns(clouds: Any) -> SnsCloud:
    return SnsCloud(clouds.vpc().cloud, ACCOUNT)   # the vpc harness closes the cloud


def arn(name: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:sns:{REGION}:{account}:{name}"


def test_create_topic_is_idempotent_and_reads_back_aws_defaults(sns: SnsCloud) -> None:
    topic = sns.call("CreateTopic", {"Name": "news", "Attributes": {"DisplayName": "News"}})["TopicArn"]
    assert topic == arn("news")
    assert sns.call("CreateTopic", {"Name": "news", "Attributes": {"DisplayName": "News"}})["TopicArn"] == topic
    attributes = sns.call("GetTopicAttributes", {"TopicArn": topic})["Attributes"]
    assert attributes["DisplayName"] == "News"
    assert attributes["Owner"] == ACCOUNT
    assert attributes["SubscriptionsConfirmed"] == "0"
    assert attributes["SubscriptionsPending"] == "0"
    assert attributes["SubscriptionsDeleted"] == "0"
    policy = json.loads(attributes["Policy"])
    assert policy["Id"] == "__default_policy_ID"
    assert policy["Statement"][0]["Condition"] == {"StringEquals": {"AWS:SourceOwner": ACCOUNT}}
    assert json.loads(attributes["EffectiveDeliveryPolicy"])["http"]["defaultHealthyRetryPolicy"]["numRetries"] == 3
    assert "FifoTopic" not in attributes


def test_create_topic_refuses_what_aws_refuses(sns: SnsCloud) -> None:
    sns.call("CreateTopic", {"Name": "news", "Attributes": {"DisplayName": "News"}})
    error = sns.refused("CreateTopic", {"Name": "news", "Attributes": {"DisplayName": "Other"}}, "InvalidParameter")
    assert error.message == "Invalid parameter: Attributes Reason: Topic already exists with different attributes"
    assert sns.refused("CreateTopic", {"Name": "bad name"}, "InvalidParameter").message == \
        "Invalid parameter: Topic Name"
    sns.refused("CreateTopic", {"Name": "plain.fifo"}, "InvalidParameter")
    assert "Fifo Topic names must end with .fifo" in sns.refused(
        "CreateTopic", {"Name": "plain", "Attributes": {"FifoTopic": "true"}}, "InvalidParameter").message
    sns.refused("CreateTopic", {"Name": "x", "Attributes": {"Unknown": "1"}}, "InvalidParameter")
    sns.refused("CreateTopic", {"Name": "x", "Attributes": {"ContentBasedDeduplication": "true"}}, "InvalidParameter")
    sns.refused("CreateTopic", {"Name": "x", "Attributes": {"Policy": "{not json"}}, "InvalidParameter")
    assert [t["TopicArn"] for t in sns.call("ListTopics")["Topics"]] == [arn("news")]


def test_fifo_topic_attributes(sns: SnsCloud) -> None:
    topic = sns.call("CreateTopic", {"Name": "orders.fifo", "Attributes": {
        "FifoTopic": "true", "ContentBasedDeduplication": "TRUE"}})["TopicArn"]
    attributes = sns.call("GetTopicAttributes", {"TopicArn": topic})["Attributes"]
    assert attributes["FifoTopic"] == "true"
    assert attributes["ContentBasedDeduplication"] == "true"
    sns.refused("SetTopicAttributes", {"TopicArn": topic, "AttributeName": "FifoTopic", "AttributeValue": "false"},
                "InvalidParameter")
    sns.refused("Subscribe", {"TopicArn": topic, "Protocol": "http", "Endpoint": "http://example.com/"},
                "InvalidParameter")
    sns.call("Subscribe", {"TopicArn": topic, "Protocol": "sqs", "Endpoint": f"arn:aws:sqs:{REGION}:{ACCOUNT}:plain"})
    standard = sns.call("CreateTopic", {"Name": "plain"})["TopicArn"]
    assert "FIFO SQS Queues can not be subscribed to standard SNS topics" in sns.refused(
        "Subscribe", {"TopicArn": standard, "Protocol": "sqs", "Endpoint": f"arn:aws:sqs:{REGION}:{ACCOUNT}:q.fifo"},
        "InvalidParameter").message


def test_list_topics_pages_by_100(sns: SnsCloud) -> None:
    for index in range(205):
        sns.call("CreateTopic", {"Name": f"t{index:03d}"})
    first = sns.call("ListTopics")
    second = sns.call("ListTopics", {"NextToken": first["NextToken"]})
    third = sns.call("ListTopics", {"NextToken": second["NextToken"]})
    listed = [t["TopicArn"] for page in (first, second, third) for t in page["Topics"]]
    assert len(first["Topics"]) == 100 and len(third["Topics"]) == 5 and "NextToken" not in third
    assert listed == sorted(arn(f"t{index:03d}") for index in range(205))


def test_missing_topics_and_subscriptions_are_not_found(sns: SnsCloud) -> None:
    assert sns.refused("GetTopicAttributes", {"TopicArn": arn("nope")}, "NotFound").message == "Topic does not exist"
    sns.refused("GetTopicAttributes", {"TopicArn": "nope"}, "InvalidParameter")
    sns.refused("Publish", {"TopicArn": arn("nope"), "Message": "hi"}, "NotFound")
    sns.refused("GetSubscriptionAttributes", {"SubscriptionArn": arn("nope") + ":" + "0" * 8 + "-0000-0000-0000-"
                                              + "0" * 12}, "NotFound")
    sns.call("DeleteTopic", {"TopicArn": arn("nope")})   # AWS: deleting a missing topic is not an error


def test_tags_and_permissions(sns: SnsCloud) -> None:
    topic = sns.call("CreateTopic", {"Name": "news", "Tags": [{"Key": "team", "Value": "a"}]})["TopicArn"]
    sns.call("TagResource", {"ResourceArn": topic, "Tags": [{"Key": "env", "Value": "dev"}]})
    sns.call("UntagResource", {"ResourceArn": topic, "TagKeys": ["team"]})
    assert sns.call("ListTagsForResource", {"ResourceArn": topic})["Tags"] == [{"Key": "env", "Value": "dev"}]
    sns.refused("ListTagsForResource", {"ResourceArn": arn("nope")}, "ResourceNotFound")
    sns.refused("TagResource", {"ResourceArn": topic, "Tags": [{"Key": f"k{i}", "Value": ""} for i in range(51)]},
                "TagLimitExceeded")
    sns.call("AddPermission", {"TopicArn": topic, "Label": "friends", "AWSAccountId": [OTHER],
                               "ActionName": ["Publish", "Subscribe"]})
    sns.refused("AddPermission", {"TopicArn": topic, "Label": "friends", "AWSAccountId": [OTHER],
                                  "ActionName": ["Publish"]}, "InvalidParameter")
    sns.refused("AddPermission", {"TopicArn": topic, "Label": "x", "AWSAccountId": [OTHER],
                                  "ActionName": ["CreateTopic"]}, "InvalidParameter")
    statements = json.loads(sns.call("GetTopicAttributes", {"TopicArn": topic})["Attributes"]["Policy"])["Statement"]
    assert statements[1] == {"Sid": "friends", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{OTHER}:root"},
                             "Action": ["SNS:Publish", "SNS:Subscribe"], "Resource": topic}
    sns.call("RemovePermission", {"TopicArn": topic, "Label": "friends"})
    statements = json.loads(sns.call("GetTopicAttributes", {"TopicArn": topic})["Attributes"]["Policy"])["Statement"]
    assert [s["Sid"] for s in statements] == ["__default_statement_ID"]


@pytest.mark.parametrize(("protocol", "endpoint", "message"), [
    ("sqs", "not-an-arn", "Invalid parameter: SQS endpoint ARN"),
    ("http", "https://example.com/x", "Invalid parameter: Endpoint must match the specified protocol"),
    ("https", "ftp://example.com", "Invalid parameter: Endpoint must match the specified protocol"),
    ("email", "nobody", "Invalid parameter: Email address"),
    ("lambda", "arn:aws:sqs:home-1:111111111111:q", "Invalid parameter: Lambda endpoint ARN"),
    ("pigeon", "x", "Invalid parameter: Amazon SNS does not support this protocol string: pigeon"),
    ("sms", "x-xxx-xxx-xxxx", "Invalid SMS endpoint: x-xxx-xxx-xxxx"),
])
def test_subscribe_validates_endpoints(sns: SnsCloud, protocol: str, endpoint: str, message: str) -> None:
    topic = sns.call("CreateTopic", {"Name": "news"})["TopicArn"]
    error = sns.refused("Subscribe", {"TopicArn": topic, "Protocol": protocol, "Endpoint": endpoint},
                        "InvalidParameter")
    assert error.message == message
    assert sns.call("ListSubscriptionsByTopic", {"TopicArn": topic})["Subscriptions"] == []


def test_subscription_lifecycle_and_attributes(sns: SnsCloud) -> None:
    topic = sns.call("CreateTopic", {"Name": "news"})["TopicArn"]
    queue = f"arn:aws:sqs:{REGION}:{ACCOUNT}:inbox"
    sub = sns.call("Subscribe", {"TopicArn": topic, "Protocol": "sqs", "Endpoint": queue})["SubscriptionArn"]
    assert sub.startswith(topic + ":")
    assert sns.call("Subscribe", {"TopicArn": topic, "Protocol": "sqs", "Endpoint": queue})["SubscriptionArn"] == sub
    attributes = sns.call("GetSubscriptionAttributes", {"SubscriptionArn": sub})["Attributes"]
    assert attributes["PendingConfirmation"] == "false"
    assert attributes["ConfirmationWasAuthenticated"] == "true"
    assert attributes["RawMessageDelivery"] == "false"
    assert attributes["Owner"] == ACCOUNT
    sns.call("SetSubscriptionAttributes", {"SubscriptionArn": sub, "AttributeName": "RawMessageDelivery",
                                           "AttributeValue": "true"})
    sns.call("SetSubscriptionAttributes", {"SubscriptionArn": sub, "AttributeName": "FilterPolicy",
                                           "AttributeValue": '{"kind": ["a"]}'})
    attributes = sns.call("GetSubscriptionAttributes", {"SubscriptionArn": sub})["Attributes"]
    assert attributes["RawMessageDelivery"] == "true"
    assert attributes["FilterPolicyScope"] == "MessageAttributes"
    error = sns.refused("SetSubscriptionAttributes", {"SubscriptionArn": sub, "AttributeName": "FilterPolicy",
                                                      "AttributeValue": '{"kind": "a"}'}, "InvalidParameter")
    assert error.message.startswith("Invalid parameter: FilterPolicy: ")
    sns.refused("SetSubscriptionAttributes", {"SubscriptionArn": sub, "AttributeName": "RedrivePolicy",
                                              "AttributeValue": '{"deadLetterTargetArn": "nope"}'}, "InvalidParameter")
    sns.refused("SetSubscriptionAttributes", {"SubscriptionArn": sub, "AttributeName": "Color",
                                              "AttributeValue": "x"}, "InvalidParameter")
    assert sns.call("GetTopicAttributes", {"TopicArn": topic})["Attributes"]["SubscriptionsConfirmed"] == "1"
    sns.call("Unsubscribe", {"SubscriptionArn": sub})
    counts = sns.call("GetTopicAttributes", {"TopicArn": topic})["Attributes"]
    assert (counts["SubscriptionsConfirmed"], counts["SubscriptionsDeleted"]) == ("0", "1")
    sns.refused("Unsubscribe", {"SubscriptionArn": sub}, "NotFound")


def test_email_subscriptions_wait_for_the_token(sns: SnsCloud) -> None:
    topic = sns.call("CreateTopic", {"Name": "news"})["TopicArn"]
    answer = sns.call("Subscribe", {"TopicArn": topic, "Protocol": "email", "Endpoint": "ops@example.com"})
    assert answer["SubscriptionArn"] == "pending confirmation"
    [listed] = sns.call("ListSubscriptions")["Subscriptions"]
    assert listed["SubscriptionArn"] == "PendingConfirmation"
    with sns.db.read() as conn:
        token = conn.exec_driver_sql("SELECT token FROM sns_subscriptions").scalar()
    sns.refused("ConfirmSubscription", {"TopicArn": topic, "Token": "wrong"}, "InvalidParameter")
    sub = sns.call("ConfirmSubscription", {"TopicArn": topic, "Token": token})["SubscriptionArn"]
    assert sns.call("GetSubscriptionAttributes", {"SubscriptionArn": sub})["Attributes"]["PendingConfirmation"] == \
        "false"


@pytest.mark.parametrize(("entry", "code", "message"), [
    ({"Message": ""}, "InvalidParameter", "Invalid parameter: Empty message"),
    ({"Message": "x", "Subject": "s" * 101}, "InvalidParameter", "Invalid parameter: Subject"),
    ({"Message": "x", "Subject": "two\nlines"}, "InvalidParameter", "Invalid parameter: Subject"),
    ({"Message": "x" * 262_145}, "InvalidParameter", "Invalid parameter: Message too long"),
    ({"Message": "x" * 262_140, "MessageAttributes": {"a": {"DataType": "String", "StringValue": "xyz"}}},
     "InvalidParameter", "Invalid parameter: Message too long"),
    ({"Message": "{}", "MessageStructure": "json"}, "InvalidParameter",
     "Invalid parameter: Message Structure - No default entry in JSON message body"),
    ({"Message": "nope", "MessageStructure": "json"}, "InvalidParameter",
     "Invalid parameter: Message Structure - JSON message body failed to parse"),
    ({"Message": "x", "MessageAttributes": {"n": {"DataType": "Number", "StringValue": "ten"}}},
     "ParameterValueInvalid", "Could not cast message attribute 'n' value to number."),
    ({"Message": "x", "MessageAttributes": {"n": {"DataType": "Blob", "StringValue": "ten"}}},
     "ParameterValueInvalid", None),
    ({"Message": "x", "MessageAttributes": {"a": {"DataType": "String.Array", "StringValue": "[{}]"}}},
     "ParameterValueInvalid", None),
    ({"Message": "x", "MessageGroupId": "g"}, "InvalidParameter", None),
])
def test_publish_refuses_bad_messages(sns: SnsCloud, entry: dict[str, Any], code: str, message: str | None) -> None:
    topic = sns.call("CreateTopic", {"Name": "news"})["TopicArn"]
    error = sns.refused("Publish", {"TopicArn": topic, **entry}, code)
    if message is not None:
        assert error.message == message


def test_fifo_publish_needs_group_and_deduplicates(sns: SnsCloud) -> None:
    topic = sns.call("CreateTopic", {"Name": "o.fifo", "Attributes": {"FifoTopic": "true"}})["TopicArn"]
    assert sns.refused("Publish", {"TopicArn": topic, "Message": "x", "MessageDeduplicationId": "d"},
                       "InvalidParameter").message == \
        "Invalid parameter: The MessageGroupId parameter is required for FIFO topics"
    sns.refused("Publish", {"TopicArn": topic, "Message": "x", "MessageGroupId": "g"}, "InvalidParameter")
    first = sns.call("Publish", {"TopicArn": topic, "Message": "x", "MessageGroupId": "g", "MessageDeduplicationId": "d"})
    again = sns.call("Publish", {"TopicArn": topic, "Message": "y", "MessageGroupId": "g", "MessageDeduplicationId": "d"})
    other = sns.call("Publish", {"TopicArn": topic, "Message": "x", "MessageGroupId": "g", "MessageDeduplicationId": "e"})
    assert again == first
    assert int(other["SequenceNumber"]) > int(first["SequenceNumber"]) and len(first["SequenceNumber"]) == 20


def test_publish_batch_reports_each_entry(sns: SnsCloud) -> None:
    topic = sns.call("CreateTopic", {"Name": "news"})["TopicArn"]
    result = sns.call("PublishBatch", {"TopicArn": topic, "PublishBatchRequestEntries": [
        {"Id": "ok", "Message": "hello"}, {"Id": "bad", "Message": "x", "Subject": ""}]})
    assert [entry["Id"] for entry in result["Successful"]] == ["ok"]
    assert result["Failed"] == [{"Id": "bad", "Code": "InvalidParameter", "Message": "Invalid parameter: Subject",
                                 "SenderFault": True}]
    sns.refused("PublishBatch", {"TopicArn": topic, "PublishBatchRequestEntries": []}, "EmptyBatchRequest")
    sns.refused("PublishBatch", {"TopicArn": topic, "PublishBatchRequestEntries": [
        {"Id": str(i), "Message": "x"} for i in range(11)]}, "TooManyEntriesInBatchRequest")
    sns.refused("PublishBatch", {"TopicArn": topic, "PublishBatchRequestEntries": [
        {"Id": "a", "Message": "x"}, {"Id": "a", "Message": "y"}]}, "BatchEntryIdsNotDistinct")
    sns.refused("PublishBatch", {"TopicArn": topic, "PublishBatchRequestEntries": [
        {"Id": "a b", "Message": "x"}]}, "InvalidBatchEntryId")
    sns.refused("PublishBatch", {"TopicArn": topic, "PublishBatchRequestEntries": [
        {"Id": "a", "Message": "x" * 200_000}, {"Id": "b", "Message": "y" * 100_000}]}, "BatchRequestTooLong")


def test_message_structure_picks_the_protocol_payload() -> None:
    message = message_rules.check_message(
        {"Message": json.dumps({"default": "plain", "sqs": "for queues"}), "MessageStructure": "json"},
        fifo=False, content_dedup=False)
    assert envelope.payload_for(message, "sqs") == "for queues"
    assert envelope.payload_for(message, "email") == "plain"


def test_notification_document_has_aws_fields_in_order() -> None:
    message = {"message": "hi", "subject": "S", "attributes": {"a": {"DataType": "String", "StringValue": "1"}},
               "published_at": 1_700_000_000_123, "sequence_number": None}
    document = envelope.notification(message, message_id="m", topic_arn=arn("t"), text="hi",
                                      subscription_arn=arn("t") + ":s", endpoint_url="http://x:1",
                                      signature_version="1")
    assert list(document) == ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp", "SignatureVersion",
                              "UnsubscribeURL", "MessageAttributes"]
    assert document["Timestamp"] == "2023-11-14T22:13:20.123Z"
    assert document["MessageAttributes"] == {"a": {"Type": "String", "Value": "1"}}


def test_unsigned_unsubscribe_works_unless_confirmation_was_authenticated(sns: SnsCloud) -> None:
    topic = sns.call("CreateTopic", {"Name": "news"})["TopicArn"]
    subs = [sns.call("Subscribe", {"TopicArn": topic, "Protocol": "email", "Endpoint": f"u{i}@example.com",
                                   "ReturnSubscriptionArn": True})["SubscriptionArn"] for i in range(2)]
    with sns.db.read() as conn:
        tokens = dict(conn.exec_driver_sql("SELECT arn, token FROM sns_subscriptions").all())
    sns.call("ConfirmSubscription", {"TopicArn": topic, "Token": tokens[subs[0]]}, principal=ANONYMOUS)
    sns.call("ConfirmSubscription", {"TopicArn": topic, "Token": tokens[subs[1]],
                                     "AuthenticateOnUnsubscribe": "true"})
    assert sns.call("GetSubscriptionAttributes", {"SubscriptionArn": subs[1]})["Attributes"][
        "ConfirmationWasAuthenticated"] == "true"
    sns.call("Unsubscribe", {"SubscriptionArn": subs[0]}, principal=ANONYMOUS)
    sns.refused("Unsubscribe", {"SubscriptionArn": subs[1]}, "AuthorizationError", principal=ANONYMOUS)
    assert [s["SubscriptionArn"] for s in sns.call("ListSubscriptionsByTopic", {"TopicArn": topic})[
        "Subscriptions"]] == [subs[1]]


def test_list_subscriptions_pages_by_100(sns: SnsCloud) -> None:
    topic = sns.call("CreateTopic", {"Name": "many"})["TopicArn"]
    for index in range(150):
        sns.call("Subscribe", {"TopicArn": topic, "Protocol": "sms", "Endpoint": f"+1555000{index:04d}"})
    first = sns.call("ListSubscriptions")
    second = sns.call("ListSubscriptions", {"NextToken": first["NextToken"]})
    by_topic = sns.call("ListSubscriptionsByTopic", {"TopicArn": topic})
    assert (len(first["Subscriptions"]), len(second["Subscriptions"]), len(by_topic["Subscriptions"])) == (100, 50, 100)
    assert "NextToken" not in second
    endpoints = {s["Endpoint"] for s in first["Subscriptions"] + second["Subscriptions"]}
    assert len(endpoints) == 150


def test_delivery_policies_are_checked_and_managed_retries_follow_aws() -> None:
    with pytest.raises(delivery_policy.PolicyInvalid):
        delivery_policy.parse('{"http": {"defaultHealthyRetryPolicy": {"numRetries": 101}}}', topic=True)
    with pytest.raises(delivery_policy.PolicyInvalid):
        delivery_policy.parse('{"healthyRetryPolicy": {"minDelayTarget": 30, "maxDelayTarget": 10}}', topic=False)
    delays = [delivery_policy.managed_retry_delay(retry) for retry in (1, 3, 4, 5, 6, 15, 16, 100_015, 100_016)]
    assert delays == [0.0, 0.0, 1.0, 1.0, 1.0, 20.0, 20.0, 20.0, None]
    topic_policy = '{"http": {"defaultHealthyRetryPolicy": {"numRetries": 5}, "disableSubscriptionOverrides": true}}'
    assert delivery_policy.http_retry_policy(topic_policy, '{"healthyRetryPolicy": {"numRetries": 9}}')[
        "numRetries"] == 5


def test_only_the_urls_sns_sends_work_unsigned(sns: SnsCloud) -> None:
    policy = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "SNS:Publish", "Resource": arn("open")}]})
    topic = sns.call("CreateTopic", {"Name": "open", "Attributes": {"Policy": policy}})["TopicArn"]
    sns.refused("Publish", {"TopicArn": topic, "Message": "x"}, "MissingAuthenticationToken", principal=ANONYMOUS)
    sns.refused("ListTopics", {}, "MissingAuthenticationToken", principal=ANONYMOUS)


class KmsCloud(CloudHarness):
    service = "kms"


def test_publishing_to_an_encrypted_topic_needs_a_usable_key(sns: SnsCloud) -> None:
    kms = KmsCloud(sns.cloud, ACCOUNT)
    key_id = kms.call("CreateKey", {})["KeyMetadata"]["KeyId"]
    topic = sns.call("CreateTopic", {"Name": "secret", "Attributes": {"KmsMasterKeyId": key_id}})["TopicArn"]
    assert sns.call("GetTopicAttributes", {"TopicArn": topic})["Attributes"]["KmsMasterKeyId"] == key_id
    sns.call("Publish", {"TopicArn": topic, "Message": "fine"})
    kms.call("DisableKey", {"KeyId": key_id})
    sns.refused("Publish", {"TopicArn": topic, "Message": "x"}, "KMSDisabled")
    sns.refused("PublishBatch", {"TopicArn": topic, "PublishBatchRequestEntries": [{"Id": "a", "Message": "x"}]},
                "KMSDisabled")
    sns.call("SetTopicAttributes", {"TopicArn": topic, "AttributeName": "KmsMasterKeyId",
                                    "AttributeValue": "alias/missing"})
    sns.refused("Publish", {"TopicArn": topic, "Message": "x"}, "KMSNotFound")
    sns.call("SetTopicAttributes", {"TopicArn": topic, "AttributeName": "KmsMasterKeyId",
                                    "AttributeValue": "alias/aws/sns"})    # AWS's managed key, made on first use
    sns.call("Publish", {"TopicArn": topic, "Message": "fine again"})
