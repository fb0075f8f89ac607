"""S3's own error codes, with the HTTP status S3 sends for each.

Operations raise these with the message S3 uses and the extra members S3 puts in its
``<Error>`` document (``BucketName``, ``Key``, ``UploadId``...); the protocol layer
renders them with the request's RequestId and HostId.
"""

from __future__ import annotations

from controller.errors import AccessDenied, ServiceError, error

__all__ = [
    "AccessDenied", "ServiceError", "NoSuchBucket", "NoSuchKey", "NoSuchVersion", "NoSuchUpload",
    "BucketAlreadyExists", "BucketAlreadyOwnedByYou", "BucketNotEmpty", "InvalidBucketName",
    "IllegalLocationConstraintException", "EntityTooSmall", "EntityTooLarge", "InvalidPart",
    "InvalidPartOrder", "PreconditionFailed", "NotModified", "InvalidRange", "BadDigest", "InvalidDigest",
    "InvalidArgument", "InvalidRequest", "MalformedXML", "MalformedPolicy", "NoSuchTagSet",
    "NoSuchCORSConfiguration", "NoSuchBucketPolicy", "NoSuchLifecycleConfiguration",
    "NoSuchPublicAccessBlockConfiguration", "ServerSideEncryptionConfigurationNotFoundError",
    "InvalidTag", "IncompleteBody", "InvalidStorageClass", "NotImplementedError_", "MethodNotAllowed",
    "InvalidEncryptionAlgorithmError", "KeyTooLongError", "MetadataTooLarge",
    "XAmzContentSHA256Mismatch", "MalformedACLError", "AccessControlListNotSupported",
    "InvalidBucketAclWithObjectOwnership", "InvalidBucketState", "InvalidTargetBucketForLogging",
    "NoSuchWebsiteConfiguration", "ObjectLockConfigurationNotFoundError", "ServiceUnavailable", "MALFORMED_XML", "no_such_bucket",
    "no_such_key", "no_such_upload",
]

NoSuchBucket = error("NoSuchBucket", 404)
NoSuchKey = error("NoSuchKey", 404)
NoSuchVersion = error("NoSuchVersion", 404)
NoSuchUpload = error("NoSuchUpload", 404)
BucketAlreadyExists = error("BucketAlreadyExists", 409)
BucketAlreadyOwnedByYou = error("BucketAlreadyOwnedByYou", 409)
BucketNotEmpty = error("BucketNotEmpty", 409)
InvalidBucketName = error("InvalidBucketName", 400)
IllegalLocationConstraintException = error("IllegalLocationConstraintException", 400)
EntityTooSmall = error("EntityTooSmall", 400)
EntityTooLarge = error("EntityTooLarge", 400)
InvalidPart = error("InvalidPart", 400)
InvalidPartOrder = error("InvalidPartOrder", 400)
PreconditionFailed = error("PreconditionFailed", 412)
#: 304 is not an error to S3, but it ends the request the same way: no body, a few headers.
NotModified = error("NotModified", 304)
InvalidRange = error("InvalidRange", 416)
BadDigest = error("BadDigest", 400)
InvalidDigest = error("InvalidDigest", 400)
InvalidArgument = error("InvalidArgument", 400)
InvalidRequest = error("InvalidRequest", 400)
MalformedXML = error("MalformedXML", 400)
MalformedPolicy = error("MalformedPolicy", 400)
NoSuchTagSet = error("NoSuchTagSet", 404)
NoSuchCORSConfiguration = error("NoSuchCORSConfiguration", 404)
NoSuchBucketPolicy = error("NoSuchBucketPolicy", 404)
NoSuchLifecycleConfiguration = error("NoSuchLifecycleConfiguration", 404)
NoSuchPublicAccessBlockConfiguration = error("NoSuchPublicAccessBlockConfiguration", 404)
ServerSideEncryptionConfigurationNotFoundError = error("ServerSideEncryptionConfigurationNotFoundError", 404)
InvalidTag = error("InvalidTag", 400)
IncompleteBody = error("IncompleteBody", 400)
InvalidStorageClass = error("InvalidStorageClass", 400)
NotImplementedError_ = error("NotImplemented", 501, sender_fault=False)
MethodNotAllowed = error("MethodNotAllowed", 405)
InvalidEncryptionAlgorithmError = error("InvalidEncryptionAlgorithmError", 400)
KeyTooLongError = error("KeyTooLongError", 400)
MetadataTooLarge = error("MetadataTooLarge", 400)
XAmzContentSHA256Mismatch = error("XAmzContentSHA256Mismatch", 400)
MalformedACLError = error("MalformedACLError", 400)
AccessControlListNotSupported = error("AccessControlListNotSupported", 400)
InvalidBucketAclWithObjectOwnership = error("InvalidBucketAclWithObjectOwnership", 400)
InvalidBucketState = error("InvalidBucketState", 409)
InvalidTargetBucketForLogging = error("InvalidTargetBucketForLogging", 400)
NoSuchWebsiteConfiguration = error("NoSuchWebsiteConfiguration", 404)
ObjectLockConfigurationNotFoundError = error("ObjectLockConfigurationNotFoundError", 404)
#: The object store behind Cloudlet (the ``cluster`` backend) cannot serve now: the client should retry.
ServiceUnavailable = error("ServiceUnavailable", 503, sender_fault=False)

#: S3's message for a body that does not match its schema (MalformedXML, MalformedACLError).
MALFORMED_XML = "The XML you provided was not well-formed or did not validate against our published schema"


def no_such_bucket(bucket: str) -> ServiceError:
    return NoSuchBucket("The specified bucket does not exist", BucketName=bucket)


def no_such_key(key: str) -> ServiceError:
    return NoSuchKey("The specified key does not exist.", Key=key)


def no_such_upload(upload_id: str) -> ServiceError:
    return NoSuchUpload("The specified upload does not exist. The upload ID may be invalid, or the upload may "
                        "have been aborted or completed.", UploadId=upload_id)
