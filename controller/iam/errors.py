"""IAM's own error codes and HTTP statuses, as its botocore model declares them."""

from __future__ import annotations

from controller.errors import ServiceError, error

NoSuchEntity = error("NoSuchEntity", 404)
EntityAlreadyExists = error("EntityAlreadyExists", 409)
DeleteConflict = error("DeleteConflict", 409)
LimitExceeded = error("LimitExceeded", 409)
MalformedPolicyDocument = error("MalformedPolicyDocument", 400)
InvalidInput = error("InvalidInput", 400)
ValidationError = error("ValidationError", 400)
PolicyNotAttachable = error("PolicyNotAttachable", 400)
UnmodifiableEntity = error("UnmodifiableEntity", 400)
AccessDenied = error("AccessDenied", 403)


def no_such_entity(kind: str, name: str) -> ServiceError:
    """``The user with name bob cannot be found.`` (AWS's wording for users, groups, roles...)."""
    return NoSuchEntity(f"The {kind} with name {name} cannot be found.")


def already_exists(kind: str, name: str) -> ServiceError:
    return EntityAlreadyExists(f"{kind} with name {name} already exists.")
