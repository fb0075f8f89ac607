"""The checksums S3 computes, verifies and returns (``x-amz-checksum-*``), and how parts combine.

Single objects carry the checksum of their bytes. Multipart objects carry either a
*composite* checksum (the checksum of the parts' concatenated raw checksums, shown as
``<base64>-<N>``) or, for the CRC family, a *full-object* checksum that S3 derives from
the parts' CRCs without reading the data again: CRCs are linear, so
``crc(A + B) = crc(A) * x^(8*len(B)) + crc(B)`` over GF(2), computed here with zlib's
``crc32_combine`` method for any reflected CRC width.

The hashers themselves are the payload layer's (:mod:`controller.s3.chunked`), which
computes them while the request body streams in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
from dataclasses import dataclass
from typing import Any, Protocol

from controller.s3 import chunked
from controller.s3.errors import InvalidRequest, NotImplementedError_

#: Model member name of each algorithm's checksum, by algorithm.
MEMBERS = {
    "CRC32": "ChecksumCRC32", "CRC32C": "ChecksumCRC32C", "CRC64NVME": "ChecksumCRC64NVME",
    "SHA1": "ChecksumSHA1", "SHA256": "ChecksumSHA256",
}
#: The newer algorithms of the model that Cloudlet does not compute yet.
UNSUPPORTED_MEMBERS = {"ChecksumSHA512": "SHA512", "ChecksumMD5": "MD5", "ChecksumXXHASH64": "XXHASH64",
                       "ChecksumXXHASH3": "XXHASH3", "ChecksumXXHASH128": "XXHASH128"}
CRC_ALGORITHMS = frozenset({"CRC32", "CRC32C", "CRC64NVME"})


class Hasher(Protocol):
    def update(self, data: bytes) -> None: ...

    def digest(self) -> bytes: ...


def new_hasher(algorithm: str) -> Hasher:
    """A fresh incremental hasher for ``algorithm`` (upper-case S3 name)."""
    if algorithm not in MEMBERS:
        raise NotImplementedError_(f"The checksum algorithm {algorithm} is not supported by Cloudlet.")
    return chunked.new_hash(algorithm)


def digest_of(algorithm: str, data: bytes) -> bytes:
    hasher = new_hasher(algorithm)
    hasher.update(data)
    return hasher.digest()


def encode(digest: bytes) -> str:
    return base64.b64encode(digest).decode()


def decode(algorithm: str, value: str) -> bytes:
    """The raw digest from its base64 header form; InvalidRequest when it cannot be one."""
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != len(new_hasher(algorithm).digest()):
        raise InvalidRequest(f"Value for x-amz-checksum-{algorithm.lower()} header is invalid.")
    return raw


@dataclass(frozen=True)
class Expected:
    """The checksum a request declares: the algorithm, and the value when sent in a header."""

    algorithm: str
    value: str | None


def requested(params: dict[str, Any], *, algorithm_member: str = "ChecksumAlgorithm") -> Expected | None:
    """Which checksum the request carries (``x-amz-checksum-*``) or announces (``x-amz-sdk-checksum-algorithm``).

    S3 accepts one checksum per request; a value without its algorithm header is fine,
    an announced algorithm without a header value is sent later in the aws-chunked trailer.
    """
    for member in UNSUPPORTED_MEMBERS:
        if params.get(member):
            raise NotImplementedError_(f"The checksum algorithm {UNSUPPORTED_MEMBERS[member]} is not supported "
                                       "by Cloudlet.")
    sent = [(algorithm, params[member]) for algorithm, member in MEMBERS.items() if params.get(member)]
    if len(sent) > 1:
        raise InvalidRequest("Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
    announced = (params.get(algorithm_member) or "").upper() or None
    if announced and announced not in MEMBERS:
        if announced in UNSUPPORTED_MEMBERS.values():
            raise NotImplementedError_(f"The checksum algorithm {announced} is not supported by Cloudlet.")
        raise InvalidRequest("Checksum algorithm provided is unsupported. Please try again with any of the valid "
                             "types: [CRC32, CRC32C, CRC64NVME, SHA1, SHA256]")
    if sent:
        algorithm, value = sent[0]
        if announced and announced != algorithm:
            raise InvalidRequest(f"Value for x-amz-sdk-checksum-algorithm header is invalid: {announced} does not "
                                 f"match the x-amz-checksum-{algorithm.lower()} header.")
        decode(algorithm, value)
        return Expected(algorithm, value)
    if announced:
        return Expected(announced, None)
    return None


# --- combining parts -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _CrcSpec:
    width: int
    poly: int  # reflected

    def multmodp(self, a: int, b: int) -> int:
        """a * b modulo the polynomial, both in reflected bit order (zlib's multmodp)."""
        m = 1 << (self.width - 1)
        product = 0
        while True:
            if a & m:
                product ^= b
                if (a & (m - 1)) == 0:
                    break
            m >>= 1
            b = (b >> 1) ^ self.poly if b & 1 else b >> 1
        return product

    def x8nmodp(self, length: int) -> int:
        """x^(8 * length) modulo the polynomial: the factor that shifts a CRC past ``length`` bytes."""
        power = 1 << (self.width - 1)  # x^0
        square = 1 << (self.width - 2)  # x^1
        bits = length * 8
        while bits:
            if bits & 1:
                power = self.multmodp(square, power)
            bits >>= 1
            square = self.multmodp(square, square)
        return power


_CRC_SPECS = {"CRC32": _CrcSpec(32, 0xEDB88320), "CRC32C": _CrcSpec(32, 0x82F63B78),
              "CRC64NVME": _CrcSpec(64, 0x9A6C9329AC4BC9B5)}


def combine(algorithm: str, first: bytes, second: bytes, second_length: int) -> bytes:
    """The CRC of ``A + B`` from ``crc(A)``, ``crc(B)`` and ``len(B)`` (final, conditioned CRC values)."""
    spec = _CRC_SPECS[algorithm]
    size = spec.width // 8
    crc1, crc2 = int.from_bytes(first, "big"), int.from_bytes(second, "big")
    if second_length == 0:
        return first
    combined = spec.multmodp(spec.x8nmodp(second_length), crc1) ^ crc2
    return combined.to_bytes(size, "big")


def full_object(algorithm: str, parts: list[tuple[bytes, int]]) -> bytes:
    """The CRC of the whole object from its parts' ``(crc, size)``, in order."""
    if algorithm not in CRC_ALGORITHMS:
        raise InvalidRequest(f"The FULL_OBJECT checksum type is not supported with {algorithm}.")
    result = new_hasher(algorithm).digest()
    for digest, size in parts:
        result = combine(algorithm, result, digest, size)
    return result


def composite(algorithm: str, part_digests: list[bytes]) -> str:
    """S3's checksum-of-checksums for a multipart object: ``base64(h(d1 + d2 + ...))-N``."""
    hasher = new_hasher(algorithm)
    for digest in part_digests:
        hasher.update(digest)
    return f"{encode(hasher.digest())}-{len(part_digests)}"


def multipart_etag(part_md5s: list[bytes]) -> str:
    """``"<md5 of the concatenated part MD5s>-<N>"``, the ETag of a multipart object."""
    return f'"{hashlib.md5(b"".join(part_md5s)).hexdigest()}-{len(part_md5s)}"'
