"""Virtual MFA devices in the database: finding one, its seed, and using up a code's time step.

Shared by IAM's MFA operations (``mfa.py``) and by STS, which checks the codes that
GetSessionToken and AssumeRole carry. A code is accepted at most once: accepting one
moves the device's ``last_step`` forward in the same UPDATE that checks it, so two
requests racing with the same code cannot both win.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy import Connection, or_, select, update

from controller.iam import state
from controller.iam.errors import NoSuchEntity

if TYPE_CHECKING:
    from controller.cloud import Cloud

Row = Mapping[str, Any]
devices = state.mfa_devices


def find_device(conn: Connection, account_id: str, serial_number: str) -> Row | None:
    return conn.execute(select(devices).where(devices.c.account_id == account_id,
                                              devices.c.serial_number == serial_number)).mappings().first()


def require_device(conn: Connection, account_id: str, serial_number: str) -> Row:
    device = find_device(conn, account_id, serial_number)
    if device is None:
        raise NoSuchEntity(f"VirtualMFADevice with serial number {serial_number} doesn't exist.")
    return device


def seed_of(cloud: Cloud, device: Row) -> str:
    """The device's TOTP seed, decrypted (it is never stored or logged in clear)."""
    return cloud.secrets.decrypt(device["seed_encrypted"])


def claim_step(conn: Connection, serial_number: str, step: int, **values: Any) -> bool:
    """Record ``step`` as the device's last used one (and set ``values``), unless it is not new.

    False when a request already used this step or a later one: its code is spent.
    """
    result = conn.execute(update(devices).where(
        devices.c.serial_number == serial_number,
        or_(devices.c.last_step.is_(None), devices.c.last_step < step)).values(last_step=step, **values))
    return result.rowcount == 1


def devices_of_user(conn: Connection, user_id: str) -> list[Row]:
    """The devices enabled for a user, oldest enabled first."""
    return list(conn.execute(select(devices).where(devices.c.user_id == user_id)
                             .order_by(devices.c.enabled_at, devices.c.serial_number)).mappings().all())
