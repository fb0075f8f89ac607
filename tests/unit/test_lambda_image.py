"""Unpacking container images (agent/functions/image.py) from archives built here, byte by byte.

Each test writes a real OCI image layout or ``docker save`` tarball with ``tarfile`` and checks the
root filesystem that comes out: layer order, whiteouts, the config, and what a hostile archive cannot do.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import stat
import tarfile
from pathlib import Path

import pytest

from agent.functions.image import ImageError, ImageSpec, resolve_inside, unpack

Entry = tuple[str, str, object]  # (name, kind: file|dir|symlink|hardlink|fifo, content / link target / mode)


def layer_tar(entries: list[Entry], *, mode: int = 0o644) -> bytes:
    """An uncompressed layer holding ``entries`` in the given order."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for name, kind, value in entries:
            info = tarfile.TarInfo(name)
            info.mtime = 1_700_000_000
            if kind == "file":
                data = value.encode() if isinstance(value, str) else bytes(value)  # type: ignore[arg-type]
                info.size, info.mode = len(data), mode
                tar.addfile(info, io.BytesIO(data))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "symlink": tarfile.SYMTYPE, "hardlink": tarfile.LNKTYPE,
                         "fifo": tarfile.FIFOTYPE, "chr": tarfile.CHRTYPE}[kind]
            info.mode = value if kind == "dir" and isinstance(value, int) else 0o755
            if kind in ("symlink", "hardlink"):
                info.linkname = str(value)
            tar.addfile(info)
    return buffer.getvalue()


def image_config(entrypoint: list[str] | None = None, cmd: list[str] | None = None, workdir: str = "/var/task",
                 env: list[str] | None = None, layers: tuple[bytes, ...] | list[bytes] = ()) -> dict:
    return {"architecture": "amd64", "os": "linux",
            "config": {"Entrypoint": entrypoint, "Cmd": cmd, "WorkingDir": workdir, "Env": env or []},
            "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(x).hexdigest() for x in layers]}}


def digest(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def write_archive(path: Path, files: dict[str, bytes]) -> Path:
    with tarfile.open(path, "w") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def oci_archive(path: Path, layers: list[bytes], *, gzip_layers: bool = True, config: dict | None = None,
                platforms: list[str] | None = None, corrupt: bool = False, media_type: str | None = None) -> Path:
    """An OCI image layout tar; with ``platforms``, an image index listing one manifest per os/arch."""
    blobs: dict[str, bytes] = {}

    def blob(data: bytes) -> dict:
        blobs[f"blobs/sha256/{digest(data)[7:]}"] = data
        return {"digest": digest(data), "size": len(data)}

    config_doc = json.dumps(config or image_config(["/bin/run"], ["app.handler"], layers=layers)).encode()
    layer_descriptors = []
    for raw in layers:
        data = gzip.compress(raw, mtime=0) if gzip_layers else raw
        kind = media_type or ("application/vnd.oci.image.layer.v1.tar" + ("+gzip" if gzip_layers else ""))
        layer_descriptors.append({"mediaType": kind, **blob(data)})
        if corrupt:
            blobs[f"blobs/sha256/{digest(data)[7:]}"] = data[:-1] + bytes([data[-1] ^ 1])
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": {"mediaType": "application/vnd.oci.image.config.v1+json",
                                      **blob(config_doc)},
                           "layers": layer_descriptors}).encode()
    manifest_descriptor = {"mediaType": "application/vnd.oci.image.manifest.v1+json", **blob(manifest)}
    if platforms is None:
        manifests = [manifest_descriptor]
    else:
        manifests = [{**manifest_descriptor, "platform": {"os": p.split("/")[0], "architecture": p.split("/")[1]}}
                     for p in platforms]
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": manifests}
    return write_archive(path, {"oci-layout": b'{"imageLayoutVersion": "1.0.0"}',
                                "index.json": json.dumps(index).encode(), **blobs})


def docker_archive(path: Path, layers: list[bytes], config: dict) -> Path:
    """What ``docker save`` writes (before Docker 25): manifest.json, a config, and <id>/layer.tar each."""
    files = {f"layer{i}/layer.tar": raw for i, raw in enumerate(layers)}
    files["cfg.json"] = json.dumps(config).encode()
    files["manifest.json"] = json.dumps([{"Config": "cfg.json", "RepoTags": ["fn:latest"],
                                          "Layers": [f"layer{i}/layer.tar" for i in range(len(layers))]}]).encode()
    return write_archive(path, files)


BASE = layer_tar([("etc/", "dir", 0o755), ("etc/keep", "file", "keep"), ("etc/drop", "file", "drop"),
                  ("opt/lib/", "dir", 0o755), ("opt/lib/old.py", "file", "old"), ("opt/lib/sub/x", "file", "x"),
                  ("bin/run", "file", "#!/bin/sh\n")])


def test_layers_apply_in_order_with_whiteouts_and_the_config(tmp_path: Path) -> None:
    top = layer_tar([("etc/.wh.drop", "file", ""), ("opt/lib/.wh..wh..opq", "file", ""),
                     ("opt/lib/new.py", "file", "new"), ("etc/keep", "file", "replaced")])
    config = image_config(["/usr/local/bin/python3", "-m", "awslambdaric"], ["app.handler"],
                          "/var/task", ["PATH=/usr/bin", "LANG=C.UTF-8", "EMPTY="], [BASE, top])
    spec = unpack(oci_archive(tmp_path / "image.tar", [BASE, top], config=config), tmp_path / "out")

    root = spec.rootfs
    assert spec == ImageSpec(root, ["/usr/local/bin/python3", "-m", "awslambdaric"], ["app.handler"], "/var/task",
                             {"PATH": "/usr/bin", "LANG": "C.UTF-8", "EMPTY": ""})
    assert (root / "etc/keep").read_text() == "replaced"
    assert not (root / "etc/drop").exists() and not (root / "etc/.wh.drop").exists()
    assert sorted(os.listdir(root / "opt/lib")) == ["new.py"]  # the opaque directory lost old.py and sub/
    assert (root / "bin/run").stat().st_mtime == 1_700_000_000


def test_a_layers_own_entries_survive_its_whiteouts_wherever_they_sit(tmp_path: Path) -> None:
    top = layer_tar([("opt/lib/new.py", "file", "new"), ("opt/lib/.wh..wh..opq", "file", ""),
                     ("etc/drop", "file", "again"), ("etc/.wh.drop", "file", "")])
    spec = unpack(oci_archive(tmp_path / "image.tar", [BASE, top]), tmp_path / "out")
    assert sorted(os.listdir(spec.rootfs / "opt/lib")) == ["new.py"]
    assert (spec.rootfs / "etc/drop").read_text() == "again"


def test_uncompressed_layers_and_a_whiteout_of_a_directory(tmp_path: Path) -> None:
    top = layer_tar([("opt/.wh.lib", "file", "")])
    spec = unpack(oci_archive(tmp_path / "image.tar", [BASE, top], gzip_layers=False), tmp_path / "out")
    assert os.listdir(spec.rootfs / "opt") == []
    assert spec.entrypoint == ["/bin/run"] and spec.cmd == ["app.handler"]


def test_docker_save_archives(tmp_path: Path) -> None:
    top = layer_tar([("etc/.wh.keep", "file", ""), ("var/task/app.py", "file", "def handler(e, c): return 1\n")])
    config = image_config(["/entry.sh"], None, "", ["A=1=2"], [BASE, top])
    spec = unpack(docker_archive(tmp_path / "saved.tar", [BASE, top], config), tmp_path / "out")
    assert (spec.entrypoint, spec.cmd, spec.workdir, spec.env) == (["/entry.sh"], [], "/", {"A": "1=2"})
    assert (spec.rootfs / "var/task/app.py").exists() and not (spec.rootfs / "etc/keep").exists()


def test_docker_save_layers_are_checked_against_the_configs_diff_ids(tmp_path: Path) -> None:
    config = image_config(layers=[layer_tar([("other", "file", "x")])])
    with pytest.raises(ImageError, match="does not match its digest"):
        unpack(docker_archive(tmp_path / "saved.tar", [BASE], config), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_index_of_platforms_yields_the_hosts_and_names_them_when_it_is_missing(tmp_path: Path) -> None:
    spec = unpack(oci_archive(tmp_path / "multi.tar", [BASE], platforms=["linux/s390x", "linux/amd64"]),
                  tmp_path / "out")
    assert (spec.rootfs / "etc/keep").exists()
    with pytest.raises(ImageError, match=r"no image for linux/amd64 \(found: linux/arm64, windows/amd64\)"):
        unpack(oci_archive(tmp_path / "other.tar", [BASE], platforms=["linux/arm64", "windows/amd64"]),
               tmp_path / "out2")


def test_entries_that_climb_out_of_the_root_are_refused_and_nothing_is_left(tmp_path: Path) -> None:
    for name, entries in {"dots": [("a/../../evil", "file", "x")],
                          "hardlink": [("link", "hardlink", "../../etc/passwd")]}.items():
        with pytest.raises(ImageError, match="outside the image's root"):
            unpack(oci_archive(tmp_path / f"{name}.tar", [layer_tar(entries)]), tmp_path / name)
        assert not (tmp_path / name).exists()
    assert not (tmp_path / "evil").exists()
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no staging left behind
    for name, entries in {"dangling": [("link", "hardlink", "nowhere")],
                          "directory": [("d/", "dir", 0o755), ("link", "hardlink", "d")]}.items():
        with pytest.raises(ImageError, match="which is no file in the layers"):
            unpack(oci_archive(tmp_path / f"{name}.tar", [layer_tar(entries)]), tmp_path / name)


def test_symlinks_are_resolved_inside_the_root_so_writes_through_them_stay_there(tmp_path: Path) -> None:
    host = tmp_path / "host-dir"
    host.mkdir()
    entries = [("abs", "symlink", str(host)), ("abs/pwned", "file", "1"),
               ("rel", "symlink", "../../../../../../.."), ("rel/tmp/x", "file", "2"),
               ("lib", "symlink", "usr/lib"), ("usr/lib/", "dir", 0o755), ("lib/libc.so", "file", "3")]
    spec = unpack(oci_archive(tmp_path / "image.tar", [layer_tar(entries)]), tmp_path / "out")
    assert list(host.iterdir()) == []
    assert (spec.rootfs / str(host).lstrip("/") / "pwned").read_text() == "1"
    assert (spec.rootfs / "tmp/x").read_text() == "2"
    assert (spec.rootfs / "usr/lib/libc.so").read_text() == "3"
    assert os.readlink(spec.rootfs / "abs") == str(host)  # kept as the image says: it means rootfs/… inside
    assert resolve_inside(spec.rootfs, "/abs/pwned") == spec.rootfs / str(host).lstrip("/") / "pwned"


def test_symlink_loops_are_an_image_error(tmp_path: Path) -> None:
    entries = [("a", "symlink", "b"), ("b", "symlink", "a"), ("a/x", "file", "")]
    with pytest.raises(ImageError, match="too many levels of symbolic links"):
        unpack(oci_archive(tmp_path / "image.tar", [layer_tar(entries)]), tmp_path / "out")


def test_set_id_bits_devices_and_hard_links(tmp_path: Path) -> None:
    entries = [("bin/su", "file", "x"), ("dev/null", "chr", None), ("fifo", "fifo", None),
               ("bin/alias", "hardlink", "bin/su"), ("ro/", "dir", 0o555), ("ro/inside", "file", "y")]
    layer = layer_tar(entries[:1], mode=0o4755)
    rest = layer_tar(entries[1:])
    spec = unpack(oci_archive(tmp_path / "image.tar", [layer, rest]), tmp_path / "out")
    root = spec.rootfs
    assert stat.S_IMODE((root / "bin/su").stat().st_mode) == 0o755
    assert not (root / "dev/null").exists() and not (root / "fifo").exists()
    assert (root / "bin/alias").stat().st_ino == (root / "bin/su").stat().st_ino
    assert stat.S_IMODE((root / "ro").stat().st_mode) == 0o555 and (root / "ro/inside").read_text() == "y"


def test_corrupt_blobs_unknown_compression_and_non_images(tmp_path: Path) -> None:
    with pytest.raises(ImageError, match="does not match its digest"):
        unpack(oci_archive(tmp_path / "bad.tar", [BASE], corrupt=True), tmp_path / "out")
    with pytest.raises(ImageError, match="zstd"):
        unpack(oci_archive(tmp_path / "zstd.tar", [BASE],
                           media_type="application/vnd.oci.image.layer.v1.tar+zstd"), tmp_path / "out")
    (tmp_path / "junk.tar").write_bytes(b"not a tar at all" * 100)
    with pytest.raises(ImageError, match="not a readable tar"):
        unpack(tmp_path / "junk.tar", tmp_path / "out")
    with pytest.raises(ImageError, match="neither an OCI image layout"):
        unpack(write_archive(tmp_path / "plain.tar", {"hello.txt": b"hi"}), tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_an_unpacked_image_is_reused_without_reading_the_archive_again(tmp_path: Path) -> None:
    archive = oci_archive(tmp_path / "image.tar", [BASE])
    (tmp_path / "out").mkdir()  # an empty destination the caller made is fine
    first = unpack(archive, tmp_path / "out")
    archive.unlink()
    assert unpack(archive, tmp_path / "out") == first
