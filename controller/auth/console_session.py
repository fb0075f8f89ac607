"""What a console sign-in yields: a principal and its temporary credentials.

A leaf module of its own because two layers share it: ``iam/console_signin.py`` makes it and the web
console's session table (``console/state.py``, declared when the ``Cloud`` is built) stores it; the table
must not pull in IAM, which depends on the ``Cloud``.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass


@dataclass(frozen=True)
class ConsoleSession:
    """A signed-in console user: its identity and the temporary credentials the console signs calls with."""

    account_id: str
    principal_arn: str          # arn:aws:iam::<acct>:user/<path><name> or arn:aws:iam::<acct>:root
    user_name: str              # "root" for the root user
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: dt.datetime     # aware UTC
    password_reset_required: bool
    mfa_authenticated: bool
