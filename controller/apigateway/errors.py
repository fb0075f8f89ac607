"""API Gateway's errors, under the names and statuses its rest-json model gives them."""

from __future__ import annotations

from controller.errors import ServiceError, error

BadRequestException = error("BadRequestException", 400)
UnauthorizedException = error("UnauthorizedException", 401)
NotFoundException = error("NotFoundException", 404)
ConflictException = error("ConflictException", 409)
LimitExceededException = error("LimitExceededException", 429)
TooManyRequestsException = error("TooManyRequestsException", 429)

__all__ = ["ServiceError"]


def invalid_api(account_id: str, api_id: str) -> ServiceError:
    """AWS's wording for a REST API id that names nothing in the caller's account and region."""
    return NotFoundException(f"Invalid API identifier specified {account_id}:{api_id}")


def not_found(what: str, identifier: str = "") -> ServiceError:
    """``Invalid Resource identifier specified`` and its siblings, as AWS words them."""
    return NotFoundException(f"Invalid {what} identifier specified" + (f" {identifier}" if identifier else ""))
