"""The scale-out backend: object data in an external S3-compatible cluster.

Two clusters play the part: a second ``cloudlet up``, and a single-node Ceph cluster's RADOS Gateway
(``[ceph]``, tests/ceph_cluster.py). The Cloudlet under test is configured (``s3_backend: cluster``)
to keep its blobs in a bucket there through the MinIO SDK, while it keeps the API, auth and metadata
itself; the tests look at that bucket directly to see what landed on the cluster.
"""

from __future__ import annotations

import hashlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import ClientError

from tests.ceph_cluster import CephCluster
from tests.e2e.s3_backends import ceph_settings, cloudlet_on_cluster, gateway_client
from tests.e2e.s3_helpers import new_bucket, remove_bucket
from tests.support import CloudletProcess

MiB = 1024 * 1024


@dataclass
class BlobBucket:
    """The cluster's bucket holding a Cloudlet's blobs, seen directly through the cluster's own S3 API."""

    s3: Any
    name: str


@pytest.fixture(params=["cloudlet", pytest.param("ceph", marks=pytest.mark.ceph)])
def clusters(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[CloudletProcess, BlobBucket]]:
    """A Cloudlet whose blobs live in a fresh bucket of the cluster, and that bucket."""
    backend: CloudletProcess | None = None
    frontend: CloudletProcess | None = None
    try:
        if request.param == "ceph":
            ceph = request.getfixturevalue("ceph")
            store = BlobBucket(gateway_client(ceph), f"blob-store-{uuid.uuid4().hex[:8]}")
            settings = ceph_settings(ceph, store.name)
        else:
            backend = CloudletProcess(tmp_path / "backend").start()
            store = BlobBucket(backend.client("s3"), "blob-store")
            creds = backend.root_credentials()
            settings = {"s3_backend": "cluster", "s3_cluster_endpoint": urlsplit(backend.endpoint).netloc,
                        "s3_cluster_access_key": creds.access_key_id,
                        "s3_cluster_secret_key": creds.secret_access_key, "s3_cluster_bucket": store.name,
                        "s3_cluster_secure": False, "s3_cluster_region": backend.region}
        store.s3.create_bucket(Bucket=store.name)
        frontend = cloudlet_on_cluster(tmp_path / "frontend", settings).start()
        yield frontend, store
    finally:
        if frontend is not None:
            frontend.stop()
        if backend is not None:
            backend.stop()


def blobs_in(store: BlobBucket) -> list[str]:
    return [o["Key"] for page in store.s3.get_paginator("list_objects_v2").paginate(Bucket=store.name)
            for o in page.get("Contents", [])]


def test_objects_live_in_the_cluster(clusters: tuple[CloudletProcess, BlobBucket], unique: str,
                                     tmp_path: Path) -> None:
    frontend, store = clusters
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

    stored = blobs_in(store)
    assert len(stored) == 1 + 5 + 1 and all(key.startswith("cloudlet-blobs/") for key in stored)
    # encrypted at rest on the cluster: its copy is not the plaintext
    encrypted = [k for k in stored if store.s3.head_object(Bucket=store.name, Key=k)["ContentLength"]
                 == 100_000]
    assert store.s3.get_object(Bucket=store.name, Key=encrypted[0])["Body"].read() != small
    assert s3.get_object(Bucket=bucket, Key="tiny.txt")["Body"].read() == b"kept inline in Cloudlet's state store"

    assert s3.get_object(Bucket=bucket, Key="small.bin")["Body"].read() == small
    assert s3.get_object(Bucket=bucket, Key="single.bin")["Body"].read() == single
    ranged = s3.get_object(Bucket=bucket, Key="big.bin", Range=f"bytes={8 * MiB - 10}-{8 * MiB + 9}")
    assert ranged["Body"].read() == big.read_bytes()[8 * MiB - 10:8 * MiB + 10]
    target = tmp_path / "back.bin"
    s3.download_file(bucket, "big.bin", str(target))
    assert hashlib.md5(target.read_bytes()).digest() == hashlib.md5(big.read_bytes()).digest()

    s3.copy_object(Bucket=bucket, Key="copy.bin", CopySource={"Bucket": bucket, "Key": "single.bin"})
    assert len(blobs_in(store)) == len(stored) + 1  # a server-side copy on the cluster
    s3.delete_object(Bucket=bucket, Key="single.bin")
    assert s3.get_object(Bucket=bucket, Key="copy.bin")["Body"].read() == single
    remove_bucket(s3, bucket)
    assert blobs_in(store) == []


def test_orphans_on_the_cluster_are_removed_at_startup(clusters: tuple[CloudletProcess, BlobBucket],
                                                       unique: str) -> None:
    frontend, store = clusters
    s3: Any = frontend.client("s3")
    bucket = new_bucket(s3, f"{unique}-orphan")
    s3.put_object(Bucket=bucket, Key="kept", Body=b"kept")
    store.s3.put_object(Bucket=store.name, Key="cloudlet-blobs/" + "0" * 32, Body=b"stray")
    store.s3.put_object(Bucket=store.name, Key="unrelated/file", Body=b"not ours")
    s3.close()
    frontend.port = 0
    frontend.restart()
    s3 = frontend.client("s3")
    assert s3.get_object(Bucket=bucket, Key="kept")["Body"].read() == b"kept"
    remaining = blobs_in(store)
    assert "cloudlet-blobs/" + "0" * 32 not in remaining and "unrelated/file" in remaining
    remove_bucket(s3, bucket)


@pytest.mark.ceph
@pytest.mark.parametrize("clusters", ["ceph"], indirect=True)
def test_a_cluster_that_is_down_answers_503_and_serves_again_once_back(
        clusters: tuple[CloudletProcess, BlobBucket], ceph: CephCluster, unique: str) -> None:
    """With radosgw gone, reads and writes of object data fail with S3's retryable 503 before any status
    went out (not a 200 cut short, not a 500); metadata Cloudlet keeps itself still answers; then it heals."""
    frontend, _ = clusters
    s3: Any = frontend.client("s3")
    bucket = new_bucket(s3, f"{unique}-down")
    data = os.urandom(300_000)
    s3.put_object(Bucket=bucket, Key="kept.bin", Body=data)
    with ceph.gateway_down():
        for call in (lambda: s3.get_object(Bucket=bucket, Key="kept.bin"),
                     lambda: s3.put_object(Bucket=bucket, Key="new.bin", Body=data),
                     lambda: s3.copy_object(Bucket=bucket, Key="copy.bin",
                                            CopySource={"Bucket": bucket, "Key": "kept.bin"})):
            with pytest.raises(ClientError) as refused:
                call()
            assert refused.value.response["ResponseMetadata"]["HTTPStatusCode"] == 503
            assert refused.value.response["Error"]["Code"] == "ServiceUnavailable"
        assert s3.head_object(Bucket=bucket, Key="kept.bin")["ContentLength"] == len(data)
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=bucket)["Contents"]] == ["kept.bin"]
    assert s3.get_object(Bucket=bucket, Key="kept.bin", Range="bytes=10-19")["Body"].read() == data[10:20]
    remove_bucket(s3, bucket)
