"""Cognito user pools' errors, under the names the cognito-idp json model gives them (all 400 but the
internal one), and the messages AWS words them with, so SDKs and users see what they see on AWS."""

from __future__ import annotations

from controller.errors import ServiceError, error

InvalidParameterException = error("InvalidParameterException")
ResourceNotFoundException = error("ResourceNotFoundException")
NotAuthorizedException = error("NotAuthorizedException")
UserNotFoundException = error("UserNotFoundException")
UsernameExistsException = error("UsernameExistsException")
AliasExistsException = error("AliasExistsException")
InvalidPasswordException = error("InvalidPasswordException")
CodeMismatchException = error("CodeMismatchException")
ExpiredCodeException = error("ExpiredCodeException")
UserNotConfirmedException = error("UserNotConfirmedException")
PasswordResetRequiredException = error("PasswordResetRequiredException")
GroupExistsException = error("GroupExistsException")
LimitExceededException = error("LimitExceededException")
InvalidUserPoolConfigurationException = error("InvalidUserPoolConfigurationException")
UnsupportedOperationException = error("UnsupportedOperationException")
UnsupportedUserStateException = error("UnsupportedUserStateException")
UnauthorizedException = error("UnauthorizedException")

__all__ = ["ServiceError"]


def no_pool(pool_id: str) -> ServiceError:
    return ResourceNotFoundException(f"User pool {pool_id} does not exist.")


def no_client(client_id: str) -> ServiceError:
    return ResourceNotFoundException(f"User pool client {client_id} does not exist.")


def no_user() -> ServiceError:
    return UserNotFoundException("User does not exist.")


def bad_credentials() -> ServiceError:
    return NotAuthorizedException("Incorrect username or password.")


def bad_session() -> ServiceError:
    return NotAuthorizedException("Invalid session for the user, session is expired.")


def code_mismatch() -> ServiceError:
    return CodeMismatchException("Invalid verification code provided, please try again.")


def code_expired() -> ServiceError:
    return ExpiredCodeException("Invalid code provided, please request a code again.")
