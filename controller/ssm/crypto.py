"""SecureString values, encrypted under KMS the way Parameter Store does it.

Parameter Store encrypts a SecureString value with KMS ``Encrypt`` under the parameter's key (``KeyId``, or the
AWS managed key ``alias/aws/ssm``, made on first use), with the encryption context
``{"PARAMETER_ARN": <the parameter's ARN>}``; the stored value is that ciphertext blob, which GetParameter
returns base64-encoded unless asked ``WithDecryption``. Both directions are KMS calls the caller makes through
SSM (https://docs.aws.amazon.com/kms/latest/developerguide/services-parameter-store.html): the caller needs
``kms:Encrypt`` / ``kms:Decrypt`` on the key, with ``kms:ViaService`` ``ssm.<region>.amazonaws.com``, so IAM and
the key policy decide (``controller.kms.lookup.authorize_use``). KMS's errors come back as SSM words them:
an unknown or unusable key is ``InvalidKeyId``; a refused caller gets KMS's AccessDeniedException.
"""

from __future__ import annotations

import base64

from controller.api import RequestContext
from controller.errors import ServiceError, error
from controller.kms import ciphers, lookup, records

InvalidKeyId = error("InvalidKeyId")
DEFAULT_KEY = "alias/aws/ssm"
_KEY_ERRORS = frozenset({"NotFoundException", "InvalidKeyUsageException", "DisabledException",
                         "KMSInvalidStateException"})


def _context(arn: str) -> dict[str, str]:
    return {"PARAMETER_ARN": arn}


def _as_ssm(exc: ServiceError) -> ServiceError:
    if exc.code in _KEY_ERRORS:
        return InvalidKeyId(f"{exc.message} (Service: AWSKMS; Error Code: {exc.code})")
    return exc


def encrypt(ctx: RequestContext, key_ref: str | None, arn: str, plaintext: str) -> tuple[str, str]:
    """``(ciphertext blob base64, key ARN)`` of ``plaintext`` under ``key_ref`` (the default key when None)."""
    context = _context(arn)
    try:
        row = records.resolve(ctx.cloud, ctx.account_id, ctx.cloud.config.region, key_ref or DEFAULT_KEY)
        lookup.authorize_use(ctx, "kms:Encrypt", row["arn"], context)
        ciphers.check_encryption_key(records.Region.of(ctx.cloud, ctx.cloud.config.region), row, "Encrypt")
        blob = ciphers.encrypt(ctx.cloud, row, plaintext.encode(), context)
    except ServiceError as exc:
        raise _as_ssm(exc) from None
    return base64.b64encode(blob).decode(), row["arn"]


def decrypt(ctx: RequestContext, key_arn: str, arn: str, stored: str) -> str:
    """The plaintext of a stored SecureString value, if the caller may decrypt with its key."""
    context = _context(arn)
    try:
        lookup.authorize_use(ctx, "kms:Decrypt", key_arn, context)
        return lookup.decrypt(ctx.cloud, ctx.account_id, base64.b64decode(stored), context).decode()
    except ServiceError as exc:
        raise _as_ssm(exc) from None
