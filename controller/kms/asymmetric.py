"""Asymmetric keys: GetPublicKey, Sign and Verify, and RSA encryption for Encrypt, Decrypt and ReEncrypt.

An RSA key of usage ENCRYPT_DECRYPT encrypts with RSAES-OAEP; its ciphertext is the bare RSA output
(as on AWS), so Decrypt must name the key and the algorithm. Keys of usage SIGN_VERIFY sign a
message, or a digest (``MessageType=DIGEST``), with RSASSA-PSS, RSASSA-PKCS1-v1_5 or ECDSA; Verify
answers ``SignatureValid`` or KMSInvalidSignatureException. No encryption context is involved: AWS
asymmetric keys take none.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa, utils

from controller.api import Params, RequestContext
from controller.kms import key_specs, records, views
from controller.kms.access import check_grant_tokens, on_key, resolve_key
from controller.kms.errors import (
    DryRunOperationException,
    InvalidCiphertextException,
    InvalidKeyUsageException,
    KMSInvalidSignatureException,
    UnsupportedOperationException,
    ValidationException,
)
from controller.kms.service import api
from controller.state import utcnow


def _private(ctx: RequestContext, row: Mapping[str, Any]) -> Any:
    with ctx.cloud.db.read() as conn:
        _, material = records.material(ctx.cloud, conn, row["key_id"])
    return key_specs.private_key(material)


def usable_for(ctx: RequestContext, row: Mapping[str, Any], usage: str, operation: str) -> None:
    """Raise AWS's error unless the key is in a usable state and of ``usage``."""
    records.usable(records.Region.of(ctx.cloud, ctx.region), row, utcnow())
    if row["key_usage"] != usage:
        raise InvalidKeyUsageException(f"{row['arn']} key usage is {row['key_usage']} which is not valid for "
                                       f"{operation}.")


def _algorithm(row: Mapping[str, Any], algorithm: str | None, offered: tuple[str, ...], kind: str) -> str:
    if algorithm not in offered:
        raise InvalidKeyUsageException(f"The {kind} algorithm {algorithm} is not supported by KMS key "
                                       f"{row['arn']}.")
    return str(algorithm)


def rsa_encrypt(ctx: RequestContext, row: Mapping[str, Any], params: Params) -> bytes:
    """Encrypt's answer for an RSA key: OAEP with the requested hash, no encryption context."""
    algorithm = _algorithm(row, params.get("EncryptionAlgorithm"), key_specs.RSA_ENCRYPTION, "encryption")
    if params.get("EncryptionContext"):
        raise ValidationException("EncryptionContext is not supported with asymmetric KMS keys.")
    private = _private(ctx, row)
    assert isinstance(private, rsa.RSAPrivateKey)
    try:
        return private.public_key().encrypt(params["Plaintext"], key_specs.oaep(algorithm))
    except ValueError:
        raise ValidationException(f"Plaintext is too long for {row['key_spec']} with {algorithm}.") from None


def rsa_decrypt(ctx: RequestContext, row: Mapping[str, Any], params: Params) -> bytes:
    algorithm = _algorithm(row, params.get("EncryptionAlgorithm"), key_specs.RSA_ENCRYPTION, "encryption")
    private = _private(ctx, row)
    assert isinstance(private, rsa.RSAPrivateKey)
    try:
        return private.decrypt(params["CiphertextBlob"], key_specs.oaep(algorithm))
    except ValueError:
        raise InvalidCiphertextException("") from None


def _signing(ctx: RequestContext, params: Params, operation: str) -> tuple[Mapping[str, Any], Any, str]:
    row = resolve_key(ctx, params["KeyId"])
    usable_for(ctx, row, key_specs.SIGN_VERIFY, operation)
    algorithm = _algorithm(row, params["SigningAlgorithm"], key_specs.algorithms(row["key_spec"], row["key_usage"])
                           .signing, "signing")
    message_type = params.get("MessageType", "RAW")
    if message_type not in ("RAW", "DIGEST"):
        raise UnsupportedOperationException(f"MessageType {message_type} is not supported with {algorithm}.")
    if params.get("DryRun"):
        raise DryRunOperationException("The request would have succeeded, but the DryRun option is set.")
    digest, padding = key_specs.signature_scheme(algorithm)
    if message_type == "DIGEST":
        if len(params["Message"]) != digest.digest_size:
            raise ValidationException(f"Digest is invalid length for algorithm {algorithm}.")
        chosen: Any = utils.Prehashed(digest)
    else:
        chosen = digest
    return row, (chosen, padding), algorithm


@api.operation("GetPublicKey", resources=on_key(cross_account=True))
def get_public_key(ctx: RequestContext, params: Params) -> Params:
    row = resolve_key(ctx, params["KeyId"])
    if not key_specs.is_asymmetric(row["key_spec"]):
        raise UnsupportedOperationException(f"{row['arn']} key spec {row['key_spec']} has no public key.")
    records.usable(records.Region.of(ctx.cloud, ctx.region), row, utcnow())
    with ctx.cloud.db.read() as conn:
        _, material = records.material(ctx.cloud, conn, row["key_id"])
    return {"KeyId": row["arn"], "PublicKey": key_specs.public_key_der(material), "KeySpec": row["key_spec"],
            "CustomerMasterKeySpec": row["key_spec"], "KeyUsage": row["key_usage"],
            **views.algorithm_members(row["key_spec"], row["key_usage"])}


def _signing_resources(ctx: RequestContext, params: Params) -> list[str]:
    check_grant_tokens(ctx, params)
    return on_key(cross_account=True)(ctx, params)


@api.operation("Sign", resources=_signing_resources)
def sign(ctx: RequestContext, params: Params) -> Params:
    row, (digest, padding), algorithm = _signing(ctx, params, "Sign")
    private = _private(ctx, row)
    if isinstance(private, rsa.RSAPrivateKey):
        signature = private.sign(params["Message"], padding, digest)
    else:
        signature = private.sign(params["Message"], ec.ECDSA(digest))
    return {"KeyId": row["arn"], "Signature": signature, "SigningAlgorithm": algorithm}


@api.operation("Verify", resources=_signing_resources)
def verify(ctx: RequestContext, params: Params) -> Params:
    row, (digest, padding), algorithm = _signing(ctx, params, "Verify")
    public = _private(ctx, row).public_key()
    try:
        if isinstance(public, rsa.RSAPublicKey):
            public.verify(params["Signature"], params["Message"], padding, digest)
        else:
            public.verify(params["Signature"], params["Message"], ec.ECDSA(digest))
    except InvalidSignature:
        raise KMSInvalidSignatureException("") from None
    return {"KeyId": row["arn"], "SignatureValid": True, "SigningAlgorithm": algorithm}
