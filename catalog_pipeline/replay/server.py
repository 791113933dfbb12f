"""A local HTTP server that speaks every provider's list-models API.

Paths follow the ``CATALOG_REPLAY_URL`` layout: the real request
``https://host/base/path?q`` arrives as ``/{slug}/base/path?q``; every endpoint of a
provider is served (the primary and each variant, in the variant's own shape). Faults can be
injected per provider over HTTP, so tests and demos can drive one provider into
failure and heal it again:

    POST   /_faults/{slug}   {"status": 500, "times": 2, "retry_after": 1, "delay": 0.5,
                              "body": "invalid_json" | "truncated" | "not_a_list",
                              "size": 10, "price_multiplier": "1.5", "duplicates": 3,
                              "endpoint": "primary"}   (only that endpoint of the provider misbehaves)
    DELETE /_faults/{slug}   heal one provider; DELETE /_faults heals all
    GET    /_requests        request counts per provider; GET /_not_modified: the 304 answers per provider

Every list page carries an ``ETag`` (a digest of its body) and answers ``If-None-Match`` with
304 Not Modified, as a provider that supports conditional requests does; ``--no-etags`` (or the
fault ``{"etag": false}``) turns that off for the whole server or one provider.
    GET    /gateway/models?gateway={slug}&limit=N   a model gateway's view: {"data": [...]} of that
                             provider's current models (its `size` fault applies), at most N
"""

from __future__ import annotations

import hashlib
import json
import re
import threading
import time
from dataclasses import dataclass, field
from decimal import Decimal
from functools import lru_cache
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from catalog_pipeline.providers.registry import PROVIDERS
from catalog_pipeline.providers.spec import ProviderSpec
from catalog_pipeline.replay.demo_models import demo_models
from catalog_pipeline.replay.wire import render_entry, render_page


@dataclass
class Fault:
    """What one provider's endpoint does wrong, and for how many more requests."""

    status: int | None = None
    times: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    body: str | None = None
    size: int | None = None
    price_multiplier: Decimal = Decimal(1)
    duplicates: int = 0
    endpoint: str | None = None
    etag: bool = True

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Fault:
        return cls(
            status=data.get("status"),
            times=data.get("times"),
            retry_after=None if data.get("retry_after") is None else str(data["retry_after"]),
            delay=float(data.get("delay") or 0),
            body=data.get("body"),
            size=data.get("size"),
            price_multiplier=Decimal(str(data.get("price_multiplier", "1"))),
            duplicates=int(data.get("duplicates") or 0),
            endpoint=data.get("endpoint"),
            etag=bool(data.get("etag", True)),
        )


@dataclass
class ReplayState:
    """Scale, faults and request counts, shared by the handler threads."""

    scale: float = 1.0
    etags: bool = True
    faults: dict[str, Fault] = field(default_factory=dict)
    requests: dict[str, int] = field(default_factory=dict)
    not_modified: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def size_for(self, spec: ProviderSpec) -> int:
        fault = self.faults.get(spec.slug)
        if fault and fault.size is not None:
            return fault.size
        return max(1, round(spec.demo_size * self.scale))


@lru_cache(maxsize=128)
def _entries(slug: str, endpoint: str, size: int, price_multiplier: Decimal) -> list[Any]:
    spec = PROVIDERS[slug].variant(endpoint)
    return [render_entry(spec, model) for model in demo_models(spec, size, price_multiplier)]


@lru_cache(maxsize=4096)
def _page_cached(slug: str, endpoint: str, size: int, price_multiplier: Decimal, query: tuple) -> bytes:
    spec = PROVIDERS[slug].variant(endpoint)
    body = render_page(spec, _entries(slug, endpoint, size, price_multiplier), dict(query))
    return json.dumps(body, default=_json_default).encode()


def _page_bytes(slug: str, endpoint: str, size: int, price_multiplier: Decimal, query: dict[str, str]) -> bytes:
    """One page's body; rendered once per distinct request, so a re-sync is served at the speed of a cache."""
    return _page_cached(slug, endpoint, size, price_multiplier, tuple(sorted(query.items())))


def _path_pattern(spec: ProviderSpec) -> re.Pattern[str]:
    path = urlsplit(spec.base_url.rstrip("/") + spec.list_path).path
    escaped = re.escape(path)
    return re.compile("^" + re.sub(r"\\\{[A-Z_]+\\\}", "[^/]+", escaped) + "$")


#: Per provider, each endpoint's path pattern and name, the primary first.
_PATHS = {
    slug: [(_path_pattern(spec.variant(name)), name) for name in spec.endpoint_names]
    for slug, spec in PROVIDERS.items()
}


def _endpoint_at(slug: str, path: str, query: dict[str, str]) -> str | None:
    """The endpoint a request is for. Two endpoints on one path (a host move: the replay layout drops the
    host) are told apart by their fixed query parameters: the one whose parameters all match, most first."""
    candidates = [name for pattern, name in _PATHS.get(slug, []) if pattern.match(path)]
    spec = PROVIDERS.get(slug)
    matching = [
        (len(spec.variant(name).query), name)
        for name in candidates
        if spec is not None and spec.variant(name).query.items() <= query.items()
    ]
    return max(matching, key=lambda item: item[0])[1] if matching else None


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"cannot encode {type(value).__name__}")


class ReplayHandler(BaseHTTPRequestHandler):
    server: ReplayServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        if self.server.verbose:
            super().log_message(format, *args)

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        parts = urlsplit(self.path)
        if parts.path in ("/_requests", "/_not_modified"):
            with self.server.state.lock:
                state = self.server.state
                self._send(HTTPStatus.OK, dict(state.requests if parts.path == "/_requests" else state.not_modified))
            return
        if parts.path == "/gateway/models":
            query = dict(parse_qsl(parts.query))
            spec = PROVIDERS.get(query.get("gateway", ""))
            if spec is None:
                self._send(HTTPStatus.NOT_FOUND, {"error": f"unknown gateway {query.get('gateway')!r}"})
                return
            with self.server.state.lock:
                size = self.server.state.size_for(spec)
            models = demo_models(spec, size)[: int(query.get("limit") or size)]
            self._send(HTTPStatus.OK, {"data": [{"id": m.model_id, "gateway": spec.slug} for m in models]})
            return
        if parts.path in ("/", "/_providers"):
            self._send(HTTPStatus.OK, {slug: self.server.state.size_for(spec) for slug, spec in PROVIDERS.items()})
            return
        slug, _, rest = parts.path.lstrip("/").partition("/")
        endpoint = _endpoint_at(slug, "/" + rest, dict(parse_qsl(parts.query)))
        if endpoint is None:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no provider endpoint at {parts.path}"})
            return
        spec = PROVIDERS[slug].variant(endpoint)
        state = self.server.state
        with state.lock:
            state.requests[slug] = state.requests.get(slug, 0) + 1
            fault = state.faults.get(slug)
            if fault is not None and fault.endpoint not in (None, endpoint, spec.endpoint_label):
                fault = None
            active = fault is not None and (fault.times is None or fault.times > 0)
            if active and fault.times is not None and (fault.status or fault.body):
                fault.times -= 1
            size = state.size_for(spec)
        if fault and fault.delay:
            time.sleep(fault.delay)
        if active and fault.status:
            headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
            self._send(fault.status, {"error": {"message": f"injected HTTP {fault.status}"}}, headers)
            return
        entries = _entries(slug, spec.endpoint_name, size, fault.price_multiplier if fault else Decimal(1))
        if fault and fault.duplicates:
            entries = entries + entries[: fault.duplicates]
        query = dict(parse_qsl(parts.query))
        raw = _page_bytes(slug, spec.endpoint_name, size, fault.price_multiplier if fault else Decimal(1), query)
        if fault and fault.duplicates:
            raw = json.dumps(render_page(spec, entries, query), default=_json_default).encode()
        headers: dict[str, str] = {}
        if state.etags and (fault is None or fault.etag) and not (active and fault.body):
            etag = '"' + hashlib.blake2b(raw, digest_size=16).hexdigest() + '"'
            headers["ETag"] = etag
            if etag in [tag.strip() for tag in (self.headers.get("If-None-Match") or "").split(",")]:
                with state.lock:
                    state.not_modified[slug] = state.not_modified.get(slug, 0) + 1
                self._send_raw(HTTPStatus.NOT_MODIFIED, b"", headers)
                return
        if active and fault.body == "invalid_json":
            raw = b"<html><body>502 Bad Gateway</body></html>"
        elif active and fault.body == "truncated":
            raw = raw[: max(1, len(raw) // 2)]
        elif active and fault.body == "not_a_list":
            raw = json.dumps({"error": "upstream returned no models", "data": None}).encode()
        self._send_raw(HTTPStatus.OK, raw, headers)

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        slug = self._fault_slug()
        if slug is None:
            return
        length = int(self.headers.get("Content-Length") or 0)
        try:
            fault = Fault.from_json(json.loads(self.rfile.read(length) or b"{}"))
        except (ValueError, TypeError) as error:
            self._send(HTTPStatus.BAD_REQUEST, {"error": str(error)})
            return
        with self.server.state.lock:
            self.server.state.faults[slug] = fault
        self._send(HTTPStatus.OK, {"fault": slug})

    def do_DELETE(self) -> None:  # noqa: N802 - stdlib naming
        if urlsplit(self.path).path == "/_faults":
            with self.server.state.lock:
                self.server.state.faults.clear()
                self.server.state.requests.clear()
                self.server.state.not_modified.clear()
            self._send(HTTPStatus.OK, {"healed": "all"})
            return
        slug = self._fault_slug()
        if slug is None:
            return
        with self.server.state.lock:
            self.server.state.faults.pop(slug, None)
        self._send(HTTPStatus.OK, {"healed": slug})

    def _fault_slug(self) -> str | None:
        match = re.fullmatch(r"/_faults/([a-z0-9-]+)", urlsplit(self.path).path)
        if not match or match.group(1) not in PROVIDERS:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"unknown fault target {self.path}"})
            return None
        return match.group(1)

    def _send(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(body, default=_json_default).encode(), headers)

    def _send_raw(self, status: int, raw: bytes, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        if status != HTTPStatus.NOT_MODIFIED:
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)


class ReplayServer(ThreadingHTTPServer):
    """The replay server; `url` is what ``CATALOG_REPLAY_URL`` should be set to."""

    daemon_threads = True

    def __init__(
        self, port: int = 0, scale: float = 1.0, host: str = "127.0.0.1", verbose: bool = False, etags: bool = True
    ):
        super().__init__((host, port), ReplayHandler)
        self.state = ReplayState(scale=scale, etags=etags)
        self.verbose = verbose

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def start_in_background(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="replay-server", daemon=True)
        thread.start()
        return thread


def expected_live_count(slug: str, scale: float = 1.0) -> int:
    """How many entries the replay server lists for `slug` at `scale` without faults."""
    return max(1, round(PROVIDERS[slug].demo_size * scale))
