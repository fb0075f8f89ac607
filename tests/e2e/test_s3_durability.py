"""The storage engine under stress: a 2 GiB object with flat server memory, and a SIGKILL mid-write."""

from __future__ import annotations

import concurrent.futures
import hashlib
import json
import os
import random
import signal
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from controller.s3.engine import INLINE_LIMIT
from tests.e2e.s3_helpers import PatternStream, new_bucket, remove_bucket
from tests.support import CloudletProcess

GiB = 1024**3
MiB = 1024**2


def memory_kib(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise LookupError(field)


@pytest.fixture
def bucket(cloudlet: CloudletProcess, unique: str) -> Iterator[str]:
    s3 = cloudlet.client("s3")
    name = new_bucket(s3, f"{unique}-big")
    yield name
    remove_bucket(s3, name)


def test_two_gib_object_streams_up_and_down_in_bounded_memory(cloudlet: CloudletProcess, bucket: str) -> None:
    assert cloudlet.proc is not None
    pid = cloudlet.proc.pid
    s3 = cloudlet.client("s3", read_timeout=300)
    s3.put_object(Bucket=bucket, Key="warm-up", Body=b"x")  # S3 machinery loaded before measuring
    Path(f"/proc/{pid}/clear_refs").write_text("5")  # reset the peak (VmHWM) to the current RSS
    baseline = memory_kib(pid, "VmHWM")
    source = PatternStream(2 * GiB)
    expected = source.digest()
    put = s3.put_object(Bucket=bucket, Key="two-gib.bin", Body=source)
    assert put["ETag"] == f'"{expected}"'
    got = s3.get_object(Bucket=bucket, Key="two-gib.bin")
    assert got["ContentLength"] == 2 * GiB
    md5 = hashlib.md5()
    for chunk in got["Body"].iter_chunks(MiB):
        md5.update(chunk)
    assert md5.hexdigest() == expected
    growth_mib = (memory_kib(pid, "VmHWM") - baseline) / 1024
    assert growth_mib < 100, f"server peak RSS grew by {growth_mib:.0f} MiB moving 2 GiB"


def _content(key: str) -> bytes:
    """Deterministic bytes per key: one key in five small enough to be stored inline, the rest blobs."""
    generator = random.Random(key)
    if int(key.rsplit("-", 1)[1]) % 5 == 0:
        return generator.randbytes(generator.randint(1, INLINE_LIMIT))
    return generator.randbytes(generator.randint(256 * 1024, 12 * MiB))


def test_sigkill_during_concurrent_puts_keeps_every_acknowledged_object(tmp_path: Path, unique: str) -> None:
    cloud = CloudletProcess(tmp_path / "data").start()
    try:
        s3 = cloud.client("s3", max_pool_connections=60)
        name = new_bucket(s3, f"{unique}-crash")
        keys = [f"obj-{i:02d}" for i in range(50)]
        acknowledged: set[str] = set()
        enough = threading.Event()
        lock = threading.Lock()

        def upload(key: str) -> None:
            try:
                s3.put_object(Bucket=name, Key=key, Body=_content(key))
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
                return
            with lock:
                acknowledged.add(key)
                if len(acknowledged) >= 12:
                    enough.set()

        with concurrent.futures.ThreadPoolExecutor(max_workers=50) as pool:
            futures = [pool.submit(upload, key) for key in keys]
            assert enough.wait(120), "uploads did not progress"
            cloud.stop(signal.SIGKILL)
            concurrent.futures.wait(futures)
        s3.close()
        with lock:
            acked = set(acknowledged)
        assert 12 <= len(acked) < 50, f"{len(acked)} acknowledged: the kill did not land mid-write"

        # The killed server's sockets linger in FIN-WAIT-2 (clients whose requests failed may still
        # hold their ends), which keeps the old port from being bound again: restart on a new one.
        cloud.port = 0
        cloud.start()
        s3 = cloud.client("s3")
        listed = {o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=name)
                  for o in page.get("Contents", [])}
        assert acked <= listed
        for key in listed:  # acknowledged or not, whatever is visible is whole
            data = _content(key)
            got = s3.get_object(Bucket=name, Key=key)
            assert got["ContentLength"] == len(data)
            assert got["Body"].read() == data, f"{key} reads back different bytes"
        blobs = [p for p in (tmp_path / "data" / "s3" / "blobs").rglob("*") if p.is_file()]
        assert len(blobs) == sum(len(_content(key)) > INLINE_LIMIT for key in listed), \
            "orphaned or missing blobs after recovery"
        assert list((tmp_path / "data" / "s3" / "tmp").iterdir()) == []
        remove_bucket(s3, name)
    finally:
        cloud.stop()


def test_restart_keeps_objects_and_versions(tmp_path: Path, unique: str) -> None:
    cloud = CloudletProcess(tmp_path / "data").start()
    try:
        s3: Any = cloud.client("s3")
        name = new_bucket(s3, f"{unique}-restart")
        s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
        first = s3.put_object(Bucket=name, Key="k", Body=b"one")["VersionId"]
        s3.put_object(Bucket=name, Key="k", Body=os.urandom(10))
        s3.close()  # let the server's half-closed keep-alive sockets go, so the port can be bound again
        cloud.restart()
        s3 = cloud.client("s3")
        assert s3.get_object(Bucket=name, Key="k", VersionId=first)["Body"].read() == b"one"
        assert len(s3.list_object_versions(Bucket=name)["Versions"]) == 2
        remove_bucket(s3, name)
    finally:
        cloud.stop()


def test_lifecycle_rules_run_in_the_background(tmp_path: Path, unique: str) -> None:
    """A cloud whose lifecycle "day" is one second sweeps every half second."""
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    (data_dir / "cloudlet.json").write_text(json.dumps({"s3_lifecycle_interval": 0.5,
                                                        "s3_lifecycle_day_seconds": 1}))
    cloud = CloudletProcess(data_dir).start()
    try:
        s3: Any = cloud.client("s3")
        name = new_bucket(s3, f"{unique}-life")
        s3.put_object(Bucket=name, Key="tmp/scratch", Body=b"x")
        s3.put_object(Bucket=name, Key="keep/report", Body=b"y")
        s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
            {"ID": "scratch", "Status": "Enabled", "Filter": {"Prefix": "tmp/"}, "Expiration": {"Days": 2}}]})
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=name).get("Contents", [])]
            if keys == ["keep/report"]:
                break
            time.sleep(0.5)
        assert keys == ["keep/report"]
        remove_bucket(s3, name)
    finally:
        cloud.stop()
