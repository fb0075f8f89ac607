"""aws-chunked bodies as boto3 and the AWS documentation send them, and the checks of a payload."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import io
import zlib

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from botocore.httpchecksum import AwsChunkedWrapper, Crc32Checksum, Sha1Checksum, Sha256Checksum

from controller.auth import sigv4
from controller.errors import ServiceError
from controller.protocol.http import HttpRequest
from controller.s3 import chunked

KEY = "AKIAIOSFODNN7EXAMPLE"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
T0 = dt.datetime(2013, 5, 24, tzinfo=dt.UTC)
DOC_DATA = b"a" * 66560
DOC_HEADERS = {"host": "s3.amazonaws.com", "x-amz-date": "20130524T000000Z",
               "x-amz-storage-class": "REDUCED_REDUNDANCY", "content-encoding": "aws-chunked",
               "x-amz-decoded-content-length": "66560"}


def doc_body(signatures: list[str], trailers: tuple[str, ...] = ()) -> bytes:
    """The body of the S3 documentation's examples: chunks of 65536, 1024 and 0 bytes."""
    first, second, last = (f";chunk-signature={signature}".encode() for signature in signatures)
    parts = [b"10000" + first + b"\r\n" + DOC_DATA[:65536], b"400" + second + b"\r\n" + DOC_DATA[:1024], b"0" + last]
    return b"\r\n".join([*parts, *(trailer.encode() for trailer in trailers), b"", b""])


def doc_signed_request() -> HttpRequest:
    body = doc_body(["ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
                     "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
                     "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9"])
    signed = ("content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
              "x-amz-storage-class")
    headers = {**DOC_HEADERS, "x-amz-content-sha256": sigv4.STREAMING_SIGNED, "content-length": str(len(body)),
               "authorization": f"AWS4-HMAC-SHA256 Credential={KEY}/20130524/us-east-1/s3/aws4_request,"
                                f"SignedHeaders={signed},Signature="
                                "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9"}
    return HttpRequest("PUT", "/examplebucket/chunkObject.txt", headers=headers, body=body)


def doc_trailer_request() -> HttpRequest:
    body = doc_body(["b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
                     "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
                     "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992"],
                    ("x-amz-checksum-crc32c:sOO8/Q==",
                     "x-amz-trailer-signature:d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435"))
    signed = ("content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;"
              "x-amz-storage-class;x-amz-trailer")
    headers = {**DOC_HEADERS, "x-amz-content-sha256": sigv4.STREAMING_SIGNED_TRAILER,
               "x-amz-trailer": "x-amz-checksum-crc32c",
               "authorization": f"AWS4-HMAC-SHA256 Credential={KEY}/20130524/us-east-1/s3/aws4_request,"
                                f"SignedHeaders={signed},Signature="
                                "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e"}
    return HttpRequest("PUT", "/examplebucket/chunkObject.txt", headers=headers, body=body)


def open_request(request: HttpRequest, *, now=None, **kwargs) -> chunked.PayloadReader:
    info = sigv4.parse_authorization(request, service="s3")
    signing = sigv4.verify(request, info, SECRET, now=now or info.amz_date, service="s3") if info else None
    return chunked.open_payload(request, info, signing, **kwargs)


def read_all(reader, size=-1) -> bytes:
    if size < 0:
        return reader.read()
    return b"".join(iter(lambda: reader.read(size), b""))


def failure(request: HttpRequest, **kwargs) -> ServiceError:
    with pytest.raises(ServiceError) as raised:
        read_all(open_request(request, **kwargs), 4096)
    return raised.value


@pytest.mark.parametrize("size", [-1, 1, 1000, 65536, 1 << 20])
def test_the_documentation_example_of_signed_chunks(size):
    reader = open_request(doc_signed_request(), now=T0)
    assert read_all(reader, size) == DOC_DATA
    assert reader.size == 66560 and reader.digests["MD5"] == hashlib.md5(DOC_DATA).digest()


def test_the_documentation_example_of_signed_chunks_and_a_signed_trailer():
    reader = open_request(doc_trailer_request(), now=T0)
    assert read_all(reader, 5000) == DOC_DATA
    assert reader.checksum("CRC32C") == "sOO8/Q=="


def _corrupt(request: HttpRequest, marker: bytes, occurrence: int = 0) -> HttpRequest:
    """Flip the first character after the ``occurrence``-th ``marker``."""
    body = bytearray(request.body)
    at = -1
    for _ in range(occurrence + 1):
        at = body.index(marker, at + 1)
    position = at + len(marker)
    body[position] = ord("1") if body[position] == ord("0") else ord("0")
    return HttpRequest(request.method, request.path, headers=request.headers, body=bytes(body))


@pytest.mark.parametrize("make,marker,occurrence,string_to_sign", [
    (doc_signed_request, b"chunk-signature=", 0, "AWS4-HMAC-SHA256-PAYLOAD\n"),
    (doc_signed_request, b"chunk-signature=", 1, "AWS4-HMAC-SHA256-PAYLOAD\n"),
    (doc_signed_request, b"chunk-signature=", 2, "AWS4-HMAC-SHA256-PAYLOAD\n"),
    (doc_signed_request, b"\r\naaaa", 0, "AWS4-HMAC-SHA256-PAYLOAD\n"),
    (doc_trailer_request, b"x-amz-trailer-signature:", 0, "AWS4-HMAC-SHA256-TRAILER\n"),
])
def test_a_bad_chunk_or_trailer_signature(make, marker, occurrence, string_to_sign):
    exc = failure(_corrupt(make(), marker, occurrence), now=T0)
    assert (exc.code, exc.status) == ("SignatureDoesNotMatch", 403)
    assert exc.extra["StringToSign"].startswith(string_to_sign)
    assert exc.extra["AWSAccessKeyId"] == KEY


def test_a_changed_trailer_value_breaks_the_trailer_signature():
    request = doc_trailer_request()
    request.body = request.body.replace(b"sOO8/Q==", b"AAAAAA==")
    assert failure(request, now=T0).extra["StringToSign"].startswith("AWS4-HMAC-SHA256-TRAILER\n")


# --- what boto3 sends ------------------------------------------------------------------------------------


class Captured(Exception):
    pass


def boto3_put(body, **kwargs) -> HttpRequest:
    """PutObject as boto3 sends it over HTTPS (checksum in a trailer), captured before it leaves."""
    s3 = boto3.client("s3", endpoint_url="https://127.0.0.1:9", region_name="us-east-1", aws_access_key_id=KEY,
                      aws_secret_access_key=SECRET, config=Config(s3={"addressing_style": "path"}))

    def capture(request, **_):
        raise Captured(request)

    s3.meta.events.register("before-send.*.*", capture)
    with pytest.raises(Captured) as captured:
        s3.put_object(Bucket="bucket", Key="key", Body=body, **kwargs)
    request = captured.value.args[0]
    headers = {name.lower(): value.decode() if isinstance(value, bytes) else value
               for name, value in request.headers.items()}
    headers["host"] = "127.0.0.1:9"
    payload = request.body.read() if hasattr(request.body, "read") else request.body
    return HttpRequest("PUT", "/bucket/key", headers=headers, body=io.BytesIO(payload))


@pytest.mark.parametrize("length", [0, 1, 8191, 8192, 1 << 20, (3 << 20) + 17])
@pytest.mark.parametrize("algorithm", [None, "SHA256", "SHA1", "CRC32"])
def test_boto3_streaming_uploads_with_trailing_checksums(length, algorithm):
    data = bytes(range(256)) * (length // 256) + b"x" * (length % 256)
    extra = {"ChecksumAlgorithm": algorithm} if algorithm else {}
    request = boto3_put(io.BytesIO(data), **extra)
    assert request.headers["x-amz-content-sha256"] == sigv4.STREAMING_UNSIGNED_TRAILER
    reader = open_request(request, algorithms=("MD5", "CRC32C", "CRC32"))
    assert read_all(reader, 7777) == data
    assert reader.digests["MD5"] == hashlib.md5(data).digest()
    assert reader.digests["CRC32"] == zlib.crc32(data).to_bytes(4, "big")
    expected_trailer = f"x-amz-checksum-{(algorithm or 'CRC32').lower()}"
    assert list(reader.trailers) == [expected_trailer]
    assert reader.checksum(algorithm or "CRC32") == reader.trailers[expected_trailer]


def test_boto3_bytes_bodies_over_https():
    request = boto3_put(b"hello world")
    assert read_all(open_request(request)) == b"hello world"


def test_a_wrong_trailing_checksum_is_bad_digest():
    request = boto3_put(io.BytesIO(b"data" * 3000))
    wrong = base64.b64encode(zlib.crc32(b"other").to_bytes(4, "big"))
    request.body = io.BytesIO(_replace_trailer(request.body.getvalue(), b"x-amz-checksum-crc32", wrong))
    exc = failure(request)
    assert (exc.code, exc.message) == ("BadDigest", "The CRC32 you specified did not match the calculated checksum.")


def _replace_trailer(body: bytes, name: bytes, value: bytes) -> bytes:
    head, _, _ = body.rpartition(name + b":")
    return head + name + b":" + value + b"\r\n\r\n"


def test_an_invalid_trailing_checksum_value():
    request = boto3_put(io.BytesIO(b"data" * 3000))
    request.body = io.BytesIO(_replace_trailer(request.body.getvalue(), b"x-amz-checksum-crc32", b"y/Q5Jg"))
    exc = failure(request)
    assert (exc.code, exc.message) == ("InvalidRequest", "Value for x-amz-checksum-crc32 trailing header is invalid.")


@pytest.mark.parametrize("checksum_cls,algorithm", [(Crc32Checksum, "CRC32"), (Sha1Checksum, "SHA1"),
                                                    (Sha256Checksum, "SHA256"), (None, None)])
@pytest.mark.parametrize("chunk_size", [8192, 10000, 1 << 16])
def test_botocore_aws_chunked_wrapper(checksum_cls, algorithm, chunk_size):
    data = b"0123456789abcdef" * 5000
    name = f"x-amz-checksum-{algorithm.lower()}" if algorithm else "x-amz-checksum"
    wrapper = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=checksum_cls, checksum_name=name,
                                chunk_size=chunk_size)
    reader = chunked.AwsChunkedReader(io.BytesIO(wrapper.read()), decoded_length=len(data),
                                      trailer_names=[name] if algorithm else [])
    payload = chunked.PayloadReader(reader)
    assert read_all(payload, 3000) == data
    if algorithm:
        assert payload.digests[algorithm] == base64.b64decode(reader.trailers[name])


# --- hand-made signed chunks -------------------------------------------------------------------------------


def reference_chunks(data: bytes, chunk_size: int, *, seed: str, key: bytes, stamp: str, scope: str,
                     trailers: dict[str, str] | None = None) -> bytes:
    """An independent writer of signed aws-chunked bodies, after the S3 documentation."""
    def sign(text: str) -> str:
        return hmac.new(key, text.encode(), hashlib.sha256).hexdigest()

    empty = hashlib.sha256(b"").hexdigest()
    out, previous = [], seed
    pieces = [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)] + [b""]
    for piece in pieces:
        previous = sign(f"AWS4-HMAC-SHA256-PAYLOAD\n{stamp}\n{scope}\n{previous}\n{empty}\n"
                        f"{hashlib.sha256(piece).hexdigest()}")
        out.append(f"{len(piece):x};chunk-signature={previous}\r\n".encode() + piece + (b"\r\n" if piece else b""))
    if trailers is None:
        return b"".join(out) + b"\r\n"
    lines = "".join(f"{name}:{value}\n" for name, value in trailers.items())
    signature = sign(f"AWS4-HMAC-SHA256-TRAILER\n{stamp}\n{scope}\n{previous}\n"
                     f"{hashlib.sha256(lines.encode()).hexdigest()}")
    trailer_lines = "".join(f"{name}:{value}\r\n" for name, value in trailers.items())
    return b"".join(out) + f"{trailer_lines}x-amz-trailer-signature:{signature}\r\n\r\n".encode()


def hand_signed(data: bytes, chunk_size: int, *, trailers: dict[str, str] | None = None) -> HttpRequest:
    """Headers signed by botocore with a streaming payload hash, then chunks signed by the reference."""
    mode = sigv4.STREAMING_SIGNED if trailers is None else sigv4.STREAMING_SIGNED_TRAILER
    headers = {"X-Amz-Content-SHA256": mode, "Content-Encoding": "aws-chunked",
               "x-amz-decoded-content-length": str(len(data))}
    if trailers:
        headers["x-amz-trailer"] = ",".join(trailers)
    request = AWSRequest(method="PUT", url="http://127.0.0.1:9/bucket/key", headers=headers)
    SigV4Auth(Credentials(KEY, SECRET), "s3", "us-east-1").add_auth(request)
    lowered = {name.lower(): value for name, value in request.headers.items()}
    lowered["host"] = "127.0.0.1:9"
    seed = lowered["authorization"].rsplit("Signature=", 1)[1]
    stamp = lowered["x-amz-date"]
    scope = f"{stamp[:8]}/us-east-1/s3/aws4_request"
    body = reference_chunks(data, chunk_size, seed=seed, key=sigv4.signing_key(SECRET, stamp[:8], "us-east-1", "s3"),
                            stamp=stamp, scope=scope, trailers=trailers)
    return HttpRequest("PUT", "/bucket/key", headers=lowered, body=io.BytesIO(body))


@pytest.mark.parametrize("length,chunk_size", [(0, 8192), (100, 8192), (8192, 8192), (100000, 8192),
                                               (100000, 65536), (300000, 1 << 20)])
def test_hand_signed_chunks(length, chunk_size):
    data = hashlib.sha256(b"seed").digest() * (length // 32) + b"t" * (length % 32)
    assert read_all(open_request(hand_signed(data, chunk_size)), 1234) == data


def test_hand_signed_chunks_with_a_signed_trailer():
    data = b"q" * 50000
    crc = base64.b64encode(zlib.crc32(data).to_bytes(4, "big")).decode()
    reader = open_request(hand_signed(data, 16384, trailers={"x-amz-checksum-crc32": crc}))
    assert read_all(reader, 10000) == data and reader.checksum("CRC32") == crc


def test_a_chunk_signed_with_another_key_fails():
    request = hand_signed(b"z" * 20000, 8192)
    info = sigv4.parse_authorization(request, service="s3")
    signing = sigv4.verify(request, info, SECRET, now=info.amz_date, service="s3")
    forged = sigv4.SigningContext(key=sigv4.signing_key("other", info.date, "us-east-1", "s3"),
                                  timestamp=signing.timestamp, scope=signing.scope,
                                  seed_signature=signing.seed_signature, access_key_id=KEY)
    with pytest.raises(ServiceError) as raised:
        read_all(chunked.open_payload(request, info, forged))
    assert raised.value.code == "SignatureDoesNotMatch"


def test_a_missing_chunk_signature():
    request = hand_signed(b"z" * 20000, 8192)
    body = request.body.getvalue()
    request.body = io.BytesIO(body.replace(b";chunk-signature=", b";chunk-signatur=", 1))
    assert failure(request).code == "SignatureDoesNotMatch"


# --- framing errors ----------------------------------------------------------------------------------------


def unsigned_chunked(body: bytes, decoded_length: int | None, *, trailer: str | None = None) -> HttpRequest:
    headers = {"content-encoding": "aws-chunked"}
    if decoded_length is not None:
        headers["x-amz-decoded-content-length"] = str(decoded_length)
    if trailer:
        headers["x-amz-trailer"] = trailer
    return HttpRequest("PUT", "/bucket/key", headers=headers, body=io.BytesIO(body))


def test_anonymous_aws_chunked_bodies_decode_unsigned():
    request = unsigned_chunked(b"5\r\nhello\r\n0\r\n\r\n", 5)
    assert read_all(open_request(request)) == b"hello"


@pytest.mark.parametrize("body,length,trailer,code,message", [
    (b"5\r\nhello\r\n0\r\n\r\n", 6, None, "IncompleteBody", "The request body terminated unexpectedly"),
    (b"5\r\nhello\r\n0\r\n\r\n", 4, None, "IncompleteBody", "The request body terminated unexpectedly"),
    (b"5\r\nhel", 5, None, "IncompleteBody", "The request body terminated unexpectedly"),
    (b"5\r\nhello\r\n", 5, None, "IncompleteBody", "The request body terminated unexpectedly"),
    (b"5\r\nhello\r\n0\r\n\r\n", None, None, "MissingContentLength", "You must provide the Content-Length HTTP header."),
    (b"zz\r\nhello\r\n0\r\n\r\n", 5, None, "InvalidRequest", None),
    (b"5\r\nhelloo\r\n0\r\n\r\n", 5, None, "InvalidRequest", None),
    (b"5\r\nhello\r\n0\r\n\r\n", 5, "x-amz-checksum-crc32", "MalformedTrailerError",
     "The request contained trailing data that was not well-formed or did not conform to our published schema."),
    (b"5\r\nhello\r\n0\r\nx-amz-checksum-crc32 NhCmhg==\r\n\r\n", 5, "x-amz-checksum-crc32",
     "MalformedTrailerError", None),
    (b"5\r\nhello\r\n5\r\nworld\r\n0\r\n\r\n", 10, None, "InvalidChunkSizeError",
     "Only the last chunk is allowed to have a size less than 8192 bytes"),
])
def test_framing_errors(body, length, trailer, code, message):
    exc = failure(unsigned_chunked(body, length, trailer=trailer))
    assert exc.code == code
    if message:
        assert exc.message == message
    if code == "InvalidChunkSizeError":
        assert exc.extra == {"Chunk": "1", "BadChunkSize": "5"} and exc.status == 403


def test_a_trailer_without_its_final_empty_line_is_accepted():
    crc = base64.b64encode(zlib.crc32(b"hello").to_bytes(4, "big")).decode()
    request = unsigned_chunked(f"5\r\nhello\r\n0\r\nx-amz-checksum-crc32:{crc}\r\n".encode(), 5,
                               trailer="x-amz-checksum-crc32")
    assert read_all(open_request(request)) == b"hello"


class CountingStream(io.RawIOBase):
    """A stream that records the largest read asked of it."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)
        self.largest = 0

    def read(self, size=-1):
        self.largest = max(self.largest, size if size >= 0 else 1 << 62)
        return self._data.read(size)


def test_memory_stays_bounded_by_the_reads():
    data = b"m" * (8 << 20)
    wrapper = AwsChunkedWrapper(io.BytesIO(data), checksum_cls=Crc32Checksum, checksum_name="x-amz-checksum-crc32")
    raw = CountingStream(wrapper.read())
    reader = chunked.AwsChunkedReader(raw, decoded_length=len(data), trailer_names=["x-amz-checksum-crc32"])
    payload = chunked.PayloadReader(reader, algorithms=("MD5",))
    pieces = 0
    while piece := payload.read(65536):
        assert len(piece) <= 65536
        pieces += 1
    assert pieces >= 128 and raw.largest <= 64 * 1024
    assert payload.digests["MD5"] == hashlib.md5(data).digest()


# --- checks of plain payloads ------------------------------------------------------------------------------


def plain(body: bytes, **headers) -> HttpRequest:
    return HttpRequest("PUT", "/bucket/key", headers={k.replace("_", "-"): v for k, v in headers.items()},
                       body=body)


DATA = b"123456789"
DATA_MD5 = base64.b64encode(hashlib.md5(DATA).digest()).decode()


def test_a_literal_payload_hash_is_checked_at_eof():
    reader = open_request(plain(b"987654321", x_amz_content_sha256=hashlib.sha256(DATA).hexdigest()))
    with pytest.raises(ServiceError) as raised:
        read_all(reader)
    assert raised.value.code == "XAmzContentSHA256Mismatch"
    assert raised.value.extra == {"ClientComputedContentSHA256": hashlib.sha256(DATA).hexdigest(),
                                  "S3ComputedContentSHA256": hashlib.sha256(b"987654321").hexdigest()}
    assert read_all(open_request(plain(DATA, x_amz_content_sha256=hashlib.sha256(DATA).hexdigest()))) == DATA


def test_content_md5():
    assert read_all(open_request(plain(DATA, content_md5=DATA_MD5))) == DATA
    empty_md5 = "1B2M2Y8AsgTpgAmY7PhCfg=="
    with pytest.raises(ServiceError) as raised:
        read_all(open_request(plain(DATA, content_md5=empty_md5)))
    assert (raised.value.code, raised.value.extra) == ("BadDigest", {"ExpectedDigest": empty_md5,
                                                                     "CalculatedDigest": DATA_MD5})
    for invalid in ("not base64!", "YWJyYWNhZGFicmE=", "25f9e794323b453885f5181f1b624d0b", ""):
        with pytest.raises(ServiceError) as raised:
            open_request(plain(DATA, content_md5=invalid))
        assert (raised.value.code, raised.value.extra) == ("InvalidDigest", {"Content-MD5": invalid})


CHECK_VALUES = {"CRC32": "cbf43926", "CRC32C": "e3069283", "CRC64NVME": "ae8b14860a799888",
                "SHA1": "f7c3bc1d808e04732adf679965ccc34ca7ae3441",
                "SHA256": "15e2b0d3c33891ebb0f1ef609ec419420c20e320ce94c65fbc8c3312448eb225"}


@pytest.mark.parametrize("algorithm", CHECK_VALUES)
def test_checksum_algorithms_have_their_check_values_in_any_pieces(algorithm):
    whole = chunked.new_hash(algorithm)
    whole.update(DATA)
    assert whole.digest().hex() == CHECK_VALUES[algorithm]
    pieces = chunked.new_hash(algorithm)
    for piece in (DATA[:4], b"", DATA[4:5], DATA[5:]):
        pieces.update(piece)
    assert pieces.digest() == whole.digest()


def test_crc64nvme_of_long_data_is_chainable():
    data = bytes(range(256)) * 40 + b"tail"
    assert chunked.crc64nvme(data[1001:], chunked.crc64nvme(data[:1001])) == chunked.crc64nvme(data)


@pytest.mark.parametrize("algorithm", CHECK_VALUES)
def test_checksum_headers_are_verified(algorithm):
    header = chunked.checksum_header(algorithm)
    value = base64.b64encode(bytes.fromhex(CHECK_VALUES[algorithm])).decode()
    reader = open_request(plain(DATA, **{header: value}))
    assert read_all(reader) == DATA and reader.checksum(algorithm) == value
    wrong = base64.b64encode(b"\x01" * chunked.CHECKSUM_SIZES[algorithm]).decode()
    with pytest.raises(ServiceError) as raised:
        read_all(open_request(plain(DATA, **{header: wrong})))
    assert (raised.value.code, raised.value.message) == (
        "BadDigest", f"The {algorithm} you specified did not match the calculated checksum.")
    for invalid in (CHECK_VALUES[algorithm], value.rstrip("=")):
        with pytest.raises(ServiceError) as raised:
            open_request(plain(DATA, **{header: invalid}))
        assert (raised.value.code, raised.value.message) == ("InvalidRequest", f"Value for {header} header is invalid.")


def test_checksum_declarations():
    crc32 = base64.b64encode(bytes.fromhex(CHECK_VALUES["CRC32"])).decode()
    crc32c = base64.b64encode(bytes.fromhex(CHECK_VALUES["CRC32C"])).decode()
    cases = [
        ({"x-amz-checksum-crc32": crc32, "x-amz-checksum-crc32c": crc32c},
         "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed."),
        ({"x-amz-sdk-checksum-algorithm": "CRC32"},
         "x-amz-sdk-checksum-algorithm specified, but no corresponding x-amz-checksum-* or x-amz-trailer headers "
         "were found."),
        ({"x-amz-sdk-checksum-algorithm": "MD4", "x-amz-checksum-crc32": crc32},
         "Checksum algorithm provided is unsupported. Please try again with any of the valid types: [CRC32, CRC32C, "
         "CRC64NVME, SHA1, SHA256]"),
    ]
    for headers, message in cases:
        with pytest.raises(ServiceError) as raised:
            open_request(HttpRequest("PUT", "/b/k", headers=headers, body=DATA))
        assert (raised.value.code, raised.value.message) == ("InvalidRequest", message)
    assert read_all(open_request(HttpRequest("PUT", "/b/k", headers={"x-amz-checksum-type": "FULL_OBJECT"},
                                             body=DATA))) == DATA


def test_stored_content_encoding():
    assert chunked.stored_content_encoding("aws-chunked") is None
    assert chunked.stored_content_encoding("aws-chunked,gzip") == "gzip"
    assert chunked.stored_content_encoding("gzip, aws-chunked") == "gzip"
    assert chunked.stored_content_encoding("deflate, gzip") == "deflate, gzip"
    assert chunked.is_aws_chunked("gzip, aws-chunked") and not chunked.is_aws_chunked(None)
