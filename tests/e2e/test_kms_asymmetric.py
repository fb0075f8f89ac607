"""KMS's asymmetric and HMAC keys over HTTP: RSA encryption, signatures checked with the public key
outside KMS, and MACs."""

from __future__ import annotations

import hashlib

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding

from tests.e2e.helpers import Client, refused
from tests.support import CloudletProcess


@pytest.fixture
def kms(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("kms")


def test_rsa_encryption_key(kms: Client) -> None:
    metadata = kms.create_key(KeySpec="RSA_2048", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]
    assert metadata["EncryptionAlgorithms"] == ["RSAES_OAEP_SHA_1", "RSAES_OAEP_SHA_256"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=metadata["KeyId"])["PublicKey"])
    outside = public.encrypt(b"to kms", padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(),
                                                     label=None))
    assert kms.decrypt(CiphertextBlob=outside, KeyId=metadata["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256"
                       )["Plaintext"] == b"to kms"
    inside = kms.encrypt(KeyId=metadata["KeyId"], Plaintext=b"round", EncryptionAlgorithm="RSAES_OAEP_SHA_1")
    assert kms.decrypt(CiphertextBlob=inside["CiphertextBlob"], KeyId=metadata["KeyId"],
                       EncryptionAlgorithm="RSAES_OAEP_SHA_1")["Plaintext"] == b"round"
    refused(kms.decrypt, "InvalidCiphertextException", CiphertextBlob=inside["CiphertextBlob"],
            KeyId=metadata["KeyId"], EncryptionAlgorithm="RSAES_OAEP_SHA_256")
    refused(kms.encrypt, "InvalidKeyUsageException", KeyId=metadata["KeyId"], Plaintext=b"x")
    refused(kms.generate_data_key, "InvalidKeyUsageException", KeyId=metadata["KeyId"], KeySpec="AES_256")
    refused(kms.enable_key_rotation, "UnsupportedOperationException", KeyId=metadata["KeyId"])


@pytest.mark.parametrize(("spec", "algorithm"), [("RSA_2048", "RSASSA_PSS_SHA_256"),
                                                 ("RSA_2048", "RSASSA_PKCS1_V1_5_SHA_384"),
                                                 ("ECC_NIST_P256", "ECDSA_SHA_256")])
def test_signatures_verify_outside_kms(kms: Client, spec: str, algorithm: str) -> None:
    key_id = kms.create_key(KeySpec=spec, KeyUsage="SIGN_VERIFY")["KeyMetadata"]["KeyId"]
    public = serialization.load_der_public_key(kms.get_public_key(KeyId=key_id)["PublicKey"])
    signature = kms.sign(KeyId=key_id, Message=b"release 1.0", SigningAlgorithm=algorithm)["Signature"]
    digest = hashes.SHA384() if algorithm.endswith("384") else hashes.SHA256()
    if spec.startswith("ECC"):
        public.verify(signature, b"release 1.0", ec.ECDSA(digest))
    elif "PSS" in algorithm:
        public.verify(signature, b"release 1.0", padding.PSS(mgf=padding.MGF1(digest), salt_length=digest.digest_size),
                      digest)
    else:
        public.verify(signature, b"release 1.0", padding.PKCS1v15(), digest)
    assert kms.verify(KeyId=key_id, Message=b"release 1.0", Signature=signature, SigningAlgorithm=algorithm
                      )["SignatureValid"] is True
    refused(kms.verify, "KMSInvalidSignatureException", KeyId=key_id, Message=b"release 2.0", Signature=signature,
            SigningAlgorithm=algorithm)
    hashed = (hashlib.sha384 if algorithm.endswith("384") else hashlib.sha256)(b"release 1.0").digest()
    assert kms.verify(KeyId=key_id, Message=hashed, MessageType="DIGEST", Signature=signature,
                      SigningAlgorithm=algorithm)["SignatureValid"] is True


def test_hmac_keys(kms: Client) -> None:
    refused(kms.create_key, "ValidationException", KeySpec="HMAC_256")
    metadata = kms.create_key(KeySpec="HMAC_256", KeyUsage="GENERATE_VERIFY_MAC")["KeyMetadata"]
    assert metadata["MacAlgorithms"] == ["HMAC_SHA_256"] and "EncryptionAlgorithms" not in metadata
    mac = kms.generate_mac(KeyId=metadata["KeyId"], Message=b"m", MacAlgorithm="HMAC_SHA_256")["Mac"]
    assert len(mac) == 32
    assert kms.verify_mac(KeyId=metadata["KeyId"], Message=b"m", Mac=mac, MacAlgorithm="HMAC_SHA_256")["MacValid"]
    refused(kms.verify_mac, "KMSInvalidMacException", KeyId=metadata["KeyId"], Message=b"n", Mac=mac,
            MacAlgorithm="HMAC_SHA_256")
    refused(kms.generate_mac, "InvalidKeyUsageException", KeyId=metadata["KeyId"], Message=b"m",
            MacAlgorithm="HMAC_SHA_512")
    refused(kms.encrypt, "InvalidKeyUsageException", KeyId=metadata["KeyId"], Plaintext=b"x")


def test_reencrypt_between_symmetric_and_rsa_keys(kms: Client) -> None:
    rsa_key = kms.create_key(KeySpec="RSA_3072", KeyUsage="ENCRYPT_DECRYPT")["KeyMetadata"]["KeyId"]
    symmetric = kms.create_key()["KeyMetadata"]["KeyId"]
    blob = kms.encrypt(KeyId=symmetric, Plaintext=b"move me", EncryptionContext={"a": "1"})["CiphertextBlob"]
    to_rsa = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext={"a": "1"}, DestinationKeyId=rsa_key,
                            DestinationEncryptionAlgorithm="RSAES_OAEP_SHA_256")
    assert to_rsa["DestinationEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert kms.decrypt(CiphertextBlob=to_rsa["CiphertextBlob"], KeyId=rsa_key,
                       EncryptionAlgorithm="RSAES_OAEP_SHA_256")["Plaintext"] == b"move me"
    back = kms.re_encrypt(CiphertextBlob=to_rsa["CiphertextBlob"], SourceKeyId=rsa_key,
                          SourceEncryptionAlgorithm="RSAES_OAEP_SHA_256", DestinationKeyId=symmetric)
    assert back["SourceEncryptionAlgorithm"] == "RSAES_OAEP_SHA_256"
    assert kms.decrypt(CiphertextBlob=back["CiphertextBlob"])["Plaintext"] == b"move me"


def test_data_key_pairs(kms: Client) -> None:
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    pair = kms.generate_data_key_pair(KeyId=key_id, KeyPairSpec="ECC_NIST_P384", EncryptionContext={"use": "sig"})
    private = serialization.load_der_private_key(pair["PrivateKeyPlaintext"], password=None)
    assert private.public_key().public_bytes(serialization.Encoding.DER,
                                             serialization.PublicFormat.SubjectPublicKeyInfo) == pair["PublicKey"]
    assert kms.decrypt(CiphertextBlob=pair["PrivateKeyCiphertextBlob"], EncryptionContext={"use": "sig"}
                       )["Plaintext"] == pair["PrivateKeyPlaintext"]
    sealed = kms.generate_data_key_pair_without_plaintext(KeyId=key_id, KeyPairSpec="RSA_2048")
    assert "PrivateKeyPlaintext" not in sealed and sealed["KeyPairSpec"] == "RSA_2048"
    refused(kms.generate_data_key_pair, "UnsupportedOperationException", KeyId=key_id, KeyPairSpec="SM2")
