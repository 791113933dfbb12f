"""The raw pages of one provider's list, kept compressed outside the Python heap.

A fetch streams every page body here as it arrives (each page one gzip member, in a
temporary file that spills to disk past a few MiB) and hashes it, so a catalog of any
size costs a few chunks of memory while it is fetched, its digest says whether anything
changed, and the same bytes become the stored snapshot without being serialized again.
Readers get the pages back one at a time, whole or as a stream (for a list too large to
parse at once).
"""

from __future__ import annotations

import hashlib
import io
import tempfile
import zlib
from collections.abc import Iterator
from typing import IO

#: Compressed bytes kept in memory before the temporary file moves to disk.
IN_MEMORY_BYTES = 4 * 1024 * 1024
#: zlib level: 3 compresses a catalog to about a tenth at a fraction of level 6's cost.
COMPRESSION_LEVEL = 3
_READ = 256 * 1024


class PageStore:
    """Page bodies in order, each a gzip member; `sha256` covers every body and its length."""

    def __init__(self, file: IO[bytes] | None = None, sealed: bool = False):
        self._file: IO[bytes] = file or tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)  # noqa: SIM115
        self._sealed = sealed
        self._digest = hashlib.sha256()
        self._compressor: zlib._Compress | None = None
        self._page_start = 0
        self._page_size = 0
        self._digest_before = self._digest.copy()
        #: compressed offset and raw size of every page written by this process
        self.starts: list[int] = []
        self.sizes: list[int] = []

    @classmethod
    def from_gzip(cls, blob: bytes) -> PageStore:
        """A sealed store over a stored snapshot's payload."""
        return cls(io.BytesIO(blob), sealed=True)

    @property
    def pages(self) -> int:
        return len(self.sizes)

    @property
    def raw_bytes(self) -> int:
        return sum(self.sizes)

    def begin_page(self) -> None:
        assert not self._sealed, "store is sealed"
        self._file.seek(0, io.SEEK_END)
        self._page_start = self._file.tell()
        self._page_size = 0
        self._digest_before = self._digest.copy()
        self._compressor = zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, 31)

    def write(self, piece: bytes | bytearray) -> None:
        assert self._compressor is not None, "no page begun"
        self._digest.update(piece)
        self._file.write(self._compressor.compress(piece))
        self._page_size += len(piece)

    def end_page(self) -> None:
        assert self._compressor is not None, "no page begun"
        self._file.write(self._compressor.flush())
        self._compressor = None
        self._digest.update(self._page_size.to_bytes(8, "big"))
        self.starts.append(self._page_start)
        self.sizes.append(self._page_size)

    def abort_page(self) -> None:
        """Forget the page being written (a failed attempt, or a 304 that sent no body)."""
        if self._compressor is None:
            return
        self._compressor = None
        self._file.seek(self._page_start)
        self._file.truncate()
        self._digest = self._digest_before

    def add(self, body: bytes | bytearray) -> None:
        self.begin_page()
        self.write(body)
        self.end_page()

    def seal(self) -> None:
        self.abort_page()
        self._sealed = True

    @property
    def sha256(self) -> str:
        """Digest of the raw pages (bodies and lengths), as fetched."""
        return self._digest.hexdigest()

    def gzip_bytes(self) -> bytes:
        """The compressed payload, as stored in `provider_catalog_snapshots.payload_gzip`."""
        self._file.seek(0)
        return self._file.read()

    @property
    def compressed_bytes(self) -> int:
        return self._file.seek(0, io.SEEK_END)

    def page_stream(self, index: int) -> _Member:
        """One page written by this process, as a readable stream."""
        self._file.seek(self.starts[index])
        member = _Member(self._file)
        member.start()
        return member

    def page_bytes(self, index: int) -> bytearray:
        return bytearray(self.page_stream(index).read())

    def streams(self) -> Iterator[_Member]:
        """Every page, in order, as a stream (valid until the next one is asked for)."""
        self._file.seek(0)
        member = _Member(self._file)
        while member.start():
            yield member

    def bodies(self) -> Iterator[bytearray]:
        """Every page body, in order, one at a time (the caller may clear each one once read)."""
        for stream in self.streams():
            yield bytearray(stream.read())

    def close(self) -> None:
        self._file.close()


class _Member:
    """Reads consecutive gzip members of a file, one member at a time, as a file-like object."""

    def __init__(self, file: IO[bytes]):
        self._file = file
        self._pending = b""
        self._out = bytearray()
        self._decompressor: zlib._Decompress | None = None
        self._done = True

    def start(self) -> bool:
        """Move to the next member; False when there is none."""
        while not self._done:
            self.read(_READ)
        if not self._pending:
            self._pending = self._file.read(_READ)
        if not self._pending:
            return False
        self._decompressor = zlib.decompressobj(31)
        self._done = False
        self._out.clear()
        return True

    def read(self, size: int = -1) -> bytes:
        while (size < 0 or len(self._out) < size) and not self._done:
            if not self._pending:
                self._pending = self._file.read(_READ)
                if not self._pending:
                    raise ValueError("stored page ends early")
            assert self._decompressor is not None
            self._out += self._decompressor.decompress(self._pending)
            if self._decompressor.eof:
                self._pending = self._decompressor.unused_data
                self._done = True
            else:
                self._pending = b""
        if size < 0 or size >= len(self._out):
            data = bytes(self._out)
            self._out.clear()
            return data
        data = bytes(self._out[:size])
        del self._out[:size]
        return data
