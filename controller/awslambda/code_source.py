"""Where a function's or a layer's package comes from: an inline zip, an object in Cloudlet's S3, or an image.

Lambda takes a zip inline up to 50 MB (the request is refused with RequestTooLargeException beyond),
from S3 as the caller (the caller needs ``s3:GetObject``; S3's refusal is reported inside an
InvalidParameterValueException as Lambda words it), and never more than 250 MB unzipped
(https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html). Container images come
from a registry at AWS; here an ``s3://bucket/key`` OCI archive is copied into the code store
(contract E), since no registry is reachable.
"""

from __future__ import annotations

import io
import zipfile
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

from controller.api import RequestContext
from controller.awslambda import code_store
from controller.awslambda.code_store import CodeRef
from controller.awslambda.errors import InvalidParameterValueException, RequestTooLargeException
from controller.errors import ServiceError

MAX_DIRECT_ZIP = 50 * 1024 * 1024
#: The base64 request size that 50 MB of zip makes, which Lambda's message names.
MAX_REQUEST_BYTES = 69905067
MAX_UNZIPPED = 262144000


@dataclass(frozen=True)
class Package:
    """A checked package and what Lambda reports of it, stored only once the whole request is valid."""

    data: bytes = field(repr=False)
    unzipped_size: int                      # 0 for an image archive
    image_uri: str | None = None

    @cached_property
    def ref(self) -> CodeRef:
        return code_store.describe(self.data)

    def store(self, cloud: Any) -> CodeRef:
        """Write the package to the code store (durably); a refused request never gets here."""
        return code_store.put(cloud, self.data)


def from_code(ctx: RequestContext, code: dict[str, Any], operation: str) -> Package:
    """The package a ``Code`` structure (or UpdateFunctionCode's members) names, checked but not yet stored."""
    if code.get("ImageUri"):
        if code.get("ZipFile") is not None or code.get("S3Bucket"):
            raise InvalidParameterValueException("Please provide either ImageUri or a deployment package, not both.")
        return _image(ctx, code["ImageUri"])
    if code.get("ZipFile") is not None:
        if code.get("S3Bucket") or code.get("S3Key"):
            raise InvalidParameterValueException("Please do not provide other FunctionCode parameters when "
                                                 "providing a ZipFile.")
        data = code["ZipFile"]
        if len(data) > MAX_DIRECT_ZIP:
            raise RequestTooLargeException(f"Request must be smaller than {MAX_REQUEST_BYTES} bytes for the "
                                           f"{operation} operation")
        return zip_package(data)
    if code.get("S3Bucket") and code.get("S3Key"):
        return zip_package(read_s3(ctx, code["S3Bucket"], code["S3Key"], code.get("S3ObjectVersion")))
    if code.get("S3Bucket") or code.get("S3Key"):
        raise InvalidParameterValueException("Please provide both S3Bucket and S3Key, or a ZipFile.")
    raise InvalidParameterValueException("Please provide a source for function code.")


def zip_package(data: bytes) -> Package:
    """Check a zip: readable, under 250 MB unzipped."""
    size = unzipped_size(data)
    if size > MAX_UNZIPPED:
        raise InvalidParameterValueException(f"Unzipped size must be smaller than {MAX_UNZIPPED} bytes")
    return Package(data, size)


def unzipped_size(data: bytes) -> int:
    """The total size of a zip's files; InvalidParameterValueException when it is no zip."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            return sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, ValueError, EOFError):
        raise InvalidParameterValueException("Could not unzip uploaded file. Please check your file, then try to "
                                             "upload again.") from None


def read_s3(ctx: RequestContext, bucket: str, key: str, version_id: str | None) -> bytes:
    """An object of Cloudlet's S3, read as the caller (who needs s3:GetObject on it), as Lambda does."""
    s3 = ctx.cloud.services["s3"]
    operation = s3.operations["GetObject"]
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    as_s3 = replace(ctx, service="s3", operation="GetObject", condition_keys={}, audit_resources=[])
    try:
        ctx.cloud.authorizer.authorize(as_s3, operation, params)
        body = operation.handler(as_s3, params)["Body"]
        try:
            return b"".join(body)
        finally:
            body.close()
    except ServiceError as exc:
        raise InvalidParameterValueException(f"Error occurred while GetObject. S3 Error Code: {exc.code}. S3 Error "
                                             f"Message: {exc.message}") from None


def _image(ctx: RequestContext, uri: str) -> Package:
    """An image as an OCI archive in Cloudlet's S3 (``s3://bucket/key``); registries are out of reach here."""
    if not uri.startswith("s3://"):
        raise InvalidParameterValueException(
            f"Source image {uri} is not valid here: no container registry is reachable from this cloud. Upload the "
            "image as an OCI archive to S3 and give its s3://bucket/key as ImageUri.")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket or not key:
        raise InvalidParameterValueException(f"Source image {uri} is not valid: expected s3://bucket/key.")
    return Package(read_s3(ctx, bucket, key, None), 0, image_uri=uri)
