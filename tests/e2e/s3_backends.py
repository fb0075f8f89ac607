"""Where the S3 tests' object data lives: Cloudlet's own disk, or a cluster through the ``cluster`` backend.

The S3 suite (:data:`S3_SUITE`) runs twice, as ``[local]`` and ``[ceph]`` (see ``tests/e2e/conftest.py``):
the second time against a Cloudlet whose blobs are in a single-node Ceph cluster's RADOS Gateway
(:mod:`tests.ceph_cluster`), so everything the suite checks also holds when the bytes go through the
MinIO SDK to a real S3-compatible store. The helpers here configure such a Cloudlet and look at the
cluster's side directly.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config as BotoConfig

from tests.ceph_cluster import CephCluster
from tests.support import CloudletProcess

#: The S3 test modules run on each backend. test_s3_durability (memory
#: and crash behaviour of the local store) and test_s3_cluster (its own clusters) are not repeated.
S3_SUITE = frozenset({"test_s3_fidelity", "test_s3_wire", "test_s3_clients", "test_s3_sse_kms", "test_s3_access",
                      "test_s3_bucket_features"})


def ceph_settings(ceph: CephCluster, bucket: str) -> dict[str, Any]:
    """``cloudlet.json`` settings that put a Cloudlet's blobs in ``bucket`` on the cluster's gateway."""
    return {"s3_backend": "cluster", "s3_cluster_endpoint": f"127.0.0.1:{ceph.rgw_port}",
            "s3_cluster_access_key": ceph.access_key, "s3_cluster_secret_key": ceph.secret_key,
            "s3_cluster_bucket": bucket, "s3_cluster_secure": False, "s3_cluster_region": "us-east-1"}


def cloudlet_on_cluster(data_dir: Path, settings: dict[str, Any]) -> CloudletProcess:
    """A Cloudlet (not yet started) whose configuration file holds ``settings``."""
    data_dir.mkdir(parents=True)
    (data_dir / "cloudlet.json").write_text(json.dumps(settings))
    return CloudletProcess(data_dir)


def gateway_client(ceph: CephCluster) -> Any:
    """boto3 straight to the gateway, as the cluster's user: to see what Cloudlet stored there."""
    return boto3.client("s3", endpoint_url=ceph.rgw_endpoint, region_name="us-east-1",
                        aws_access_key_id=ceph.access_key, aws_secret_access_key=ceph.secret_key,
                        config=BotoConfig(s3={"addressing_style": "path"}, retries={"max_attempts": 2}))
