"""The scale-out backend: blobs as objects in an external S3-compatible cluster (MinIO, Ceph RGW, Garage).

Cloudlet keeps the S3 API, authentication, policies and all metadata; the cluster only
holds immutable blobs under ``<prefix><blob id>`` in one bucket, talked to with the
MinIO Python SDK. Uploads stream in parts of :data:`PART_SIZE` (the SDK holds one part
in memory at a time), so memory stays bounded whatever the object size; a failed
upload is aborted by the SDK and leaves no object. Clones are server-side copies.

A cluster that cannot be reached, or that answers it is busy or failing, makes the request fail with S3's
own ``503 ServiceUnavailable`` (SDKs back off and retry it) rather than an internal error; what the cluster
says otherwise (a wrong key, a missing bucket or blob) is Cloudlet's configuration or a lost blob, an
internal error logged as such.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import urllib3
from minio import Minio
from minio.commonconfig import CopySource
from minio.deleteobjects import DeleteObject
from minio.error import S3Error, ServerError

from controller.s3.errors import ServiceUnavailable
from controller.s3.storage import CHUNK_SIZE, Readable

log = logging.getLogger(__name__)

#: Size of the parts the SDK uploads (and buffers) one at a time.
PART_SIZE = 16 << 20
#: Error codes with which a cluster says it cannot serve now, rather than that the request was wrong.
UNAVAILABLE_CODES = frozenset({"ServiceUnavailable", "SlowDown", "InternalError", "RequestTimeout"})


@dataclass(frozen=True)
class ClusterSettings:
    """Where the cluster is and how to sign in (see controller/s3/README.md)."""

    endpoint: str
    access_key: str
    secret_key: str
    bucket: str
    secure: bool = True
    region: str = "us-east-1"
    prefix: str = "cloudlet-blobs/"


class ClusterBlobStore:
    """Blobs in a bucket of an S3-compatible cluster (see the module docstring)."""

    def __init__(self, settings: ClusterSettings, *, connections: int = 32) -> None:
        self.settings = settings
        http = urllib3.PoolManager(maxsize=connections, retries=urllib3.Retry(total=3, backoff_factor=0.2),
                                   timeout=urllib3.Timeout(connect=10, read=300))
        self.client = Minio(settings.endpoint, access_key=settings.access_key, secret_key=settings.secret_key,
                            secure=settings.secure, region=settings.region, http_client=http)

    def _name(self, blob_id: str) -> str:
        return self.settings.prefix + blob_id

    def prepare(self) -> None:
        """Make sure the bucket exists."""
        with _answering("check the bucket"):
            if not self.client.bucket_exists(self.settings.bucket):
                self.client.make_bucket(self.settings.bucket, location=self.settings.region)

    def recover(self) -> None:
        """Only :meth:`prepare`: a failed put leaves nothing on the cluster."""
        self.prepare()

    def put(self, source: Readable) -> tuple[str, int]:
        blob_id = uuid.uuid4().hex
        counted = _Counting(source)
        with _answering("store a blob"):
            self.client.put_object(self.settings.bucket, self._name(blob_id), counted, length=-1,
                                   part_size=PART_SIZE, num_parallel_uploads=1)
        return blob_id, counted.size

    def read(self, blob_id: str, offset: int = 0, length: int | None = None) -> Iterable[bytes]:
        if length == 0:
            return iter(())
        with _answering("read a blob"):  # asked now, so a cluster that is down fails the request up front
            response = self.client.get_object(self.settings.bucket, self._name(blob_id), offset=offset,
                                              length=length or 0)
        return _Blob(response)

    def open_file(self, blob_id: str) -> None:
        return None  # the bytes are in the cluster: they stream through read()

    def clone(self, blob_id: str) -> str:
        clone_id = uuid.uuid4().hex
        with _answering("copy a blob"):
            self.client.copy_object(self.settings.bucket, self._name(clone_id),
                                    CopySource(self.settings.bucket, self._name(blob_id)))
        return clone_id

    def delete(self, blob_ids: Iterable[str]) -> None:
        names = [DeleteObject(self._name(blob_id)) for blob_id in blob_ids]
        if not names:
            return
        with _answering("delete blobs"):
            errors = list(self.client.remove_objects(self.settings.bucket, names))
        real = [e for e in errors if e.code != "NoSuchKey"]
        if real:
            raise OSError(f"could not delete {len(real)} blobs from {self.settings.bucket}: {real[0].message}")

    def list_ids(self) -> Iterator[str]:
        prefix = self.settings.prefix
        with _answering("list blobs"):
            for item in self.client.list_objects(self.settings.bucket, prefix=prefix, recursive=True):
                if item.object_name and not item.is_dir:
                    yield item.object_name[len(prefix):]


class _Counting:
    """The upload's source for the SDK: counts the bytes it reads, so put can report the blob's size, and
    answers each read whole.

    The SDK builds a part by appending each read to ``bytes`` (``part_data += data``), which copies the
    part so far every time: fed the request body's socket-sized reads, an 8 MiB part was copied ~100
    times. Filling each read up to the size asked (a part, or what is left) makes that one copy.
    """

    def __init__(self, source: Readable) -> None:
        self._source = source
        self.size = 0

    def read(self, size: int = -1) -> bytes:
        if size is None or size < 0:
            data = bytes(self._source.read(-1))
        else:
            gathered = bytearray()
            while len(gathered) < size:
                chunk = self._source.read(size - len(gathered))
                if not chunk:
                    break
                gathered += chunk
            data = bytes(gathered)
        self.size += len(data)
        return data


class _Blob:
    """A cluster GET's body in chunks; ``close()`` returns its connection to the pool, read or not."""

    def __init__(self, response: urllib3.BaseHTTPResponse) -> None:
        self._response = response

    def __iter__(self) -> Iterator[bytes]:
        try:
            yield from self._response.stream(CHUNK_SIZE)
        finally:
            self.close()

    def close(self) -> None:
        self._response.close()
        self._response.release_conn()


@contextmanager
def _answering(action: str) -> Iterator[None]:
    """Turn the cluster being unreachable, busy or failing during ``action`` into S3's 503 (logged)."""
    try:
        yield
    except (urllib3.exceptions.HTTPError, ServerError) as exc:
        raise _unavailable(action, exc) from exc
    except S3Error as exc:
        if exc.code in UNAVAILABLE_CODES:
            raise _unavailable(action, exc) from exc
        raise


def _unavailable(action: str, cause: Exception) -> ServiceUnavailable:
    log.warning("s3: the cluster could not %s: %s", action, cause)
    return ServiceUnavailable("Service is unable to handle request.")
