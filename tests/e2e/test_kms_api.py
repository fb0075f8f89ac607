"""KMS over HTTP with boto3 and the AWS CLI: keys, cryptography with encryption context, key policies
evaluated with IAM, grants, aliases, rotation, deletion and AWS managed keys."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from tests.e2e.helpers import (
    Cleanup,
    Client,
    allow,
    denied,
    deny,
    document,
    member_account,
    new_user,
    refused,
)
from tests.support import CloudletProcess


@pytest.fixture
def kms(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("kms")


@pytest.fixture
def account(cloudlet: CloudletProcess) -> str:
    return cloudlet.client("sts").get_caller_identity()["Account"]


def _key(kms: Client, **params: Any) -> dict[str, Any]:
    return kms.create_key(Description="test key", **params)["KeyMetadata"]


def _user_kms(cloudlet: CloudletProcess, iam: Client, cleanup: Cleanup, name: str, *statements: dict) -> Client:
    credentials = new_user(iam, cleanup, name)
    if statements:
        iam.put_user_policy(UserName=name, PolicyName="kms", PolicyDocument=document(*statements))
    return cloudlet.client("kms", credentials)


def test_customer_key_and_its_default_policy(kms: Client, account: str) -> None:
    metadata = _key(kms, Tags=[{"TagKey": "team", "TagValue": "blue"}])
    assert metadata["KeyState"] == "Enabled" and metadata["Enabled"] is True
    assert metadata["KeyManager"] == "CUSTOMER" and metadata["Origin"] == "AWS_KMS"
    assert metadata["KeySpec"] == "SYMMETRIC_DEFAULT" and metadata["KeyUsage"] == "ENCRYPT_DECRYPT"
    assert metadata["EncryptionAlgorithms"] == ["SYMMETRIC_DEFAULT"] and metadata["MultiRegion"] is False
    assert metadata["Arn"] == f"arn:aws:kms:home-1:{account}:key/{metadata['KeyId']}"
    assert kms.describe_key(KeyId=metadata["Arn"])["KeyMetadata"] == metadata
    policy = json.loads(kms.get_key_policy(KeyId=metadata["KeyId"], PolicyName="default")["Policy"])
    assert policy == {"Version": "2012-10-17", "Id": "key-default-1", "Statement": [
        {"Sid": "Enable IAM User Permissions", "Effect": "Allow",
         "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*", "Resource": "*"}]}
    assert kms.list_key_policies(KeyId=metadata["KeyId"])["PolicyNames"] == ["default"]
    assert kms.list_resource_tags(KeyId=metadata["KeyId"])["Tags"] == [{"TagKey": "team", "TagValue": "blue"}]
    listed = [key["KeyId"] for key in kms.get_paginator("list_keys").paginate(PaginationConfig={"PageSize": 1})
              .build_full_result()["Keys"]]
    assert metadata["KeyId"] in listed and len(listed) == len(set(listed))
    refused(kms.describe_key, "NotFoundException", KeyId="11111111-2222-3333-4444-555555555555")
    refused(kms.create_key, "TagException", Tags=[{"TagKey": "aws:reserved", "TagValue": "x"}])


def test_encrypt_decrypt_with_encryption_context(kms: Client) -> None:
    key_id = _key(kms)["KeyId"]
    context = {"purpose": "test", "tenant": "a"}
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"secret data", EncryptionContext=context)["CiphertextBlob"]
    assert b"secret data" not in blob
    out = kms.decrypt(CiphertextBlob=blob, EncryptionContext=dict(reversed(context.items())))
    assert out["Plaintext"] == b"secret data" and out["KeyId"].endswith(key_id)
    for wrong in ({}, {"purpose": "test"}, {**context, "tenant": "b"}):
        refused(kms.decrypt, "InvalidCiphertextException", CiphertextBlob=blob, EncryptionContext=wrong)
    refused(kms.decrypt, "InvalidCiphertextException", CiphertextBlob=b"not a blob at all")
    other = _key(kms)["KeyId"]
    refused(kms.decrypt, "IncorrectKeyException", CiphertextBlob=blob, EncryptionContext=context, KeyId=other)
    moved = kms.re_encrypt(CiphertextBlob=blob, SourceEncryptionContext=context, DestinationKeyId=other,
                           DestinationEncryptionContext={"moved": "yes"})
    assert moved["SourceKeyId"].endswith(key_id) and moved["KeyId"].endswith(other)
    assert kms.decrypt(CiphertextBlob=moved["CiphertextBlob"], EncryptionContext={"moved": "yes"}
                       )["Plaintext"] == b"secret data"
    data_key = kms.generate_data_key(KeyId=key_id, KeySpec="AES_128", EncryptionContext=context)
    assert len(data_key["Plaintext"]) == 16
    assert kms.decrypt(CiphertextBlob=data_key["CiphertextBlob"], EncryptionContext=context
                       )["Plaintext"] == data_key["Plaintext"]
    sealed = kms.generate_data_key_without_plaintext(KeyId=key_id, NumberOfBytes=64)
    assert "Plaintext" not in sealed and len(kms.decrypt(CiphertextBlob=sealed["CiphertextBlob"])["Plaintext"]) == 64
    refused(kms.generate_data_key, "ValidationException", KeyId=key_id)
    assert len(kms.generate_random(NumberOfBytes=32)["Plaintext"]) == 32


def test_aws_cli_encrypts_and_decrypts(cloudlet: CloudletProcess, kms: Client, tmp_path: Any) -> None:
    key_id = _key(kms)["KeyId"]
    (tmp_path / "plain.txt").write_bytes(b"hello from the cli")
    encrypted = json.loads(cloudlet.aws("kms", "encrypt", "--key-id", key_id, "--plaintext",
                                        f"fileb://{tmp_path / 'plain.txt'}", "--encryption-context", "app=cli",
                                        "--output", "json").stdout)
    (tmp_path / "blob").write_bytes(base64.b64decode(encrypted["CiphertextBlob"]))
    decrypted = json.loads(cloudlet.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}",
                                        "--encryption-context", "app=cli", "--output", "json").stdout)
    assert base64.b64decode(decrypted["Plaintext"]) == b"hello from the cli"
    wrong = cloudlet.aws("kms", "decrypt", "--ciphertext-blob", f"fileb://{tmp_path / 'blob'}", check=False)
    assert wrong.returncode != 0 and "InvalidCiphertextException" in wrong.stderr


def test_key_policy_decides_with_iam(cloudlet: CloudletProcess, kms: Client, iam: Client, cleanup: Cleanup,
                                     unique: str, account: str) -> None:
    user = _user_kms(cloudlet, iam, cleanup, f"{unique}-user", allow("kms:*"))
    user_arn = f"arn:aws:iam::{account}:user/{unique}-user"
    delegating = _key(kms)["KeyId"]
    blob = user.encrypt(KeyId=delegating, Plaintext=b"x")["CiphertextBlob"]
    assert user.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"

    kms.put_key_policy(KeyId=delegating, PolicyName="default", Policy=document(
        {"Sid": "Root", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
         "Action": "kms:*", "Resource": "*"},
        {"Sid": "NoDecrypt", "Effect": "Deny", "Principal": {"AWS": user_arn}, "Action": "kms:Decrypt",
         "Resource": "*"}))
    code, status, message = denied(user.decrypt, CiphertextBlob=blob)
    key_arn = f"arn:aws:kms:home-1:{account}:key/{delegating}"
    assert (code, status) == ("AccessDeniedException", 400)
    assert message == (f"User: {user_arn} is not authorized to perform: kms:Decrypt on resource: {key_arn} "
                       f"with an explicit deny in a resource-based policy")

    root_only = document({"Sid": "Admin", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                          "Action": ["kms:PutKeyPolicy", "kms:GetKeyPolicy", "kms:DescribeKey"], "Resource": "*"})
    not_delegating = _key(kms, Policy=root_only)["KeyId"]
    code, _, message = denied(user.encrypt, KeyId=not_delegating, Plaintext=b"x")
    assert code == "AccessDeniedException"
    assert message.endswith("because no resource-based policy allows the kms:Encrypt action"), message
    refused(kms.encrypt, "AccessDeniedException", KeyId=not_delegating, Plaintext=b"x")
    assert user.describe_key(KeyId=not_delegating)["KeyMetadata"]["KeyId"] == not_delegating
    nobody = document({"Effect": "Allow", "Principal": {"AWS": user_arn}, "Action": "kms:Encrypt", "Resource": "*"})
    refused(kms.put_key_policy, "MalformedPolicyDocumentException", KeyId=not_delegating, PolicyName="default",
            Policy=nobody)
    refused(kms.put_key_policy, "MalformedPolicyDocumentException", KeyId=not_delegating, PolicyName="default",
            Policy="{not json")
    assert json.loads(kms.get_key_policy(KeyId=not_delegating, PolicyName="default")["Policy"]) == \
        json.loads(root_only)
    kms.put_key_policy(KeyId=not_delegating, PolicyName="default", Policy=nobody, BypassPolicyLockoutSafetyCheck=True)
    refused(kms.get_key_policy, "AccessDeniedException", KeyId=not_delegating, PolicyName="default")

    no_iam = _user_kms(cloudlet, iam, cleanup, f"{unique}-none")
    code, _, message = denied(no_iam.encrypt, KeyId=delegating, Plaintext=b"x")
    assert code == "AccessDeniedException" and "because no identity-based policy allows" in message


def test_iam_deny_wins(cloudlet: CloudletProcess, kms: Client, iam: Client, cleanup: Cleanup, unique: str) -> None:
    key_id = _key(kms)["KeyId"]
    user = _user_kms(cloudlet, iam, cleanup, f"{unique}-denied", allow("kms:*"), deny("kms:Encrypt"))
    code, _, message = denied(user.encrypt, KeyId=key_id, Plaintext=b"x")
    assert code == "AccessDeniedException" and "with an explicit deny in an identity-based policy" in message


def test_tags_at_creation_need_tag_resource(cloudlet: CloudletProcess, iam: Client, cleanup: Cleanup,
                                            unique: str) -> None:
    creator = _user_kms(cloudlet, iam, cleanup, f"{unique}-creator", allow("kms:CreateKey"))
    before = len(cloudlet.client("kms").list_keys(Limit=1000)["Keys"])
    code, _, message = denied(creator.create_key, Tags=[{"TagKey": "team", "TagValue": "a"}])
    assert code == "AccessDeniedException" and "kms:TagResource" in message
    assert len(cloudlet.client("kms").list_keys(Limit=1000)["Keys"]) == before
    assert creator.create_key()["KeyMetadata"]["KeyManager"] == "CUSTOMER"


def test_rotation_keeps_old_ciphertexts_readable(kms: Client) -> None:
    key_id = _key(kms)["KeyId"]
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False
    kms.enable_key_rotation(KeyId=key_id, RotationPeriodInDays=90)
    status = kms.get_key_rotation_status(KeyId=key_id)
    assert status["KeyRotationEnabled"] is True and status["RotationPeriodInDays"] == 90
    old = kms.encrypt(KeyId=key_id, Plaintext=b"before", EncryptionContext={"v": "1"})["CiphertextBlob"]
    before = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    kms.rotate_key_on_demand(KeyId=key_id)
    after = kms.describe_key(KeyId=key_id)["KeyMetadata"]["CurrentKeyMaterialId"]
    assert before != after
    new = kms.encrypt(KeyId=key_id, Plaintext=b"after")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=old, EncryptionContext={"v": "1"})["KeyMaterialId"] == before
    assert kms.decrypt(CiphertextBlob=new)["KeyMaterialId"] == after
    rotations = kms.list_key_rotations(KeyId=key_id)["Rotations"]
    assert [(r["RotationType"], r["KeyMaterialId"], r["KeyMaterialState"]) for r in rotations] == \
        [("ON_DEMAND", after, "CURRENT")]
    kms.disable_key_rotation(KeyId=key_id)
    assert kms.get_key_rotation_status(KeyId=key_id)["KeyRotationEnabled"] is False


def test_disable_and_delete_make_a_key_unusable(kms: Client) -> None:
    key_id = _key(kms)["KeyId"]
    blob = kms.encrypt(KeyId=key_id, Plaintext=b"x")["CiphertextBlob"]
    kms.disable_key(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    message = refused(kms.decrypt, "DisabledException", CiphertextBlob=blob)
    assert message.endswith(f"key/{key_id} is disabled.")
    refused(kms.encrypt, "DisabledException", KeyId=key_id, Plaintext=b"x")
    kms.enable_key(KeyId=key_id)
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"x"

    refused(kms.schedule_key_deletion, "ValidationException", KeyId=key_id, PendingWindowInDays=6)
    scheduled = kms.schedule_key_deletion(KeyId=key_id, PendingWindowInDays=7)
    assert scheduled["KeyState"] == "PendingDeletion" and scheduled["PendingWindowInDays"] == 7
    metadata = kms.describe_key(KeyId=key_id)["KeyMetadata"]
    assert metadata["KeyState"] == "PendingDeletion" and metadata["DeletionDate"] == scheduled["DeletionDate"]
    refused(kms.decrypt, "KMSInvalidStateException", CiphertextBlob=blob)
    refused(kms.enable_key, "KMSInvalidStateException", KeyId=key_id)
    refused(kms.schedule_key_deletion, "KMSInvalidStateException", KeyId=key_id)
    kms.cancel_key_deletion(KeyId=key_id)
    assert kms.describe_key(KeyId=key_id)["KeyMetadata"]["KeyState"] == "Disabled"
    refused(kms.cancel_key_deletion, "KMSInvalidStateException", KeyId=key_id)


def test_grants_allow_their_grantee_within_constraints(cloudlet: CloudletProcess, kms: Client, iam: Client,
                                                       cleanup: Cleanup, unique: str, account: str) -> None:
    key_id = _key(kms)["KeyId"]
    grantee = _user_kms(cloudlet, iam, cleanup, f"{unique}-grantee")
    grantee_arn = f"arn:aws:iam::{account}:user/{unique}-grantee"
    refused(grantee.encrypt, "AccessDeniedException", KeyId=key_id, Plaintext=b"x")
    grant = kms.create_grant(KeyId=key_id, GranteePrincipal=grantee_arn, RetiringPrincipal=grantee_arn,
                             Operations=["Encrypt", "Decrypt"], Name="app",
                             Constraints={"EncryptionContextSubset": {"app": "blue"}})
    assert len(grant["GrantId"]) == 64
    again = kms.create_grant(KeyId=key_id, GranteePrincipal=grantee_arn, RetiringPrincipal=grantee_arn,
                             Operations=["Decrypt", "Encrypt"], Name="app",
                             Constraints={"EncryptionContextSubset": {"app": "blue"}})
    assert again["GrantId"] == grant["GrantId"]
    blob = grantee.encrypt(KeyId=key_id, Plaintext=b"granted", EncryptionContext={"app": "blue", "x": "y"},
                           GrantTokens=[grant["GrantToken"]])["CiphertextBlob"]
    assert grantee.decrypt(CiphertextBlob=blob, EncryptionContext={"app": "blue", "x": "y"})["Plaintext"] == b"granted"
    refused(grantee.encrypt, "AccessDeniedException", KeyId=key_id, Plaintext=b"x", EncryptionContext={"app": "red"})
    refused(grantee.encrypt, "InvalidGrantTokenException", KeyId=key_id, Plaintext=b"x", GrantTokens=["bogus"])
    listed = kms.list_grants(KeyId=key_id)["Grants"]
    assert [(g["GrantId"], g["GranteePrincipal"], g["Operations"], g["Constraints"]) for g in listed] == \
        [(grant["GrantId"], grantee_arn, ["Decrypt", "Encrypt"], {"EncryptionContextSubset": {"app": "blue"}})]
    assert listed[0]["KeyId"].endswith(key_id) and listed[0]["IssuingAccount"] == f"arn:aws:iam::{account}:root"
    retirable = kms.list_retirable_grants(RetiringPrincipal=grantee_arn)["Grants"]
    assert [g["GrantId"] for g in retirable] == [grant["GrantId"]]
    grantee.retire_grant(GrantToken=grant["GrantToken"])
    refused(grantee.encrypt, "AccessDeniedException", KeyId=key_id, Plaintext=b"x", EncryptionContext={"app": "blue"})
    assert kms.list_grants(KeyId=key_id)["Grants"] == []

    revoked = kms.create_grant(KeyId=key_id, GranteePrincipal=grantee_arn, Operations=["Encrypt"])
    grantee.encrypt(KeyId=key_id, Plaintext=b"x")
    kms.revoke_grant(KeyId=key_id, GrantId=revoked["GrantId"])
    refused(grantee.encrypt, "AccessDeniedException", KeyId=key_id, Plaintext=b"x")
    refused(kms.revoke_grant, "NotFoundException", KeyId=key_id, GrantId=revoked["GrantId"])


def test_aliases(kms: Client, account: str, unique: str) -> None:
    first, second = _key(kms)["KeyId"], _key(kms)["KeyId"]
    name = f"alias/{unique}"
    kms.create_alias(AliasName=name, TargetKeyId=first)
    refused(kms.create_alias, "AlreadyExistsException", AliasName=name, TargetKeyId=second)
    refused(kms.create_alias, "InvalidAliasNameException", AliasName="alias/aws/mine", TargetKeyId=first)
    refused(kms.create_alias, "ValidationException", AliasName=unique, TargetKeyId=first)
    blob = kms.encrypt(KeyId=name, Plaintext=b"x")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["KeyId"].endswith(first)
    assert kms.describe_key(KeyId=f"arn:aws:kms:home-1:{account}:{name}")["KeyMetadata"]["KeyId"] == first
    entries = kms.list_aliases(KeyId=first)["Aliases"]
    assert [(a["AliasName"], a["TargetKeyId"], a["AliasArn"]) for a in entries] == \
        [(name, first, f"arn:aws:kms:home-1:{account}:{name}")]
    kms.update_alias(AliasName=name, TargetKeyId=second)
    assert kms.describe_key(KeyId=name)["KeyMetadata"]["KeyId"] == second
    all_names = [a["AliasName"] for a in kms.get_paginator("list_aliases").paginate().build_full_result()["Aliases"]]
    assert name in all_names and "alias/aws/ebs" in all_names
    kms.delete_alias(AliasName=name)
    refused(kms.describe_key, "NotFoundException", KeyId=name)
    refused(kms.delete_alias, "NotFoundException", AliasName=name)


def test_aws_managed_keys(cloudlet: CloudletProcess, kms: Client, iam: Client, cleanup: Cleanup,
                          unique: str) -> None:
    metadata = kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]
    assert metadata["KeyManager"] == "AWS" and metadata["KeyState"] == "Enabled"
    assert kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["KeyId"] == metadata["KeyId"]
    assert kms.get_key_rotation_status(KeyId=metadata["KeyId"])["KeyRotationEnabled"] is True
    for call, params in ((kms.disable_key, {}), (kms.schedule_key_deletion, {}),
                         (kms.put_key_policy, {"PolicyName": "default", "Policy": document(
                             {"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "kms:*", "Resource": "*"})})):
        code, _, message = denied(call, KeyId=metadata["KeyId"], **params)
        assert code == "AccessDeniedException" and "because no resource-based policy allows" in message
    refused(kms.encrypt, "AccessDeniedException", KeyId="alias/aws/s3", Plaintext=b"x")
    refused(kms.create_alias, "UnsupportedOperationException", AliasName=f"alias/{unique}",
            TargetKeyId=metadata["KeyId"])
    assert kms.describe_key(KeyId=metadata["KeyId"])["KeyMetadata"]["KeyState"] == "Enabled"


def test_another_account_uses_a_key_only_when_its_policy_says_so(cloudlet: CloudletProcess, kms: Client,
                                                                 account: str, unique: str) -> None:
    member, credentials = member_account(cloudlet, f"{unique}-kms")
    theirs = cloudlet.client("kms", credentials)
    key = _key(kms)
    kms.create_alias(AliasName=f"alias/{unique}", TargetKeyId=key["KeyId"])
    code, _, message = denied(theirs.encrypt, KeyId=key["Arn"], Plaintext=b"x")
    assert code == "AccessDeniedException" and f"arn:aws:iam::{member}:root" in message
    refused(theirs.encrypt, "NotFoundException", KeyId=f"alias/{unique}", Plaintext=b"x")
    kms.put_key_policy(KeyId=key["KeyId"], PolicyName="default", Policy=document(
        {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "Partner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{member}:root"},
         "Action": ["kms:Encrypt", "kms:Decrypt", "kms:DescribeKey"], "Resource": "*"}))
    blob = theirs.encrypt(KeyId=key["Arn"], Plaintext=b"shared")["CiphertextBlob"]
    assert kms.decrypt(CiphertextBlob=blob)["Plaintext"] == b"shared"
    assert theirs.describe_key(KeyId=key["Arn"])["KeyMetadata"]["AWSAccountId"] == account
    refused(theirs.disable_key, "NotFoundException", KeyId=key["Arn"])
    assert key["KeyId"] not in [k["KeyId"] for k in theirs.list_keys()["Keys"]]
