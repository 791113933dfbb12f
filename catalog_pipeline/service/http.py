"""HTTP plumbing of the catalog API: rendered bodies with ETags, 304s, gzip, and a cache keyed by data version."""

from __future__ import annotations

import gzip
import hashlib
import json
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request, Response

JSON = "application/json"
#: Bodies smaller than this go out uncompressed (gzip would not pay for its header).
GZIP_MINIMUM_BYTES = 1024
GZIP_LEVEL = 6
#: Clients may keep a list, but must revalidate it (If-None-Match) before using it again.
CACHE_CONTROL = "no-cache"
_log = logging.getLogger(__name__)


def json_bytes(payload: Any) -> bytes:
    return json.dumps(payload, separators=(",", ":"), ensure_ascii=False, default=str).encode()


@dataclass
class Rendered:
    """A response body, its ETag (weak: the same for the gzip and the identity form) and its gzip form."""

    body: bytes
    media_type: str = JSON
    etag: str = ""
    _gzipped: bytes | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.etag:
            self.etag = 'W/"' + hashlib.blake2b(self.body, digest_size=16).hexdigest() + '"'

    def gzipped(self) -> bytes:
        if self._gzipped is None:
            self._gzipped = gzip.compress(self.body, compresslevel=GZIP_LEVEL, mtime=0)
        return self._gzipped

    @property
    def size(self) -> int:
        return len(self.body) + len(self._gzipped or b"")


def etag_matches(if_none_match: str | None, etag: str) -> bool:
    """Weak comparison (RFC 9110 13.1.2): ``*`` or any listed tag equal to `etag` once ``W/`` is dropped."""
    if not if_none_match:
        return False
    wanted = etag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def accepts_gzip(request: Request) -> bool:
    for item in request.headers.get("accept-encoding", "").split(","):
        coding, _, parameters = item.strip().partition(";")
        if coding.strip().lower() in ("gzip", "*"):
            quality = parameters.strip().removeprefix("q=")
            try:
                return not parameters or float(quality) > 0
            except ValueError:
                return False
    return False


def send(request: Request, rendered: Rendered, status_code: int = 200) -> Response:
    """`rendered` with its ETag; 304 when the client already has it; gzip when the client takes it."""
    headers = {"ETag": rendered.etag, "Cache-Control": CACHE_CONTROL, "Vary": "Accept-Encoding"}
    if status_code == 200 and etag_matches(request.headers.get("if-none-match"), rendered.etag):
        return Response(status_code=304, headers=headers)
    if len(rendered.body) >= GZIP_MINIMUM_BYTES and accepts_gzip(request):
        headers["Content-Encoding"] = "gzip"
        return Response(rendered.gzipped(), status_code=status_code, media_type=rendered.media_type, headers=headers)
    return Response(rendered.body, status_code=status_code, media_type=rendered.media_type, headers=headers)


class RenderedCache:
    """Rendered lists by request key, valid while the catalog's data version is unchanged.

    A list of 18,000 models takes a fraction of a second to render and gzip; serving
    the same bytes again until the next sync commits makes every later request a
    version query and a copy. Entries also expire after `ttl_seconds`, so a change
    made by hand in the database shows up without a sync. Bounded by total bytes,
    least recently used first out; concurrent misses of one key render it once.
    """

    def __init__(self, max_bytes: int = 256 * 2**20, ttl_seconds: float = 300.0):
        self.max_bytes = max_bytes
        self.ttl_seconds = ttl_seconds
        self._entries: OrderedDict[Hashable, tuple[str, float, Rendered]] = OrderedDict()
        self._lock = threading.Lock()
        self._key_locks: dict[Hashable, threading.Lock] = {}

    def get_or_render(self, key: Hashable, version: str, render: Callable[[], Rendered]) -> Rendered:
        found = self._get(key, version)
        if found is not None:
            return found
        with self._lock:
            key_lock = self._key_locks.setdefault(key, threading.Lock())
        with key_lock:
            found = self._get(key, version)
            if found is None:
                found = render()
                found.gzipped()  # once, here, rather than on every request
                self._put(key, version, found)
        with self._lock:
            self._key_locks.pop(key, None)
        return found

    def _get(self, key: Hashable, version: str) -> Rendered | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is None:
                return None
            stored_version, stored_at, rendered = entry
            if stored_version != version or time.monotonic() - stored_at > self.ttl_seconds:
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return rendered

    def _put(self, key: Hashable, version: str, rendered: Rendered) -> None:
        if rendered.size > self.max_bytes:
            return
        with self._lock:
            self._entries[key] = (version, time.monotonic(), rendered)
            self._entries.move_to_end(key)
            while sum(entry[2].size for entry in self._entries.values()) > self.max_bytes:
                self._entries.popitem(last=False)


class ListWarmer:
    """Renders the lists clients asked for again as soon as a sync commits, off the request path.

    A background thread reads the data version every `interval_seconds`; when it moved, each
    recently requested list (at most `max_lists`, most recent first) is rendered into the
    cache, so the monitor's hourly ``gateway=all`` does not pay for rendering 18,000 models.
    """

    def __init__(
        self,
        cache: RenderedCache,
        read_version: Callable[[Any], str],
        connect: Callable[[], Any],
        interval_seconds: float = 2.0,
        max_lists: int = 8,
    ):
        self.cache, self.read_version, self.connect = cache, read_version, connect
        self.interval_seconds, self.max_lists = interval_seconds, max_lists
        self._lists: OrderedDict[Hashable, Callable[[Any], Rendered]] = OrderedDict()
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def remember(self, key: Hashable, render: Callable[[Any], Rendered]) -> None:
        with self._lock:
            self._lists[key] = render
            self._lists.move_to_end(key)
            while len(self._lists) > self.max_lists:
                self._lists.popitem(last=False)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="catalog-list-warmer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def _run(self) -> None:
        last: str | None = None
        while not self._stop.wait(self.interval_seconds):
            try:
                with self.connect() as connection:
                    version = self.read_version(connection)
                    if version == last:
                        continue
                    with self._lock:
                        lists = list(reversed(self._lists.items()))
                    for key, render in lists:
                        self.cache.get_or_render(key, version, lambda render=render: render(connection))
                    last = version
            except Exception as error:  # a database hiccup: try again next round; requests say so themselves
                _log.warning("list warmer: %s; retrying in %s s", type(error).__name__, self.interval_seconds)
                last = None
