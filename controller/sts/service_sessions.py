"""Role sessions a service mints on a principal's behalf, as STS AssumeRole would: Lambda for a function's
execution role, Systems Manager for a hybrid machine's service role.

The session is stored in the credential store like one of STS's (``ASIA`` keys, a session token), named so
that the calls made with it show as ``assumed-role/<role>/<session name>``, and the role's last use is noted.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple

from sqlalchemy import Connection, RowMapping

from controller.api import Principal
from controller.iam.lookup import record_role_use
from controller.sts.limits import new_session_token


class RoleSession(NamedTuple):
    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: dt.datetime


def mint_role_session(conn: Connection, cloud: Any, role: RowMapping, session_name: str, now: dt.datetime,
                      lifetime: dt.timedelta, *, extra: Mapping[str, Any] | None = None) -> RoleSession:
    """A new session of ``role`` (a row of the roles table) named ``session_name``, lasting ``lifetime``."""
    config = cloud.config
    account_id, role_name = role["account_id"], role["role_name"]
    principal = Principal(
        account_id=account_id, kind="assumed-role", name=role_name, session_name=session_name,
        arn=f"arn:{config.partition}:sts::{account_id}:assumed-role/{role_name}/{session_name}",
        user_id=f"{role['role_id']}:{session_name}", role_arn=role["arn"])
    expires_at = now.replace(microsecond=0) + lifetime
    token = new_session_token()
    session = {"role_arn": role["arn"], "role_id": role["role_id"], "session_name": session_name,
               "policy": None, "policy_arns": [], "tags": {}, "transitive_keys": [], "source_identity": "",
               "chained": False, "mfa_authenticated_at": None, **(extra or {})}
    key_id, secret = cloud.credentials.create_key(principal, prefix="ASIA", expires_at=expires_at,
                                                  session_token=token, session=session, conn=conn)
    record_role_use(conn, role["role_id"], now, config.region)
    return RoleSession(key_id, secret, token, expires_at)
