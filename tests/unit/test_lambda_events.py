"""The pure rules of Lambda's asynchronous invocation and event sources: retry schedule, records, event shapes."""

from __future__ import annotations

import json

import pytest

from controller.awslambda.errors import InvalidParameterValueException
from controller.awslambda.events import async_rules, event_filters, sqs_records
from controller.awslambda.events.async_rules import EventSettings, Progress
from controller.awslambda.events.sns_source import sns_event
from controller.awslambda.events.sqs_poller import MappingSpec, fit_payload
from controller.sqs.receiving import Received

DELAYS = [60.0, 120.0]
T0 = 1_700_000_000_000


def test_settings_default_to_two_retries_and_six_hours() -> None:
    assert EventSettings.of(None) == EventSettings(2, 21_600, None, None)
    chosen = EventSettings.of({"MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60, "DestinationConfig": {
        "OnSuccess": {}, "OnFailure": {"Destination": "arn:aws:sqs:home-1:111111111111:dlq"}}})
    assert chosen == EventSettings(0, 60, None, "arn:aws:sqs:home-1:111111111111:dlq")


def test_function_errors_retry_after_a_minute_then_two_then_are_exhausted() -> None:
    settings = EventSettings()
    first = async_rules.after_attempt(settings, Progress(T0), async_rules.FUNCTION_ERROR, T0 + 5, DELAYS)
    assert (first.retry_at_ms, first.progress.attempts) == (T0 + 5 + 60_000, 1)
    second = async_rules.after_attempt(settings, first.progress, async_rules.FUNCTION_ERROR, T0 + 70_000, DELAYS)
    assert (second.retry_at_ms, second.progress.attempts) == (T0 + 70_000 + 120_000, 2)
    third = async_rules.after_attempt(settings, second.progress, async_rules.FUNCTION_ERROR, T0 + 200_000, DELAYS)
    assert (third.retry_at_ms, third.condition, third.progress.attempts) == (None, "RetriesExhausted", 3)


def test_zero_retries_fail_at_once_and_success_is_recorded_with_its_count() -> None:
    none = async_rules.after_attempt(EventSettings(max_retries=0), Progress(T0), async_rules.FUNCTION_ERROR, T0,
                                     DELAYS)
    assert (none.condition, none.progress.attempts) == ("RetriesExhausted", 1)
    after_one_retry = async_rules.after_attempt(EventSettings(), Progress(T0, attempts=1), async_rules.SUCCESS, T0,
                                                DELAYS)
    assert (after_one_retry.condition, after_one_retry.progress.attempts) == ("Success", 2)


def test_throttles_back_off_exponentially_without_counting_as_retries_until_the_event_expires() -> None:
    assert [async_rules.backoff_seconds(n) for n in (1, 2, 3, 9, 30)] == [1.0, 2.0, 4.0, 256.0, 300.0]
    settings = EventSettings(max_age_seconds=60)
    throttled = async_rules.after_attempt(settings, Progress(T0, attempts=1), async_rules.THROTTLED, T0 + 1000,
                                          DELAYS)
    assert (throttled.retry_at_ms, throttled.progress.attempts, throttled.progress.throttles) == (T0 + 2000, 1, 1)
    # A retry never waits past the event's maximum age: it is then discarded as EventAgeExceeded.
    late = async_rules.after_attempt(settings, Progress(T0), async_rules.FUNCTION_ERROR, T0 + 30_000, DELAYS)
    assert late.retry_at_ms == T0 + 60_000
    assert not async_rules.expired(settings, Progress(T0), T0 + 59_999)
    assert async_rules.expired(settings, Progress(T0), T0 + 60_000)


def test_a_deleted_function_drops_the_event_without_a_record() -> None:
    gone = async_rules.after_attempt(EventSettings(), Progress(T0), async_rules.GONE, T0, DELAYS)
    assert (gone.retry_at_ms, gone.condition) == (None, None)


def test_the_invocation_record_is_awss_document() -> None:
    result = {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled",
              "payload": '{"errorMessage": "boom", "errorType": "Exception"}'}
    record = async_rules.invocation_record(
        request_id="r-1", function_arn="arn:aws:lambda:home-1:111111111111:function:f:$LATEST",
        condition="RetriesExhausted", invoke_count=3, payload=b'{"order": 7}', result=result, now_ms=T0 + 568)
    assert record == {
        "version": "1.0", "timestamp": "2023-11-14T22:13:20.568Z",
        "requestContext": {"requestId": "r-1", "functionArn": "arn:aws:lambda:home-1:111111111111:function:f:$LATEST",
                           "condition": "RetriesExhausted", "approximateInvokeCount": 3},
        "requestPayload": {"order": 7},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST", "functionError": "Unhandled"},
        "responsePayload": {"errorMessage": "boom", "errorType": "Exception"}}
    never_ran = async_rules.invocation_record(request_id="r-2", function_arn="f", condition="EventAgeExceeded",
                                              invoke_count=0, payload=b"{}", result=None, now_ms=T0)
    assert "responseContext" not in never_ran and "responsePayload" not in never_ran
    assert async_rules.qualified_arn("arn:f", "arn:f") == "arn:f:$LATEST"
    assert async_rules.qualified_arn("arn:f:live", "arn:f") == "arn:f:live"


def test_dead_letter_attributes_carry_the_request_the_code_and_a_truncated_message() -> None:
    result = {"statusCode": 200, "executedVersion": "1", "functionError": "Unhandled",
              "payload": json.dumps({"errorMessage": "é" * 700})}
    attributes = async_rules.dead_letter_attributes("r-1", result, "RetriesExhausted")
    assert attributes["RequestID"] == {"DataType": "String", "StringValue": "r-1"}
    assert attributes["ErrorCode"] == {"DataType": "Number", "StringValue": "200"}
    assert len(attributes["ErrorMessage"]["StringValue"].encode()) <= 1024
    assert attributes["ErrorMessage"]["StringValue"] == "é" * 512
    expired = async_rules.dead_letter_attributes("r-2", None, "EventAgeExceeded")
    assert expired["ErrorMessage"]["StringValue"] == "Event age exceeded"


def _received(seq: int, body: str, **extra: object) -> Received:
    values: dict[str, object] = dict(
        seq=seq, message_id=f"m-{seq}", receipt_handle=f"h-{seq}", body=body, message_attributes=None,
        system_attributes=None, md5_body="d41d8cd98f00b204e9800998ecf8427e", sender_id="AIDAEXAMPLE",
        sent_at=T0, receive_count=1, first_received_at=T0 + 3, group_id=None, dedup_id=None, dead_letter_source=None)
    values.update(extra)
    return Received(**values)  # type: ignore[arg-type]


def test_sqs_records_have_awss_shape() -> None:
    message = _received(1, "hello", message_attributes={
        "color": {"DataType": "String", "StringValue": "red"}, "raw": {"DataType": "Binary", "BinaryValue": "AQI="}})
    record = sqs_records.sqs_record(message, queue_arn="arn:aws:sqs:home-1:111111111111:q", region="home-1",
                                    fifo=False)
    assert record == {
        "messageId": "m-1", "receiptHandle": "h-1", "body": "hello",
        "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(T0), "SenderId": "AIDAEXAMPLE",
                       "ApproximateFirstReceiveTimestamp": str(T0 + 3)},
        "messageAttributes": {
            "color": {"stringValue": "red", "stringListValues": [], "binaryListValues": [], "dataType": "String"},
            "raw": {"binaryValue": "AQI=", "stringListValues": [], "binaryListValues": [], "dataType": "Binary"}},
        "md5OfBody": "d41d8cd98f00b204e9800998ecf8427e", "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:home-1:111111111111:q", "awsRegion": "home-1"}
    fifo = sqs_records.sqs_record(_received(2, "x", group_id="g", dedup_id="d"), queue_arn="q.fifo", region="r",
                                  fifo=True)
    assert (fifo["attributes"]["MessageGroupId"], fifo["attributes"]["MessageDeduplicationId"]) == ("g", "d")
    assert fifo["attributes"]["SequenceNumber"].isdigit()


@pytest.mark.parametrize(("answer", "failed"), [
    (b"", set()), (b"null", set()), (b"{}", set()), (b'{"batchItemFailures": []}', set()),
    (b'{"batchItemFailures": null}', set()),
    (b'{"batchItemFailures": [{"itemIdentifier": "b"}]}', {"b"}),
    (b'{"batchItemFailures": [{"itemIdentifier": "a"}, {"itemIdentifier": "c"}]}', {"a", "c"}),
    (b'not json', {"a", "b", "c"}),
    (b'{"batchItemFailures": [{"itemIdentifier": ""}]}', {"a", "b", "c"}),
    (b'{"batchItemFailures": [{"itemIdentifier": null}]}', {"a", "b", "c"}),
    (b'{"batchItemFailures": [{"itemId": "a"}]}', {"a", "b", "c"}),
    (b'{"batchItemFailures": [{"itemIdentifier": "zzz"}]}', {"a", "b", "c"}),
])
def test_partial_batch_responses_follow_awss_rules(answer: bytes, failed: set[str]) -> None:
    assert sqs_records.failed_items(answer, ["a", "b", "c"], function_error=False, report_failures=True) == failed


def test_without_reporting_only_a_function_error_fails_the_batch() -> None:
    report = b'{"batchItemFailures": [{"itemIdentifier": "a"}]}'
    assert sqs_records.failed_items(report, ["a", "b"], function_error=False, report_failures=False) == set()
    assert sqs_records.failed_items(report, ["a", "b"], function_error=True, report_failures=True) == {"a", "b"}


def test_batches_are_cut_to_the_payload_limit() -> None:
    records = [{"body": "x" * 100} for _ in range(10)]
    assert fit_payload(records) == 10
    fits = fit_payload(records, limit=500)
    assert len(json.dumps({"Records": records[:fits]})) <= 500 < len(json.dumps({"Records": records[:fits + 1]}))
    assert fit_payload([{"body": "x" * 1000}], limit=10) == 1


def test_filter_patterns_match_as_eventbridge_patterns_do() -> None:
    record = {"body": json.dumps({"kind": "order", "total": 12, "tags": ["a", "b"]}), "attributes": {}}
    view = event_filters.sqs_view(record)
    assert event_filters.matches({"body": {"kind": ["order"]}}, view)
    assert event_filters.matches({"body": {"total": [{"numeric": [">", 10, "<=", 12]}]}}, view)
    assert not event_filters.matches({"body": {"total": [{"numeric": [">", 12]}]}}, view)
    assert event_filters.matches({"body": {"tags": ["b"]}, "attributes": {"x": [{"exists": False}]}}, view)
    assert event_filters.matches({"body": {"kind": [{"prefix": "ord"}, "refund"]}}, view)
    assert not event_filters.matches({"body": {"kind": [{"anything-but": ["order"]}]}}, view)
    assert not event_filters.matches({"body": {"total": ["12"]}}, view)
    plain = event_filters.sqs_view({"body": "not json"})
    assert not event_filters.matches({"body": {"kind": ["order"]}}, plain)
    criteria = {"Filters": [{"Pattern": '{"body": {"kind": ["refund"]}}'}, {"Pattern": '{"body": {"total": [12]}}'}]}
    assert event_filters.keeps(criteria, record) and event_filters.keeps(None, record)


@pytest.mark.parametrize("pattern", [
    "not json", "[]", "{}", '{"body": "order"}', '{"body": {"k": [{"regex": "x"}]}}', '{"body": {"k": [{"prefix": 1}]}}',
    '{"body": {"k": [{"numeric": [">"]}]}}', '{"body": {"k": [{"numeric": [[">"], 1]}]}}',
    '{"body": {"k": [{"exists": "yes"}]}}', '{"body": {"k": [["nested"]]}}'])
def test_invalid_filter_patterns_are_refused(pattern: str) -> None:
    with pytest.raises(InvalidParameterValueException):
        event_filters.check_criteria({"Filters": [{"Pattern": pattern}]})


def test_the_sns_event_is_awss_with_lambdas_spelling() -> None:
    notification = {"Type": "Notification", "MessageId": "m", "TopicArn": "arn:aws:sns:home-1:111111111111:t",
                    "Message": "hi", "Timestamp": "2026-12-04T19:00:00.000Z", "SignatureVersion": "1",
                    "UnsubscribeURL": "http://u", "Signature": "sig", "SigningCertURL": "http://c"}
    event = sns_event("arn:aws:sns:home-1:111111111111:t:sub", notification)
    [record] = event["Records"]
    assert (record["EventVersion"], record["EventSource"], record["EventSubscriptionArn"]) == (
        "1.0", "aws:sns", "arn:aws:sns:home-1:111111111111:t:sub")
    assert list(record["Sns"]) == ["Type", "MessageId", "TopicArn", "Subject", "Message", "Timestamp",
                                   "SignatureVersion", "Signature", "SigningCertUrl", "UnsubscribeUrl",
                                   "MessageAttributes"]
    assert (record["Sns"]["Subject"], record["Sns"]["MessageAttributes"]) == (None, {})


def test_mapping_specs_take_their_settings_from_the_row() -> None:
    row = {"uuid": "u", "account_id": "1", "region": "home-1", "function_arn": "f", "event_source_arn": "q",
           "config": {"BatchSize": 100, "MaximumBatchingWindowInSeconds": 2,
                      "FunctionResponseTypes": ["ReportBatchItemFailures"], "ScalingConfig": {"MaximumConcurrency": 2}}}
    spec = MappingSpec.of(row)
    assert (spec.batch_size, spec.window_seconds, spec.report_failures, spec.pollers) == (100, 2, True, 2)
