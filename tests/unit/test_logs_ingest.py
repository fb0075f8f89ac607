"""Writing log events: PutLogEvents' batch rules (pure), contract A's ``append`` on a real Cloud, and
the retention sweep."""

from __future__ import annotations

import threading
import time
from typing import Any

import pytest

from controller.cloud import Cloud
from controller.config import Config
from controller.errors import ServiceError
from controller.logs import ingest
from controller.logs.ingest import check_batch, store_events
from controller.logs.records import DAY_MS, find_group, find_stream, now_ms
from controller.logs.retention import sweep_expired
from tests.unit.harness import ACCOUNT, CloudHarness, Clouds

NOW = 1_700_000_000_000
HOUR = 3_600_000


class LogsCloud(CloudHarness):
    service = "logs"

    def messages(self, group: str, stream: str) -> list[str]:
        answer = self.call("GetLogEvents", {"logGroupName": group, "logStreamName": stream, "startFromHead": True})
        return [event["message"] for event in answer["events"]]


@pytest.fixture
def logs(clouds: Clouds, tmp_path: Any) -> LogsCloud:
    return clouds._keep(LogsCloud(Cloud(Config(data_dir=tmp_path / "data")), ACCOUNT))


def refused(batch: list[tuple[int, str]], match: str, retention: int | None = None) -> None:
    with pytest.raises(ServiceError, match=match) as error:
        check_batch(batch, NOW, retention)
    assert error.value.code == "InvalidParameterException"


# --- check_batch --------------------------------------------------------------------------------------

def test_a_fresh_batch_is_stored_whole() -> None:
    verdict = check_batch([(NOW - 5, "a"), (NOW - 5, "b"), (NOW, "c")], NOW, None)
    assert (verdict.start, verdict.stop, verdict.rejected) == (0, 3, {})


def test_out_of_order_batches_are_refused() -> None:
    refused([(NOW, "b"), (NOW - 1, "a")], "chronological order")


def test_batch_size_counts_utf8_bytes_plus_26_per_event() -> None:
    fits = 1_048_576 - 26
    assert check_batch([(NOW, "x" * fits)], NOW, None).stop == 1
    refused([(NOW, "x" * (fits + 1))], "Upload too large")
    refused([(NOW, "é" * (fits // 2 + 1))], "Upload too large")
    refused([(NOW, "m")] * 10_001, "10001 log events")


def test_events_too_new_too_old_and_expired_are_reported_by_index() -> None:
    batch = [(NOW - 15 * DAY_MS, "ancient"), (NOW - 3 * DAY_MS + 10, "expired"), (NOW - 2 * HOUR, "kept"),
             (NOW - HOUR, "kept too"), (NOW + 3 * HOUR, "future")]
    refused(batch[1:4], "24 hours")
    verdict = check_batch([batch[0], *batch[2:]], NOW, None)
    assert verdict.rejected == {"tooOldLogEventEndIndex": 0, "tooNewLogEventStartIndex": 3}
    assert (verdict.start, verdict.stop) == (1, 3)
    with_retention = check_batch([batch[0], (NOW - DAY_MS - 10, "expired"), batch[3]], NOW, 1)
    assert with_retention.rejected == {"tooOldLogEventEndIndex": 0, "expiredLogEventEndIndex": 1}
    assert (with_retention.start, with_retention.stop) == (2, 3)


def test_the_24_hour_span_applies_to_the_events_kept() -> None:
    verdict = check_batch([(NOW - 20 * DAY_MS, "old"), (NOW - DAY_MS, "a"), (NOW, "b")], NOW, None)
    assert (verdict.start, verdict.stop) == (1, 3)
    refused([(NOW - DAY_MS - 1, "a"), (NOW, "b")], "24 hours")


def test_everything_rejected_stores_nothing() -> None:
    verdict = check_batch([(NOW + 5 * HOUR, "x"), (NOW + 6 * HOUR, "y")], NOW, None)
    assert verdict.start == verdict.stop and verdict.rejected == {"tooNewLogEventStartIndex": 0}


# --- append (contract A) ------------------------------------------------------------------------------

def test_append_creates_group_and_stream_and_orders_events(logs: LogsCloud) -> None:
    now = now_ms()
    ingest.append(logs.cloud, account_id=ACCOUNT, group="/aws/lambda/fn", stream="2024/01/01/[$LATEST]abc",
                  events=[(now, "second"), (now - 5, "first"), (now, ""), (now, "b: same ms, written after")])
    ingest.append(logs.cloud, account_id=ACCOUNT, group="/aws/lambda/fn", stream="2024/01/01/[$LATEST]abc",
                  events=[(now + 1, "third")])
    assert logs.messages("/aws/lambda/fn", "2024/01/01/[$LATEST]abc") == [
        "first", "second", "b: same ms, written after", "third"]
    [group] = logs.call("DescribeLogGroups", {"logGroupNamePrefix": "/aws/lambda/"})["logGroups"]
    assert group["storedBytes"] == len("firstsecondb: same ms, written afterthird")
    [stream] = logs.call("DescribeLogStreams", {"logGroupName": "/aws/lambda/fn"})["logStreams"]
    assert stream["firstEventTimestamp"] == now - 5 and stream["lastEventTimestamp"] == now + 1


def test_append_honours_an_existing_groups_retention(logs: LogsCloud) -> None:
    logs.call("CreateLogGroup", {"logGroupName": "/kept"})
    logs.call("PutRetentionPolicy", {"logGroupName": "/kept", "retentionInDays": 1})
    now = now_ms()
    ingest.append(logs.cloud, account_id=ACCOUNT, group="/kept", stream="s",
                  events=[(now - 2 * DAY_MS, "expired"), (now, "fresh")])
    assert logs.messages("/kept", "s") == ["fresh"]


def test_appends_from_many_threads_all_land(logs: LogsCloud) -> None:
    now = now_ms()

    def ship(worker: int) -> None:
        for i in range(25):
            ingest.append(logs.cloud, account_id=ACCOUNT, group="/busy", stream=f"w{worker}",
                          events=[(now + i, f"w{worker}-{i}")])

    threads = [threading.Thread(target=ship, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    found = logs.call("FilterLogEvents", {"logGroupName": "/busy"})["events"]
    assert len(found) == 200
    assert logs.messages("/busy", "w3") == [f"w3-{i}" for i in range(25)]


def test_a_closed_cloud_keeps_what_was_appended(tmp_path: Any) -> None:
    cloud = Cloud(Config(data_dir=tmp_path / "data"))
    ingest.append(cloud, account_id=ACCOUNT, group="/durable", stream="s", events=[(now_ms(), "kept")])
    cloud.close()
    reopened = LogsCloud(Cloud(Config(data_dir=tmp_path / "data")), ACCOUNT)
    try:
        assert reopened.messages("/durable", "s") == ["kept"]
    finally:
        reopened.close()


# --- retention sweep ----------------------------------------------------------------------------------

def test_sweep_deletes_expired_events_and_their_bytes(logs: LogsCloud) -> None:
    logs.call("CreateLogGroup", {"logGroupName": "/swept"})
    logs.call("CreateLogStream", {"logGroupName": "/swept", "logStreamName": "s"})
    now = now_ms()
    logs.call("PutLogEvents", {"logGroupName": "/swept", "logStreamName": "s", "logEvents": [
        {"timestamp": now - 2 * HOUR, "message": "older"}, {"timestamp": now, "message": "newer"}]})
    logs.call("PutRetentionPolicy", {"logGroupName": "/swept", "retentionInDays": 1})
    assert sweep_expired(logs.db, now) == 0
    assert sweep_expired(logs.db, now + DAY_MS - HOUR) == 1
    [group] = logs.call("DescribeLogGroups", {"logGroupNamePrefix": "/swept"})["logGroups"]
    assert group["storedBytes"] == len("newer")
    assert logs.messages("/swept", "s") == ["newer"]


def test_appends_after_the_writer_stopped_still_land(logs: LogsCloud) -> None:
    """Services stopping after Logs (Lambda ships its last invocations' logs) append to a closed writer."""
    ingest.append(logs.cloud, account_id=ACCOUNT, group="/late", stream="s", events=[(now_ms(), "before")])
    ingest.stop(logs.cloud)
    ingest.append(logs.cloud, account_id=ACCOUNT, group="/late", stream="s", events=[(now_ms() + 1, "after")])
    assert logs.messages("/late", "s") == ["before", "after"]


def test_the_writer_sweeps_expired_events_on_its_own(logs: LogsCloud) -> None:
    logs.call("CreateLogGroup", {"logGroupName": "/timed"})
    logs.call("CreateLogStream", {"logGroupName": "/timed", "logStreamName": "s"})
    logs.call("PutRetentionPolicy", {"logGroupName": "/timed", "retentionInDays": 1})
    with logs.db.begin() as conn:   # an event that was fresh when stored and has aged past retention since
        group = find_group(conn, logs.context("PutLogEvents"), "/timed")
        store_events(conn, group, find_stream(conn, group["group_id"], "s"),
                     [(now_ms() - 2 * DAY_MS, "aged")], now_ms(), lambda message: (message, None, None))
    writer = ingest.LogsWriter(logs.cloud, sweep_seconds=0.05)
    try:
        deadline = time.monotonic() + 10
        while logs.call("DescribeLogGroups", {"logGroupNamePrefix": "/timed"})["logGroups"][0]["storedBytes"]:
            assert time.monotonic() < deadline, "the writer never swept"
            time.sleep(0.05)
    finally:
        writer.close()
