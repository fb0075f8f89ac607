"""A response body made of byte ranges of local files, which the HTTP server may send without copying.

S3 serves the bytes of objects stored on the controller's disk. Read through Python, each byte
crosses into user space and back; handed to the kernel with ``sendfile(2)`` it goes from the page
cache to the socket directly. PEP 3333's ``wsgi.file_wrapper`` has no way to say "these ranges of
these files" (a ranged GET, a multipart object's parts), so a body says it with :attr:`file_ranges`,
which ``controller/server.py`` looks for. Any other server just iterates the body.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import BinaryIO

#: Bytes per read when the body is iterated rather than sent by the kernel.
CHUNK_SIZE = 1 << 20


class FileRanges:
    """``(file, offset, length)`` ranges of open files, sent in order; closing the body closes the files."""

    def __init__(self, ranges: list[tuple[BinaryIO, int, int]]) -> None:
        self.file_ranges = ranges

    def __iter__(self) -> Iterator[bytes]:
        try:
            for handle, offset, length in self.file_ranges:
                handle.seek(offset)
                while length > 0:
                    chunk = handle.read(min(CHUNK_SIZE, length))
                    if not chunk:
                        raise OSError(f"{handle.name} is shorter than the range being sent")
                    length -= len(chunk)
                    yield chunk
        finally:
            self.close()

    def close(self) -> None:
        for handle, _, _ in self.file_ranges:
            handle.close()
