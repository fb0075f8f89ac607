"""EFS's errors, by the names and HTTP statuses of its botocore model's error shapes.

Every EFS error body carries ``ErrorCode`` (the same text as the type) next to ``Message``, as AWS
sends it (``{"ErrorCode": "FileSystemNotFound", "Message": "..."}``), so each class fills it in.
"""

from __future__ import annotations

from typing import Any

from controller.errors import ServiceError


class EfsError(ServiceError):
    """An EFS error: its body repeats the code as ``ErrorCode``."""

    def __init__(self, message: str = "", **extra: Any) -> None:
        super().__init__(message, ErrorCode=self.code, **extra)


def _error(code: str, status: int) -> type[EfsError]:
    return type(code, (EfsError,), {"code": code, "status": status})


BadRequest = _error("BadRequest", 400)
#: Not in the model: what EFS answers when IAM refuses (also the EC2 permissions a mount target needs).
AccessDeniedException = _error("AccessDeniedException", 403)
ValidationException = _error("ValidationException", 400)
AccessPointAlreadyExists = _error("AccessPointAlreadyExists", 409)
AccessPointLimitExceeded = _error("AccessPointLimitExceeded", 403)
AccessPointNotFound = _error("AccessPointNotFound", 404)
FileSystemAlreadyExists = _error("FileSystemAlreadyExists", 409)
FileSystemInUse = _error("FileSystemInUse", 409)
FileSystemLimitExceeded = _error("FileSystemLimitExceeded", 403)
FileSystemNotFound = _error("FileSystemNotFound", 404)
IncorrectFileSystemLifeCycleState = _error("IncorrectFileSystemLifeCycleState", 409)
IncorrectMountTargetState = _error("IncorrectMountTargetState", 409)
InvalidPolicyException = _error("InvalidPolicyException", 400)
IpAddressInUse = _error("IpAddressInUse", 409)
MountTargetConflict = _error("MountTargetConflict", 409)
MountTargetNotFound = _error("MountTargetNotFound", 404)
NoFreeAddressesInSubnet = _error("NoFreeAddressesInSubnet", 409)
PolicyNotFound = _error("PolicyNotFound", 404)
ReplicationNotFound = _error("ReplicationNotFound", 404)
SecurityGroupLimitExceeded = _error("SecurityGroupLimitExceeded", 400)
SecurityGroupNotFound = _error("SecurityGroupNotFound", 400)
SubnetNotFound = _error("SubnetNotFound", 400)
ThroughputLimitExceeded = _error("ThroughputLimitExceeded", 400)
TooManyRequests = _error("TooManyRequests", 429)
UnsupportedAvailabilityZone = _error("UnsupportedAvailabilityZone", 400)
