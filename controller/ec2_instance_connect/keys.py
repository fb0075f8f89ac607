"""What SendSSHPublicKey accepts and what the metadata service shows of it (pure functions).

Keys are OpenSSH public key lines of the types EC2 Instance Connect supports: RSA of 2048 bits or more,
ED25519 and the three ECDSA curves. The metadata service lists a user's unexpired keys under
``meta-data/managed-ssh-keys/active-keys/<user>`` in the form AWS's ``ec2-instance-connect`` package parses
(``eic_parse_authorized_keys``): for each key, ``#Timestamp=<expiry, epoch seconds>``, ``#Instance=``,
``#Caller=`` and ``#Request=`` lines, the key line, then a blank line. AWS signs each entry (the lines
after the key) with a certificate served at ``managed-ssh-keys/signer-cert``; Cloudlet does not sign:
its guests' scripts (images/) trust what the link-local metadata service of their own host says, and
check the instance id and the expiry as AWS's do.
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import os
import struct
from collections.abc import Iterable, Mapping
from typing import Any

#: How long a pushed key stays (AWS: 60 seconds); ``CLOUDLET_INSTANCE_CONNECT_KEY_SECONDS`` shortens it
#: for tests.
KEY_SECONDS = 60
KEY_SECONDS_ENV = "CLOUDLET_INSTANCE_CONNECT_KEY_SECONDS"
MIN_RSA_BITS = 2048
#: Key type -> the curve name ECDSA blobs carry (None: not ECDSA).
KEY_TYPES: dict[str, str | None] = {"ssh-rsa": None, "ssh-ed25519": None, "ecdsa-sha2-nistp256": "nistp256",
                                    "ecdsa-sha2-nistp384": "nistp384", "ecdsa-sha2-nistp521": "nistp521"}


def key_seconds() -> int:
    """How long a key pushed now stays on the instance."""
    try:
        return max(1, int(os.environ.get(KEY_SECONDS_ENV, KEY_SECONDS)))
    except ValueError:
        return KEY_SECONDS


def _fields(blob: bytes) -> list[bytes]:
    """The length-prefixed strings of an SSH wire-format blob (RFC 4253 section 6.6)."""
    found, offset = [], 0
    while offset < len(blob):
        if offset + 4 > len(blob):
            raise ValueError("truncated key blob")
        (size,) = struct.unpack(">I", blob[offset:offset + 4])
        offset += 4
        if offset + size > len(blob):
            raise ValueError("truncated key blob")
        found.append(blob[offset:offset + size])
        offset += size
    return found


def key_problem(text: str) -> str | None:
    """Why ``text`` is not a key EC2 Instance Connect accepts, or None when it is."""
    parts = text.strip().split()
    if len(parts) < 2 or "\n" in text.strip():
        return "The SSH public key is not in OpenSSH format (type, base64 key, optional comment on one line)."
    kind, encoded = parts[0], parts[1]
    if kind not in KEY_TYPES:
        return f"Unsupported SSH public key type {kind}: use RSA (2048 bits or more), ED25519 or ECDSA."
    try:
        fields = _fields(base64.b64decode(encoded, validate=True))
    except (binascii.Error, ValueError):
        return "The SSH public key is not valid: its key data is not a valid key blob."
    if not fields or fields[0].decode("ascii", "replace") != kind:
        return "The SSH public key is not valid: its key data does not match its type."
    if kind == "ssh-rsa":
        if len(fields) != 3:
            return "The SSH public key is not valid: RSA - SSH Public key is invalid."
        bits = int.from_bytes(fields[2], "big").bit_length()
        if bits < MIN_RSA_BITS:
            return f"The SSH public key is not valid: RSA keys must be {MIN_RSA_BITS} bits or more, not {bits}."
    elif kind == "ssh-ed25519":
        if len(fields) != 2 or len(fields[1]) != 32:
            return "The SSH public key is not valid: ED25519 - SSH Public key is invalid."
    elif len(fields) != 3 or fields[1].decode("ascii", "replace") != KEY_TYPES[kind]:
        return "The SSH public key is not valid: ECDSA - SSH Public key is invalid."
    return None


def entry(row: Mapping[str, Any]) -> str:
    """One key as ``active-keys/<user>`` shows it (see the module docstring)."""
    expires = int(row["expires_at"].timestamp())
    return (f"#Timestamp={expires}\n#Instance={row['instance_id']}\n#Caller={row['caller_arn']}\n"
            f"#Request={row['request_id']}\n{' '.join(row['public_key'].split())}\n\n")


def active_keys(rows: Iterable[Mapping[str, Any]], now: dt.datetime) -> dict[str, str]:
    """user -> the text of ``active-keys/<user>``, for the keys not expired at ``now`` (oldest first)."""
    users: dict[str, str] = {}
    for row in sorted(rows, key=lambda r: (r["expires_at"], r["key_id"])):
        if row["expires_at"] > now:
            users[row["os_user"]] = users.get(row["os_user"], "") + entry(row)
    return users
