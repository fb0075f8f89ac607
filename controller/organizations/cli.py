"""``cloudlet account create NAME``: a member account from the command line, with a root access key.

It opens the cloud's data directory directly (SQLite lets it run while ``cloudlet up``
serves the same database) and does what CreateAccount does, plus the one thing the
API never does: it issues the new account's root access key and prints it, once.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

from controller.organizations.accounts import create_member_account


def default_email(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "account"
    return f"{slug}@cloudlet.local"


def create_account_command(data_dir: Path, name: str, email: str | None) -> int:
    from controller.cloud import Cloud
    from controller.config import Config

    config = Config.load(data_dir)
    if not config.has_state():
        print(f"cloudlet: no cloud in {data_dir}; run `cloudlet up` once first", file=sys.stderr)
        return 1
    cloud = Cloud(config)
    try:
        if cloud.credentials.management_account() is None:
            print(f"cloudlet: the cloud in {data_dir} has no management account yet; run `cloudlet up` once first",
                  file=sys.stderr)
            return 1
        email = email or default_email(name)
        request = create_member_account(cloud, name, email)
        if request["state"] != "SUCCEEDED":
            print(f"cloudlet: account not created: {request['failure_reason']} ({email}); "
                  "choose another address with --email", file=sys.stderr)
            return 1
        account_id = request["account_id"]
        key_id, secret = cloud.credentials.create_root_key(account_id)
    finally:
        cloud.close()
    print(f"account {account_id} ({name}, {email}) created")
    print("root access key (the secret is shown only this once):")
    print(f"  aws_access_key_id = {key_id}")
    print(f"  aws_secret_access_key = {secret}")
    return 0
