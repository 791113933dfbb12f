"""A fault-injecting HTTP proxy on loopback, between the pipeline and the replay server.

Point ``CATALOG_REPLAY_URL`` at `FaultProxy.url`: a request ``/{slug}/...`` is forwarded
to the upstream replay server unless a fault is set for ``slug``, in which case the
proxy misbehaves the way real networks and providers do:

=====================  ====================================================================
``redirect_elsewhere``  302 to the same path on `FaultProxy.elsewhere`, another origin
                        (``localhost`` and another port) that records whatever reaches it,
                        or to `location`
``redirect_same_origin`` 307 to ``/{slug}/_moved/...`` on the proxy, which is then served
``gzip_bomb``           200, ``Content-Encoding: gzip``: `megabytes` MiB of spaces packed into
                        well under 1 MiB
``huge_body``           200, chunked, a JSON list that never ends before `megabytes` MiB
``huge_declared``       200 with a ``Content-Length`` of `megabytes` MiB (the body never comes)
``hang``                reads the request, never answers
``trickle``             200 and one byte every 0.2 s, forever
``reset``               reads the request and resets the connection (TCP RST)
``truncate``            the real answer, cut in half, its full ``Content-Length`` declared
``status``              `status` with a JSON error body (and ``Retry-After`` when set)
``echo_credentials``    401 whose body echoes the credential it received, placed so that it
                        straddles the 200th character
=====================  ====================================================================

A fault applies to every request, or to the next `times`. Every request's headers are
recorded per slug (`FaultProxy.seen`).
"""

from __future__ import annotations

import http.client
import json
import socket
import struct
import threading
import time
import zlib
from collections import defaultdict
from dataclasses import dataclass
from functools import lru_cache
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

_MIB = 1024 * 1024
KINDS = frozenset(
    {
        "redirect_elsewhere",
        "redirect_same_origin",
        "gzip_bomb",
        "huge_body",
        "huge_declared",
        "hang",
        "trickle",
        "reset",
        "truncate",
        "status",
        "echo_credentials",
    }
)
_HOP_BY_HOP = {"host", "connection", "keep-alive", "transfer-encoding", "accept-encoding", "content-length"}


@dataclass
class ProxyFault:
    kind: str
    status: int = 500
    retry_after: str | None = None
    times: int | None = None
    megabytes: int = 600
    location: str | None = None


@lru_cache(maxsize=4)
def gzip_bomb(megabytes: int) -> bytes:
    """`megabytes` MiB of JSON whitespace, gzip-compressed (about 1/1000 of that)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    block = b" " * _MIB
    parts = [packer.compress(block) for _ in range(megabytes)]
    parts.append(packer.flush())
    return b"".join(parts)


class RecordingServer(ThreadingHTTPServer):
    """Another origin: answers 200 with an empty list and records every request it gets."""

    daemon_threads = True

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        threading.Thread(target=self.serve_forever, name="elsewhere", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://localhost:{self.server_address[1]}"


class _RecordingHandler(BaseHTTPRequestHandler):
    server: RecordingServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        self.server.requests.append({"path": self.path, "headers": dict(self.headers)})
        raw = b'{"data": []}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)


class FaultProxy(ThreadingHTTPServer):
    """The proxy; `url` is what ``CATALOG_REPLAY_URL`` should be set to."""

    daemon_threads = True

    def __init__(self, upstream_url: str):
        upstream = urlsplit(upstream_url)
        self.upstream = (upstream.hostname or "127.0.0.1", upstream.port or 80)
        self.faults: dict[str, ProxyFault] = {}
        self.seen: dict[str, list[dict[str, str]]] = defaultdict(list)
        self.lock = threading.Lock()
        self.released = threading.Event()
        self.elsewhere = RecordingServer()
        super().__init__(("127.0.0.1", 0), _ProxyHandler)
        threading.Thread(target=self.serve_forever, name="fault-proxy", daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def inject(self, slug: str, kind: str, **options: Any) -> None:
        if kind not in KINDS:
            raise ValueError(f"unknown fault {kind!r}")
        with self.lock:
            self.faults[slug] = ProxyFault(kind=kind, **options)

    def heal(self) -> None:
        """Remove every fault, let hanging requests go and forget what was seen."""
        with self.lock:
            self.faults.clear()
            self.seen.clear()
        self.elsewhere.requests.clear()
        self.released.set()
        time.sleep(0.05)
        self.released.clear()

    def close(self) -> None:
        self.released.set()
        self.shutdown()
        self.server_close()
        self.elsewhere.shutdown()
        self.elsewhere.server_close()

    def handle_error(self, request: Any, client_address: Any) -> None:
        pass  # a client that gave up (deadline, limit) or a reset on purpose: nothing to report

    def take_fault(self, slug: str) -> ProxyFault | None:
        with self.lock:
            fault = self.faults.get(slug)
            if fault is None or fault.times == 0:
                return None
            if fault.times is not None:
                fault.times -= 1
            return fault


class _ProxyHandler(BaseHTTPRequestHandler):
    server: FaultProxy
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_GET(self) -> None:  # noqa: N802 - stdlib naming
        parts = urlsplit(self.path)
        slug, _, rest = parts.path.lstrip("/").partition("/")
        with self.server.lock:
            self.server.seen[slug].append(dict(self.headers))
        if rest.startswith("_moved/"):  # where a same-origin redirect pointed: serve the real answer
            self._forward(f"/{slug}/{rest.removeprefix('_moved/')}" + (f"?{parts.query}" if parts.query else ""))
            return
        fault = self.server.take_fault(slug)
        if fault is None:
            self._forward(self.path)
            return
        getattr(self, "_" + fault.kind)(fault, slug, rest, parts.query)

    # --- forwarding -------------------------------------------------------------------

    def _upstream(self, path: str, conditional: bool = False) -> tuple[int, list[tuple[str, str]], bytes]:
        """The replay server's answer. A fault that rewrites the answer needs the whole body: it does not
        pass the client's conditional headers on (a 304 would leave it nothing to rewrite)."""
        connection = http.client.HTTPConnection(*self.server.upstream, timeout=30)
        try:
            dropped = _HOP_BY_HOP if conditional else _HOP_BY_HOP | {"if-none-match", "if-modified-since"}
            headers = {k: v for k, v in self.headers.items() if k.lower() not in dropped}
            connection.request("GET", path, headers=headers)
            response = connection.getresponse()
            return response.status, response.getheaders(), response.read()
        finally:
            connection.close()

    def _forward(self, path: str) -> None:
        status, headers, body = self._upstream(path, conditional=True)
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _send_json(self, status: int, body: Any, headers: dict[str, str] | None = None) -> None:
        raw = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(raw)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(raw)

    # --- faults -----------------------------------------------------------------------

    def _redirect_elsewhere(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        default = f"{self.server.elsewhere.url}/{slug}/{rest}" + (f"?{query}" if query else "")
        self._redirect(302, fault.location or default)

    def _redirect_same_origin(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        self._redirect(307, f"/{slug}/_moved/{rest}" + (f"?{query}" if query else ""))

    def _redirect(self, status: int, location: str) -> None:
        self.send_response(status)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def _gzip_bomb(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        raw = gzip_bomb(fault.megabytes)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self._write_quietly(raw)

    def _huge_body(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        entries = b",".join(b'{"id": "org/model-%07d"}' % i for i in range(40_000))  # about 1 MiB
        chunks = [b'{"data": [' + entries] + [b"," + entries] * (fault.megabytes - 1) + [b"]}"]
        for chunk in chunks:
            if not self._write_quietly(b"%x\r\n%s\r\n" % (len(chunk), chunk)):
                return
        self._write_quietly(b"0\r\n\r\n")

    def _huge_declared(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(fault.megabytes * _MIB))
        self.end_headers()
        self._write_quietly(b'{"data": [')
        self.server.released.wait(60)
        self.close_connection = True

    def _hang(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        self.server.released.wait(600)
        self.close_connection = True

    def _trickle(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(_MIB))
        self.end_headers()
        while not self.server.released.wait(0.2):
            if not self._write_quietly(b" "):
                break
        self.close_connection = True

    def _reset(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True
        self.connection.close()

    def _truncate(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        _status, _headers, body = self._upstream(self.path)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self._write_quietly(body[: len(body) // 2])
        self.close_connection = True

    def _status(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        headers = {"Retry-After": fault.retry_after} if fault.retry_after is not None else {}
        self._send_json(fault.status, {"error": {"message": f"injected HTTP {fault.status}"}}, headers)

    def _echo_credentials(self, fault: ProxyFault, slug: str, rest: str, query: str) -> None:
        received = (
            self.headers.get("Authorization") or self.headers.get("x-api-key") or self.headers.get("x-goog-api-key")
        )
        value = (received or "").split(" ", 1)[-1]  # without "Bearer " / "Key ": only the key itself
        # The engine shows the first 200 characters of an error body: the key starts 12 before.
        body = ("invalid credentials for this account; check the key configured for it " * 3)[:188] + value
        raw = body.encode()
        self.send_response(401)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(raw)))
        self.end_headers()
        self.wfile.write(raw)

    def _write_quietly(self, data: bytes) -> bool:
        try:
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
            return False
