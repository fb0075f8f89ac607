"""``cloudlet account root-password``: set the password the account root user signs in to the console with.

The root user has no password until the operator sets one here (AWS has no API for it either). It opens
the cloud's data directory directly, as ``cloudlet account create`` does, reads the new password from
stdin (one line, for scripts) or a prompt asked twice, or makes a strong one with ``--generate`` and prints
it once, and stores only its scrypt hash. The password must meet AWS's rules for root passwords: 8 to 128
characters, three of the four character classes, and not the account's name or email.
"""

from __future__ import annotations

import getpass
import sys
from pathlib import Path

from controller.auth import passwords
from controller.iam.password_policy import violation
from controller.state import utcnow

MAX_LENGTH = 128


def root_password_command(data_dir: Path, account_id: str | None, generate: bool) -> int:
    from controller.cloud import Cloud
    from controller.config import Config

    config = Config.load(data_dir)
    if not config.has_state():
        print(f"cloudlet: no cloud in {data_dir}; run `cloudlet up` once first", file=sys.stderr)
        return 1
    cloud = Cloud(config)
    try:
        account_id = account_id or cloud.credentials.management_account()
        account = cloud.credentials.get_account(account_id) if account_id else None
        if account is None:
            print(f"cloudlet: no account {account_id} in {data_dir}", file=sys.stderr)
            return 1
        password = passwords.generate_password() if generate else _read_password()
        if password is None:
            return 1
        why = violation(password, None, (account["name"], account["email"]))
        if why or len(password) > MAX_LENGTH:
            print(f"cloudlet: {why or 'Password is longer than 128 characters.'} A root password has 8 to 128 "
                  "characters, three of uppercase, lowercase, numbers and symbols, and is not the account's "
                  "name or email.", file=sys.stderr)
            return 1
        with cloud.db.begin() as conn:
            passwords.set_root_password(conn, account["account_id"], passwords.hash_password(password), utcnow())
    finally:
        cloud.close()
    if generate:
        print(f"root password of account {account['account_id']} (shown only this once):")
        print(f"  {password}")
    else:
        print(f"root password of account {account['account_id']} set")
    return 0


def _read_password() -> str | None:
    """One line of stdin when it is not a terminal; otherwise a prompt, asked twice."""
    if not sys.stdin.isatty():
        return sys.stdin.readline().rstrip("\r\n")
    first = getpass.getpass("New root password: ")
    if getpass.getpass("Repeat it: ") != first:
        print("cloudlet: the two passwords differ; nothing changed", file=sys.stderr)
        return None
    return first
