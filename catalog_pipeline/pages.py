"""The raw pages of one provider's list, kept compressed outside the Python heap.

A fetch writes every page body here as it arrives (gzip, in a temporary file that
spills to disk past a few MiB) and hashes it, so a catalog of any size costs one
page of memory while it is fetched, its digest says whether anything changed, and
the same bytes become the stored snapshot without being serialized again. Readers
get the bodies back one page at a time.
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
_FRAME = 8  # bytes of the big-endian length before each page
_READ = 256 * 1024


class PageStore:
    """Page bodies in order, gzip-compressed, each framed by its length; `sha256` covers every frame."""

    def __init__(self, file: IO[bytes] | None = None, sealed: bool = False):
        self._file: IO[bytes] = file or tempfile.SpooledTemporaryFile(max_size=IN_MEMORY_BYTES)  # noqa: SIM115
        self._compressor = None if sealed else zlib.compressobj(COMPRESSION_LEVEL, zlib.DEFLATED, 31)
        self._digest = hashlib.sha256()
        self.pages = 0
        self.raw_bytes = 0

    @classmethod
    def from_gzip(cls, blob: bytes) -> PageStore:
        """A sealed store over a stored snapshot's payload."""
        return cls(io.BytesIO(blob), sealed=True)

    def add(self, body: bytes | bytearray) -> None:
        assert self._compressor is not None, "store is sealed"
        frame = len(body).to_bytes(_FRAME, "big")
        self._digest.update(frame)
        self._digest.update(body)
        self._file.write(self._compressor.compress(frame))
        self._file.write(self._compressor.compress(body))
        self.pages += 1
        self.raw_bytes += len(body)

    def seal(self) -> None:
        """No more pages: flush the compressor."""
        if self._compressor is not None:
            self._file.write(self._compressor.flush())
            self._compressor = None

    @property
    def sha256(self) -> str:
        """Digest of the raw pages (lengths and bodies), as fetched."""
        return self._digest.hexdigest()

    def gzip_bytes(self) -> bytes:
        """The compressed payload, as stored in `provider_catalog_snapshots.payload_gzip`."""
        self.seal()
        self._file.seek(0)
        return self._file.read()

    @property
    def compressed_bytes(self) -> int:
        self.seal()
        return self._file.seek(0, io.SEEK_END)

    def bodies(self) -> Iterator[bytearray]:
        """Every page body, in order, one at a time (the caller may clear each one once read)."""
        self.seal()
        self._file.seek(0)
        decompressor = zlib.decompressobj(31)
        buffer = bytearray()
        while True:
            chunk = self._file.read(_READ)
            if chunk:
                buffer += decompressor.decompress(chunk)
            else:
                buffer += decompressor.flush()
            while len(buffer) >= _FRAME:
                size = int.from_bytes(buffer[:_FRAME], "big")
                if len(buffer) < _FRAME + size:
                    break
                body = buffer[_FRAME : _FRAME + size]
                del buffer[: _FRAME + size]
                yield body
                del body
            if not chunk:
                if buffer:
                    raise ValueError("stored pages end in the middle of a page")
                return

    def close(self) -> None:
        self._file.close()
