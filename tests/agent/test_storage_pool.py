"""The EBS pool and the ``volumes`` reconciler on real qcow2 files (qemu-img, qemu-io; no VM, no root).

Data is written and read through QEMU's own block layer (``qemu-io``), so encryption is checked the way a
guest would see it: the bytes are there through the key, and nowhere in the raw file.
"""

from __future__ import annotations

import base64
import os
import shutil
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest

from tests.prerequisites import missing_tools, require

require(missing_tools("qemu-img", "qemu-io"), "storage pool tests")

from agent.compute.memory import InMemoryComputeDriver  # noqa: E402
from agent.storage.pool import PoolError, VolumePool, check_key, image_info, virtual_size  # noqa: E402
from agent.storage.service import VolumesReconciler  # noqa: E402

MIB = 1 << 20
A, B, C = "vol-000000000000000a1", "vol-000000000000000b2", "vol-000000000000000c3"


def new_key() -> str:
    return base64.b64encode(os.urandom(32)).decode()


def qemu_io(path: Path, key: str | None, command: str) -> str:
    options = f"driver=qcow2,file.filename={path}" + (",encrypt.key-secret=s0" if key else "")
    secret = ["--object", f"secret,id=s0,data={key}"] if key else []
    result = subprocess.run(["qemu-io", *secret, "--image-opts", options, "-c", command], capture_output=True,
                            text=True)
    assert result.returncode == 0 and "error" not in result.stdout.lower(), result.stdout + result.stderr
    return result.stdout


def holds_pattern(path: Path, key: str | None, offset: int = 0) -> bool:
    result = subprocess.run(["qemu-io", *(["--object", f"secret,id=s0,data={key}"] if key else []), "--image-opts",
                             f"driver=qcow2,file.filename={path}" + (",encrypt.key-secret=s0" if key else ""),
                             "-c", f"read -P 0x5a {offset} 64k"], capture_output=True, text=True)
    return result.returncode == 0 and "Pattern verification failed" not in result.stdout


@pytest.fixture
def pool(tmp_path: Path) -> VolumePool:
    return VolumePool(tmp_path / "volumes")


def test_a_blank_volume_is_a_sparse_qcow2_of_its_size(pool: VolumePool) -> None:
    path = pool.create(A, 64 * MIB, None)
    assert path == pool.directory / f"{A}.qcow2"
    assert virtual_size(path) == 64 * MIB and not image_info(path).encrypted
    assert path.stat().st_size < MIB
    assert pool.volumes() == {A: 64 * MIB}
    assert not list(pool.directory.glob(".*"))  # no half-made file left


def test_an_encrypted_volume_holds_no_plaintext_and_opens_only_with_its_key(pool: VolumePool) -> None:
    key = new_key()
    path = pool.create(A, 64 * MIB, key)
    assert image_info(path).encrypted
    qemu_io(path, key, "write -P 0x5a 0 1M")
    assert holds_pattern(path, key)
    assert b"\x5a" * 4096 not in path.read_bytes()  # a megabyte of 0x5a, nowhere in the raw file
    check_key(path, key)
    with pytest.raises(PoolError, match="does not open"):
        check_key(path, new_key())


@pytest.mark.parametrize("encrypted", [False, True])
def test_grow_keeps_the_data_and_never_shrinks(pool: VolumePool, encrypted: bool) -> None:
    key = new_key() if encrypted else None
    path = pool.create(A, 64 * MIB, key)
    qemu_io(path, key, "write -P 0x5a 0 64k")
    pool.grow(path, 128 * MIB, key)
    assert virtual_size(path) == 128 * MIB
    pool.grow(path, 64 * MIB, key)
    assert virtual_size(path) == 128 * MIB
    assert holds_pattern(path, key)


def test_a_snapshot_copy_is_standalone_and_stays_encrypted_under_the_same_key(pool: VolumePool,
                                                                           tmp_path: Path) -> None:
    key = new_key()
    path = pool.create(A, 64 * MIB, key)
    qemu_io(path, key, "write -P 0x5a 1M 64k")
    copy = tmp_path / "snap.qcow2"
    pool.copy(path, key, copy)
    info = image_info(copy)
    assert info.encrypted and info.backing_file is None and info.virtual_size == 64 * MIB
    assert holds_pattern(copy, key, 1 * MIB)


def test_restore_keeps_rekeys_or_encrypts_a_snapshot_image(pool: VolumePool, tmp_path: Path) -> None:
    old_key, new = new_key(), new_key()
    source = pool.create(C, 64 * MIB, old_key)
    qemu_io(source, old_key, "write -P 0x5a 0 64k")
    snapshot = tmp_path / "snap.qcow2"
    pool.copy(source, old_key, snapshot)

    shutil.copy(snapshot, tmp_path / "d1")
    same = pool.restore(A, tmp_path / "d1", 128 * MIB, old_key)
    assert holds_pattern(same, old_key) and virtual_size(same) == 128 * MIB
    assert not (tmp_path / "d1").exists()

    shutil.copy(snapshot, tmp_path / "d2")
    rekeyed = pool.restore(B, tmp_path / "d2", 64 * MIB, new, snapshot_key=old_key)
    assert holds_pattern(rekeyed, new)
    with pytest.raises(PoolError):
        check_key(rekeyed, old_key)

    shutil.copy(snapshot, tmp_path / "d3")
    with pytest.raises(PoolError, match="must be encrypted"):
        pool.restore("vol-000000000000000d4", tmp_path / "d3", 64 * MIB, None)

    plain = tmp_path / "plain.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(plain), str(64 * MIB)], check=True)
    qemu_io(plain, None, "write -P 0x5a 0 64k")
    encrypted = pool.restore("vol-000000000000000e5", plain, 64 * MIB, new)
    assert image_info(encrypted).encrypted and holds_pattern(encrypted, new)


def test_a_kept_root_disk_moves_into_the_pool_flattened(pool: VolumePool, tmp_path: Path) -> None:
    base = tmp_path / "base.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", str(base), str(64 * MIB)], check=True)
    qemu_io(base, None, "write -P 0x5a 0 64k")
    overlay = tmp_path / "root.qcow2"
    subprocess.run(["qemu-img", "create", "-q", "-f", "qcow2", "-F", "qcow2", "-b", str(base), str(overlay),
                    str(128 * MIB)], check=True)
    kept = pool.adopt(A, overlay)
    base.unlink()  # the AMI cache may go: the kept volume no longer needs it
    assert not overlay.exists() and image_info(kept).backing_file is None
    assert virtual_size(kept) == 128 * MIB and holds_pattern(kept, None)


# --- the reconciler, with the controller's side played by a recording link -----------------------------


class RecordingLink:
    """Stores uploads and serves them back as the controller's snapshot routes do."""

    def __init__(self, store: Path) -> None:
        self.store = store
        self.reports: list[dict[str, Any]] = []
        self.done = threading.Event()

    def report(self, report: dict[str, Any]) -> None:
        self.reports.append(report)
        if report["snapshots"]:
            self.done.set()

    def upload_snapshot(self, snapshot_id: str, image: Path) -> int:
        shutil.copy(image, self.store / snapshot_id)
        return image.stat().st_size

    def download_snapshot(self, snapshot_id: str, target: Path) -> None:
        if not (self.store / snapshot_id).exists():
            raise OSError(f"cannot download {snapshot_id}: HTTP 404")
        shutil.copy(self.store / snapshot_id, target)


def test_the_reconciler_creates_snapshots_restores_grows_and_deletes(pool: VolumePool, tmp_path: Path) -> None:
    (tmp_path / "store").mkdir()
    link = RecordingLink(tmp_path / "store")
    driver = InMemoryComputeDriver()
    changed: list[bool] = []
    reconciler = VolumesReconciler(pool, link, lambda: driver, threading.RLock(),  # type: ignore[arg-type]
                                   volumes_changed=lambda: changed.append(True))
    key = new_key()
    section: dict[str, Any] = {"volumes": [{"volume_id": A, "size_bytes": 64 * MIB, "encryption_key": key},
                                           {"volume_id": B, "size_bytes": 32 * MIB}], "snapshots": []}
    reconciler.reconcile(section)
    assert changed and set(pool.volumes()) == {A, B}
    assert link.reports[-1]["volumes"][A] == {"state": "available", "size_bytes": 64 * MIB, "error": ""}
    qemu_io(pool.path(A), key, "write -P 0x5a 0 64k")

    section["snapshots"] = [{"snapshot_id": "snap-0000000000000000a", "volume_id": A}]
    reconciler.reconcile(section)
    assert link.done.wait(30)
    outcome = link.reports[-1]["snapshots"]["snap-0000000000000000a"]
    assert outcome["state"] == "completed" and outcome["size_bytes"] > 0
    assert image_info(tmp_path / "store" / "snap-0000000000000000a").encrypted

    section = {"volumes": [{"volume_id": A, "size_bytes": 96 * MIB, "encryption_key": key},
                           {"volume_id": C, "size_bytes": 128 * MIB, "snapshot_id": "snap-0000000000000000a",
                            "encryption_key": key},
                           {"volume_id": "vol-000000000000000f6", "size_bytes": MIB,
                            "snapshot_id": "snap-00000000000000404"}],
               "snapshots": []}
    reconciler.reconcile(section)
    assert set(pool.volumes()) == {A, C}  # B is no longer listed: its data is gone
    assert virtual_size(pool.path(A)) == 96 * MIB
    assert holds_pattern(pool.path(C), key) and virtual_size(pool.path(C)) == 128 * MIB
    last = link.reports[-1]
    assert last["complete"] is True and last["snapshots"] == {}
    assert last["volumes"][C]["state"] == "available"
    failed = last["volumes"]["vol-000000000000000f6"]
    assert failed["state"] == "failed" and "404" in failed["error"]
