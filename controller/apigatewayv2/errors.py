"""API Gateway v2's errors, as its rest-json model names them (each carries ``Message``)."""

from __future__ import annotations

from controller.errors import ServiceError, error

BadRequestException = error("BadRequestException", 400)
NotFoundException = error("NotFoundException", 404)
ConflictException = error("ConflictException", 409)
TooManyRequestsException = error("TooManyRequestsException", 429)

__all__ = ["ServiceError"]


def not_found(what: str, ident: str) -> ServiceError:
    """AWS's wording for a missing API child: "Invalid Route identifier specified abc1234"."""
    return NotFoundException(f"Invalid {what} identifier specified {ident}", ResourceType=what)


def bad(message: str) -> ServiceError:
    return BadRequestException(message)
