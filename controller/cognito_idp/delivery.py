"""Codes Cognito would send by mail or SMS, written to a delivery log instead (no mail leaves Cloudlet).

Each code is a JSON line ``{pool, username, destination, code, kind}`` in
``<data_dir>/cognito/deliveries.log`` and an INFO log line, so a user (or a test) reads it where a mail
would arrive. The codes themselves are rows of ``cognito_codes``, one per user and kind, valid 24 hours
(ConfirmSignUp's codes) or one hour (ForgotPassword's), as Cognito's are.
"""

from __future__ import annotations

import json
import logging
import time
from typing import Any

from sqlalchemy import Connection, delete, insert, select

from controller.cognito_idp import errors, state
from controller.cognito_idp.passwords import mask, new_code
from controller.state import Database

log = logging.getLogger(__name__)
LIFETIMES = {"signup": 86400, "forgot_password": 3600}


def destination_of(pool: dict[str, Any], attributes: dict[str, str]) -> tuple[str, str, str] | None:
    """(attribute, medium, address) a code goes to: the pool's auto-verified email, else phone; None: none."""
    verified = pool.get("AutoVerifiedAttributes") or []
    for attribute, medium in (("email", "EMAIL"), ("phone_number", "SMS")):
        if attribute in verified and attributes.get(attribute):
            return attribute, medium, attributes[attribute]
    return None


def send_code(cloud: Any, conn: Connection, pool_id: str, user: dict[str, Any], kind: str,
              target: tuple[str, str, str], *, code: str | None = None) -> dict[str, str]:
    """Make a new ``kind`` code for ``user`` (or deliver ``code``: AdminCreateUser's temporary password),
    deliver it to ``target``, answer CodeDeliveryDetails."""
    attribute, medium, address = target
    if code is None:  # a code to check later (a given one, the temporary password, is not kept here)
        code = new_code()
        conn.execute(delete(state.codes).where(state.codes.c.user_id == user["user_id"],
                                               state.codes.c.kind == kind))
        conn.execute(insert(state.codes).values(user_id=user["user_id"], kind=kind, code=code,
                                                expires_at=time.time() + LIFETIMES.get(kind, 86400)))
    record = {"pool": pool_id, "username": user["username"], "destination": address, "code": code,
              "kind": kind}
    Database.after_commit(conn, lambda: _write(cloud, record))
    return {"Destination": mask(address), "DeliveryMedium": medium, "AttributeName": attribute}


def _write(cloud: Any, record: dict[str, str]) -> None:
    """Append one delivery, once the code it carries is committed (a refused call delivers nothing)."""
    path = cloud.config.data_dir / "cognito" / "deliveries.log"
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    with path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    log.info("cognito delivery: %s", json.dumps(record))


def use_code(conn: Connection, user_id: int, kind: str, code: str) -> None:
    """Consume the user's ``kind`` code, or raise CodeMismatchException / ExpiredCodeException."""
    row = conn.execute(select(state.codes).where(state.codes.c.user_id == user_id,
                                                 state.codes.c.kind == kind)).mappings().first()
    if row is None or row["code"] != code:
        raise errors.code_mismatch()
    if row["expires_at"] < time.time():
        raise errors.code_expired()
    conn.execute(delete(state.codes).where(state.codes.c.user_id == user_id, state.codes.c.kind == kind))
