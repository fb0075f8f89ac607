"""Every call that got an answer is in the CloudTrail trail after a SIGKILL and a restart (the audit
writer commits in batches off the request path; its journal, controller/audit/journal.py, covers the gap)."""

from __future__ import annotations

import json
import threading
from pathlib import Path

from tests.support import CloudletProcess, kill_under_load


def test_every_answered_call_is_in_the_trail_after_sigkill(tmp_path: Path) -> None:
    cloud = CloudletProcess(tmp_path / "data").start()
    answered: list[str] = []
    try:
        sts = cloud.client("sts")

        def call(stop: threading.Event) -> None:
            while not stop.is_set():
                try:
                    answered.append(sts.get_caller_identity()["ResponseMetadata"]["RequestId"])
                except Exception:  # noqa: BLE001 - the server died under us: what got no answer may be missing
                    return

        kill_under_load(cloud, call, threads=4)
    finally:
        cloud.stop()
    assert len(answered) > 50
    restarted = CloudletProcess(tmp_path / "data").start()
    try:
        trail = restarted.client("cloudtrail")
        recorded: set[str] = set()
        for page in trail.get_paginator("lookup_events").paginate(LookupAttributes=[
                {"AttributeKey": "EventName", "AttributeValue": "GetCallerIdentity"}]):
            recorded.update(json.loads(event["CloudTrailEvent"])["requestID"] for event in page["Events"])
        missing = set(answered) - recorded
        assert not missing, f"{len(missing)} of {len(answered)} answered calls are missing from the trail"
    finally:
        restarted.stop()
