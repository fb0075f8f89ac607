"""The scale-out backend: object data in an external S3-compatible cluster, here a second Cloudlet.

No MinIO server binary is available on these machines, so a second ``cloudlet up``
plays the cluster: the first one is configured (``s3_backend: cluster``) to keep its
blobs in a bucket there through the MinIO SDK, while it keeps the API, auth and
metadata itself.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from boto3.s3.transfer import TransferConfig

from tests.e2e.s3_helpers import new_bucket, remove_bucket
from tests.support import CloudletProcess

MiB = 1024 * 1024


@pytest.fixture
def clusters(tmp_path: Path) -> Iterator[tuple[CloudletProcess, CloudletProcess]]:
    backend = CloudletProcess(tmp_path / "backend").start()
    frontend = CloudletProcess(tmp_path / "frontend")
    try:
        backend.client("s3").create_bucket(Bucket="blob-store")
        creds = backend.root_credentials()
        frontend.data_dir.mkdir(parents=True)
        (frontend.data_dir / "cloudlet.json").write_text(json.dumps({
            "s3_backend": "cluster", "s3_cluster_endpoint": urlsplit(backend.endpoint).netloc,
            "s3_cluster_access_key": creds.access_key_id, "s3_cluster_secret_key": creds.secret_access_key,
            "s3_cluster_bucket": "blob-store", "s3_cluster_secure": False, "s3_cluster_region": backend.region}))
        frontend.start()
        yield frontend, backend
    finally:
        frontend.stop()
        backend.stop()


def blobs_in(backend: CloudletProcess) -> list[str]:
    s3 = backend.client("s3")
    return [o["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket="blob-store")
            for o in page.get("Contents", [])]


def test_objects_live_in_the_cluster(clusters: tuple[CloudletProcess, CloudletProcess], unique: str,
                                     tmp_path: Path) -> None:
    frontend, backend = clusters
    s3: Any = frontend.client("s3")
    bucket = new_bucket(s3, f"{unique}-front")
    small = os.urandom(100_000)
    s3.put_object(Bucket=bucket, Key="small.bin", Body=small, ServerSideEncryption="AES256")
    s3.put_object(Bucket=bucket, Key="tiny.txt", Body=b"kept inline in Cloudlet's state store")
    big = tmp_path / "big.bin"
    big.write_bytes(os.urandom(40 * MiB))
    s3.upload_file(str(big), bucket, "big.bin", Config=TransferConfig(multipart_threshold=16 * MiB,
                                                                        multipart_chunksize=8 * MiB))
    single = os.urandom(20 * MiB)  # larger than the SDK's part size: a multipart upload on the cluster
    s3.put_object(Bucket=bucket, Key="single.bin", Body=single)

    stored = blobs_in(backend)
    assert len(stored) == 1 + 5 + 1 and all(key.startswith("cloudlet-blobs/") for key in stored)
    # encrypted at rest on the cluster: its copy is not the plaintext
    encrypted = [k for k in stored if backend.client("s3").head_object(Bucket="blob-store", Key=k)["ContentLength"]
                 == 100_000]
    assert backend.client("s3").get_object(Bucket="blob-store", Key=encrypted[0])["Body"].read() != small
    assert s3.get_object(Bucket=bucket, Key="tiny.txt")["Body"].read() == b"kept inline in Cloudlet's state store"

    assert s3.get_object(Bucket=bucket, Key="small.bin")["Body"].read() == small
    assert s3.get_object(Bucket=bucket, Key="single.bin")["Body"].read() == single
    ranged = s3.get_object(Bucket=bucket, Key="big.bin", Range=f"bytes={8 * MiB - 10}-{8 * MiB + 9}")
    assert ranged["Body"].read() == big.read_bytes()[8 * MiB - 10:8 * MiB + 10]
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(target))
    assert hashlib.md5(target.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()

    s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "single.bin"})
    assert len(blobs_in(backend)) == len(stored) + 1  # a server-side copy on the cluster
    s3.delete_object(Bucket=bucket, Key="single.bin")
    assert s3.get_object(Bucket=bucket, Key="copy.bin")["Body"].read() == single
    remove_bucket(s3, bucket)
    assert blobs_in(backend) == []


def test_orphans_on_the_cluster_are_removed_at_startup(clusters: tuple[CloudletProcess, CloudletProcess],
                                                       unique: str) -> None:
    frontend, backend = clusters
    s3: Any = frontend.client("s3")
    bucket = new_bucket(s3, f"{unique}-orphan")
    s3.put_object(Bucket=bucket, Key="kept", Body=b"kept")
    backend.client("s3").put_object(Bucket="blob-store", Key="cloudlet-blobs/" + "0" * 32, Body=b"stray")
    backend.client("s3").put_object(Bucket="blob-store", Key="unrelated/file", Body=b"not ours")
    s3.close()
    frontend.port = 0
    frontend.restart()
    s3 = frontend.client("s3")
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"kept"
    remaining = blobs_in(backend)
    assert "cloudlet-blobs/" + "0" * 32 not in remaining and "unrelated/file" in remaining
    remove_bucket(s3, bucket)
