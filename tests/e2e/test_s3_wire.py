"""S3 on the wire: aws-chunked uploads (signed chunks, checksum trailers), virtual-hosted addressing,
conditional GETs and CORS, with requests built by hand where no SDK sends them over plain HTTP."""

from __future__ import annotations

import base64
import hashlib
import http.client
import os
import zlib
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.e2e.s3_helpers import (
    new_bucket,
    remove_bucket,
    send_signed,
    signed_chunks,
)
from tests.support import CloudletProcess


@pytest.fixture
def bucket(s3: Any, unique: str) -> Iterator[str]:
    name = new_bucket(s3, f"{unique}-wire")
    yield name
    remove_bucket(s3, name)


def crc32_b64(data: bytes) -> str:
    return base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()


def unsigned_trailer_body(data: bytes, chunk: int, trailer: str) -> bytes:
    pieces = [data[i:i + chunk] for i in range(0, len(data), chunk)]
    body = b"".join(f"{len(p):x}\r\n".encode() + p + b"\r\n" for p in pieces)
    return body + b"0\r\n" + trailer.encode() + b"\r\n\r\n"


def test_unsigned_payload_with_checksum_trailer(cloudlet: CloudletProcess, s3: Any, bucket: str) -> None:
    """What boto3 sends by default over HTTPS: STREAMING-UNSIGNED-PAYLOAD-TRAILER with a CRC32 trailer."""
    data = os.urandom(200_000)
    body = unsigned_trailer_body(data, 65536, f"x-amz-checksum-crc32:{crc32_b64(data)}")
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(data)),
               "X-Amz-Trailer": "x-amz-checksum-crc32", "X-Amz-Sdk-Checksum-Algorithm": "CRC32",
               "Content-Length": str(len(body))}
    response = send_signed(cloudlet, "PUT", f"/{bucket}/trailer.bin", body=body, headers=headers,
                              payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert response.status == 200, response.body
    assert response.headers["etag"] == f'"{hashlib.md5(data).hexdigest()}"'
    head = s3.head_object(Bucket=bucket, Key="trailer.bin", ChecksumMode="ENABLED")
    assert head["ContentLength"] == len(data) and head["ChecksumCRC32"] == crc32_b64(data)
    assert "ContentEncoding" not in head
    assert s3.get_object(Bucket=bucket, Key="trailer.bin")["Body"].read() == data

    wrong = unsigned_trailer_body(data, 65536, f"x-amz-checksum-crc32:{crc32_b64(b'other')}")
    response = send_signed(cloudlet, "PUT", f"/{bucket}/bad.bin", body=wrong,
                              headers={**headers, "Content-Length": str(len(wrong))},
                              payload_hash="STREAMING-UNSIGNED-PAYLOAD-TRAILER")
    assert response.status == 400 and b"<Code>BadDigest</Code>" in response.body
    assert "bad.bin" not in [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]


def test_signed_aws_chunked_upload(cloudlet: CloudletProcess, s3: Any, bucket: str) -> None:
    """STREAMING-AWS4-HMAC-SHA256-PAYLOAD: every chunk signed, chained from the request's signature."""
    data = os.urandom(150_000)
    secret = cloudlet.root_credentials().secret_access_key
    size = len(signed_chunks(data, 65536, seed="0" * 64, secret="x", timestamp="20240101T000000Z", region="r"))
    headers = {"Content-Encoding": "aws-chunked", "X-Amz-Decoded-Content-Length": str(len(data)),
               "Content-Length": str(size)}

    def body(seed: str, timestamp: str, *, flip: int | None = None) -> bytes:
        encoded = bytearray(signed_chunks(data, 65536, seed=seed, secret=secret, timestamp=timestamp,
                                          region=cloudlet.region))
        if flip is not None:
            encoded[flip] ^= 0xFF
        return bytes(encoded)

    response = send_signed(cloudlet, "PUT", f"/{bucket}/signed.bin", body=body, headers=headers,
                           payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    assert response.status == 200, response.body
    assert s3.get_object(Bucket=bucket, Key="signed.bin")["Body"].read() == data
    response = send_signed(cloudlet, "PUT", f"/{bucket}/tampered.bin",
                           body=lambda seed, timestamp: body(seed, timestamp, flip=300), headers=headers,
                           payload_hash="STREAMING-AWS4-HMAC-SHA256-PAYLOAD")
    assert response.status == 403 and b"SignatureDoesNotMatch" in response.body
    assert s3.list_objects_v2(Bucket=bucket, Prefix="tampered")["KeyCount"] == 0


def test_literal_payload_hash_is_checked(cloudlet: CloudletProcess, bucket: str) -> None:
    response = send_signed(cloudlet, "PUT", f"/{bucket}/lie.txt", body=b"actual body",
                              payload_hash=hashlib.sha256(b"claimed body").hexdigest())
    assert response.status == 400 and b"XAmzContentSHA256Mismatch" in response.body


def test_virtual_hosted_style(cloudlet: CloudletProcess, s3: Any, bucket: str) -> None:
    port = urlsplit(cloudlet.endpoint).port
    host = f"{bucket}.s3.localhost:{port}"
    response = send_signed(cloudlet, "PUT", "/dir/vhost.txt", body=b"virtual", host=host)
    assert response.status == 200, response.body
    assert s3.get_object(Bucket=bucket, Key="dir/vhost.txt")["Body"].read() == b"virtual"
    response = send_signed(cloudlet, "GET", "/?list-type=2&prefix=dir%2F", host=host)
    assert response.status == 200 and b"<Key>dir/vhost.txt</Key>" in response.body
    response = send_signed(cloudlet, "GET", "/dir/vhost.txt", host=host)
    assert response.body == b"virtual"


def test_a_bucket_may_be_named_like_a_web_framework_folder(s3: Any) -> None:
    """Path-style ``/static/...`` is an object of the bucket "static" (Flask once served its static
    folder there, and answered 404 for every object)."""
    name = new_bucket(s3, "static")
    try:
        s3.put_object(Bucket=name, Key="app.js", Body=b"console.log(1)")
        assert s3.get_object(Bucket=name, Key="app.js")["Body"].read() == b"console.log(1)"
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=name)["Contents"]] == ["app.js"]
    finally:
        remove_bucket(s3, name)


def test_conditional_get_answers_304(cloudlet: CloudletProcess, s3: Any, bucket: str) -> None:
    etag = s3.put_object(Bucket=bucket, Key="c.txt", Body=b"cached")["ETag"]
    response = send_signed(cloudlet, "GET", f"/{bucket}/c.txt", headers={"If-None-Match": etag})
    assert response.status == 304 and response.body == b"" and response.headers["etag"] == etag
    response = send_signed(cloudlet, "GET", f"/{bucket}/c.txt", headers={"If-Match": '"other"'})
    assert response.status == 412 and b"<Code>PreconditionFailed</Code>" in response.body


def test_cors_preflight_and_response_headers(cloudlet: CloudletProcess, s3: Any, bucket: str) -> None:
    s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": [
        {"AllowedMethods": ["GET", "PUT"], "AllowedOrigins": ["https://app.example.com"],
         "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 600}]})
    s3.put_object(Bucket=bucket, Key="page.html", Body=b"<p>hi</p>")
    port = urlsplit(cloudlet.endpoint).port
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    connection.request("OPTIONS", f"/{bucket}/page.html", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "PUT",
        "Access-Control-Request-Headers": "content-type,x-amz-date"})
    preflight = connection.getresponse()
    preflight.read()
    assert preflight.status == 200
    assert preflight.getheader("Access-Control-Allow-Origin") == "https://app.example.com"
    assert "PUT" in preflight.getheader("Access-Control-Allow-Methods")
    connection.request("OPTIONS", f"/{bucket}/page.html", headers={
        "Origin": "https://evil.example.org", "Access-Control-Request-Method": "GET"})
    refused = connection.getresponse()
    assert refused.status == 403 and b"AccessForbidden" in refused.read()
    connection.close()
    response = send_signed(cloudlet, "GET", f"/{bucket}/page.html", headers={"Origin": "https://app.example.com"})
    assert response.headers.get("access-control-allow-origin") == "https://app.example.com"
    assert response.headers.get("access-control-expose-headers") == "ETag"
