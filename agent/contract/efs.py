"""The ``efs`` section of a host's desired document (contract D), as dataclasses (pure).

The controller sends every mount target this host serves and every file system whose data it keeps::

    {"mount_targets": [{"mount_target_id": "fsmt-..", "file_system_id": "fs-..", "vpc_id": "vpc-..",
                        "subnet_id": "subnet-..", "interface_id": "eni-..", "ip": "10.0.1.5", "mac": "02:..",
                        "prefix_len": 24, "access_points": [...]}],
     "file_systems": ["fs-.."]}

IDs become path components and namespace names on the host, so they are checked against AWS's formats
here: a malformed document is refused whole before anything is touched.
"""

from __future__ import annotations

import ipaddress
import posixpath
import re
from dataclasses import dataclass, field
from typing import Any

from agent.contract.cidr import SubnetPort
from agent.contract.codec import read_section

FILE_SYSTEM_ID = re.compile(r"^fs-[0-9a-f]{8,40}$")
MOUNT_TARGET_ID = re.compile(r"^fsmt-[0-9a-f]{8,40}$")
ACCESS_POINT_ID = re.compile(r"^fsap-[0-9a-f]{8,40}$")
INTERFACE_ID = re.compile(r"^eni-[0-9a-f]{8,40}$")
MAC = re.compile(r"^[0-9a-fA-F]{2}(:[0-9a-fA-F]{2}){5}$")
PERMISSIONS = re.compile(r"^[0-7]{3,4}$")
MAX_ID = 2**32 - 1


@dataclass
class PosixUser:
    """The identity every NFS request through an access point is squashed to."""

    uid: int
    gid: int
    secondary_gids: list[int] = field(default_factory=list)


@dataclass
class CreationInfo:
    """Owner and octal permissions of an access point's root directory when the agent creates it."""

    owner_uid: int
    owner_gid: int
    permissions: str


@dataclass
class ClientAccess:
    """What the file system policy lets an anonymous (plain NFS, no IAM) client do through one export:
    ``elasticfilesystem:ClientMount``, ``ClientWrite`` and ``ClientRootAccess``; all true without a policy."""

    mount: bool = True
    write: bool = True
    root: bool = True


@dataclass
class AccessPoint:
    access_point_id: str
    path: str = "/"
    posix_user: PosixUser | None = None
    creation_info: CreationInfo | None = None
    client_access: ClientAccess = field(default_factory=ClientAccess)


@dataclass
class MountTarget(SubnetPort):
    mount_target_id: str
    file_system_id: str
    vpc_id: str
    subnet_id: str
    interface_id: str
    ip: str
    mac: str
    prefix_len: int
    access_points: list[AccessPoint] = field(default_factory=list)
    client_access: ClientAccess = field(default_factory=ClientAccess)


@dataclass
class EfsSection:
    mount_targets: list[MountTarget] = field(default_factory=list)
    file_systems: list[str] = field(default_factory=list)


def parse(data: Any) -> EfsSection:
    """The section as dataclasses; ContractError lists every problem when it is malformed."""
    return read_section(EfsSection, data, problems)


def problems(section: EfsSection) -> list[str]:
    """What makes a section unusable (pure): bad IDs, addresses, duplicate mount targets or paths."""
    found = [f"file system id {fs!r} is malformed" for fs in section.file_systems if not FILE_SYSTEM_ID.match(fs)]
    seen: set[str] = set()
    for target in section.mount_targets:
        where = target.mount_target_id
        for pattern, value in ((MOUNT_TARGET_ID, target.mount_target_id), (FILE_SYSTEM_ID, target.file_system_id),
                               (INTERFACE_ID, target.interface_id), (MAC, target.mac)):
            if not pattern.match(value):
                found.append(f"{where}: {value!r} is malformed")
        if where in seen:
            found.append(f"{where} is listed twice")
        seen.add(where)
        try:
            address = ipaddress.IPv4Address(target.ip)
            if not 16 <= target.prefix_len <= 28 or address not in target.network:
                raise ValueError
        except ValueError:
            found.append(f"{where}: {target.ip}/{target.prefix_len} is not a subnet address")
        for point in target.access_points:
            found += [f"{where}: {problem}" for problem in access_point_problems(point)]
    return found


def access_point_problems(point: AccessPoint) -> list[str]:
    found = []
    if not ACCESS_POINT_ID.match(point.access_point_id):
        found.append(f"access point id {point.access_point_id!r} is malformed")
    if not is_safe_path(point.path):
        found.append(f"{point.access_point_id}: root directory {point.path!r} is not an absolute path without "
                     "'.' or '..'")
    user = point.posix_user
    if user and not all(0 <= value <= MAX_ID for value in (user.uid, user.gid, *user.secondary_gids)):
        found.append(f"{point.access_point_id}: POSIX user ids out of range")
    info = point.creation_info
    if info and (not PERMISSIONS.match(info.permissions) or not 0 <= info.owner_uid <= MAX_ID
                 or not 0 <= info.owner_gid <= MAX_ID):
        found.append(f"{point.access_point_id}: creation info is malformed")
    return found


def is_safe_path(path: str) -> bool:
    """An absolute path whose components are plain names (it cannot climb out of the file system)."""
    if not path.startswith("/") or "\0" in path or len(path) > 100:
        return False
    parts = [part for part in path.split("/") if part]
    return all(part not in (".", "..") for part in parts) and posixpath.normpath(path) == (path.rstrip("/") or "/")
