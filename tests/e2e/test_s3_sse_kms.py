"""S3 SSE-KMS over HTTP: objects whose data keys come from KMS, readable only while their key is usable."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.e2e.helpers import Cleanup, Client, allow, document, new_user
from tests.e2e.s3_helpers import new_bucket, remove_bucket
from tests.support import CloudletProcess

MIB = 1 << 20


@pytest.fixture
def kms(cloudlet: CloudletProcess) -> Client:
    return cloudlet.client("kms")


@pytest.fixture
def bucket(s3: Client, unique: str) -> Iterator[str]:
    name = new_bucket(s3, unique)
    yield name
    remove_bucket(s3, name)


def _s3_error(call: Any, **params: Any) -> tuple[str, int]:
    with pytest.raises(botocore.exceptions.ClientError) as excinfo:
        call(**params)
    response = excinfo.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


def _files_holding(root: Path, needle: bytes) -> list[Path]:
    """Files of the data dir (blobs, the state database and its WAL) whose bytes contain ``needle``."""
    return [path for path in root.rglob("*")
            if path.is_file() and path.stat().st_size < 256 * MIB and needle in path.read_bytes()]


def test_object_under_a_customer_key_is_unreadable_while_the_key_is_not_usable(
        cloudlet: CloudletProcess, s3: Client, kms: Client, bucket: str) -> None:
    key = kms.create_key(Description="objects")["KeyMetadata"]
    marker = b"PLAINTEXT-MARKER-" + bucket.encode()
    body = (marker * 4096)[:300_000]
    context = base64.b64encode(json.dumps({"project": "alpha"}).encode()).decode()
    put = s3.put_object(Bucket=bucket, Key="doc", Body=body, ServerSideEncryption="aws:kms",
                        SSEKMSKeyId=key["KeyId"], SSEKMSEncryptionContext=context)
    assert put["ServerSideEncryption"] == "aws:kms" and put["SSEKMSKeyId"] == key["Arn"]
    assert put["SSEKMSEncryptionContext"] == context
    got = s3.get_object(Bucket=bucket, Key="doc")
    assert got["Body"].read() == body and got["SSEKMSKeyId"] == key["Arn"]
    assert s3.get_object(Bucket=bucket, Key="doc", Range="bytes=1000-1999")["Body"].read() == body[1000:2000]
    assert s3.head_object(Bucket=bucket, Key="doc")["ServerSideEncryption"] == "aws:kms"
    assert _files_holding(cloudlet.data_dir, marker) == []

    kms.disable_key(KeyId=key["KeyId"])
    assert _s3_error(s3.get_object, Bucket=bucket, Key="doc") == ("KMS.DisabledException", 400)
    assert _s3_error(s3.put_object, Bucket=bucket, Key="more", Body=b"x", ServerSideEncryption="aws:kms",
                     SSEKMSKeyId=key["KeyId"]) == ("KMS.DisabledException", 400)
    assert s3.head_object(Bucket=bucket, Key="doc")["ContentLength"] == len(body)
    kms.enable_key(KeyId=key["KeyId"])
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == body

    kms.schedule_key_deletion(KeyId=key["KeyId"], PendingWindowInDays=7)
    assert _s3_error(s3.get_object, Bucket=bucket, Key="doc") == ("KMS.KMSInvalidStateException", 400)
    kms.cancel_key_deletion(KeyId=key["KeyId"])
    kms.enable_key(KeyId=key["KeyId"])
    assert s3.get_object(Bucket=bucket, Key="doc")["Body"].read() == body


def test_bucket_default_and_the_aws_managed_key(s3: Client, kms: Client, bucket: str, unique: str) -> None:
    plain = s3.put_object(Bucket=bucket, Key="managed", Body=b"m", ServerSideEncryption="aws:kms")
    assert plain["SSEKMSKeyId"] == kms.describe_key(KeyId="alias/aws/s3")["KeyMetadata"]["Arn"]
    key = kms.create_key()["KeyMetadata"]
    kms.create_alias(AliasName=f"alias/{unique}", TargetKeyId=key["KeyId"])
    s3.put_bucket_encryption(Bucket=bucket, ServerSideEncryptionConfiguration={"Rules": [
        {"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": f"alias/{unique}"},
         "BucketKeyEnabled": True}]})
    put = s3.put_object(Bucket=bucket, Key="by-default", Body=b"d")
    assert (put["ServerSideEncryption"], put["SSEKMSKeyId"], put["BucketKeyEnabled"]) == ("aws:kms", key["Arn"], True)
    assert s3.get_object(Bucket=bucket, Key="by-default")["Body"].read() == b"d"
    overridden = s3.put_object(Bucket=bucket, Key="aes", Body=b"a", ServerSideEncryption="AES256")
    assert overridden["ServerSideEncryption"] == "AES256" and "SSEKMSKeyId" not in overridden
    assert _s3_error(s3.put_object, Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="aws:kms",
                     SSEKMSKeyId="11111111-2222-3333-4444-555555555555") == ("KMS.NotFoundException", 400)
    assert _s3_error(s3.put_object, Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="AES256",
                     SSEKMSKeyId=key["KeyId"]) == ("InvalidArgument", 400)
    assert _s3_error(s3.put_object, Bucket=bucket, Key="x", Body=b"x", ServerSideEncryption="aws:kms",
                     SSEKMSEncryptionContext="not base64 json") == ("InvalidArgument", 400)


def test_multipart_and_copy_under_kms(s3: Client, kms: Client, bucket: str) -> None:
    first, second = kms.create_key()["KeyMetadata"], kms.create_key()["KeyMetadata"]
    upload = s3.create_multipart_upload(Bucket=bucket, Key="big", ServerSideEncryption="aws:kms",
                                        SSEKMSKeyId=first["Arn"])
    assert upload["SSEKMSKeyId"] == first["Arn"]
    parts_data = [bytes([65 + i]) * (5 * MIB if i == 0 else 1000) for i in range(2)]
    parts = []
    for number, data in enumerate(parts_data, start=1):
        answer = s3.upload_part(Bucket=bucket, Key="big", UploadId=upload["UploadId"], PartNumber=number, Body=data)
        assert answer["SSEKMSKeyId"] == first["Arn"]
        parts.append({"PartNumber": number, "ETag": answer["ETag"]})
    done = s3.complete_multipart_upload(Bucket=bucket, Key="big", UploadId=upload["UploadId"],
                                        MultipartUpload={"Parts": parts})
    assert done["ServerSideEncryption"] == "aws:kms"
    whole = b"".join(parts_data)
    assert s3.get_object(Bucket=bucket, Key="big")["Body"].read() == whole
    edge = f"bytes={5 * MIB - 10}-{5 * MIB + 9}"
    assert s3.get_object(Bucket=bucket, Key="big", Range=edge)["Body"].read() == whole[5 * MIB - 10:5 * MIB + 10]

    copied = s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "big"},
                            ServerSideEncryption="aws:kms", SSEKMSKeyId=second["Arn"])
    assert copied["SSEKMSKeyId"] == second["Arn"]
    kms.disable_key(KeyId=first["KeyId"])
    assert s3.get_object(Bucket=bucket, Key="copy")["Body"].read() == whole
    assert _s3_error(s3.copy_object, Bucket=bucket, Key="copy2", CopySource={"Bucket": bucket, "Key": "big"}
                     ) == ("KMS.DisabledException", 400)
    kms.enable_key(KeyId=first["KeyId"])


def test_the_requester_needs_kms_permission_too(cloudlet: CloudletProcess, s3: Client, kms: Client, iam: Client,
                                                cleanup: Cleanup, bucket: str, unique: str) -> None:
    key = kms.create_key()["KeyMetadata"]
    s3.put_object(Bucket=bucket, Key="secret", Body=b"s", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    s3.put_object(Bucket=bucket, Key="managed", Body=b"m", ServerSideEncryption="aws:kms")
    credentials = new_user(iam, cleanup, f"{unique}-reader")
    iam.put_user_policy(UserName=f"{unique}-reader", PolicyName="s3", PolicyDocument=document(allow("s3:*")))
    reader = cloudlet.client("s3", credentials)
    assert reader.get_object(Bucket=bucket, Key="managed")["Body"].read() == b"m"
    assert _s3_error(reader.get_object, Bucket=bucket, Key="secret") == ("AccessDenied", 403)
    iam.put_user_policy(UserName=f"{unique}-reader", PolicyName="kms",
                        PolicyDocument=document(allow("kms:Decrypt", key["Arn"])))
    assert reader.get_object(Bucket=bucket, Key="secret")["Body"].read() == b"s"


def test_aws_cli_copies_with_sse_kms(cloudlet: CloudletProcess, s3: Client, kms: Client, bucket: str,
                                     tmp_path: Path) -> None:
    key = kms.create_key()["KeyMetadata"]
    (tmp_path / "note.txt").write_text("cli note")
    cloudlet.aws("s3", "cp", str(tmp_path / "note.txt"), f"s3://{bucket}/note.txt", "--sse", "aws:kms",
                 "--sse-kms-key-id", key["KeyId"])
    assert s3.head_object(Bucket=bucket, Key="note.txt")["SSEKMSKeyId"] == key["Arn"]
    cloudlet.aws("s3", "cp", f"s3://{bucket}/note.txt", str(tmp_path / "back.txt"))
    assert (tmp_path / "back.txt").read_text() == "cli note"
    kms.disable_key(KeyId=key["KeyId"])
    refused = cloudlet.aws("s3", "cp", f"s3://{bucket}/note.txt", str(tmp_path / "again.txt"), check=False)
    assert refused.returncode != 0 and "KMS.DisabledException" in refused.stderr


def test_a_key_policy_can_allow_use_through_s3_only(cloudlet: CloudletProcess, s3: Client, kms: Client, iam: Client,
                                                    cleanup: Cleanup, bucket: str, unique: str) -> None:
    account = cloudlet.client("sts").get_caller_identity()["Account"]
    user_arn = f"arn:aws:iam::{account}:user/{unique}-via"
    credentials = new_user(iam, cleanup, f"{unique}-via")
    iam.put_user_policy(UserName=f"{unique}-via", PolicyName="s3", PolicyDocument=document(allow("s3:*")))
    key = kms.create_key(Policy=document(
        {"Sid": "Owner", "Effect": "Allow", "Principal": {"AWS": f"arn:aws:iam::{account}:root"}, "Action": "kms:*",
         "Resource": "*"},
        {"Sid": "ThroughS3", "Effect": "Allow", "Principal": {"AWS": user_arn},
         "Action": ["kms:Decrypt", "kms:GenerateDataKey"], "Resource": "*",
         "Condition": {"StringEquals": {"kms:ViaService": "s3.home-1.amazonaws.com"}}}))["KeyMetadata"]
    user_s3, user_kms = cloudlet.client("s3", credentials), cloudlet.client("kms", credentials)
    user_s3.put_object(Bucket=bucket, Key="via", Body=b"v", ServerSideEncryption="aws:kms", SSEKMSKeyId=key["Arn"])
    assert user_s3.get_object(Bucket=bucket, Key="via")["Body"].read() == b"v"
    with pytest.raises(botocore.exceptions.ClientError) as direct:
        user_kms.generate_data_key(KeyId=key["Arn"], KeySpec="AES_256")
    assert direct.value.response["Error"]["Code"] == "AccessDeniedException"
