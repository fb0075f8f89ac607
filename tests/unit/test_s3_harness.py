"""Calling the S3 operations as plain functions against a cloud in a temporary directory.

Shared by the ``test_s3_*`` unit tests: their ``s3h`` fixture is an :class:`S3Harness`
whose :meth:`~S3Harness.call` runs an operation as an account's root (or any
principal) exactly as the gateway would after authorization, and
:meth:`~S3Harness.refused` asserts S3's error. Bodies are bytes or streams, as the
protocol layer hands them over.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import controller.s3 as s3
from controller.api import Principal, RequestContext
from controller.cloud import Cloud
from controller.config import Config
from controller.errors import ServiceError


def root(account: str) -> Principal:
    return Principal(account_id=account, arn=f"arn:aws:iam::{account}:root", kind="root", user_id=account)


class S3Harness:
    def __init__(self, cloud: Cloud, account: str, other_account: str) -> None:
        self.cloud = cloud
        self.account = account
        self.other_account = other_account

    def context(self, operation: str, principal: Principal | None = None) -> RequestContext:
        return RequestContext(cloud=self.cloud, service="s3", operation=operation, request_id="req-test",
                              region=self.cloud.config.region, principal=principal or root(self.account),
                              host="127.0.0.1:8773")

    def call(self, operation: str, params: dict[str, Any] | None = None, *, account: str | None = None,
             principal: Principal | None = None) -> dict[str, Any]:
        ctx = self.context(operation, principal or (root(account) if account else None))
        params = dict(params or {})
        if isinstance(params.get("Body"), bytes):
            params["Body"] = io.BytesIO(params["Body"])
        return s3.api.operations[operation].handler(ctx, params)

    def refused(self, operation: str, params: dict[str, Any], code: str, **kwargs: Any) -> ServiceError:
        with pytest.raises(ServiceError) as excinfo:
            self.call(operation, params, **kwargs)
        assert excinfo.value.code == code, f"{excinfo.value.code}: {excinfo.value.message}"
        return excinfo.value

    def read(self, bucket: str, key: str, **params: Any) -> bytes:
        output = self.call("GetObject", {"Bucket": bucket, "Key": key, **params})
        return b"".join(output["Body"])

    def put(self, bucket: str, key: str, body: bytes, **params: Any) -> dict[str, Any]:
        return self.call("PutObject", {"Bucket": bucket, "Key": key, "Body": body, **params})


def make_harness(tmp_path: Path, **settings: Any) -> S3Harness:
    cloud = Cloud(Config(data_dir=tmp_path / "data", **settings))
    account = cloud.credentials.create_account("owner", "owner@example.com", is_management=True)
    other = cloud.credentials.create_account("other", "other@example.com")
    return S3Harness(cloud, account, other)


def open_harness(tmp_path: Path, **settings: Any) -> Iterator[S3Harness]:
    """Body of each test module's ``s3h`` fixture: a harness, closed after the test."""
    harness = make_harness(tmp_path, **settings)
    yield harness
    s3.stop(harness.cloud)
    harness.cloud.close()
