"""Environment variables, encrypted at rest under KMS as Lambda keeps them.

Lambda encrypts a function's variables with its ``KMSKeyArn`` or, without one, the AWS managed key
``alias/aws/lambda`` (https://docs.aws.amazon.com/lambda/latest/dg/configuration-envvars-encryption.html).
Here a fresh data key from KMS seals the variables (AES-GCM); only the data key's KMS blob is kept
beside the ciphertext, so reading them back needs KMS to open it. The encryption context binds the
blob to the function: a copied row cannot be opened as another function's.
"""

from __future__ import annotations

import base64
import json
import os
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from controller.api import RequestContext
from controller.awslambda.errors import InvalidParameterValueException
from controller.errors import ServiceError
from controller.kms import lookup as kms

DEFAULT_KEY = "alias/aws/lambda"
#: The total size of the variables' names and values (https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html).
MAX_BYTES = 4096
_RESERVED = frozenset({
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_DEFAULT_REGION", "AWS_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
    "AWS_LAMBDA_RUNTIME_API", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR"})


def check(variables: dict[str, str]) -> None:
    """Refuse reserved names and variables past 4 KB, as Lambda does."""
    reserved = sorted(name for name in variables if name in _RESERVED)
    if reserved:
        raise InvalidParameterValueException(
            f"Lambda was unable to configure your environment variables because the environment variables you have "
            f"provided contains reserved keys that are currently not supported for modification. Reserved keys "
            f"used in this request: {', '.join(reserved)}")
    size = len(json.dumps(variables, separators=(",", ":")).encode())
    if size > MAX_BYTES:
        raise InvalidParameterValueException(
            f"Lambda was unable to configure your environment variables because the environment variables you have "
            f"provided exceeded the 4KB limit. String measured: {json.dumps(variables, separators=(',', ':'))}")


def seal(cloud: Any, account_id: str, function_arn: str, variables: dict[str, str],
         key_ref: str | None, caller: RequestContext | None = None) -> dict[str, str]:
    """The stored form of ``variables``: ciphertext, nonce and the data key's KMS blob.

    With a customer managed key, the ``caller`` must be allowed to have Lambda use it (kms:CreateGrant,
    as Lambda requires); the AWS managed key needs no permission.
    """
    try:
        if key_ref and caller is not None:
            kms.authorize_use(caller, "kms:CreateGrant", kms.resolve_key(cloud, account_id, key_ref),
                              _context(function_arn))
        data_key = kms.generate_data_key(cloud, account_id, key_ref or DEFAULT_KEY, _context(function_arn))
    except ServiceError as exc:
        raise InvalidParameterValueException(
            f"Lambda was unable to encrypt your environment variables because the KMS key is invalid for "
            f"CreateGrant. Please check your KMS key settings. KMS Exception: {exc.code} KMS Message: "
            f"{exc.message}") from None
    nonce = os.urandom(12)
    sealed = AESGCM(data_key.plaintext).encrypt(nonce, json.dumps(variables).encode(), None)
    return {"Ciphertext": base64.b64encode(sealed).decode(), "Nonce": base64.b64encode(nonce).decode(),
            "DataKey": base64.b64encode(data_key.ciphertext).decode()}


def unseal(cloud: Any, account_id: str, function_arn: str, stored: dict[str, str]) -> dict[str, str]:
    """The variables; raises the KMS ServiceError when the key cannot open them (disabled, deleted)."""
    plaintext = kms.decrypt(cloud, account_id, base64.b64decode(stored["DataKey"]), _context(function_arn))
    opened = AESGCM(plaintext).decrypt(base64.b64decode(stored["Nonce"]), base64.b64decode(stored["Ciphertext"]), None)
    return json.loads(opened)


def readable(cloud: Any, account_id: str, function_arn: str, stored: dict[str, str] | None) -> dict[str, Any] | None:
    """The ``Environment`` member GetFunctionConfiguration answers: variables, or the KMS error as AWS reports it."""
    if stored is None:
        return None
    try:
        return {"Variables": unseal(cloud, account_id, function_arn, stored)}
    except ServiceError as exc:
        return {"Error": {"ErrorCode": f"Lambda.{exc.code}", "Message": exc.message}}


def _context(function_arn: str) -> dict[str, str]:
    return {"aws:lambda:FunctionArn": function_arn}
