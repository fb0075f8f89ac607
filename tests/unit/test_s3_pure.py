"""The pure cores of S3: names, preconditions, ranges, listing order, checksums, encryption."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import os
import zlib
from dataclasses import dataclass

import pytest

from controller.errors import ServiceError
from controller.s3 import checksums
from controller.s3.conditions import (
    check_copy_source_conditions,
    check_read_conditions,
    check_write_conditions,
    parse_copy_range,
    parse_range,
)
from controller.s3.crypto import (
    SSE_C,
    SSE_S3,
    CtrStream,
    customer_key,
    new_iv,
    new_object_key,
    open_object_key,
)
from controller.s3.naming import bucket_name_problem, parse_copy_source, parse_s3_arn, parse_tagging_header
from controller.s3.paging import Position, list_page, start_position, successor

T0 = dt.datetime(2024, 5, 1, 12, 0, 0, 500000, tzinfo=dt.UTC)


def code_of(call, *args, **kwargs) -> str:
    with pytest.raises(ServiceError) as excinfo:
        call(*args, **kwargs)
    return excinfo.value.code


# --- names -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["abc", "my-bucket.logs", "a" * 63, "0bucket9"])
def test_valid_bucket_names(name: str) -> None:
    assert bucket_name_problem(name) is None


@pytest.mark.parametrize("name", ["ab", "a" * 64, "Upper", "under_score", "-dash", "dash-", "a..b", "a.-b",
                                  "192.168.1.1", "xn--bucket", "sthree-x", "logs-s3alias", "bucket--x-s3"])
def test_invalid_bucket_names(name: str) -> None:
    assert bucket_name_problem(name) is not None


def test_copy_source_forms() -> None:
    assert parse_copy_source("/b/dir%2Fa%20b.txt").key == "dir/a b.txt"
    source = parse_copy_source("b/k%3Fq?versionId=v1")
    assert (source.bucket, source.key, source.version_id) == ("b", "k?q", "v1")
    assert code_of(parse_copy_source, "bucket-only") == "InvalidArgument"


def test_s3_arns() -> None:
    assert parse_s3_arn("arn:aws:s3:::b").key is None
    assert parse_s3_arn("arn:aws:s3:::b/a/b/c").key == "a/b/c"
    assert parse_s3_arn("arn:aws:iam::123456789012:root") is None


def test_tagging_header() -> None:
    assert parse_tagging_header("a=1&b=x%20y&c=") == {"a": "1", "b": "x y", "c": ""}
    assert code_of(parse_tagging_header, "a=1&a=2") == "InvalidTag"
    assert code_of(parse_tagging_header, "&".join(f"k{i}=v" for i in range(11))) == "InvalidTag"


# --- preconditions and ranges ------------------------------------------------------------------------------


def test_read_conditions_follow_s3_precedence() -> None:
    etag = '"abc"'
    check_read_conditions(etag=etag, last_modified=T0, if_match='"abc"')
    check_read_conditions(etag=etag, last_modified=T0, if_match="*")
    assert code_of(check_read_conditions, etag=etag, last_modified=T0, if_match='"zzz"') == "PreconditionFailed"
    # If-Match true wins over a failing If-Unmodified-Since
    check_read_conditions(etag=etag, last_modified=T0, if_match="abc",
                          if_unmodified_since=T0 - dt.timedelta(days=1))
    assert code_of(check_read_conditions, etag=etag, last_modified=T0,
                   if_unmodified_since=T0 - dt.timedelta(days=1)) == "PreconditionFailed"
    assert code_of(check_read_conditions, etag=etag, last_modified=T0, if_none_match='"x", "abc"') == "NotModified"
    # Last-Modified compares at whole seconds: the same second is "not modified since"
    assert code_of(check_read_conditions, etag=etag, last_modified=T0,
                   if_modified_since=T0.replace(microsecond=0)) == "NotModified"
    check_read_conditions(etag=etag, last_modified=T0, if_modified_since=T0 - dt.timedelta(seconds=1))
    # If-None-Match false (no match) with If-Modified-Since false: If-None-Match decides, 200
    check_read_conditions(etag=etag, last_modified=T0, if_none_match='"other"', if_modified_since=T0)


def test_write_conditions() -> None:
    check_write_conditions("k", None, if_match=None, if_none_match="*")
    assert code_of(check_write_conditions, "k", '"e"', if_match=None, if_none_match="*") == "PreconditionFailed"
    assert code_of(check_write_conditions, "k", None, if_match='"e"', if_none_match=None) == "NoSuchKey"
    assert code_of(check_write_conditions, "k", '"e"', if_match='"f"', if_none_match=None) == "PreconditionFailed"
    check_write_conditions("k", '"e"', if_match='"e"', if_none_match=None)


def test_copy_source_conditions_are_all_412() -> None:
    kwargs = dict(etag='"e"', last_modified=T0, if_match=None, if_none_match=None, if_modified_since=None,
                  if_unmodified_since=None)
    assert code_of(check_copy_source_conditions, **{**kwargs, "if_none_match": '"e"'}) == "PreconditionFailed"
    assert code_of(check_copy_source_conditions, **{**kwargs, "if_modified_since": T0}) == "PreconditionFailed"
    check_copy_source_conditions(**{**kwargs, "if_match": '"e"', "if_unmodified_since": T0 - dt.timedelta(1)})


@pytest.mark.parametrize(("header", "expected"), [
    ("bytes=0-9", (0, 9)), ("bytes=5-", (5, 99)), ("bytes=-10", (90, 99)), ("bytes=90-200", (90, 99)),
    ("bytes=-500", (0, 99)), ("bytes=9-0", None), ("bytes=0-1,3-4", None), ("items=0-1", None), (None, None)])
def test_ranges(header: str | None, expected: tuple[int, int] | None) -> None:
    parsed = parse_range(header, 100)
    assert (None if parsed is None else (parsed.first, parsed.last)) == expected


def test_unsatisfiable_ranges() -> None:
    error = pytest.raises(ServiceError, parse_range, "bytes=100-", 100).value
    assert (error.code, error.status, error.headers["Content-Range"]) == ("InvalidRange", 416, "bytes */100")
    assert code_of(parse_range, "bytes=0-0", 0) == "InvalidRange"
    assert code_of(parse_range, "bytes=-0", 10) == "InvalidRange"
    assert parse_range("bytes=3-5", 10).content_range == "bytes 3-5/10"


def test_copy_ranges() -> None:
    assert parse_copy_range("bytes=0-4", 10).length == 5
    assert code_of(parse_copy_range, "bytes=5-", 10) == "InvalidArgument"
    assert code_of(parse_copy_range, "bytes=0-10", 10) == "InvalidArgument"


# --- listing -----------------------------------------------------------------------------------------------


@dataclass(frozen=True, order=True)
class FakeRow:
    key: str
    rank: int = 0


def fake_fetch(keys: list[str], calls: list[Position | None] | None = None):
    rows = sorted(FakeRow(k) for k in keys)

    def fetch(after: Position | None, upper: str | None, limit: int) -> list[FakeRow]:
        if calls is not None:
            calls.append(after)
        selected = []
        for row in rows:
            if after is not None and (row.key < after.key or (after.rank is not None and row.key == after.key)):
                continue
            if upper is not None and row.key >= upper:
                continue
            selected.append(row)
        return selected[:limit]

    return fetch


KEYS = ["a.txt", "dir/1", "dir/2", "dir/sub/3", "dirx", "e/f/g", "z"]


def listing(**kwargs) -> tuple[list[str], list[str], bool]:
    page = list_page(fake_fetch(KEYS), **kwargs)
    return [r.key for r in page.rows], page.prefixes, page.truncated


def test_listing_prefix_and_delimiter() -> None:
    assert listing() == (KEYS, [], False)
    assert listing(delimiter="/") == (["a.txt", "dirx", "z"], ["dir/", "e/"], False)
    assert listing(prefix="dir/", delimiter="/") == (["dir/1", "dir/2"], ["dir/sub/"], False)
    assert listing(prefix="dir") == (["dir/1", "dir/2", "dir/sub/3", "dirx"], [], False)
    assert listing(delimiter="/s") == (["a.txt", "dir/1", "dir/2", "dirx", "e/f/g", "z"], ["dir/s"], False)


def test_listing_pages_end_on_prefixes_and_resume_after_them() -> None:
    assert listing(delimiter="/", max_keys=2) == (["a.txt"], ["dir/"], True)
    # resuming from a marker equal to a common prefix, or inside one, skips the whole prefix
    assert listing(delimiter="/", marker="dir/", max_keys=2) == (["dirx"], ["e/"], True)
    assert listing(delimiter="/", marker="dir/1", max_keys=10) == (["dirx", "z"], ["e/"], False)
    assert listing(marker="dir/2", max_keys=2) == (["dir/sub/3", "dirx"], [], True)
    assert listing(max_keys=0) == ([], [], False)
    assert listing(prefix="q") == ([], [], False)


def test_listing_skips_a_prefix_with_one_fetch() -> None:
    calls: list[Position | None] = []
    keys = ["logs/" + str(i) for i in range(5000)] + ["z"]
    page = list_page(fake_fetch(keys, calls), delimiter="/", max_keys=10)
    assert page.prefixes == ["logs/"] and [r.key for r in page.rows] == ["z"]
    assert len(calls) <= 3


def test_successor_and_start_positions() -> None:
    assert successor("ab") == "ac"
    assert successor("a/") == "a0"
    assert successor("a\U0010ffff") == "b"
    assert successor("\ud7ff") == "\ue000"
    assert start_position("p/", None, None) == Position("p/")
    assert start_position("p/", None, "a") == Position("p/")
    assert start_position("", "/", "x/y") == Position("x0")


# --- checksums ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("algorithm", ["CRC32", "CRC32C", "CRC64NVME"])
def test_full_object_crc_from_parts(algorithm: str) -> None:
    parts = [os.urandom(n) for n in (1, 1000, 4096, 0, 77)]
    whole = checksums.digest_of(algorithm, b"".join(parts))
    combined = checksums.full_object(algorithm, [(checksums.digest_of(algorithm, p), len(p)) for p in parts])
    assert combined == whole


def test_known_check_values() -> None:
    assert checksums.digest_of("CRC64NVME", b"123456789").hex() == "ae8b14860a799888"
    assert checksums.digest_of("CRC32", b"abc") == zlib.crc32(b"abc").to_bytes(4, "big")


def test_composite_checksum_and_etag() -> None:
    parts = [b"a" * 10, b"b" * 20]
    digests = [hashlib.sha256(p).digest() for p in parts]
    assert checksums.composite("SHA256", digests).endswith("-2")
    md5s = [hashlib.md5(p).digest() for p in parts]
    assert checksums.multipart_etag(md5s) == f'"{hashlib.md5(b"".join(md5s)).hexdigest()}-2"'


def test_requested_checksum_rules() -> None:
    value = checksums.encode(checksums.digest_of("CRC32", b"x"))
    assert checksums.requested({"ChecksumCRC32": value}).algorithm == "CRC32"
    assert checksums.requested({"ChecksumAlgorithm": "crc32c"}).value is None
    assert checksums.requested({}) is None
    assert code_of(checksums.requested, {"ChecksumCRC32": value, "ChecksumSHA1": "x"}) == "InvalidRequest"
    assert code_of(checksums.requested, {"ChecksumCRC32": "nope"}) == "InvalidRequest"
    assert code_of(checksums.requested, {"ChecksumAlgorithm": "MD4"}) == "InvalidRequest"


# --- encryption --------------------------------------------------------------------------------------------


def test_ctr_decrypts_from_any_offset() -> None:
    key, iv, data = os.urandom(32), new_iv(), os.urandom(5000)
    sealed = CtrStream(key, iv).update(data)
    assert sealed != data
    for offset in (0, 1, 15, 16, 17, 4095, 4999):
        assert CtrStream(key, iv, offset).update(sealed[offset:]) == data[offset:]


def test_sse_s3_and_sse_c_keys() -> None:
    master = os.urandom(32)
    sse_s3 = new_object_key(SSE_S3, master_key=master)
    assert open_object_key(sse_s3.record, master_key=master, customer=None).data_key == sse_s3.data_key
    raw = os.urandom(32)
    params = {"SSECustomerAlgorithm": "AES256", "SSECustomerKey": base64.b64encode(raw).decode(),
              "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(raw).digest()).decode()}
    customer = customer_key(params)
    sse_c = new_object_key(SSE_C, master_key=master, customer=customer)
    assert open_object_key(sse_c.record, master_key=master, customer=customer).data_key == sse_c.data_key
    assert "wrapped" in sse_c.record and base64.b64encode(raw).decode() not in str(sse_c.record)
    other = os.urandom(32)
    wrong = customer_key({**params, "SSECustomerKey": base64.b64encode(other).decode(),
                          "SSECustomerKeyMD5": base64.b64encode(hashlib.md5(other).digest()).decode()})
    assert code_of(open_object_key, sse_c.record, master_key=master, customer=wrong) == "AccessDenied"
    assert code_of(open_object_key, sse_c.record, master_key=master, customer=None) == "InvalidRequest"
    assert code_of(customer_key, {**params, "SSECustomerKeyMD5": "AAAA"}) == "InvalidArgument"
    assert code_of(customer_key, {**params, "SSECustomerAlgorithm": "DES"}) == "InvalidEncryptionAlgorithmError"
