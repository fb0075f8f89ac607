"""Key specs: what material each makes, which usages it allows, which algorithms it offers (pure).

Symmetric and HMAC keys are random bytes; asymmetric keys (RSA, NIST and SECG elliptic curves) are
private keys made by ``cryptography`` and kept as PKCS#8 DER, wrapped by the master key like any
other material. The tables follow the AWS KMS Developer Guide ("Key spec reference").
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

SYMMETRIC = "SYMMETRIC_DEFAULT"
ENCRYPT_DECRYPT, SIGN_VERIFY, GENERATE_VERIFY_MAC = "ENCRYPT_DECRYPT", "SIGN_VERIFY", "GENERATE_VERIFY_MAC"

RSA_BITS = {"RSA_2048": 2048, "RSA_3072": 3072, "RSA_4096": 4096}
CURVES = {"ECC_NIST_P256": ec.SECP256R1, "ECC_NIST_P384": ec.SECP384R1, "ECC_NIST_P521": ec.SECP521R1,
          "ECC_SECG_P256K1": ec.SECP256K1}
HMAC_BYTES = {"HMAC_224": 28, "HMAC_256": 32, "HMAC_384": 48, "HMAC_512": 64}
_ECDSA = {"ECC_NIST_P256": "ECDSA_SHA_256", "ECC_NIST_P384": "ECDSA_SHA_384", "ECC_NIST_P521": "ECDSA_SHA_512",
          "ECC_SECG_P256K1": "ECDSA_SHA_256"}
RSA_ENCRYPTION = ("RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256")
RSA_SIGNING = ("RSASSA_PSS_SHA_256", "RSASSA_PSS_SHA_384", "RSASSA_PSS_SHA_512", "RSASSA_PKCS1_V1_5_SHA_256",
               "RSASSA_PKCS1_V1_5_SHA_384", "RSASSA_PKCS1_V1_5_SHA_512")
_HASHES: dict[str, type[hashes.HashAlgorithm]] = {"SHA_1": hashes.SHA1, "SHA_256": hashes.SHA256,
                                                  "SHA_384": hashes.SHA384, "SHA_512": hashes.SHA512}


def usages(spec: str) -> tuple[str, ...]:
    """The KeyUsage values a key spec allows (empty: not a spec Cloudlet makes)."""
    if spec == SYMMETRIC:
        return (ENCRYPT_DECRYPT,)
    if spec in HMAC_BYTES:
        return (GENERATE_VERIFY_MAC,)
    if spec in RSA_BITS:
        return (ENCRYPT_DECRYPT, SIGN_VERIFY)
    if spec in CURVES:
        return (SIGN_VERIFY,)
    return ()


def is_asymmetric(spec: str) -> bool:
    return spec in RSA_BITS or spec in CURVES


def new_material(spec: str) -> bytes:
    """Fresh key material for ``spec``: random bytes, or a private key as unencrypted PKCS#8 DER."""
    if spec == SYMMETRIC:
        return os.urandom(32)
    if spec in HMAC_BYTES:
        return os.urandom(HMAC_BYTES[spec])
    private: PrivateKeyTypes = (rsa.generate_private_key(65537, RSA_BITS[spec]) if spec in RSA_BITS
                                else ec.generate_private_key(CURVES[spec]()))
    return private.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8,
                                 serialization.NoEncryption())


@dataclass(frozen=True)
class Algorithms:
    """What a key offers in KeyMetadata and GetPublicKey."""

    encryption: tuple[str, ...] = ()
    signing: tuple[str, ...] = ()
    mac: tuple[str, ...] = ()


def algorithms(spec: str, usage: str) -> Algorithms:
    if spec == SYMMETRIC:
        return Algorithms(encryption=(SYMMETRIC,))
    if spec in HMAC_BYTES:
        return Algorithms(mac=(spec.replace("HMAC_", "HMAC_SHA_"),))
    if spec in RSA_BITS:
        return Algorithms(encryption=RSA_ENCRYPTION) if usage == ENCRYPT_DECRYPT else Algorithms(signing=RSA_SIGNING)
    return Algorithms(signing=(_ECDSA[spec],))


def private_key(material: bytes) -> PrivateKeyTypes:
    return serialization.load_der_private_key(material, password=None)


def public_key_der(material: bytes) -> bytes:
    """The public key as DER SubjectPublicKeyInfo, what GetPublicKey returns."""
    return private_key(material).public_key().public_bytes(serialization.Encoding.DER,
                                                           serialization.PublicFormat.SubjectPublicKeyInfo)


def oaep(algorithm: str) -> padding.OAEP:
    digest = _HASHES[algorithm.removeprefix("RSAES_OAEP_")]()
    return padding.OAEP(mgf=padding.MGF1(algorithm=digest), algorithm=digest, label=None)


def signature_scheme(algorithm: str) -> tuple[hashes.HashAlgorithm, padding.AsymmetricPadding | None]:
    """The hash of a signing algorithm and, for RSA, its padding (PSS salt as long as the digest, as AWS)."""
    digest = _HASHES["SHA_" + algorithm.rsplit("_", 1)[-1]]()
    if algorithm.startswith("RSASSA_PSS"):
        return digest, padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size)
    if algorithm.startswith("RSASSA_PKCS1"):
        return digest, padding.PKCS1v15()
    return digest, None
