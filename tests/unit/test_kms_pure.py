"""KMS's pure parts: the ciphertext blob and its context binding, key policies, grants as statements, paging."""

from __future__ import annotations

import json
import os

import pytest

from controller.errors import ServiceError
from controller.iam import policy
from controller.kms import blob, key_specs, policies
from controller.kms.access import grant_statement, policy_with_grants
from controller.kms.aliases import check_alias_name
from controller.kms.crypto_operations import data_key_size
from controller.kms.grants import check_constraints
from controller.kms.views import page

KEY_ID = "1234abcd-12ab-34cd-56ef-1234567890ab"
ACCOUNT = "111122223333"


def test_blob_names_its_key_and_material_version() -> None:
    material = os.urandom(32)
    data = blob.seal(material, KEY_ID, 3, b"plaintext", {"a": "1"})
    parsed = blob.parse(data)
    assert (parsed.key_id, parsed.material_version) == (KEY_ID, 3)
    assert parsed.to_bytes() == data
    assert b"plaintext" not in data
    assert blob.unseal(material, parsed, {"a": "1"}) == b"plaintext"


@pytest.mark.parametrize("context", [None, {}, {"a": "2"}, {"a": "1", "b": "2"}, {"A": "1"}])
def test_blob_opens_only_with_its_encryption_context(context: dict[str, str] | None) -> None:
    material = os.urandom(32)
    parsed = blob.parse(blob.seal(material, KEY_ID, 1, b"x", {"a": "1"}))
    with pytest.raises(blob.BlobError):
        blob.unseal(material, parsed, context)


def test_context_order_does_not_matter_but_empty_and_none_are_the_same() -> None:
    assert blob.context_bytes({"b": "2", "a": "1"}) == blob.context_bytes({"a": "1", "b": "2"})
    assert blob.context_bytes(None) == blob.context_bytes({})


def test_a_tampered_header_or_other_material_fails() -> None:
    material = os.urandom(32)
    data = blob.seal(material, KEY_ID, 1, b"x", None)
    moved = blob.Blob("ffffffff-12ab-34cd-56ef-1234567890ab", 1, blob.parse(data).nonce, blob.parse(data).sealed)
    with pytest.raises(blob.BlobError):
        blob.unseal(material, moved, None)
    with pytest.raises(blob.BlobError):
        blob.unseal(os.urandom(32), blob.parse(data), None)


@pytest.mark.parametrize("data", [b"", b"CKB", b"XYZ\x01" + bytes(60), b"CKB\x02" + bytes(60),
                                  b"CKB\x01\x24" + b"k" * 10])
def test_foreign_bytes_are_not_blobs(data: bytes) -> None:
    with pytest.raises(blob.BlobError):
        blob.parse(data)


def test_default_key_policy_delegates_to_the_account() -> None:
    text = policies.default_key_policy("aws", ACCOUNT)
    assert json.loads(text) == {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
         "Action": "kms:*", "Resource": "*"}]}
    policies.check_key_policy(text)


def test_managed_key_policy_allows_use_only_through_its_service() -> None:
    document = json.loads(policies.managed_key_policy("aws", "home-1", ACCOUNT, "ebs"))
    use, metadata = document["Statement"]
    assert use["Condition"]["StringEquals"] == {"kms:CallerAccount": ACCOUNT,
                                                "kms:ViaService": "ec2.home-1.amazonaws.com"}
    assert "kms:CreateGrant" in use["Action"] and "kms:PutKeyPolicy" not in use["Action"]
    assert metadata["Action"] == ["kms:Describe*", "kms:Get*", "kms:List*"]
    assert "kms:CreateGrant" not in json.loads(policies.managed_key_policy("aws", "home-1", ACCOUNT, "s3")
                                               )["Statement"][0]["Action"]


@pytest.mark.parametrize("text", ["{", "[]", json.dumps({"Version": "2012-10-17", "Statement": [
    {"Effect": "Allow", "Action": "kms:*", "Resource": "*"}]}), "x" * 40000])
def test_malformed_key_policies_are_refused(text: str) -> None:
    with pytest.raises(ServiceError) as refused:
        policies.check_key_policy(text)
    assert refused.value.code == "MalformedPolicyDocumentException"


def _decide(text: str, action: str, context: dict[str, object]) -> bool:
    request = policy.EvaluationRequest(action=action, resource=f"arn:aws:kms:home-1:{ACCOUNT}:key/{KEY_ID}",
                                       principal_arn=f"arn:aws:iam::{ACCOUNT}:user/app", principal_account=ACCOUNT,
                                       context=context, require_resource_policy=True)
    resource = policy.parse_policy(text, source_type="resource")
    return policy.evaluate(request, policy.PolicySet(resource=[resource])).allowed


def test_grants_become_statements_with_their_constraints() -> None:
    grant = {"grant_id": "g1", "grantee": f"arn:aws:iam::{ACCOUNT}:user/app", "operations": ["Decrypt"],
             "constraints": {"EncryptionContextEquals": {"app": "blue"}}}
    text = policy_with_grants(policies.default_key_policy("aws", ACCOUNT), [grant])
    exact = {"kms:EncryptionContext:app": "blue", "kms:EncryptionContextKeys": ["app"]}
    assert _decide(text, "kms:Decrypt", exact)
    assert not _decide(text, "kms:Encrypt", exact)
    assert not _decide(text, "kms:Decrypt", {**exact, "kms:EncryptionContextKeys": ["app", "more"]})
    assert not _decide(text, "kms:Decrypt", {"kms:EncryptionContext:app": "red", "kms:EncryptionContextKeys": ["app"]})
    subset = {**grant, "constraints": {"EncryptionContextSubset": {"app": "blue"}}}
    assert "ForAllValues:StringEquals" not in grant_statement(subset)["Condition"]
    service = grant_statement({**grant, "grantee": "ec2.amazonaws.com", "constraints": None})
    assert service["Principal"] == {"Service": "ec2.amazonaws.com"} and "Condition" not in service


def test_grant_constraints_take_one_kind() -> None:
    assert check_constraints(None) is None
    with pytest.raises(ServiceError):
        check_constraints({"EncryptionContextSubset": {"a": "1"}, "EncryptionContextEquals": {"a": "1"}})


@pytest.mark.parametrize(("name", "code"), [("alias/aws/x", "InvalidAliasNameException"),
                                            ("nope", "ValidationException"), ("alias/a b", "ValidationException")])
def test_alias_names(name: str, code: str) -> None:
    check_alias_name("alias/my-app_1/x")
    with pytest.raises(ServiceError) as refused:
        check_alias_name(name)
    assert refused.value.code == code


def test_data_key_size() -> None:
    assert data_key_size({"KeySpec": "AES_256"}) == 32
    assert data_key_size({"NumberOfBytes": 7}) == 7
    for params in ({}, {"KeySpec": "AES_128", "NumberOfBytes": 16}):
        with pytest.raises(ServiceError):
            data_key_size(params)


def test_pages_follow_their_markers() -> None:
    items = [f"k{i:02d}" for i in range(7)]
    seen, marker = [], None
    while True:
        chunk, paging = page(items, marker, 3, 100, str)
        seen += chunk
        if not paging["Truncated"]:
            break
        marker = paging["NextMarker"]
    assert seen == items
    with pytest.raises(ServiceError) as bad:
        page(items, "%%%", 3, 100, str)
    assert bad.value.code == "InvalidMarkerException"


def test_key_specs_usages_and_algorithms() -> None:
    assert key_specs.usages("SYMMETRIC_DEFAULT") == ("ENCRYPT_DECRYPT",)
    assert key_specs.usages("RSA_3072") == ("ENCRYPT_DECRYPT", "SIGN_VERIFY")
    assert key_specs.usages("ECC_NIST_P384") == ("SIGN_VERIFY",)
    assert key_specs.usages("SM2") == () and key_specs.usages("ML_DSA_44") == ()
    assert key_specs.algorithms("ECC_NIST_P521", "SIGN_VERIFY").signing == ("ECDSA_SHA_512",)
    assert key_specs.algorithms("HMAC_384", "GENERATE_VERIFY_MAC").mac == ("HMAC_SHA_384",)
    digest, padding = key_specs.signature_scheme("RSASSA_PSS_SHA_384")
    assert digest.name == "sha384" and padding.name == "EMSA-PSS"
    assert key_specs.signature_scheme("ECDSA_SHA_256")[1] is None
    assert len(key_specs.new_material("HMAC_224")) == 28
    assert key_specs.public_key_der(key_specs.new_material("ECC_NIST_P256")).startswith(b"0Y0\x13")
