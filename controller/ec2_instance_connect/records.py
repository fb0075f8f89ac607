"""Reading and writing the pushed keys (``state.managed_keys``), for the operations and the metadata service."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Connection, delete, insert, select

from controller.ec2_instance_connect import keys
from controller.ec2_instance_connect.state import managed_keys


def add_key(conn: Connection, *, instance_id: str, os_user: str, public_key: str, caller_arn: str,
            request_id: str, now: dt.datetime) -> dt.datetime:
    """Record a push; returns when it expires. Drops every expired push on the way (of any instance)."""
    conn.execute(delete(managed_keys).where(managed_keys.c.expires_at <= now))
    expires_at = now + dt.timedelta(seconds=keys.key_seconds())
    conn.execute(insert(managed_keys).values(instance_id=instance_id, os_user=os_user, public_key=public_key,
                                             caller_arn=caller_arn, request_id=request_id, expires_at=expires_at))
    return expires_at


def active_keys_for(conn: Connection, instance_id: str, now: dt.datetime) -> dict[str, str]:
    """user -> the ``managed-ssh-keys/active-keys/<user>`` text of ``instance_id`` (empty: no active key)."""
    rows = conn.execute(select(managed_keys).where(managed_keys.c.instance_id == instance_id,
                                                   managed_keys.c.expires_at > now)).mappings().all()
    return keys.active_keys(rows, now)
