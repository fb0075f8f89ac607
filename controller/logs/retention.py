"""Retention: a group keeps events for its retention period only (PutRetentionPolicy).

Reads never return older events (``records.retention_floor``); the sweep deletes them, for one
group when its policy is set and for every group once a minute from the logs writer's thread.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, delete, func, select, update

from controller.logs.records import retention_floor
from controller.logs.state import events, groups


def sweep_group(conn: Connection, group: dict[str, Any], now: int) -> int:
    """Delete the group's events older than its retention period; returns how many went."""
    floor = retention_floor(group, now)
    if not floor:
        return 0
    expired = (events.c.group_id == group["group_id"]) & (events.c.timestamp < floor)
    freed = conn.execute(select(func.count(), func.coalesce(func.sum(events.c.size), 0)).where(expired)).one()
    if freed[0]:
        conn.execute(delete(events).where(expired))
        conn.execute(update(groups).where(groups.c.group_id == group["group_id"]).values(
            stored_bytes=func.max(groups.c.stored_bytes - freed[1], 0)))
    return int(freed[0])


def sweep_expired(db: Any, now: int) -> int:
    """Apply every group's retention period (the background sweep); returns how many events went."""
    with db.read() as conn:
        rows = [dict(row) for row in conn.execute(
            select(groups).where(groups.c.retention_days.is_not(None))).mappings()]
    swept = 0
    for group in rows:
        with db.begin() as conn:
            swept += sweep_group(conn, group, now)
    return swept
