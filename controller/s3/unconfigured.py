"""Reads of bucket features Cloudlet cannot configure: "not configured", as S3 answers for a bucket without them.

Replication, transfer acceleration, requester pays, analytics, metrics, inventory and
Intelligent-Tiering archive configurations cannot be set on Cloudlet (their ``Put``
operations answer NotImplemented). Reading them is still a fair question with a true
answer, and infrastructure-as-code tools ask it for every bucket they manage, so each
read answers exactly what S3 answers for a bucket that has none: an empty document or
the feature's own "not found" error. Deleting one that does not exist succeeds.
(Website, logging, notification and Object Lock settings can be set: bucket_features.py.)
"""

from __future__ import annotations

from controller.api import Params, RequestContext
from controller.s3.access import bucket_resource
from controller.s3.common import read_bucket
from controller.s3.errors import ServiceError
from controller.s3.service import api


def _not_found(code: str, message: str, params: Params) -> ServiceError:
    return ServiceError(message, code=code, status=404, BucketName=params["Bucket"])


@api.operation("GetBucketReplication", resources=bucket_resource, action="s3:GetReplicationConfiguration")
def get_bucket_replication(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    raise _not_found("ReplicationConfigurationNotFoundError", "The replication configuration was not found", params)


@api.operation("DeleteBucketReplication", resources=bucket_resource, action="s3:PutReplicationConfiguration")
def delete_bucket_replication(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    return {}


@api.operation("GetBucketAccelerateConfiguration", resources=bucket_resource, action="s3:GetAccelerateConfiguration")
def get_bucket_accelerate_configuration(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    return {}  # no Status: acceleration was never enabled


@api.operation("GetBucketRequestPayment", resources=bucket_resource)
def get_bucket_request_payment(ctx: RequestContext, params: Params) -> Params:
    read_bucket(ctx, params)
    return {"Payer": "BucketOwner"}


def _register_empty_listing(operation: str, action: str, member: str) -> None:
    """``ListBucket*Configurations``: a bucket without any has an empty, untruncated list."""

    def handler(ctx: RequestContext, params: Params) -> Params:
        read_bucket(ctx, params)
        return {"IsTruncated": False, member: []}

    handler.__name__ = operation
    api.operation(operation, resources=bucket_resource, action=action)(handler)


for _operation, _action, _member in (
        ("ListBucketAnalyticsConfigurations", "s3:GetAnalyticsConfiguration", "AnalyticsConfigurationList"),
        ("ListBucketMetricsConfigurations", "s3:GetMetricsConfiguration", "MetricsConfigurationList"),
        ("ListBucketInventoryConfigurations", "s3:GetInventoryConfiguration", "InventoryConfigurationList"),
        ("ListBucketIntelligentTieringConfigurations", "s3:GetIntelligentTieringConfiguration",
         "IntelligentTieringConfigurationList")):
    _register_empty_listing(_operation, _action, _member)
