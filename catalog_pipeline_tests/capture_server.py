"""A loopback HTTP server that answers fixed bodies (real captures, edited copies) at chosen paths.

Point the pipeline at it with ``CATALOG_REPLAY_URL``: a request for
``https://api.groq.com/openai/v1/models`` then arrives as ``/groq/openai/v1/models``.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit


@dataclass
class CaptureRoutes:
    """Path -> (status, body); every request's path is recorded."""

    answers: dict[str, tuple[int, bytes]] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)

    def serve(self, path: str, body: bytes, status: int = 200) -> None:
        self.answers[path] = (status, body)


@contextmanager
def capture_server() -> Iterator[tuple[str, CaptureRoutes]]:
    """Yield the server's base URL and its routes; unknown paths answer 404."""
    routes = CaptureRoutes()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            path = urlsplit(self.path).path
            routes.requests.append(self.path)
            status, body = routes.answers.get(path, (404, b'{"error": "not found"}'))
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", routes
    finally:
        server.shutdown()
        server.server_close()
