"""Authentication failures in each service's own words.

AWS's services disagree on how they say "unknown key" or "no signature": STS and IAM
answer InvalidClientTokenId, EC2 AuthFailure, S3 InvalidAccessKeyId, the JSON services
UnrecognizedClientException. The gateway asks here instead of hard-coding one form.
"""

from __future__ import annotations

from controller.errors import ServiceError

_UNKNOWN_KEY = {
    "ec2": ("AuthFailure", 401, "AWS was not able to validate the provided access credentials"),
    "s3": ("InvalidAccessKeyId", 403, "The AWS Access Key Id you provided does not exist in our records."),
    "cloudtrail": ("UnrecognizedClientException", 400, "The security token included in the request is invalid."),
    "organizations": ("UnrecognizedClientException", 400,
                      "The security token included in the request is invalid."),
    "lambda": ("UnrecognizedClientException", 403, "The security token included in the request is invalid."),
    "sqs": ("InvalidClientTokenId", 403, "The security token included in the request is invalid."),
}
_DEFAULT_UNKNOWN_KEY = ("InvalidClientTokenId", 403, "The security token included in the request is invalid.")


def unknown_key(service: str, access_key_id: str) -> ServiceError:
    code, status, message = _UNKNOWN_KEY.get(service, _DEFAULT_UNKNOWN_KEY)
    extra = {"AWSAccessKeyId": access_key_id} if service == "s3" else {}
    return ServiceError(message, code=code, status=status, **extra)


def missing_authentication(service: str) -> ServiceError:
    if service == "ec2":
        return ServiceError("AWS was not able to validate the provided access credentials",
                            code="AuthFailure", status=401)
    return ServiceError("Missing Authentication Token", code="MissingAuthenticationToken", status=403)


def expired_token(service: str) -> ServiceError:
    if service == "s3":
        return ServiceError("The provided token has expired.", code="ExpiredToken", status=400)
    if service == "ec2":
        return ServiceError("The security token included in the request is expired",
                            code="RequestExpired", status=400)
    return ServiceError("The security token included in the request is expired", code="ExpiredToken",
                        status=403 if service in ("sts", "iam", "sns", "sqs") else 400)
