"""The execution role's credentials a function gets, as Lambda hands them over: an assumed-role session.

Lambda assumes the function's execution role and passes the session to each new execution environment
through ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and ``AWS_SESSION_TOKEN``
(https://docs.aws.amazon.com/lambda/latest/dg/lambda-intro-execution-role.html); the session is named after
the function, so the function's calls show as ``assumed-role/<role>/<function>``. A session is minted in
the credential store like STS's (``ASIA`` keys, a session token) and reused by every environment started
while it has more than :data:`REFRESH_BEFORE` left, so an environment keeps working credentials for at least
that long without the store filling with one key per invocation.
"""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import dataclass
from typing import Any

from controller.awslambda.errors import InvalidParameterValueException
from controller.iam.lookup import role_by_arn
from controller.state import utcnow
from controller.sts.service_sessions import mint_role_session

Cloud = Any

#: How long a minted session lasts, and how much of it must be left for a new environment to get it.
SESSION_LIFETIME = dt.timedelta(hours=12)
REFRESH_BEFORE = dt.timedelta(hours=6)


@dataclass(frozen=True)
class Session:
    """One minted role session: what a new environment gets (``FunctionInvocation.credentials``)."""

    access_key_id: str
    secret_access_key: str
    session_token: str
    expires_at: dt.datetime

    def as_credentials(self) -> dict[str, str]:
        return {"AccessKeyId": self.access_key_id, "SecretAccessKey": self.secret_access_key,
                "SessionToken": self.session_token,
                "Expiration": self.expires_at.strftime("%Y-%m-%dT%H:%M:%SZ")}


class SessionCache:
    """The sessions minted for this cloud's functions, by (role ARN, function ARN)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._sessions: dict[tuple[str, str], Session] = {}

    def credentials(self, cloud: Cloud, role_arn: str, function_arn: str, function_name: str) -> dict[str, str]:
        """A session of ``role_arn`` named ``function_name``: the cached one while it is fresh, else a new one."""
        key = (role_arn, function_arn)
        now = utcnow()
        with self._lock:
            session = self._sessions.get(key)
            if session is None or session.expires_at - now <= REFRESH_BEFORE:
                session = mint(cloud, role_arn, function_name, now)
                self._sessions[key] = session
        return session.as_credentials()


def mint(cloud: Cloud, role_arn: str, session_name: str, now: dt.datetime) -> Session:
    """A new session of the role (as STS AssumeRole makes one); InvalidParameterValue when the role is gone."""
    with cloud.db.begin() as conn:
        role = role_by_arn(conn, role_arn)
        if role is None:
            raise InvalidParameterValueException("The role defined for the function cannot be assumed by Lambda.")
        session = mint_role_session(conn, cloud, role, session_name, now, SESSION_LIFETIME)
    return Session(*session)
