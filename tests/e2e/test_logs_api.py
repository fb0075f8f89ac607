"""CloudWatch Logs over boto3 against a real ``cloudlet up``: groups, streams, events, paging, filters,
retention and tags, with the errors AWS answers."""

from __future__ import annotations

import contextlib
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.e2e.helpers import Cleanup, allow, denied, document, new_user
from tests.support import CloudletProcess

pytestmark = pytest.mark.e2e


@pytest.fixture
def logs(cloudlet: CloudletProcess) -> Any:
    return cloudlet.client("logs")


@pytest.fixture
def group(logs: Any, unique: str) -> Iterator[str]:
    name = f"/cloudlet/{unique}"
    logs.create_log_group(logGroupName=name)
    yield name
    with contextlib.suppress(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_group(logGroupName=name)


def now_ms() -> int:
    return int(time.time() * 1000)


def code_of(error: ClientError) -> str:
    return error.response["Error"]["Code"]


def put(logs: Any, group: str, stream: str, messages: list[str], start: int | None = None) -> int:
    """Put ``messages`` one millisecond apart, starting at ``start`` (a second ago by default)."""
    start = now_ms() - 1000 if start is None else start
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": start + i, "message": m} for i, m in enumerate(messages)])
    return start


# --- groups -------------------------------------------------------------------------------------------

def test_create_describe_and_delete_log_group(logs: Any, unique: str, cloudlet: CloudletProcess) -> None:
    name = f"/app/{unique}"
    logs.create_log_group(logGroupName=name, tags={"team": "a"}, logGroupClass="INFREQUENT_ACCESS")
    with pytest.raises(ClientError) as exists:
        logs.create_log_group(logGroupName=name)
    assert code_of(exists.value) == "ResourceAlreadyExistsException"
    [described] = logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"]
    arn = f"arn:aws:logs:{cloudlet.region}:{described['arn'].split(':')[4]}:log-group:{name}"
    assert described["arn"] == f"{arn}:*" and described["logGroupArn"] == arn
    assert described["storedBytes"] == 0 and "retentionInDays" not in described
    assert described["logGroupClass"] == "INFREQUENT_ACCESS"
    assert logs.list_tags_for_resource(resourceArn=arn)["tags"] == {"team": "a"}
    logs.delete_log_group(logGroupName=name)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"] == []
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.delete_log_group(logGroupName=name)


def test_deletion_protection_blocks_deleting_the_group_and_its_streams(logs: Any, unique: str) -> None:
    name = f"/protected/{unique}"
    logs.create_log_group(logGroupName=name, deletionProtectionEnabled=True)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["deletionProtectionEnabled"] is True
    with pytest.raises(ClientError, match="deletion protection enabled") as refused:
        logs.delete_log_group(logGroupName=name)
    assert code_of(refused.value) == "ValidationException"
    with pytest.raises(ClientError, match="deletion protection enabled"):
        logs.delete_log_stream(logGroupName=name, logStreamName="s")
    logs.put_log_group_deletion_protection(logGroupIdentifier=name, deletionProtectionEnabled=False)
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["deletionProtectionEnabled"] is False
    logs.delete_log_stream(logGroupName=name, logStreamName="s")
    logs.delete_log_group(logGroupName=name)


@pytest.mark.parametrize("name", ["", "bad:name", "x" * 513, "with space"])
def test_invalid_group_names_are_refused(cloudlet: CloudletProcess, name: str) -> None:
    unchecked = cloudlet.client("logs", parameter_validation=False)
    with pytest.raises(ClientError) as refused:
        unchecked.create_log_group(logGroupName=name)
    assert code_of(refused.value) == "InvalidParameterException"
    assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400
    assert "at 'logGroupName' failed to satisfy constraint" in refused.value.response["Error"]["Message"]


def test_reserved_aws_prefix_is_refused(logs: Any, unique: str) -> None:
    with pytest.raises(logs.exceptions.InvalidParameterException, match="reserved for AWS"):
        logs.create_log_group(logGroupName=f"aws/{unique}")


def test_describe_log_groups_pages_and_matches_patterns(logs: Any, unique: str) -> None:
    names = [f"/page/{unique}/g{i:02d}" for i in range(7)] + [f"/page/{unique}/Other"]
    for name in names:
        logs.create_log_group(logGroupName=name)
    try:
        seen, token = [], None
        while True:
            page = logs.describe_log_groups(logGroupNamePrefix=f"/page/{unique}/", limit=3,
                                            **({"nextToken": token} if token else {}))
            assert len(page["logGroups"]) <= 3
            seen += [g["logGroupName"] for g in page["logGroups"]]
            token = page.get("nextToken")
            if not token:
                break
        assert seen == sorted(names)
        matched = logs.describe_log_groups(logGroupNamePattern=f"{unique}/oth")["logGroups"]
        assert [g["logGroupName"] for g in matched] == [f"/page/{unique}/Other"]
        with pytest.raises(logs.exceptions.InvalidParameterException):
            logs.describe_log_groups(logGroupNamePrefix="/page", logGroupNamePattern="page")
        with pytest.raises(logs.exceptions.InvalidParameterException):
            logs.describe_log_groups(limit=51)
    finally:
        for name in names:
            logs.delete_log_group(logGroupName=name)


def test_retention_policy_values_and_enforcement(logs: Any, group: str) -> None:
    with pytest.raises(logs.exceptions.InvalidParameterException, match="enum value set"):
        logs.put_retention_policy(logGroupName=group, retentionInDays=2)
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    old = now_ms() - 3 * 86_400_000
    put(logs, group, "s", ["old event"], start=old)
    put(logs, group, "s", ["new event"])
    assert len(logs.filter_log_events(logGroupName=group)["events"]) == 2
    logs.put_retention_policy(logGroupName=group, retentionInDays=1)
    [described] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["retentionInDays"] == 1 and described["storedBytes"] == len("new event")
    assert [e["message"] for e in logs.filter_log_events(logGroupName=group)["events"]] == ["new event"]
    rejected = logs.put_log_events(logGroupName=group, logStreamName="s",
                                   logEvents=[{"timestamp": old, "message": "late"}])
    assert rejected["rejectedLogEventsInfo"] == {"expiredLogEventEndIndex": 0}
    logs.delete_retention_policy(logGroupName=group)
    assert "retentionInDays" not in logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]


def test_tags_by_arn_and_by_name(logs: Any, group: str) -> None:
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupArn"]
    logs.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    logs.untag_resource(resourceArn=arn, tagKeys=["a"])
    logs.tag_log_group(logGroupName=group, tags={"c": "3"})
    assert logs.list_tags_log_group(logGroupName=group)["tags"] == {"b": "2", "c": "3"}
    missing = arn.replace(group, group + "-missing")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.list_tags_for_resource(resourceArn=missing)


# --- streams ------------------------------------------------------------------------------------------

def test_streams_describe_order_and_timestamps(logs: Any, group: str) -> None:
    for name in ("b", "a", "c"):
        logs.create_log_stream(logGroupName=group, logStreamName=name)
    with pytest.raises(logs.exceptions.ResourceAlreadyExistsException):
        logs.create_log_stream(logGroupName=group, logStreamName="a")
    start = now_ms() - 10_000
    put(logs, group, "c", ["one", "two"], start=start)
    put(logs, group, "a", ["three"], start=start + 5000)
    by_name = logs.describe_log_streams(logGroupName=group)["logStreams"]
    assert [s["logStreamName"] for s in by_name] == ["a", "b", "c"]
    c = by_name[2]
    assert c["firstEventTimestamp"] == start and c["lastEventTimestamp"] == start + 1
    assert c["lastIngestionTime"] >= start and c["arn"].endswith(f"log-group:{group}:log-stream:c")
    assert "firstEventTimestamp" not in by_name[1]
    latest = logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", descending=True)
    assert [s["logStreamName"] for s in latest["logStreams"]] == ["a", "c", "b"]
    paged = logs.describe_log_streams(logGroupName=group, limit=2)
    rest = logs.describe_log_streams(logGroupName=group, limit=2, nextToken=paged["nextToken"])
    assert [s["logStreamName"] for s in paged["logStreams"] + rest["logStreams"]] == ["a", "b", "c"]
    assert "nextToken" not in rest
    with pytest.raises(logs.exceptions.InvalidParameterException, match="LastEventTime"):
        logs.describe_log_streams(logGroupName=group, orderBy="LastEventTime", logStreamNamePrefix="a")
    logs.delete_log_stream(logGroupName=group, logStreamName="c")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.get_log_events(logGroupName=group, logStreamName="c")
    [described] = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"]
    assert described["storedBytes"] == len("three")


def test_stream_in_missing_group_is_not_found(logs: Any, unique: str) -> None:
    with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log group does not exist"):
        logs.create_log_stream(logGroupName=f"/missing/{unique}", logStreamName="s")


# --- PutLogEvents -------------------------------------------------------------------------------------

def test_put_log_events_rules(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    now = now_ms()
    with pytest.raises(logs.exceptions.InvalidParameterException, match="chronological"):
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": now, "message": "b"}, {"timestamp": now - 1, "message": "a"}])
    with pytest.raises(logs.exceptions.InvalidParameterException, match="24 hours"):
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": now - 2 * 86_400_000, "message": "a"}, {"timestamp": now, "message": "b"}])
    with pytest.raises(logs.exceptions.InvalidParameterException, match="too large"):
        logs.put_log_events(logGroupName=group, logStreamName="s", logEvents=[
            {"timestamp": now, "message": "x" * 600_000}, {"timestamp": now, "message": "y" * 600_000}])
    answer = logs.put_log_events(logGroupName=group, logStreamName="s", sequenceToken="anything", logEvents=[
        {"timestamp": now - 15 * 86_400_000, "message": "too old"},
        {"timestamp": now, "message": "kept"},
        {"timestamp": now + 3 * 3_600_000, "message": "too new"}])
    assert answer["rejectedLogEventsInfo"] == {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 2}
    assert answer["nextSequenceToken"]
    events = logs.get_log_events(logGroupName=group, logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["kept"]
    with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log stream does not exist"):
        logs.put_log_events(logGroupName=group, logStreamName="nope",
                            logEvents=[{"timestamp": now, "message": "x"}])


# --- GetLogEvents -------------------------------------------------------------------------------------

def test_get_log_events_tokens_as_aws(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    start = put(logs, group, "s", [f"m{i}" for i in range(10)])
    tail = logs.get_log_events(logGroupName=group, logStreamName="s", limit=4)
    assert [e["message"] for e in tail["events"]] == ["m6", "m7", "m8", "m9"]
    assert tail["nextForwardToken"].startswith("f/") and tail["nextBackwardToken"].startswith("b/")
    back = logs.get_log_events(logGroupName=group, logStreamName="s", limit=4, nextToken=tail["nextBackwardToken"])
    assert [e["message"] for e in back["events"]] == ["m2", "m3", "m4", "m5"]
    first = logs.get_log_events(logGroupName=group, logStreamName="s", limit=4, nextToken=back["nextBackwardToken"])
    assert [e["message"] for e in first["events"]] == ["m0", "m1"]
    done = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=first["nextBackwardToken"])
    assert done["events"] == [] and done["nextBackwardToken"] == first["nextBackwardToken"]
    head = logs.get_log_events(logGroupName=group, logStreamName="s", startFromHead=True, limit=3)
    assert [e["message"] for e in head["events"]] == ["m0", "m1", "m2"]
    forward = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=head["nextForwardToken"])
    assert [e["message"] for e in forward["events"]] == [f"m{i}" for i in range(3, 10)]
    end = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=forward["nextForwardToken"])
    assert end["events"] == [] and end["nextForwardToken"] == forward["nextForwardToken"]
    put(logs, group, "s", ["later"], start=start + 100)
    more = logs.get_log_events(logGroupName=group, logStreamName="s", nextToken=end["nextForwardToken"])
    assert [e["message"] for e in more["events"]] == ["later"]
    window = logs.get_log_events(logGroupName=group, logStreamName="s", startTime=start + 2, endTime=start + 5,
                                 startFromHead=True)
    assert [e["message"] for e in window["events"]] == ["m2", "m3", "m4"]
    with pytest.raises(logs.exceptions.InvalidParameterException):
        logs.get_log_events(logGroupName=group, logStreamName="s", nextToken="f/garbage/s")


def test_get_log_events_by_group_identifier_arn(logs: Any, group: str) -> None:
    logs.create_log_stream(logGroupName=group, logStreamName="s")
    put(logs, group, "s", ["by arn"])
    arn = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["logGroupArn"]
    events = logs.get_log_events(logGroupIdentifier=arn, logStreamName="s")["events"]
    assert [e["message"] for e in events] == ["by arn"]


# --- FilterLogEvents ----------------------------------------------------------------------------------

def test_filter_log_events_patterns_streams_and_paging(logs: Any, group: str) -> None:
    for stream in ("web-1", "web-2", "worker"):
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    start = now_ms() - 5000
    put(logs, group, "web-1", ['{"level": "error", "latency": 900}', "GET /index 200"], start=start)
    put(logs, group, "web-2", ["ERROR disk full", '{"level": "info", "latency": 12}'], start=start + 10)
    put(logs, group, "worker", ["WARN slow job", "127.0.0.1 - bob GET 404 2000"], start=start + 20)
    everything = logs.filter_log_events(logGroupName=group)
    assert [e["timestamp"] for e in everything["events"]] == sorted(e["timestamp"] for e in everything["events"])
    assert len(everything["events"]) == 6 and everything["searchedLogStreams"] == []
    assert "nextToken" not in everything

    def messages(**kwargs: Any) -> list[str]:
        return [e["message"] for e in logs.filter_log_events(logGroupName=group, **kwargs)["events"]]

    assert messages(filterPattern="ERROR") == ["ERROR disk full"]
    assert messages(filterPattern="?ERROR ?WARN") == ["ERROR disk full", "WARN slow job"]
    assert messages(filterPattern='{ $.latency > 100 }') == ['{"level": "error", "latency": 900}']
    assert messages(filterPattern='[ip, dash, user, method, status = 4*, bytes > 1000]') == [
        "127.0.0.1 - bob GET 404 2000"]
    assert messages(logStreamNamePrefix="web-", filterPattern="-ERROR") == [
        '{"level": "error", "latency": 900}', "GET /index 200", '{"level": "info", "latency": 12}']
    assert messages(logStreamNames=["worker"], startTime=start + 21) == ["127.0.0.1 - bob GET 404 2000"]
    assert messages(endTime=start) == ['{"level": "error", "latency": 900}']
    page = logs.filter_log_events(logGroupName=group, limit=4)
    rest = logs.filter_log_events(logGroupName=group, limit=4, nextToken=page["nextToken"])
    assert [e["eventId"] for e in page["events"] + rest["events"]] == [e["eventId"] for e in everything["events"]]
    assert "nextToken" not in rest
    with pytest.raises(logs.exceptions.InvalidParameterException, match="Invalid filter pattern"):
        logs.filter_log_events(logGroupName=group, filterPattern="{ $.latency > }")
    with pytest.raises(logs.exceptions.ResourceNotFoundException):
        logs.filter_log_events(logGroupName=group + "-missing")
    with pytest.raises(logs.exceptions.ResourceNotFoundException, match="log stream does not exist"):
        logs.filter_log_events(logGroupName=group, logStreamNames=["no-such-stream"])
    assert messages(logStreamNames=["worker", "no-such-stream"], filterPattern="WARN") == ["WARN slow job"]


def test_tail_follow_call_pattern(logs: Any, group: str) -> None:
    """``aws logs tail --follow`` (AWS CLI v2's FollowLogEventsGenerator): FilterLogEvents with logGroupName,
    interleaved and startTime, following nextToken; after every page it keeps only the eventIds of the newest
    timestamp; at the end it polls again from that timestamp, dropping eventIds it already printed."""
    logs.create_log_stream(logGroupName=group, logStreamName="fn")
    printed: list[str] = []
    seen: defaultdict[int, set[str]] = defaultdict(set)
    kwargs: dict[str, Any] = {"logGroupName": group, "interleaved": True, "startTime": now_ms() - 600_000,
                              "limit": 2}

    def poll_until_caught_up() -> None:
        nonlocal seen
        while True:
            response = logs.filter_log_events(**kwargs)
            for event in response["events"]:
                if event["eventId"] not in seen[event["timestamp"]]:
                    seen[event["timestamp"]].add(event["eventId"])
                    printed.append(event["message"])
            if seen:
                newest = max(seen)
                seen = defaultdict(set, {newest: seen[newest]})
            if "nextToken" in response:
                kwargs["nextToken"] = response["nextToken"]
                continue
            if seen:
                kwargs["startTime"] = max(seen)
            kwargs.pop("nextToken", None)
            return

    t = now_ms() - 1000
    logs.put_log_events(logGroupName=group, logStreamName="fn", logEvents=[
        {"timestamp": t, "message": "START"}, {"timestamp": t + 1, "message": "hello"},
        {"timestamp": t + 1, "message": "world"}])
    poll_until_caught_up()
    assert printed == ["START", "hello", "world"]
    poll_until_caught_up()
    assert printed == ["START", "hello", "world"]
    logs.create_log_stream(logGroupName=group, logStreamName="fn-2")
    logs.put_log_events(logGroupName=group, logStreamName="fn", logEvents=[
        {"timestamp": t + 1, "message": "same millisecond"}, {"timestamp": t + 3, "message": "REPORT"}])
    logs.put_log_events(logGroupName=group, logStreamName="fn-2", logEvents=[
        {"timestamp": t + 2, "message": "new stream"}])
    poll_until_caught_up()
    poll_until_caught_up()
    assert printed == ["START", "hello", "world", "same millisecond", "new stream", "REPORT"]


# --- IAM ----------------------------------------------------------------------------------------------

def test_iam_policies_scope_log_groups_and_streams(cloudlet: CloudletProcess, logs: Any, group: str,
                                                  iam: Any, cleanup: Cleanup, unique: str) -> None:
    """The Lambda basic execution role's statements: streams and events of one group, nothing else."""
    other = f"{group}-other"
    logs.create_log_group(logGroupName=other)
    try:
        account = logs.describe_log_groups(logGroupNamePrefix=group)["logGroups"][0]["arn"].split(":")[4]
        prefix = f"arn:aws:logs:{cloudlet.region}:{account}"
        user = new_user(iam, cleanup, f"{unique}-logger")
        iam.put_user_policy(UserName=f"{unique}-logger", PolicyName="logs", PolicyDocument=document(
            allow("logs:CreateLogGroup", f"{prefix}:*"),
            allow(["logs:CreateLogStream", "logs:PutLogEvents", "logs:FilterLogEvents"],
                  f"{prefix}:log-group:{group}:*")))
        scoped = cloudlet.client("logs", user)
        scoped.create_log_stream(logGroupName=group, logStreamName="s")
        put(scoped, group, "s", ["allowed"])
        assert [e["message"] for e in scoped.filter_log_events(logGroupName=group)["events"]] == ["allowed"]
        code, status, _ = denied(scoped.create_log_stream, logGroupName=other, logStreamName="s")
        assert (code, status) == ("AccessDeniedException", 400)
        code, _, _ = denied(scoped.filter_log_events, logGroupName=other)
        assert code == "AccessDeniedException"
        code, _, _ = denied(scoped.delete_log_group, logGroupName=group)
        assert code == "AccessDeniedException"
    finally:
        logs.delete_log_group(logGroupName=other)


# --- KMS ----------------------------------------------------------------------------------------------

def test_kms_encrypted_group_seals_events_at_rest(cloudlet: CloudletProcess, logs: Any, unique: str) -> None:
    kms = cloudlet.client("kms")
    key = kms.create_key()["KeyMetadata"]["Arn"]
    name = f"/secret/{unique}"
    with pytest.raises(logs.exceptions.InvalidParameterException, match="does not exist"):
        logs.create_log_group(logGroupName=name, kmsKeyId=key.replace(key[-12:], "000000000000"))
    logs.create_log_group(logGroupName=name, kmsKeyId=key)
    logs.create_log_stream(logGroupName=name, logStreamName="s")
    assert logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]["kmsKeyId"] == key
    put(logs, name, "s", [f"password={unique}"])
    stored = cloudlet.query_state("SELECT message, sealed FROM logs_events WHERE group_id = "
                                  "(SELECT group_id FROM logs_groups WHERE name = ?)", (name,))
    assert len(stored) == 1 and stored[0][0] is None and unique.encode() not in stored[0][1]
    assert [e["message"] for e in logs.filter_log_events(logGroupName=name, filterPattern="password")["events"]] \
        == [f"password={unique}"]

    kms.disable_key(KeyId=key)
    with pytest.raises(logs.exceptions.InvalidParameterException, match="cannot be used"):
        logs.get_log_events(logGroupName=name, logStreamName="s")
    with pytest.raises(logs.exceptions.InvalidParameterException, match="cannot be used"):
        put(logs, name, "s", ["refused"])
    kms.enable_key(KeyId=key)

    logs.disassociate_kms_key(logGroupName=name)
    assert "kmsKeyId" not in logs.describe_log_groups(logGroupNamePrefix=name)["logGroups"][0]
    put(logs, name, "s", ["plain now"])
    messages = [e["message"] for e in logs.get_log_events(logGroupName=name, logStreamName="s")["events"]]
    assert messages == [f"password={unique}", "plain now"]
    logs.associate_kms_key(logGroupName=name, kmsKeyId=key)
    logs.delete_log_group(logGroupName=name)
