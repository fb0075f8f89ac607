"""Calling the VPC operations as plain functions against a temporary database.

Shared by the ``test_ec2_vpc_*`` unit tests: :func:`make_cloud` gives a cloud with just
what VPC handlers use (configuration and the state store), :meth:`VpcCloud.call` runs an
operation as a given account's root, and :func:`refused` asserts an AWS error.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

import controller.ec2 as ec2
from controller.api import Principal, RequestContext
from controller.config import Config
from controller.ec2 import interfaces, state
from controller.errors import ServiceError
from controller.state import Database

ACCOUNT = "111111111111"
OTHER_ACCOUNT = "222222222222"


@dataclass
class VpcCloud:
    config: Config
    db: Database

    def call(self, operation: str, params: dict[str, Any] | None = None, *, account: str = ACCOUNT) -> dict[str, Any]:
        ctx = RequestContext(cloud=self, service="ec2", operation=operation,  # type: ignore[arg-type]
                             request_id="test", region=self.config.region,
                             principal=Principal(account_id=account, arn=f"arn:aws:iam::{account}:root", kind="root",
                                                 user_id=account))
        return ec2.api.operations[operation].handler(ctx, params or {})

    def refused(self, operation: str, params: dict[str, Any], code: str, *, account: str = ACCOUNT) -> ServiceError:
        """Call an operation that must fail with ``code``; returns the error for more checks."""
        with pytest.raises(ServiceError) as excinfo:
            self.call(operation, params, account=account)
        assert excinfo.value.code == code, f"{excinfo.value.code}: {excinfo.value.message}"
        return excinfo.value

    def launch(self, subnet_id: str, instance_id: str, *, account: str = ACCOUNT, **options: Any) -> str:
        """Stand in for RunInstances: the instance's primary interface, as the instance code will make it."""
        with state.write(self.db) as conn:
            return interfaces.create_primary_interface(conn, self.config, account, subnet_id=subnet_id,
                                                       instance_id=instance_id, **options)


def make_cloud(tmp_path: Path, **settings: Any) -> VpcCloud:
    config = Config(data_dir=tmp_path, **settings)
    db = Database(tmp_path / "state.db")
    db.create_schema()
    return VpcCloud(config, db)


SNAPSHOT_CALLS = ("DescribeVpcs", "DescribeSubnets", "DescribeRouteTables", "DescribeInternetGateways",
                  "DescribeEgressOnlyInternetGateways", "DescribeNatGateways", "DescribeAddresses",
                  "DescribeSecurityGroups", "DescribeNetworkAcls", "DescribeNetworkInterfaces",
                  "DescribeVpcPeeringConnections", "DescribeTags")


def snapshot(cloud: VpcCloud, account: str = ACCOUNT) -> dict[str, Any]:
    """Everything the account can see, to show that a refused call changed nothing."""
    return {operation: cloud.call(operation, account=account) for operation in SNAPSHOT_CALLS}
