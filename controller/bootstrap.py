"""First start of a cloud: the management account, its root key, and AWS CLI profile files.

``cloudlet up`` calls :func:`ensure_management_account` before the services' start hooks
(so they can register resources, such as the built-in AMIs, under it) and
:func:`write_profile` once it serves: the first start creates the account and its root
access key; every start (re)writes ``DATA_DIR/aws/config`` and ``DATA_DIR/aws/credentials``
(profile ``cloudlet``, mode 0600) from the stored, encrypted key, so the files always
match the cloud.
"""

from __future__ import annotations

import configparser
import os
from dataclasses import dataclass
from pathlib import Path

from controller.cloud import Cloud
from controller.hosts.api_tls import CA_CERT

PROFILE = "cloudlet"


@dataclass
class Profile:
    account_id: str
    access_key_id: str
    config_file: Path
    credentials_file: Path


def ensure_management_account(cloud: Cloud) -> str:
    """The cloud's first account, with an active root key, created on the very first start."""
    store = cloud.credentials
    account_id = store.management_account()
    if account_id is None:
        account_id = store.create_account("cloudlet", "root@cloudlet.local", is_management=True)
    if not store.keys_of(account_id, "root", kind="root"):
        store.create_root_key(account_id)
    return account_id


def write_profile(cloud: Cloud, https_url: str | None = None) -> Profile:
    """(Re)write the ``cloudlet`` AWS CLI profile for the management account's root key and endpoint: the
    HTTPS one when ``cloudlet up`` serves one, with the cloud's CA as the profile's ``ca_bundle``."""
    store = cloud.credentials
    account_id = ensure_management_account(cloud)
    keys = store.keys_of(account_id, "root", kind="root")
    key = next((k for k in keys if k["status"] == "Active"), keys[0])
    credential = store.resolve(key["access_key_id"])
    assert credential is not None
    aws_dir = cloud.config.data_dir / "aws"
    aws_dir.mkdir(mode=0o700, exist_ok=True)
    config = configparser.ConfigParser()
    config[f"profile {PROFILE}"] = {"region": cloud.config.region,
                                    "endpoint_url": https_url or cloud.config.endpoint_url, "output": "json"}
    if https_url:
        config[f"profile {PROFILE}"]["ca_bundle"] = str(cloud.config.data_dir / CA_CERT)
    credentials = configparser.ConfigParser()
    credentials[PROFILE] = {"aws_access_key_id": credential.access_key_id,
                            "aws_secret_access_key": credential.secret_access_key}
    _write_private(aws_dir / "config", config)
    _write_private(aws_dir / "credentials", credentials)
    return Profile(account_id, credential.access_key_id, aws_dir / "config", aws_dir / "credentials")


def _write_private(path: Path, parser: configparser.ConfigParser) -> None:
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        parser.write(f)
    os.replace(tmp, path)
