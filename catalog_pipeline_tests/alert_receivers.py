"""Loopback stand-ins for the alert channels: a Slack incoming webhook and the Resend e-mail API.

Both are real HTTP servers on 127.0.0.1 that record every request (path, headers,
JSON body) and can be told to answer with an error status, to play a channel that is down.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

SLACK_PATH = "/services/T000/B000/webhook-secret-token"
RESEND_KEY = "re_test_secret_key_0123456789"


@dataclass
class ReceivedRequest:
    path: str
    headers: dict[str, str]
    body: Any


class _RecordingHandler(BaseHTTPRequestHandler):
    server: RecordingServer

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass

    def do_POST(self) -> None:  # noqa: N802 - stdlib naming
        raw = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.attempts += 1
            status = self.server.fail_with or 200
            if status < 300:
                self.server.received.append(ReceivedRequest(self.path, dict(self.headers), json.loads(raw)))
        answer = json.dumps({"id": "email-1"} if status < 300 else {"error": "down"}).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)


class RecordingServer(ThreadingHTTPServer):
    """Accepts POSTs and keeps those it answered with 200; `fail_with` makes it answer an error instead."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _RecordingHandler)
        self.lock = threading.Lock()
        self.received: list[ReceivedRequest] = []
        self.attempts = 0
        self.fail_with: int | None = None

    @property
    def url(self) -> str:
        host, port = self.server_address[:2]
        return f"http://{host}:{port}"

    def take(self) -> list[ReceivedRequest]:
        """The requests received since the last call."""
        with self.lock:
            received, self.received = self.received, []
        return received


@contextmanager
def recording_server() -> Iterator[RecordingServer]:
    server = RecordingServer()
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
