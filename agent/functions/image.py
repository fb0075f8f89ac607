"""Container images for Lambda: unpack an OCI image layout or a ``docker save`` tarball into a root filesystem.

An image function runs with its image's root filesystem as ``/`` and its config's ENTRYPOINT, CMD,
WorkingDir and Env, as AWS runs it. Images arrive as archives (uploaded to Cloudlet's S3 and copied
into the code store), so the agent reads them itself: the OCI image layout (``index.json`` → manifest
→ config and layers, blobs under ``blobs/<algorithm>/<hex>``) and ``docker save``'s ``manifest.json``.

Layers are applied in order as container runtimes do (the OCI image spec's "Applying Changesets"):
``.wh.<name>`` deletes ``<name>`` from the layers below and ``.wh..wh..opq`` empties its directory of
what the layers below put there; entries of the same layer are never removed by its own whiteouts,
wherever they sit in the tar. Extraction is safe against hostile archives: entry names that climb out
of the root (``../``) are refused, and every path is resolved the way the sandbox will see it, with the
rootfs as ``/`` (an absolute symlink or a ``..`` chain stops at the root), so no entry is ever written
outside ``dest`` through a symlink. Symlinks are kept as the image has them: they are meant to be
followed inside the sandbox; host-side code that looks into a rootfs resolves paths with
``resolve_inside``. Device nodes and FIFOs are not created (the sandbox provides ``/dev``), set-id bits
are dropped, and blobs are checked against their digests.
"""

from __future__ import annotations

import hashlib
import json
import os
import platform
import posixpath
import shutil
import stat
import tarfile
import tempfile
import zlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO, Any

#: AWS's limit on a container image's size, all layers uncompressed (Lambda quotas).
MAX_UNPACKED_BYTES = 10 * 1024**3
#: How many symlinks one path may cross before it is a loop (Linux's MAXSYMLINKS).
MAX_SYMLINK_HOPS = 40

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"
INDEX_TYPES = {"application/vnd.oci.image.index.v1+json",
               "application/vnd.docker.distribution.manifest.list.v2+json"}
SPEC_FILE = "image.json"


class ImageError(Exception):
    """The archive is not an image this host can run; the message names what is wrong with it."""


@dataclass(frozen=True)
class ImageSpec:
    """An unpacked image: its root filesystem and how its config says to start it."""

    rootfs: Path
    entrypoint: list[str]
    cmd: list[str]
    workdir: str
    env: dict[str, str]


def unpack(archive: Path, dest: Path) -> ImageSpec:
    """Unpack the image in ``archive`` into ``dest`` (``dest/rootfs`` and ``dest/image.json``).

    ``dest`` appears complete or not at all (the work happens in a sibling directory renamed into place),
    so an interrupted unpack is never mistaken for an image; unpacking into a ``dest`` that already holds
    one returns it without reading the archive again (environments of one function share it).
    """
    done = _load_spec(dest)
    if done is not None:
        return done
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=dest.parent, prefix=f".{dest.name}."))
    try:
        (staging / "rootfs").mkdir()
        config = _apply_image(archive, staging / "rootfs")
        spec = _spec(config, dest / "rootfs")
        document = {**asdict(spec), "rootfs": "rootfs"}
        (staging / SPEC_FILE).write_text(json.dumps(document))
        try:
            os.rename(staging, dest)
        except OSError:  # another unpack of the same image finished first, or dest is not empty
            done = _load_spec(dest)
            if done is None:
                raise
            return done
        return spec
    finally:
        if staging.exists():
            shutil.rmtree(staging)


def resolve_inside(rootfs: Path, path: str, *, follow_last: bool = True) -> Path:
    """Where ``path`` (as the sandbox names it) is on the host: symlinks are followed with ``rootfs`` as /.

    An absolute link target starts again at ``rootfs``; ``..`` never climbs above it. Intermediate
    directories that do not exist yet are simply named (the caller creates them).
    """
    pending = [part for part in path.split("/") if part not in ("", ".")]
    resolved: list[str] = []
    hops = 0
    while pending:
        part = pending.pop(0)
        if part == "..":
            if resolved:
                resolved.pop()
            continue
        candidate = rootfs.joinpath(*resolved, part)
        if (pending or follow_last) and candidate.is_symlink():
            hops += 1
            if hops > MAX_SYMLINK_HOPS:
                raise ImageError(f"too many levels of symbolic links resolving /{path}")
            target = os.readlink(candidate)
            if target.startswith("/"):
                resolved = []
            pending = [p for p in target.split("/") if p not in ("", ".")] + pending
            continue
        resolved.append(part)
    return rootfs.joinpath(*resolved)


# ---------------------------------------------------------------------------------------------------------
# The archive: which manifest, which config, which layers


@dataclass(frozen=True)
class _Layer:
    path: str           # member name in the outer archive
    digest: str         # "sha256:<hex>" the member's bytes must hash to
    media_type: str


def _apply_image(archive: Path, rootfs: Path) -> dict[str, Any]:
    """Apply the image's layers onto ``rootfs``; return its config document."""
    try:
        with tarfile.open(archive, "r:*") as outer:
            return _apply_archive(outer, rootfs)
    except tarfile.TarError as error:
        raise ImageError(f"the archive is not a readable tar: {error}") from None


def _apply_archive(outer: tarfile.TarFile, rootfs: Path) -> dict[str, Any]:
    members = {_member_name(m.name): m for m in outer.getmembers() if m.isfile()}
    if "index.json" in members:
        config, layers = _oci_layout(outer, members)
    elif "manifest.json" in members:
        config, layers = _docker_save(outer, members)
    else:
        raise ImageError("neither an OCI image layout (index.json) nor a `docker save` archive (manifest.json)")
    budget = [MAX_UNPACKED_BYTES]
    changed_dirs: dict[str, tarfile.TarInfo] = {}
    for layer in layers:
        _check_layer_type(layer)
        with _open_member(outer, members, layer.path) as raw:
            reader = _HashingReader(raw)
            _apply_layer(reader, layer.path, rootfs, budget, changed_dirs)
            reader.finish(layer.digest, layer.path)
    _finish_directories(rootfs, changed_dirs)
    return config


def _oci_layout(outer: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> tuple[dict, list[_Layer]]:
    index = _json_member(outer, members, "index.json", None)
    manifest = _pick_manifest(outer, members, index)
    config_descriptor = manifest.get("config") or {}
    config = _json_member(outer, members, _blob_path(config_descriptor), config_descriptor.get("digest"))
    layers = [_Layer(_blob_path(d), d.get("digest", ""), d.get("mediaType", "")) for d in manifest.get("layers", [])]
    return config, layers


def _pick_manifest(outer: tarfile.TarFile, members: dict[str, tarfile.TarInfo], index: dict) -> dict:
    """The image manifest for this host's platform, descending through nested indexes."""
    for _depth in range(4):
        descriptors = [d for d in index.get("manifests", []) if isinstance(d, dict)]
        runnable = [d for d in descriptors if _platform_matches(d.get("platform"))]
        if not runnable:
            found = sorted({_platform_name(d.get("platform")) for d in descriptors})
            raise ImageError(f"the archive holds no image for {_platform_name(None)} (found: {', '.join(found)})")
        chosen = runnable[0]
        document = _json_member(outer, members, _blob_path(chosen), chosen.get("digest"))
        if chosen.get("mediaType") not in INDEX_TYPES and document.get("mediaType") not in INDEX_TYPES:
            return document
        index = document
    raise ImageError("image indexes nested too deeply")


def _docker_save(outer: tarfile.TarFile, members: dict[str, tarfile.TarInfo]) -> tuple[dict, list[_Layer]]:
    """``docker save``: manifest.json lists each image's config and its layers, uncompressed, bottom first."""
    manifest = _json_member(outer, members, "manifest.json", None)
    if not isinstance(manifest, list) or not manifest or not isinstance(manifest[0], dict):
        raise ImageError("manifest.json lists no image")
    entry = manifest[0]
    config = _json_member(outer, members, _member_name(str(entry.get("Config", ""))), None)
    diff_ids = (config.get("rootfs") or {}).get("diff_ids") or []
    paths = [_member_name(str(p)) for p in entry.get("Layers", [])]
    if len(diff_ids) != len(paths):
        raise ImageError(f"the config names {len(diff_ids)} layers, manifest.json {len(paths)}")
    return config, [_Layer(path, digest, "") for path, digest in zip(paths, diff_ids, strict=True)]


def _platform_matches(platform_doc: Any) -> bool:
    if not isinstance(platform_doc, dict):
        return True  # a single-platform index names none
    return platform_doc.get("os") == "linux" and platform_doc.get("architecture") == _host_architecture()


def _platform_name(platform_doc: Any) -> str:
    if platform_doc is None:
        return f"linux/{_host_architecture()}"
    return f"{platform_doc.get('os', '?')}/{platform_doc.get('architecture', '?')}"


def _host_architecture() -> str:
    machine = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64"}.get(machine, machine)


def _check_layer_type(layer: _Layer) -> None:
    if layer.media_type.endswith("+zstd"):
        raise ImageError(f"layer {layer.digest} is zstd-compressed, which this host cannot read: "
                         "push the image with gzip layers (docker buildx ... --output compression=gzip)")
    if layer.media_type and "layer" not in layer.media_type and "rootfs" not in layer.media_type:
        raise ImageError(f"manifest entry {layer.digest} has media type {layer.media_type}, not a layer")


def _blob_path(descriptor: dict) -> str:
    algorithm, _, encoded = str(descriptor.get("digest", "")).partition(":")
    if algorithm != "sha256" or len(encoded) != 64 or not all(c in "0123456789abcdef" for c in encoded):
        raise ImageError(f"unsupported or malformed digest {descriptor.get('digest')!r}")
    return f"blobs/sha256/{encoded}"


def _member_name(name: str) -> str:
    return posixpath.normpath(name.lstrip("/")).removeprefix("./")


def _open_member(outer: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str) -> IO[bytes]:
    member = members.get(name)
    handle = outer.extractfile(member) if member is not None else None
    if handle is None:
        raise ImageError(f"the archive lacks {name}")
    return handle


def _json_member(outer: tarfile.TarFile, members: dict[str, tarfile.TarInfo], name: str,
                 digest: str | None) -> Any:
    with _open_member(outer, members, name) as handle:
        data = handle.read()
    if digest is not None and "sha256:" + hashlib.sha256(data).hexdigest() != digest:
        raise ImageError(f"{name} does not match its digest {digest}")
    try:
        return json.loads(data)
    except ValueError as error:
        raise ImageError(f"{name} is not JSON: {error}") from None


class _HashingReader:
    """A file object that hashes what is read through it, so a layer is checked in the pass that applies it."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.hash = hashlib.sha256()

    def read(self, size: int = -1) -> bytes:
        data = self.raw.read(size)
        self.hash.update(data)
        return data

    def finish(self, digest: str, name: str) -> None:
        while self.read(1 << 20):  # what tar leaves unread (end-of-archive padding) is part of the blob
            pass
        if "sha256:" + self.hash.hexdigest() != digest:
            raise ImageError(f"layer {name} does not match its digest {digest}")


# ---------------------------------------------------------------------------------------------------------
# One layer onto the rootfs


def _apply_layer(stream: _HashingReader, name: str, rootfs: Path, budget: list[int],
                 changed_dirs: dict[str, tarfile.TarInfo]) -> None:
    """Apply one layer (a tar, gzip/bzip2/xz-compressed or not) in a single streaming pass."""
    written: set[str] = set()  # host paths this layer made; its own whiteouts never remove them
    try:
        with tarfile.open(fileobj=stream, mode="r|*") as layer:  # type: ignore[call-overload]
            for member in layer:
                budget[0] -= max(member.size, 0)
                if budget[0] < 0:
                    raise ImageError(f"the image unpacks to more than {MAX_UNPACKED_BYTES // 1024**3} GiB")
                _apply_member(layer, member, rootfs, written, changed_dirs)
    except (tarfile.TarError, EOFError, zlib.error) as error:
        raise ImageError(f"layer {name} is not a readable tar: {error}") from None


def _apply_member(layer: tarfile.TarFile, member: tarfile.TarInfo, rootfs: Path, written: set[str],
                  changed_dirs: dict[str, tarfile.TarInfo]) -> None:
    name = _entry_name(member.name)
    if name == "":
        return  # the root itself
    parent_name, base = posixpath.split(name)
    parent = _make_parents(rootfs, parent_name, written)
    if base == OPAQUE:
        _empty_lower(parent, written)
        return
    if base.startswith(WHITEOUT):
        if not base.startswith(OPAQUE[:8]):  # .wh..wh.* other than the opaque marker is aufs bookkeeping
            _remove_lower(parent / base[len(WHITEOUT):], written)
        return
    target = parent / base
    existing = os.lstat(target) if os.path.lexists(target) else None
    if existing is not None and not (member.isdir() and stat.S_ISDIR(existing.st_mode)):
        _remove(target)
    if member.isdir():
        if existing is None or not stat.S_ISDIR(existing.st_mode):
            target.mkdir(mode=0o755)
        changed_dirs[str(target)] = member
    elif member.isreg():
        source = layer.extractfile(member)
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
        with os.fdopen(os.open(target, flags, 0o600), "wb") as out:
            if source is not None:
                shutil.copyfileobj(source, out, 1 << 20)
        _set_metadata(target, member)
    elif member.issym():
        os.symlink(member.linkname, target)
        _set_metadata(target, member)
    elif member.islnk():
        linked = _entry_name(member.linkname)
        source_path = resolve_inside(rootfs, linked, follow_last=False)
        if not os.path.lexists(source_path) or os.path.isdir(source_path) and not os.path.islink(source_path):
            raise ImageError(f"hard link {name} points at {member.linkname}, which is no file in the layers")
        os.link(source_path, target, follow_symlinks=False)
    else:
        return  # devices and FIFOs: the sandbox provides /dev
    written.add(str(target))


def _entry_name(raw: str) -> str:
    """A layer entry's path relative to the root; names that climb out of it are refused."""
    relative = posixpath.normpath(raw.lstrip("/"))
    if relative == ".." or relative.startswith("../"):
        raise ImageError(f"layer entry {raw!r} points outside the image's root")
    return "" if relative == "." else relative


def _make_parents(rootfs: Path, parent_name: str, written: set[str]) -> Path:
    """The host directory for ``parent_name``, resolved as the sandbox would, made when missing."""
    directory = resolve_inside(rootfs, parent_name)
    missing: list[Path] = []
    probe = directory
    while not os.path.lexists(probe):  # resolved: what exists on the way is a real directory, never a link
        missing.append(probe)
        probe = probe.parent
    if not probe.is_dir():
        raise ImageError(f"/{parent_name} is not a directory in the layers below")
    for path in reversed(missing):
        path.mkdir(mode=0o755)
        written.add(str(path))
    return directory


def _remove_lower(path: Path, written: set[str]) -> None:
    if os.path.lexists(path) and str(path) not in written:
        _remove(path)


def _empty_lower(directory: Path, written: set[str]) -> None:
    """An opaque directory: drop what lower layers put in it, keep what this layer wrote."""
    for entry in list(os.scandir(directory)):
        path = Path(entry.path)
        if str(path) not in written:
            _remove(path)
        elif entry.is_dir(follow_symlinks=False):
            _empty_lower(path, written)


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _set_metadata(path: Path, member: tarfile.TarInfo) -> None:
    if os.geteuid() == 0:
        os.chown(path, member.uid, member.gid, follow_symlinks=False)
    if not member.issym():
        os.chmod(path, member.mode & 0o1777)  # no set-id bits inside functions
    os.utime(path, (member.mtime, member.mtime), follow_symlinks=False)


def _finish_directories(rootfs: Path, changed_dirs: dict[str, tarfile.TarInfo]) -> None:
    """Directory modes and times last, deepest first: a read-only directory must not stop a later layer."""
    for path in sorted(changed_dirs, key=lambda p: p.count("/"), reverse=True):
        if os.path.isdir(path) and not os.path.islink(path):
            _set_metadata(Path(path), changed_dirs[path])


# ---------------------------------------------------------------------------------------------------------
# The config


def _spec(config: dict[str, Any], rootfs: Path) -> ImageSpec:
    run = config.get("config") or {}
    if not isinstance(run, dict):
        raise ImageError("the image config's config is not an object")
    env: dict[str, str] = {}
    for item in run.get("Env") or []:
        key, _, value = str(item).partition("=")
        env[key] = value
    return ImageSpec(rootfs=rootfs, entrypoint=_strings(run.get("Entrypoint"), "Entrypoint"),
                     cmd=_strings(run.get("Cmd"), "Cmd"), workdir=str(run.get("WorkingDir") or "/"), env=env)


def _strings(value: Any, field: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ImageError(f"the image config's {field} is not a list of strings")
    return list(value)


def _load_spec(dest: Path) -> ImageSpec | None:
    try:
        document = json.loads((dest / SPEC_FILE).read_text())
        return ImageSpec(rootfs=dest / document["rootfs"], entrypoint=document["entrypoint"],
                         cmd=document["cmd"], workdir=document["workdir"], env=document["env"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
