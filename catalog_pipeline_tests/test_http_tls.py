"""The engine over real TLS on a loopback socket: a server whose certificate no trusted authority signed is
refused (named as a TLS failure of the provider, never retried), and a process told to trust that authority
(``SSL_CERT_FILE``, as a company's proxy CA is configured) reads the list. Every engine of a process shares
one TLS context, so the variable must hold for all of them.

The server answers as Cerebras' list does (``GET /public/v1/models``, the list under ``data``) behind a certificate for
127.0.0.1 issued by a throwaway authority (trustme).
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import trustme

from catalog_pipeline.http_engine import CatalogHttpEngine, ProviderError
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline_tests.conftest import PROJECT_ROOT

LIST = {"object": "list", "data": [{"id": "llama3.1-8b"}, {"id": "qwen-3-32b"}]}


class _ListHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's name
        body = json.dumps(LIST).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        return None


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """An HTTPS server on 127.0.0.1; yields its URL and the PEM file of the authority that signed it."""
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(context)
    server = ThreadingHTTPServer(("127.0.0.1", 0), _ListHandler)
    server.socket = context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    authority_pem = tmp_path / "authority.pem"
    authority.cert_pem.write_to_path(str(authority_pem))
    try:
        yield f"https://127.0.0.1:{server.server_address[1]}", authority_pem
    finally:
        server.shutdown()
        server.server_close()


def test_a_certificate_no_trusted_authority_signed_fails_the_provider_as_a_tls_failure(tls_server):
    url, _ = tls_server
    engine = CatalogHttpEngine({}, replay_url=url, max_attempts=3, backoff_seconds=0)
    try:
        with pytest.raises(ProviderError) as raised:
            engine.fetch(get_provider("cerebras"))
    finally:
        engine.close()
    message = str(raised.value)
    assert message.startswith("provider 'cerebras':"), message
    assert "TLS failure" in message and "CERTIFICATE_VERIFY_FAILED" in message, message
    assert "not retried" in message, message


READ_LIST = textwrap.dedent(
    """
    import sys
    from catalog_pipeline.http_engine import CatalogHttpEngine
    from catalog_pipeline.providers.registry import get_provider

    for _ in range(2):  # two engines of one process: the TLS context they share trusts the same authority
        engine = CatalogHttpEngine({}, replay_url=sys.argv[1])
        try:
            print(" ".join(sorted(entry["id"] for entry in engine.fetch(get_provider("cerebras")).entries)))
        finally:
            engine.close()
    """
)


def test_a_process_trusting_the_servers_authority_through_ssl_cert_file_reads_the_list(tls_server):
    url, authority_pem = tls_server
    environment = {"PATH": "/usr/bin:/bin", "SSL_CERT_FILE": str(authority_pem)}
    done = subprocess.run(
        [sys.executable, "-c", READ_LIST, url],
        env=environment,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.split("\n")[:2] == ["llama3.1-8b qwen-3-32b"] * 2, done.stdout
