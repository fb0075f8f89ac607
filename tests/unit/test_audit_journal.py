"""The audit trail's crash journal: what a killed controller had answered is committed at the next start,
once, and a running trail keeps the journal small."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

from controller.audit import AuditTrail, CallRecord
from controller.audit import journal as audit_journal
from controller.audit.trail import event_row, events, explanation_of
from controller.state import Database
from controller.state.committer import GroupCommitter


def _database(tmp_path: Path) -> Database:
    db = Database(tmp_path / "state.db")
    db.create_schema()
    return db


def _trail(db: Database, folder: Path, **options: Any) -> AuditTrail:
    """A trail committing through a writer of its own, as the cloud's shares its writer with the services."""
    return AuditTrail(db, GroupCommitter(db), folder, **options)


def _call(n: int, key: str = "") -> CallRecord:
    return CallRecord(request_id=f"req-{n}", time=dt.datetime(2026, 12, 5, 12, 0, n % 60, tzinfo=dt.UTC),
                      account_id="123456789012", service="iam", event_source="iam.amazonaws.com",
                      operation="CreateUser", region="us-east-1", access_key_id=key,
                      parameters={"UserName": f"user-{n}", "Password": "hunter2"})


def _stored(db: Database) -> list[str]:
    with db.read() as conn:
        return sorted(row[0]["requestID"] for row in conn.execute(select(events.c.document)))


def test_a_previous_runs_segments_are_committed_once_and_removed(tmp_path: Path) -> None:
    db, folder = _database(tmp_path), tmp_path / "journal"
    folder.mkdir()
    rows = [event_row(_call(n)) for n in range(3)]
    with db.begin() as conn:  # the first was committed before the crash, and journaled too
        conn.execute(events.insert(), [rows[0]])
    torn = audit_journal.encode(event_row(_call(9)), None)[:40]  # died inside this write: never answered
    left = folder / "segment-0dead000-00000007.jsonl"
    left.write_bytes(b"".join(audit_journal.encode(row, None) for row in rows) + torn)
    trail = _trail(db, folder)
    try:
        assert _stored(db) == ["req-0", "req-1", "req-2"]
        assert [p.name for p in folder.iterdir() if p.name == left.name] == []
        assert len(list(folder.iterdir())) == 1  # its own
    finally:
        trail.close()
    assert list(folder.iterdir()) == []


def test_a_refused_calls_explanation_is_replayed_with_its_event(tmp_path: Path) -> None:
    db, folder = _database(tmp_path), tmp_path / "journal"
    folder.mkdir()
    row = event_row(_call(1))
    why = {"explicit": True, "kind": "identity"}
    (folder / "segment-0dead000-00000001.jsonl").write_bytes(audit_journal.encode(row, None, why))
    trail = _trail(db, folder)
    trail.close()
    with db.read() as conn:
        assert explanation_of(conn, row["event_id"]) == ("123456789012", why)


def test_a_second_process_on_the_cloud_leaves_the_live_ones_journal_alone(tmp_path: Path) -> None:
    """``cloudlet account create`` opens the cloud while ``cloudlet up`` serves it."""
    db, folder = _database(tmp_path), tmp_path / "journal"
    serving = _trail(db, folder)
    try:
        serving.writer = _Broken()  # nothing of the server's is committed: its journal is all there is
        serving.record(_call(1))
        serving.flush()
        [live] = list(folder.iterdir())
        size = live.stat().st_size
        _trail(db, folder).close()  # the command's trail starts and finishes meanwhile
        assert live.exists() and live.stat().st_size == size and _stored(db) == []
    finally:
        serving.close()
    _trail(db, folder).close()  # the next start, once the server is gone
    assert _stored(db) == ["req-1"]


def test_replayed_events_read_back_as_written_with_their_key_use(tmp_path: Path) -> None:
    db, folder = _database(tmp_path), tmp_path / "journal"
    folder.mkdir()
    call = _call(1, key="AKIAEXAMPLE")
    row = event_row(call)
    (folder / "segment-0dead000-00000001.jsonl").write_bytes(
        audit_journal.encode(row, (call.access_key_id, call.time, call.service, call.region)))
    used: list[dict] = []
    _trail(db, folder, on_key_use=lambda conn, uses: used.append(uses)).close()
    with db.read() as conn:
        stored = conn.execute(select(events)).mappings().one()
    assert stored["event_time"] == call.time and stored["document"] == row["document"]
    assert stored["document"]["requestParameters"]["Password"] == "HIDDEN_DUE_TO_SECURITY_REASONS"
    assert used == [{"AKIAEXAMPLE": (call.time, "iam", "us-east-1")}]


def test_a_running_trail_empties_its_journal_once_everything_is_committed(tmp_path: Path) -> None:
    db, folder = _database(tmp_path), tmp_path / "journal"
    trail = _trail(db, folder)
    try:
        for n in range(20):
            trail.record(_call(n))
        trail.flush()
        assert len(_stored(db)) == 20
        assert [p.stat().st_size for p in folder.iterdir()] == [0]
    finally:
        trail.close()
    assert list(folder.iterdir()) == []


def test_a_journal_that_never_empties_is_cut_into_segments_deleted_once_committed(tmp_path: Path) -> None:
    db, folder = _database(tmp_path), tmp_path / "journal"
    trail = _trail(db, folder, batch_size=5, segment_bytes=1)
    try:
        for n in range(200):
            trail.record(_call(n))
        trail.flush()
        assert len(_stored(db)) == 200
        assert len(list(folder.iterdir())) <= 2
    finally:
        trail.close()
    assert list(folder.iterdir()) == []


def test_events_of_a_batch_that_failed_stay_journaled_for_the_next_start(tmp_path: Path) -> None:
    db, folder = _database(tmp_path), tmp_path / "journal"
    trail = _trail(db, folder)
    original, trail.writer = db, _Broken()
    trail.record(_call(1))
    trail.flush()
    trail.close()
    assert _stored(original) == []
    _trail(original, folder).close()
    assert _stored(original) == ["req-1"]
    with original.read() as conn:
        assert conn.execute(select(func.count()).select_from(events)).scalar() == 1


class _Broken:
    """A writer whose transactions fail (a full disk, say)."""

    def run(self, work: object) -> None:
        raise OSError("no space left on device")


def test_a_call_answered_while_the_cloud_closes_does_not_fail(tmp_path: Path) -> None:
    trail = _trail(_database(tmp_path), tmp_path / "journal")
    trail.close()
    trail.record(_call(1))  # the journal is closed: logged, never raised into the request
