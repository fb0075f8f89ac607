"""File system data on the host: one directory per file system, access point directories inside it.

Clients own everything below a file system's root, symbolic links included, so every path the agent
creates or exports there is walked one component at a time with ``O_NOFOLLOW`` directory descriptors:
a link a guest planted (``export -> /etc``) can never make the agent create or export a directory
outside the file system.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from agent.contract.efs import FILE_SYSTEM_ID, AccessPoint
from agent.nfs.ganesha import JUNCTION_DIR

log = logging.getLogger("cloudlet.agent.efs")

#: A new file system's root, as on EFS: owned by root, rwxr-xr-x.
ROOT_MODE = 0o755
#: Intermediate directories the agent makes on the way to an access point's root directory.
PARENT_MODE = 0o755


class UnsafePath(OSError):
    """A path component inside a file system is not a plain directory (a link, a file)."""


def ensure_file_system(data_root: Path, file_system_id: str) -> Path:
    """The file system's data directory, created empty when missing."""
    if not FILE_SYSTEM_ID.match(file_system_id):
        raise ValueError(f"{file_system_id!r} is not a file system id")
    data_root.mkdir(mode=0o700, parents=True, exist_ok=True)
    directory = data_root / file_system_id
    if not directory.is_dir():
        directory.mkdir(mode=ROOT_MODE)
        os.chmod(directory, ROOT_MODE)  # the umask must not narrow it
    return directory


def file_systems_present(data_root: Path) -> list[str]:
    """File system ids that have data on this host."""
    if not data_root.is_dir():
        return []
    return sorted(entry.name for entry in data_root.iterdir() if FILE_SYSTEM_ID.match(entry.name) and entry.is_dir())


def remove_file_system(data_root: Path, file_system_id: str) -> None:
    """Delete a file system's data (its servers must be stopped first). Links inside are not followed."""
    if not FILE_SYSTEM_ID.match(file_system_id):
        raise ValueError(f"{file_system_id!r} is not a file system id")
    directory = data_root / file_system_id
    if directory.is_dir() and not directory.is_symlink():
        shutil.rmtree(directory)
        log.info("removed the data of %s", file_system_id)


def prepare_access_point(data_dir: Path, point: AccessPoint) -> str | None:
    """Make the access point's junction and, when missing and creation info says how, its root directory.

    Returns the root directory's host path to export, or None when it does not exist and may not be
    created (EFS then refuses mounts through the access point) or a component is not a plain directory.
    """
    try:
        _make_directories(data_dir, [JUNCTION_DIR, point.access_point_id], PARENT_MODE, None)
        parts = [part for part in point.path.split("/") if part]
        if not parts:
            return str(data_dir)
        if not _exists(data_dir, parts):
            info = point.creation_info
            if info is None:
                log.info("%s: root directory %s does not exist and has no creation info", point.access_point_id,
                         point.path)
                return None
            _make_directories(data_dir, parts, int(info.permissions, 8), (info.owner_uid, info.owner_gid))
    except UnsafePath as exc:
        log.warning("%s: %s", point.access_point_id, exc)
        return None
    return str(data_dir.joinpath(*parts))


@contextlib.contextmanager
def _walk(data_dir: Path, parts: list[str], create: bool, mode: int,
          owner: tuple[int, int] | None) -> Iterator[int]:
    """Open each component below ``data_dir`` without following links (creating missing ones when asked:
    intermediate ones with PARENT_MODE, the last with ``mode`` and ``owner``); yields the last one's fd."""
    fd = os.open(data_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
    try:
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            try:
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            except FileNotFoundError:
                if not create:
                    raise
                os.mkdir(part, mode if last else PARENT_MODE, dir_fd=fd)
                child = os.open(part, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
                os.chmod(child, mode if last else PARENT_MODE)
                if last and owner is not None:
                    os.chown(child, *owner)
            except OSError as exc:  # ELOOP (a link) or ENOTDIR (a file)
                raise UnsafePath(exc.errno, f"{'/'.join(parts[:index + 1])} is not a plain directory") from exc
            os.close(fd)
            fd = child
        yield fd
    finally:
        os.close(fd)


def _make_directories(data_dir: Path, parts: list[str], mode: int, owner: tuple[int, int] | None) -> None:
    with _walk(data_dir, parts, True, mode, owner):
        pass


def _exists(data_dir: Path, parts: list[str]) -> bool:
    try:
        with _walk(data_dir, parts, False, 0, None):
            return True
    except FileNotFoundError:
        return False
