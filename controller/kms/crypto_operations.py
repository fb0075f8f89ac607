"""The cryptographic operations: Encrypt, Decrypt, ReEncrypt, GenerateDataKey(WithoutPlaintext),
GenerateRandom, GenerateMac and VerifyMac.

Each is authorized on its key by the gateway (the key comes from KeyId, or for Decrypt and
ReEncrypt from the ciphertext blob itself), with the encryption context in the condition keys so
that key policies and grants can constrain it. The encryption context is the AES-GCM additional
data of the blob (``blob.py``): decrypting with any other context is InvalidCiphertextException.
"""

from __future__ import annotations

import hmac
import os
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from controller.api import Params, RequestContext, ResourceMapper
from controller.iam.enforce import check_action
from controller.kms import asymmetric, ciphers, key_specs, records, views
from controller.kms.access import check_grant_tokens, context_keys, on_blob_key, on_key, resolve_key
from controller.kms.errors import (
    DryRunOperationException,
    InvalidKeyUsageException,
    KMSInvalidMacException,
    UnsupportedOperationException,
    ValidationException,
)
from controller.kms.service import api
from controller.state import utcnow

SYMMETRIC_ALGORITHM = "SYMMETRIC_DEFAULT"
DATA_KEY_SPECS = {"AES_256": 32, "AES_128": 16}
_HASHES = {"HMAC_SHA_224": hashes.SHA224, "HMAC_SHA_256": hashes.SHA256, "HMAC_SHA_384": hashes.SHA384,
           "HMAC_SHA_512": hashes.SHA512}


def _region(ctx: RequestContext) -> records.Region:
    return records.Region.of(ctx.cloud, ctx.region)


def _dry_run(params: Params) -> None:
    if params.get("DryRun"):
        raise DryRunOperationException("The request would have succeeded, but the DryRun option is set.")


def _check_algorithm(row: Any, algorithm: str | None) -> None:
    if algorithm not in (None, SYMMETRIC_ALGORITHM):
        raise InvalidKeyUsageException(f"The encryption algorithm {algorithm} is not supported by KMS key "
                                       f"{row['arn']}.")


def _crypto_key(param: str = "KeyId") -> ResourceMapper:
    """A key operation's resource mapper that also checks the request's grant tokens."""
    mapper = on_key(param, cross_account=True, create_managed=True)

    def resources(ctx: RequestContext, params: Params) -> list[str]:
        check_grant_tokens(ctx, params)
        return mapper(ctx, params)

    return resources


def _encryption_key(ctx: RequestContext, params: Params, operation: str, row: Any = None) -> Any:
    row = row if row is not None else resolve_key(ctx, params["KeyId"])
    ciphers.check_encryption_key(_region(ctx), row, operation)
    _check_algorithm(row, params.get("EncryptionAlgorithm"))
    _dry_run(params)
    return row


@api.operation("Encrypt", resources=_crypto_key())
def encrypt(ctx: RequestContext, params: Params) -> Params:
    row = resolve_key(ctx, params["KeyId"])
    if key_specs.is_asymmetric(row["key_spec"]):
        asymmetric.usable_for(ctx, row, key_specs.ENCRYPT_DECRYPT, "Encrypt")
        _dry_run(params)
        return {"CiphertextBlob": asymmetric.rsa_encrypt(ctx, row, params), "KeyId": row["arn"],
                "EncryptionAlgorithm": params["EncryptionAlgorithm"]}
    row = _encryption_key(ctx, params, "Encrypt", row)
    blob = ciphers.encrypt(ctx.cloud, row, params["Plaintext"], params.get("EncryptionContext"))
    return {"CiphertextBlob": blob, "KeyId": row["arn"], "EncryptionAlgorithm": SYMMETRIC_ALGORITHM}


def _asymmetric_key(ctx: RequestContext, params: Params) -> Any:
    """Decrypt's key when KeyId names an asymmetric one (its ciphertext names no key), else None."""
    if not params.get("KeyId"):
        return None
    row = resolve_key(ctx, params["KeyId"])
    return row if key_specs.is_asymmetric(row["key_spec"]) else None


def _decrypt_resources(ctx: RequestContext, params: Params) -> list[str]:
    check_grant_tokens(ctx, params)
    if params.get("CiphertextBlob") is not None and _asymmetric_key(ctx, params) is not None:
        return on_key(cross_account=True)(ctx, params)
    return on_blob_key(ctx, params)


@api.operation("Decrypt", resources=_decrypt_resources)
def decrypt(ctx: RequestContext, params: Params) -> Params:
    asymmetric_key = _asymmetric_key(ctx, params)
    if asymmetric_key is not None:
        asymmetric.usable_for(ctx, asymmetric_key, key_specs.ENCRYPT_DECRYPT, "Decrypt")
        _dry_run(params)
        return {"KeyId": asymmetric_key["arn"], "Plaintext": asymmetric.rsa_decrypt(ctx, asymmetric_key, params),
                "EncryptionAlgorithm": params["EncryptionAlgorithm"]}
    expected = resolve_key(ctx, params["KeyId"]) if params.get("KeyId") else None
    parsed = ciphers.open_blob(params["CiphertextBlob"])
    _dry_run(params)
    row, plaintext = ciphers.decrypt(ctx.cloud, _region(ctx), ctx.account_id, params["CiphertextBlob"],
                                     params.get("EncryptionContext"), expected_key=expected)
    _check_algorithm(row, params.get("EncryptionAlgorithm"))
    return {"KeyId": row["arn"], "Plaintext": plaintext, "EncryptionAlgorithm": SYMMETRIC_ALGORITHM,
            "KeyMaterialId": views.material_id(row["key_id"], parsed.material_version)}


def _source_params(params: Params) -> Params:
    """ReEncrypt's source side, in Decrypt's terms."""
    return {"CiphertextBlob": params.get("CiphertextBlob"), "KeyId": params.get("SourceKeyId"),
            "EncryptionContext": params.get("SourceEncryptionContext"),
            "EncryptionAlgorithm": params.get("SourceEncryptionAlgorithm")}


def _reencrypt_resources(ctx: RequestContext, params: Params) -> list[str]:
    check_grant_tokens(ctx, params)
    source = _source_params(params)
    if source["CiphertextBlob"] is not None and _asymmetric_key(ctx, source) is not None:
        return on_key(cross_account=True)(ctx, source)
    return on_blob_key(ctx, source)


def _open_source(ctx: RequestContext, source: Params) -> tuple[Any, bytes, str, str | None]:
    """ReEncrypt's source key, the plaintext, its algorithm and key material id (symmetric keys only)."""
    asymmetric_key = _asymmetric_key(ctx, source)
    if asymmetric_key is not None:
        asymmetric.usable_for(ctx, asymmetric_key, key_specs.ENCRYPT_DECRYPT, "ReEncrypt")
        return asymmetric_key, asymmetric.rsa_decrypt(ctx, asymmetric_key, source), source["EncryptionAlgorithm"], None
    expected = resolve_key(ctx, source["KeyId"]) if source.get("KeyId") else None
    parsed = ciphers.open_blob(source["CiphertextBlob"])
    row, plaintext = ciphers.decrypt(ctx.cloud, _region(ctx), ctx.account_id, source["CiphertextBlob"],
                                     source["EncryptionContext"], operation="ReEncrypt", expected_key=expected)
    _check_algorithm(row, source["EncryptionAlgorithm"])
    return row, plaintext, SYMMETRIC_ALGORITHM, views.material_id(row["key_id"], parsed.material_version)


@api.operation("ReEncrypt", resources=_reencrypt_resources, action="kms:ReEncryptFrom")
def re_encrypt(ctx: RequestContext, params: Params) -> Params:
    destination = resolve_key(ctx, params["DestinationKeyId"])
    for key in [key for key in ctx.condition_keys if key.lower().startswith("kms:encryptioncontext")]:
        del ctx.condition_keys[key]
    context_keys(ctx, params, "DestinationEncryptionContext")
    check_action(ctx, "kms:ReEncryptTo", [destination["arn"]], params)
    source, plaintext, source_algorithm, source_material = _open_source(ctx, _source_params(params))
    target = {"Plaintext": plaintext, "EncryptionAlgorithm": params.get("DestinationEncryptionAlgorithm"),
              "EncryptionContext": params.get("DestinationEncryptionContext")}
    output: Params = {"SourceKeyId": source["arn"], "KeyId": destination["arn"],
                      "SourceEncryptionAlgorithm": source_algorithm}
    if source_material is not None:
        output["SourceKeyMaterialId"] = source_material
    if key_specs.is_asymmetric(destination["key_spec"]):
        asymmetric.usable_for(ctx, destination, key_specs.ENCRYPT_DECRYPT, "ReEncrypt")
        _dry_run(params)
        return {**output, "CiphertextBlob": asymmetric.rsa_encrypt(ctx, destination, target),
                "DestinationEncryptionAlgorithm": target["EncryptionAlgorithm"]}
    ciphers.check_encryption_key(_region(ctx), destination, "ReEncrypt")
    _check_algorithm(destination, target["EncryptionAlgorithm"])
    _dry_run(params)
    blob = ciphers.encrypt(ctx.cloud, destination, plaintext, target["EncryptionContext"])
    return {**output, "CiphertextBlob": blob, "DestinationEncryptionAlgorithm": SYMMETRIC_ALGORITHM,
            "DestinationKeyMaterialId": views.material_id(destination["key_id"], records.ciphertext_version(blob))}


def data_key_size(params: Params) -> int:
    """The data key's length from KeySpec or NumberOfBytes (exactly one of them; pure)."""
    spec, count = params.get("KeySpec"), params.get("NumberOfBytes")
    if spec is not None and count is not None:
        raise ValidationException("Please specify either number of bytes or key spec, not both.")
    if spec is None and count is None:
        raise ValidationException("Please specify either number of bytes or key spec.")
    return DATA_KEY_SPECS[spec] if spec is not None else count


def _generate(ctx: RequestContext, params: Params, operation: str) -> tuple[Any, bytes, bytes]:
    size = data_key_size(params)
    row = _encryption_key(ctx, params, operation)
    plaintext = os.urandom(size)
    return row, plaintext, ciphers.encrypt(ctx.cloud, row, plaintext, params.get("EncryptionContext"))


@api.operation("GenerateDataKey", resources=_crypto_key())
def generate_data_key(ctx: RequestContext, params: Params) -> Params:
    row, plaintext, blob = _generate(ctx, params, "GenerateDataKey")
    return {"CiphertextBlob": blob, "Plaintext": plaintext, "KeyId": row["arn"],
            "KeyMaterialId": views.material_id(row["key_id"], records.ciphertext_version(blob))}


@api.operation("GenerateDataKeyWithoutPlaintext", resources=_crypto_key())
def generate_data_key_without_plaintext(ctx: RequestContext, params: Params) -> Params:
    row, _, blob = _generate(ctx, params, "GenerateDataKeyWithoutPlaintext")
    return {"CiphertextBlob": blob, "KeyId": row["arn"],
            "KeyMaterialId": views.material_id(row["key_id"], records.ciphertext_version(blob))}


def _data_key_pair(ctx: RequestContext, params: Params, operation: str) -> tuple[Any, bytes, bytes]:
    """A fresh key pair of KeyPairSpec: its row's key, the private key (PKCS#8 DER) and its blob."""
    spec = params["KeyPairSpec"]
    if not key_specs.is_asymmetric(spec):
        raise UnsupportedOperationException(f"KeyPairSpec {spec} is not supported in this region.")
    row = _encryption_key(ctx, params, operation)
    private = key_specs.new_material(spec)
    return row, private, ciphers.encrypt(ctx.cloud, row, private, params.get("EncryptionContext"))


def _pair_output(row: Any, blob: bytes, private: bytes, spec: str) -> Params:
    return {"PrivateKeyCiphertextBlob": blob, "PublicKey": key_specs.public_key_der(private), "KeyId": row["arn"],
            "KeyPairSpec": spec, "KeyMaterialId": views.material_id(row["key_id"], records.ciphertext_version(blob))}


@api.operation("GenerateDataKeyPair", resources=_crypto_key())
def generate_data_key_pair(ctx: RequestContext, params: Params) -> Params:
    row, private, blob = _data_key_pair(ctx, params, "GenerateDataKeyPair")
    return {**_pair_output(row, blob, private, params["KeyPairSpec"]), "PrivateKeyPlaintext": private}


@api.operation("GenerateDataKeyPairWithoutPlaintext", resources=_crypto_key())
def generate_data_key_pair_without_plaintext(ctx: RequestContext, params: Params) -> Params:
    row, private, blob = _data_key_pair(ctx, params, "GenerateDataKeyPairWithoutPlaintext")
    return _pair_output(row, blob, private, params["KeyPairSpec"])


@api.operation("GenerateRandom")
def generate_random(ctx: RequestContext, params: Params) -> Params:
    if params.get("NumberOfBytes") is None:
        raise ValidationException("Please specify the number of bytes.")
    if params.get("CustomKeyStoreId"):
        raise ValidationException("Custom key stores are not supported in this region.")
    return {"Plaintext": os.urandom(params["NumberOfBytes"])}


def _mac_key(ctx: RequestContext, params: Params, operation: str) -> tuple[Any, bytes]:
    row = resolve_key(ctx, params["KeyId"])
    records.usable(_region(ctx), row, utcnow())
    algorithm = params["MacAlgorithm"]
    if row["key_usage"] != "GENERATE_VERIFY_MAC":
        raise InvalidKeyUsageException(f"{row['arn']} key usage is {row['key_usage']} which is not valid for "
                                       f"{operation}.")
    if algorithm != row["key_spec"].replace("HMAC_", "HMAC_SHA_"):
        raise InvalidKeyUsageException(f"Algorithm {algorithm} is incompatible with key spec {row['key_spec']}.")
    _dry_run(params)
    with ctx.cloud.db.read() as conn:
        _, material = records.material(ctx.cloud, conn, row["key_id"])
    signer = crypto_hmac.HMAC(material, _HASHES[algorithm]())
    signer.update(params["Message"])
    return row, signer.finalize()


@api.operation("GenerateMac", resources=_crypto_key())
def generate_mac(ctx: RequestContext, params: Params) -> Params:
    row, mac = _mac_key(ctx, params, "GenerateMac")
    return {"Mac": mac, "MacAlgorithm": params["MacAlgorithm"], "KeyId": row["arn"]}


@api.operation("VerifyMac", resources=_crypto_key())
def verify_mac(ctx: RequestContext, params: Params) -> Params:
    row, mac = _mac_key(ctx, params, "VerifyMac")
    if not hmac.compare_digest(mac, params["Mac"]):
        raise KMSInvalidMacException("")
    return {"KeyId": row["arn"], "MacValid": True, "MacAlgorithm": params["MacAlgorithm"]}
