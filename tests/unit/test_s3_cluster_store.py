"""The cluster backend's own behaviour, without a cluster: how it feeds the SDK, and a cluster that is down.

The end-to-end runs against a real radosgw are in tests/e2e/test_s3_cluster.py; these pin the two edges
that are cheap to reach here with the real MinIO SDK and real sockets.
"""

from __future__ import annotations

import io
import os
import socket

import pytest
from minio.helpers import read_part_data

from controller.s3.errors import ServiceUnavailable
from controller.s3.storage.cluster import PART_SIZE, ClusterBlobStore, ClusterSettings, _Counting


class Trickle:
    """A request body that arrives in small reads, as a socket gives it."""

    def __init__(self, data: bytes, step: int = 16 * 1024) -> None:
        self._data = io.BytesIO(data)
        self._step = step
        self.reads = 0

    def read(self, size: int = -1) -> bytes:
        self.reads += 1
        return self._data.read(self._step if size is None or size < 0 else min(size, self._step))


def test_the_sdk_gets_each_part_in_one_read_and_the_size_is_counted() -> None:
    """A body trickling in 16 KiB reads reaches the SDK's part builder a whole part per read (it copies the
    part so far on each read it appends), and the part builder still gets every byte once."""
    data = os.urandom(PART_SIZE + 1000)
    counting = _Counting(Trickle(data))
    assert counting.read(PART_SIZE) == data[:PART_SIZE]
    assert read_part_data(counting, PART_SIZE) == data[PART_SIZE:]  # the SDK's own part builder: the rest
    assert counting.read(PART_SIZE) == b"" and counting.size == len(data)


def test_a_cluster_that_refuses_connections_is_a_503() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again: nothing listens there
    store = ClusterBlobStore(ClusterSettings(endpoint=f"127.0.0.1:{port}", access_key="k", secret_key="s" * 20,
                                             bucket="blobs", secure=False))
    for action in (lambda: store.put(io.BytesIO(b"x" * 100_000)), lambda: store.read("0" * 32),
                   lambda: store.clone("0" * 32)):
        with pytest.raises(ServiceUnavailable) as refused:
            action()
        assert refused.value.status == 503 and refused.value.code == "ServiceUnavailable"
