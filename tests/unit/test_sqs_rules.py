"""SQS's pure rules: attribute digests, message and queue attribute checks, FIFO group selection, redrive."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from moto.sqs.models import Message as MotoMessage

from controller.errors import ServiceError
from controller.sqs import fifo, message_rules, queue_attributes, receiving, redrive


def moto_digest(attributes: dict[str, dict[str, Any]]) -> str:
    """moto's implementation of the same algorithm: an independent oracle."""
    message = MotoMessage("id", "body")
    message.message_attributes = attributes
    return message.attribute_md5


def test_the_digest_of_one_string_attribute_byte_by_byte() -> None:
    expected = hashlib.md5(b"\x00\x00\x00\x05color" + b"\x00\x00\x00\x06String" + b"\x01" + b"\x00\x00\x00\x03red")
    assert message_rules.md5_of_attributes({"color": {"DataType": "String", "StringValue": "red"}}) == \
        expected.hexdigest()


def test_the_digest_sorts_names_and_marks_binary_values() -> None:
    attributes = {"b": {"DataType": "Binary", "BinaryValue": b"\x00\x01"},
                  "a": {"DataType": "Number", "StringValue": "1.5"}}
    expected = hashlib.md5(b"\x00\x00\x00\x01a\x00\x00\x00\x06Number\x01\x00\x00\x00\x031.5"
                           b"\x00\x00\x00\x01b\x00\x00\x00\x06Binary\x02\x00\x00\x00\x02\x00\x01")
    assert message_rules.md5_of_attributes(attributes) == expected.hexdigest()
    assert message_rules.md5_of_attributes({}) is None


names = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_-", min_size=1, max_size=12)
values = st.one_of(
    st.builds(lambda kind, text: {"DataType": kind, "StringValue": text},
              st.sampled_from(["String", "Number", "String.custom"]), st.text(min_size=1, max_size=30)),
    st.builds(lambda data: {"DataType": "Binary", "BinaryValue": data}, st.binary(min_size=1, max_size=30)))


@given(st.dictionaries(names, values, min_size=1, max_size=10))
def test_the_digest_agrees_with_an_independent_implementation(attributes: dict[str, dict[str, Any]]) -> None:
    assert message_rules.md5_of_attributes(attributes) == moto_digest(attributes)


@pytest.mark.parametrize(("attributes", "fragment"), [
    ({"AWS.trace": {"DataType": "String", "StringValue": "x"}}, "attribute 'AWS.trace' is invalid"),
    ({"a..b": {"DataType": "String", "StringValue": "x"}}, "is invalid"),
    ({".a": {"DataType": "String", "StringValue": "x"}}, "is invalid"),
    ({"a": {"DataType": "Text", "StringValue": "x"}}, "type of message (user) attribute 'a' is invalid"),
    ({"a": {"DataType": "String", "StringValue": ""}}, "non-empty message attribute value"),
    ({"a": {"DataType": "Number", "StringValue": "1e"}}, "Could not cast"),
    ({"a": {"DataType": "Number", "StringValue": "1" * 39}}, "Could not cast"),
    ({"a": {"DataType": "Binary", "StringValue": "x"}}, "must use field 'Binary'"),
    ({"a": {"DataType": "String", "BinaryValue": b"x"}}, "must use field 'String'"),
    ({f"a{i}": {"DataType": "String", "StringValue": "x"} for i in range(11)}, "exceeds the allowed maximum"),
])
def test_bad_message_attributes(attributes: dict[str, dict[str, Any]], fragment: str) -> None:
    with pytest.raises(ServiceError) as excinfo:
        message_rules.check_attributes(attributes)
    assert excinfo.value.code == "InvalidParameterValue"
    assert fragment in excinfo.value.message


def test_good_message_attributes_pass() -> None:
    message_rules.check_attributes({"a.b-c_d": {"DataType": "Number.float", "StringValue": "-12.5e3"},
                                    "bin": {"DataType": "Binary", "BinaryValue": b"\x00"}})
    message_rules.check_attributes({"AWSTraceHeader": {"DataType": "String", "StringValue": "Root=1"}}, system=True)
    with pytest.raises(ServiceError):
        message_rules.check_attributes({"Other": {"DataType": "String", "StringValue": "x"}}, system=True)


def test_size_counts_names_types_and_values() -> None:
    attributes = {"ab": {"DataType": "String", "StringValue": "xyz"}, "c": {"DataType": "Binary", "BinaryValue": b"12"}}
    assert message_rules.message_size("héllo", attributes) == 6 + (2 + 6 + 3) + (1 + 6 + 2)
    with pytest.raises(ServiceError) as excinfo:
        message_rules.check_size("x" * 1000, attributes, 1000)
    assert "shorter than 1000 bytes" in excinfo.value.message


def test_bodies_with_characters_outside_xml_are_refused() -> None:
    message_rules.check_body("tab\tnew\nline\r emoji \U0001F600")
    for body in ("bell\x07", "nul\x00", "\ufffe"):
        with pytest.raises(ServiceError) as excinfo:
            message_rules.check_body(body)
        assert excinfo.value.code == "InvalidMessageContents"


def test_selecting_message_attributes_by_name_and_prefix() -> None:
    stored = {"app.a": {}, "app.b": {}, "apple": {}, "other": {}}
    assert set(message_rules.select_attributes(stored, ["app.*"])) == {"app.a", "app.b"}
    assert set(message_rules.select_attributes(stored, ["other", "app.a"])) == {"other", "app.a"}
    assert set(message_rules.select_attributes(stored, [".*"])) == set(stored)
    assert message_rules.select_attributes(stored, []) == {}


def test_fifo_pick_prefers_the_oldest_group_and_keeps_each_group_in_order() -> None:
    candidates = [(1, "a"), (2, "b"), (3, "a"), (4, "c"), (5, "b"), (6, "a")]
    assert fifo.pick(candidates, set(), 10) == [1, 3, 6, 2, 5, 4]
    assert fifo.pick(candidates, set(), 4) == [1, 3, 6, 2]
    assert fifo.pick(candidates, {"a"}, 10) == [2, 5, 4]
    assert fifo.pick([], set(), 10) == []


@given(st.lists(st.sampled_from("abcd"), max_size=40), st.integers(min_value=1, max_value=10))
def test_fifo_pick_never_reorders_a_group(groups: list[str], limit: int) -> None:
    candidates = list(enumerate(groups))
    chosen = fifo.pick(candidates, set(), limit)
    assert len(chosen) == min(limit, len(candidates))
    for group in set(groups):
        mine = [seq for seq in chosen if groups[seq] == group]
        assert mine == sorted(mine)
        all_of_group = [seq for seq, g in candidates if g == group]
        assert mine == all_of_group[:len(mine)]        # a prefix: nothing of the group is skipped


def test_queue_attribute_defaults_and_ranges() -> None:
    fifo_flag, attributes = queue_attributes.creation_attributes({}, fifo_name=False)
    assert not fifo_flag and attributes["VisibilityTimeout"] == "30" and attributes["MessageRetentionPeriod"] == "345600"
    fifo_flag, attributes = queue_attributes.creation_attributes({"FifoQueue": "true"}, fifo_name=True)
    assert fifo_flag and attributes["DeduplicationScope"] == "queue"
    for name, value in (("VisibilityTimeout", "43201"), ("DelaySeconds", "x"), ("MaximumMessageSize", "262145"),
                        ("KmsDataKeyReusePeriodSeconds", "59"), ("DeduplicationScope", "group")):
        with pytest.raises(ServiceError) as excinfo:
            queue_attributes.apply_changes(attributes, {name: value}, fifo=True)
        assert excinfo.value.code == "InvalidAttributeValue", name
    with pytest.raises(ServiceError) as excinfo:
        queue_attributes.apply_changes({}, {"ContentBasedDeduplication": "true"}, fifo=False)
    assert excinfo.value.code == "InvalidAttributeName"


def test_redrive_policy_is_normalized_and_checked() -> None:
    text = queue_attributes.normalized("RedrivePolicy", json.dumps({"deadLetterTargetArn": "arn:x", "maxReceiveCount": "5"}))
    assert json.loads(text) == {"deadLetterTargetArn": "arn:x", "maxReceiveCount": 5}
    for document in ({"deadLetterTargetArn": "arn:x", "maxReceiveCount": 0}, {"maxReceiveCount": 3},
                     {"deadLetterTargetArn": "arn:x", "maxReceiveCount": 3, "extra": 1}):
        with pytest.raises(ServiceError):
            queue_attributes.normalized("RedrivePolicy", json.dumps(document))


def test_redrive_allow_policy() -> None:
    source = "arn:aws:sqs:r:111111111111:src"
    by_queue = {"RedriveAllowPolicy": json.dumps({"redrivePermission": "byQueue", "sourceQueueArns": [source]})}
    assert redrive.allows_source({}, source)
    assert redrive.allows_source(by_queue, source) and not redrive.allows_source(by_queue, source + "2")
    assert not redrive.allows_source({"RedriveAllowPolicy": '{"redrivePermission":"denyAll"}'}, source)
    with pytest.raises(ServiceError):
        queue_attributes.normalized("RedriveAllowPolicy", json.dumps({"redrivePermission": "byQueue"}))
    with pytest.raises(ServiceError):
        queue_attributes.normalized("RedriveAllowPolicy", json.dumps(
            {"redrivePermission": "allowAll", "sourceQueueArns": [source]}))


def test_receipt_handles_round_trip_and_refuse_garbage() -> None:
    handle = receiving.parse_handle(receiving.receipt_handle(7, 42, "abc"))
    assert (handle.queue_id, handle.seq, handle.nonce) == (7, 42, "abc")
    for garbage in ("", "not base64!", base64.b64encode(b"1:2").decode()):
        with pytest.raises(ServiceError) as excinfo:
            receiving.parse_handle(garbage)
        assert excinfo.value.code == "ReceiptHandleIsInvalid"
