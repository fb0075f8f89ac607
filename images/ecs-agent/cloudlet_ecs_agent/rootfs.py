"""An image archive (docker ``save`` or OCI layout, as a tar) unpacked into a root filesystem, layer by layer.

Whiteouts are honoured as the OCI image spec defines them: ``.wh.<name>`` removes ``<name>`` from the layers
below, ``.wh..wh..opq`` empties its directory of what the layers below put there. Returns the image's
configuration (``Env``, ``Cmd``, ``Entrypoint``, ``WorkingDir``, ``User``).
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
from pathlib import Path
from typing import Any

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


def _layers_and_config(archive: tarfile.TarFile) -> tuple[list[str], dict[str, Any]]:
    """The layer members (bottom first) and the image configuration of a docker or OCI archive."""
    names = set(archive.getnames())

    def read(name: str) -> Any:
        member = archive.extractfile(name.lstrip("./"))
        assert member is not None, name
        return json.load(member)

    if "manifest.json" in names:  # docker save
        manifest = read("manifest.json")[0]
        return list(manifest["Layers"]), read(manifest["Config"]).get("config") or {}
    index = read("index.json")
    manifest = read("blobs/" + index["manifests"][0]["digest"].replace(":", "/"))
    config = read("blobs/" + manifest["config"]["digest"].replace(":", "/"))
    return ["blobs/" + layer["digest"].replace(":", "/") for layer in manifest["layers"]], config.get("config") or {}


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    elif path.exists() or path.is_symlink():
        path.unlink()


def _resolves_inside(root: Path, relative: Path) -> bool:
    """Whether ``relative`` lands inside ``root`` once the symlinks already unpacked there are followed: a
    layer must not reach the instance's own files through a link an earlier entry or layer planted."""
    real = (root / relative).parent.resolve()
    return real == root or root in real.parents


def apply_layer(layer: tarfile.TarFile, root: Path) -> None:
    """One layer over ``root`` (an absolute, resolved path), entry by entry in the layer's order, so each
    entry is checked against the links before it: whiteouts remove, other entries land. An entry that would
    escape ``root`` (``..``, a path through a symlink pointing out, a hard link to a file outside) is
    skipped."""
    for member in layer.getmembers():
        path = Path(member.name.lstrip("/"))
        if ".." in path.parts or not _resolves_inside(root, path):
            continue
        if member.islnk() and not _resolves_inside(root, Path(member.linkname.lstrip("/"), "x")):
            continue
        if path.name == OPAQUE:
            target = root / path.parent
            if target.is_dir():
                for child in target.iterdir():
                    _remove(child)
        elif path.name.startswith(WHITEOUT):
            _remove(root / path.parent / path.name[len(WHITEOUT):])
        else:
            if not member.isdir():
                _remove(root / path)
            layer.extract(member, root, numeric_owner=True)


def unpack(archive_path: Path, root: Path) -> dict[str, Any]:
    """The image at ``archive_path`` unpacked into ``root`` (made fresh); its configuration."""
    if root.exists():
        shutil.rmtree(root)
    root.mkdir(parents=True)
    root = root.resolve()
    with tarfile.open(archive_path) as archive:
        layers, config = _layers_and_config(archive)
        for name in layers:
            blob = archive.extractfile(name)
            assert blob is not None, name
            with tarfile.open(fileobj=blob, mode="r:*") as layer:
                apply_layer(layer, root)
    for directory in ("proc", "dev", "tmp"):
        os.makedirs(root / directory, exist_ok=True)
    return config
