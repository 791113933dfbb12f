"""The engine's transport layer, pinned fast through `CatalogHttpEngine.fetch` and an `httpx.MockTransport`:
streamed bodies and their Content-Encoding (RFC 9110 section 8.4: gzip, x-gzip, deflate in its zlib form
and the raw form some servers send, a list of codings undone in reverse), the response-size limit,
redirects followed by hand within one origin (RFC 6454: scheme, host, port), transport failures that
retrying cannot help (invalid request, TLS, DNS), the per-request timeout and the deadline, URL checks,
and the values shared between parsed entries.

Every expected value is written out by hand; the provider is Groq (``GET https://api.groq.com/openai/v1/models``,
``Authorization: Bearer``, the list under ``data``) unless a test says otherwise.
"""

from __future__ import annotations

import dataclasses
import gzip
import socket
import ssl
import time
import types
import zlib
from collections.abc import Callable, Iterable, Iterator

import httpx
import pytest

from catalog_pipeline import http_engine
from catalog_pipeline.http_engine import CatalogHttpEngine, DeadlineExceeded, ProviderError, credential_hosts
from catalog_pipeline.providers.registry import get_provider

GROQ_URL = "https://api.groq.com/openai/v1/models"
KEY = "gsk_test_key_0123"
LIST = b'{"object": "list", "data": [{"id": "llama-3.3-70b-versatile"}, {"id": "whisper-large-v3"}]}'
#: Pads a body past 2 MiB, where the engine starts sharing repeated values (a smaller list is parsed plainly).
PAD = "p" * (2 * 1024 * 1024)
#: max_response_mb=0.001 -> int(0.001 * 1,048,576) = 1,048 bytes
LIMIT_MB, LIMIT_BYTES = 0.001, 1048


class Stream(httpx.SyncByteStream):
    """A response body arriving in chunks, as from a socket; records how far it was read and whether closed."""

    def __init__(self, chunks: Iterable[bytes], on_chunk: Callable[[int], None] | None = None):
        self.chunks = list(chunks)
        self.read = 0
        self.closed = False
        self.on_chunk = on_chunk

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.chunks:
            self.read += 1
            if self.on_chunk:
                self.on_chunk(self.read)
            yield chunk

    def close(self) -> None:
        self.closed = True


def chunks_of(data: bytes, size: int = 7) -> list[bytes]:
    return [data[start : start + size] for start in range(0, len(data), size)]


def streamed(status: int, data: bytes, encoding: str | None = None, size: int = 7, **headers: str) -> httpx.Response:
    if encoding is not None:
        headers["Content-Encoding"] = encoding
    return httpx.Response(status, headers=headers, stream=Stream(chunks_of(data, size)))


def padded_list(length: int) -> bytes:
    """A valid empty Groq list, padded with spaces to exactly `length` bytes."""
    body = b'{"object": "list", "data": []}'
    return body + b" " * (length - len(body))


class Recorder:
    """A MockTransport handler answering from a list (the last answer repeats) and recording every request."""

    def __init__(self, answers: list[httpx.Response | Callable[[httpx.Request], httpx.Response]]):
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers[min(len(self.requests), len(self.answers)) - 1]
        return answer(request) if callable(answer) else answer


def fetch(answers, spec=None, environment=None, **options):  # type: ignore[no-untyped-def]
    recorder = answers if isinstance(answers, Recorder) else Recorder(answers)
    options.setdefault("backoff_seconds", 0)
    engine = CatalogHttpEngine(
        {"GROQ_API_KEY": KEY} if environment is None else environment,
        client=httpx.Client(transport=httpx.MockTransport(recorder)),
        **options,
    )
    try:
        return engine.fetch(spec or get_provider("groq")), recorder.requests
    finally:
        engine.close()


def failure(answers, spec=None, environment=None, **options) -> tuple[ProviderError, list[httpx.Request]]:  # type: ignore[no-untyped-def]
    recorder = answers if isinstance(answers, Recorder) else Recorder(answers)
    with pytest.raises(ProviderError) as raised:
        fetch(recorder, spec, environment, **options)
    return raised.value, recorder.requests


@pytest.fixture
def no_sleep(monkeypatch) -> list[float]:
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    return waits


# --- Content-Encoding, decoded as the body streams in --------------------------------------------------


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(wbits=-zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


@pytest.mark.parametrize(
    ("encoding", "packed"),
    [
        ("gzip", gzip.compress(LIST)),
        ("x-gzip", gzip.compress(LIST)),  # RFC 9110 8.4.1.3: equivalent to gzip
        ("GZIP", gzip.compress(LIST)),  # content codings are case-insensitive
        ("deflate", zlib.compress(LIST)),  # the zlib format RFC 9110 8.4.1.2 names
        ("deflate", _raw_deflate(LIST)),  # raw deflate, as some servers send it
        ("deflate, gzip", gzip.compress(zlib.compress(LIST))),  # deflate applied first: undone last
        ("gzip, deflate", zlib.compress(gzip.compress(LIST))),
        ("identity, gzip", gzip.compress(LIST)),  # identity is no coding
        ("gzip, ", gzip.compress(LIST)),  # RFC 9110 5.6.1: empty list elements are ignored
        ("identity", LIST),
    ],
    ids=[
        "gzip",
        "x-gzip",
        "GZIP",
        "deflate-zlib",
        "deflate-raw",
        "deflate,gzip",
        "gzip,deflate",
        "identity,gzip",
        "gzip-trailing-comma",
        "identity",
    ],
)
def test_a_compressed_body_streamed_in_small_chunks_is_unpacked_and_counted_unpacked(encoding, packed):
    """Seven-byte chunks of a compressed list: both models arrive, `bytes` is the unpacked size (91), one request."""
    result, requests = fetch([streamed(200, packed, encoding)])
    assert [entry["id"] for entry in result.entries] == ["llama-3.3-70b-versatile", "whisper-large-v3"]
    assert (result.bytes, result.http_status, result.attempts, len(requests)) == (91, 200, 1, 1)


def test_the_engine_asks_for_gzip_and_deflate_only_and_times_each_request_out():
    """Accept-Encoding names exactly what the engine can undo; the request timeout is the engine's per-request
    timeout (7 s) for connect, read, write and pool alike."""
    _, [request] = fetch([httpx.Response(200, content=LIST)], timeout_seconds=7)
    assert request.headers["Accept-Encoding"] == "gzip, deflate"
    assert request.extensions["timeout"] == {"connect": 7.0, "read": 7.0, "write": 7.0, "pool": 7.0}


def test_the_request_timeout_never_reaches_beyond_the_deadline():
    """A 30 s timeout under a 3 s deadline: each timeout is at most the 3 s left (wide margin below); under a
    0.5 s deadline at most 0.5 s (and never below the 0.05 s floor)."""
    _, [request] = fetch([httpx.Response(200, content=LIST)], timeout_seconds=30, deadline_seconds=3)
    timeouts = request.extensions["timeout"]
    assert set(timeouts) == {"connect", "read", "write", "pool"}
    assert all(1.0 < value <= 3.0 for value in timeouts.values()), timeouts
    _, [request] = fetch([httpx.Response(200, content=LIST)], timeout_seconds=30, deadline_seconds=0.5)
    assert all(0.05 <= value <= 0.5 for value in request.extensions["timeout"].values())


def test_an_unsupported_coding_fails_that_provider_without_a_retry():
    """Brotli is not asked for: 'unsupported Content-Encoding 'br'', one request, the provider and its URL."""
    error, requests = failure([streamed(200, b"\x8b\x02\x80", "br")])
    assert (error.provider, error.url, error.status, len(requests)) == ("groq", GROQ_URL, None, 1)
    assert error.cause == "unsupported Content-Encoding 'br'"


def test_a_corrupt_gzip_stream_names_zlibs_reason():
    """Bytes that are not gzip under 'Content-Encoding: gzip': zlib's own reason, in the engine's words."""
    error, requests = failure([streamed(200, b"this is not gzip at all", "gzip")])
    assert (error.provider, error.url) == ("groq", GROQ_URL)
    assert (
        error.cause
        == "corrupt compressed body (DecodingError: Error -3 while decompressing data: incorrect header check)"
    )
    assert len(requests) == 1


def test_a_corrupt_inner_coding_is_reported_too():
    """'deflate, gzip' whose gzip layer is sound but whose deflate layer inside is not (neither zlib nor raw)."""
    inner = b"\xff" * 40
    error, _ = failure([streamed(200, gzip.compress(inner), "deflate, gzip")])
    assert error.cause.startswith("corrupt compressed body (DecodingError: Error -")


def test_a_gzip_body_cut_short_is_truncated_not_a_shorter_list():
    """The last 8 bytes (CRC and length) missing: 'compressed body ends early (truncated)', not retried."""
    error, requests = failure([streamed(200, gzip.compress(LIST)[:-8], "gzip")])
    assert (error.provider, error.url) == ("groq", GROQ_URL)
    assert (error.cause, error.status, len(requests)) == ("compressed body ends early (truncated)", None, 1)


def test_a_gzip_bomb_fails_at_the_limit_before_the_whole_stream_is_read():
    """5 MiB of zeros packed into a few KiB, a 1 MiB limit: the error names the limit and the engine stops
    reading the stream once the unpacked bytes pass it (at about a fifth of the chunks)."""
    packed = gzip.compress(b"0" * (5 * 1024 * 1024))
    stream = Stream(chunks_of(packed, 256))
    error, _ = failure([httpx.Response(200, headers={"Content-Encoding": "gzip"}, stream=stream)], max_response_mb=1)
    assert error.cause == "response exceeds 1 MiB; not read further"
    assert stream.read < len(stream.chunks) / 2
    assert stream.closed


# --- the response-size limit, at its exact edge ---------------------------------------------------------


@pytest.mark.parametrize("encoding", [None, "gzip"])
def test_a_body_of_exactly_the_limit_is_read_and_one_byte_more_is_refused(encoding):
    """0.001 MiB is 1,048 bytes: a 1,048-byte list (unpacked) is read, a 1,049-byte one fails naming the limit."""
    pack = gzip.compress if encoding else bytes
    result, _ = fetch([streamed(200, pack(padded_list(LIMIT_BYTES)), encoding, size=100)], max_response_mb=LIMIT_MB)
    assert (result.entries, result.bytes) == ([], LIMIT_BYTES)
    error, _ = failure(
        [streamed(200, pack(padded_list(LIMIT_BYTES + 1)), encoding, size=100)], max_response_mb=LIMIT_MB
    )
    assert (error.provider, error.cause) == ("groq", "response exceeds 0.001 MiB; not read further")


def test_a_declared_length_beyond_the_limit_fails_before_a_byte_is_read():
    """Content-Length 1,049 under a 1,048-byte limit: refused at once, the stream never touched; a declared
    1,048 is read."""
    stream = Stream([padded_list(LIMIT_BYTES + 1)])
    response = httpx.Response(200, headers={"Content-Length": str(LIMIT_BYTES + 1)}, stream=stream)
    error, _ = failure([response], max_response_mb=LIMIT_MB)
    assert (error.cause, stream.read) == ("response exceeds 0.001 MiB; not read further", 0)
    unnamed = Stream([padded_list(LIMIT_BYTES + 1)])
    headers = {"Content-Length": str(LIMIT_BYTES + 1), "Content-Encoding": ""}  # an empty coding is none
    error, _ = failure([httpx.Response(200, headers=headers, stream=unnamed)], max_response_mb=LIMIT_MB)
    assert (error.cause, unnamed.read) == ("response exceeds 0.001 MiB; not read further", 0)
    exact = httpx.Response(200, headers={"Content-Length": str(LIMIT_BYTES)}, stream=Stream([padded_list(LIMIT_BYTES)]))
    assert fetch([exact], max_response_mb=LIMIT_MB)[0].bytes == LIMIT_BYTES


def test_a_declared_compressed_length_beyond_the_limit_is_judged_by_what_it_unpacks_to():
    """Content-Length counts the compressed bytes (RFC 9110 8.6): stored gzip of a 1,040-byte list is about
    1,063 bytes, over the 1,048-byte limit, yet unpacks to 1,040 bytes, within it: it is read."""
    packed = gzip.compress(padded_list(1040), compresslevel=0)
    assert len(packed) > LIMIT_BYTES
    response = httpx.Response(
        200,
        headers={"Content-Encoding": "gzip", "Content-Length": str(len(packed))},
        stream=Stream(chunks_of(packed, 100)),
    )
    assert fetch([response], max_response_mb=LIMIT_MB)[0].bytes == 1040


def test_the_limit_is_the_engines_else_the_specs_else_64_mib():
    """CATALOG_MAX_RESPONSE_MB (the engine's option) wins over a spec's own limit, which wins over the default."""
    spec = get_provider("groq")
    raised = dataclasses.replace(spec, max_response_mb=200)
    assert CatalogHttpEngine({}).response_limit_mb(spec) == 64
    assert CatalogHttpEngine({}).response_limit_mb(raised) == 200
    assert CatalogHttpEngine({}, max_response_mb=2).response_limit_mb(raised) == 2


def test_an_error_body_is_read_up_to_64_kib_for_its_message():
    """A 401 whose text starts after 65,536 spaces adds nothing to 'HTTP 401'; one space fewer and its first
    character is inside the 64 KiB read: 'HTTP 401 (t)'."""
    beyond, _ = failure([streamed(401, b" " * 65536 + b"tail", size=4096)])
    within, _ = failure([httpx.Response(401, content=b" " * 65535 + b"tail")])
    assert (beyond.cause, beyond.status) == ("HTTP 401", 401)
    assert (within.cause, within.status) == ("HTTP 401 (t)", 401)


def test_an_unreadable_error_body_leaves_the_status_alone():
    """A 403 whose gzip body is corrupt: the status is the message ('HTTP 403'), the decoding failure is not."""
    error, requests = failure([streamed(403, b"garbage", "gzip")])
    assert (error.cause, error.status, len(requests)) == ("HTTP 403", 403, 1)


def test_every_response_stream_is_closed_redirect_hops_and_errors_included():
    """A same-origin redirect, then a 404: both response streams are released."""
    hop = Stream([b""])
    gone = Stream([b"not here"])
    answers = [
        httpx.Response(302, headers={"Location": "/openai/v1/models?v=2"}, stream=hop),
        httpx.Response(404, stream=gone),
    ]
    error, _ = failure(answers)
    assert (error.cause, hop.closed, gone.closed) == ("HTTP 404 (not here)", True, True)


def test_a_connection_reset_while_the_body_streams_is_retried():
    """ReadError halfway through the first body: a second attempt, which succeeds (attempts 2)."""

    def reset_after_first_chunk(count: int) -> None:
        if count == 2:
            raise httpx.ReadError("connection reset by peer")

    broken = httpx.Response(200, stream=Stream(chunks_of(LIST, 30), on_chunk=reset_after_first_chunk))
    result, requests = fetch([broken, httpx.Response(200, content=LIST)])
    assert (len(result.entries), result.attempts, len(requests)) == (2, 2, 2)


# --- redirects: followed by hand within one origin -----------------------------------------------------


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_a_same_origin_redirect_is_followed_with_the_key(status):
    """Every redirect status of RFC 9110 15.4 with a relative Location: the second request goes to the joined
    URL and still carries the key; the result's URL stays the configured one."""
    answers = [
        httpx.Response(status, headers={"Location": "/openai/v2/models?page=1"}),
        httpx.Response(200, content=LIST),
    ]
    result, requests = fetch(answers)
    assert [str(request.url) for request in requests] == [GROQ_URL, "https://api.groq.com/openai/v2/models?page=1"]
    assert requests[1].headers["Authorization"] == f"Bearer {KEY}"
    assert (result.url, len(result.entries), result.attempts) == (GROQ_URL, 2, 1)


def test_the_default_port_written_out_is_the_same_origin():
    """https://api.groq.com:443 is https://api.groq.com (RFC 6454: the default port of the scheme)."""
    answers = [
        httpx.Response(308, headers={"Location": "https://api.groq.com:443/v2"}),
        httpx.Response(200, content=LIST),
    ]
    _, requests = fetch(answers)
    assert [request.url.path for request in requests] == ["/openai/v1/models", "/v2"]
    assert requests[1].headers["Authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize(
    ("location", "shown"),
    [
        ("http://api.groq.com/openai/v1/models", "http://api.groq.com/openai/v1/models"),  # another scheme
        ("https://api.groq.com:8443/openai/v1/models", "https://api.groq.com:8443/openai/v1/models"),  # another port
        (
            "https://mirror.example/v1/models?api_key=s3cr3t&page=2",
            "https://mirror.example/v1/models?api_key=***&page=2",
        ),
    ],
    ids=["scheme", "port", "host"],
)
def test_a_redirect_to_another_origin_is_refused_naming_the_masked_target(location, shown):
    """Not followed (one request): the cause names the target with any key in its query masked, and the host
    the credentials belong to."""
    error, requests = failure([httpx.Response(302, headers={"Location": location})])
    assert (
        error.cause
        == f"redirected to another origin, {shown}; not followed (credentials are only sent to api.groq.com)"
    )
    assert (error.provider, error.url, len(requests)) == ("groq", GROQ_URL, 1)


def test_five_redirects_are_followed_and_a_sixth_is_not():
    """MAX_REDIRECTS is 5: five hops then the list is six requests; six hops stop with the reason."""
    hop = httpx.Response(307, headers={"Location": "/openai/v1/models"})
    result, requests = fetch([hop] * 5 + [httpx.Response(200, content=LIST)])
    assert (len(requests), len(result.entries)) == (6, 2)
    error, requests = failure([hop] * 7)
    assert (error.provider, error.url, error.cause, len(requests)) == (
        "groq",
        GROQ_URL,
        "more than 5 redirects; stopped",
        6,
    )


def test_a_redirect_status_without_location_is_the_answer():
    """A 302 without Location has nowhere to go: it is not followed (one request) and its body is read."""
    result, requests = fetch([httpx.Response(302, content=LIST)])
    assert (len(requests), result.http_status, len(result.entries)) == (1, 302, 2)


# --- transport failures: what retrying can and cannot help --------------------------------------------


def _raising(make: Callable[[], BaseException]) -> Callable[[httpx.Request], httpx.Response]:
    def handler(request: httpx.Request) -> httpx.Response:
        raise make()

    return handler


def _connect_error_caused_by(cause: BaseException, message: str = "connection failed") -> httpx.ConnectError:
    error = httpx.ConnectError(message)
    error.__cause__ = cause
    return error


def _connect_error_during(cause: BaseException, message: str = "connection failed") -> httpx.ConnectError:
    try:
        raise cause
    except BaseException:  # noqa: BLE001 - the point is the implicit __context__
        try:
            raise httpx.ConnectError(message)  # noqa: B904 - no `from`: only __context__ links the cause
        except httpx.ConnectError as error:
            return error


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (
            lambda: httpx.UnsupportedProtocol("Request URL has an unsupported protocol 'ftp://'."),
            "invalid request: UnsupportedProtocol: Request URL has an unsupported protocol 'ftp://'. (not retried)",
        ),
        (
            lambda: httpx.LocalProtocolError("Illegal header value b'a\\nb'"),
            "invalid request: LocalProtocolError: Illegal header value b'a\\nb' (not retried)",
        ),
        (
            lambda: _connect_error_caused_by(ssl.SSLCertVerificationError(1, "certificate verify failed")),
            "TLS failure: ConnectError: connection failed (not retried)",
        ),
        (
            lambda: _connect_error_during(ssl.SSLError(1, "wrong version number")),
            "TLS failure: ConnectError: connection failed (not retried)",
        ),
        (
            lambda: _connect_error_caused_by(socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "lookup"),
            "DNS failure: ConnectError: lookup (not retried)",
        ),
        (
            lambda: _connect_error_during(socket.gaierror(socket.EAI_NONAME, "Name or service not known"), "lookup"),
            "DNS failure: ConnectError: lookup (not retried)",
        ),
        (
            lambda: httpx.ConnectError("[Errno -2] Name or service not known"),
            "DNS failure: ConnectError: [Errno -2] Name or service not known (not retried)",
        ),
        (
            lambda: httpx.ConnectError("nodename nor servname provided, or not known"),
            "DNS failure: ConnectError: nodename nor servname provided, or not known (not retried)",
        ),
        (
            lambda: httpx.ConnectError("certificate verify failed (_ssl.c:1006) CERTIFICATE_VERIFY_FAILED"),
            "TLS failure: ConnectError: certificate verify failed (_ssl.c:1006) CERTIFICATE_VERIFY_FAILED (not retried)",
        ),
        (
            lambda: httpx.ConnectError("[SSL] record layer failure"),
            "TLS failure: ConnectError: [SSL] record layer failure (not retried)",
        ),
    ],
    ids=[
        "unsupported-protocol",
        "local-protocol",
        "tls-cause",
        "tls-context",
        "dns-cause",
        "dns-context",
        "dns-text-linux",
        "dns-text-macos",
        "tls-text-verify",
        "tls-text-ssl",
    ],
)
def test_a_failure_retrying_cannot_help_is_reported_after_one_request(no_sleep, make, cause):
    """An invalid request, a TLS failure or a name that does not exist (found in the error's chain or, last,
    in its text): one request, no wait, the cause says why and '(not retried)'."""
    error, requests = failure([_raising(make)], max_attempts=4)
    assert (error.cause, error.status, len(requests), no_sleep) == (cause, None, 1, [])
    assert (error.provider, error.url) == ("groq", GROQ_URL)


@pytest.mark.parametrize(
    ("make", "cause"),
    [
        (
            lambda: _connect_error_caused_by(socket.gaierror(socket.EAI_AGAIN, "Temporary failure in name resolution")),
            "ConnectError: connection failed after 3 attempts",
        ),
        (lambda: httpx.ConnectError(""), "ConnectError after 3 attempts"),
        (lambda: httpx.ReadTimeout("timed out"), "ReadTimeout: timed out after 3 attempts"),
        (
            lambda: httpx.RemoteProtocolError("peer closed connection"),
            "RemoteProtocolError: peer closed connection after 3 attempts",
        ),
    ],
    ids=["dns-try-again", "no-message", "read-timeout", "remote-protocol"],
)
def test_a_failure_that_may_pass_is_retried_up_to_the_attempts(no_sleep, make, cause):
    """A resolver saying 'try again' (EAI_AGAIN), a failure without a message, a timeout within the deadline,
    a connection the peer closed: three attempts, two waits, the last cause."""
    error, requests = failure([_raising(make)], max_attempts=3, backoff_seconds=0.25)
    assert (error.cause, error.status, len(requests), no_sleep) == (cause, None, 3, [0.25, 0.5])


def test_a_body_httpx_cannot_decode_is_not_retried():
    """A DecodingError raised while sending (httpx decoding an in-memory body): its type and text, one request."""
    error, requests = failure([_raising(lambda: httpx.DecodingError("Error -3 while decompressing data"))])
    assert (error.cause, len(requests)) == ("DecodingError: Error -3 while decompressing data", 1)


# --- the deadline ----------------------------------------------------------------------------------------


def test_a_retry_due_after_the_deadline_ends_the_fetch_at_once(no_sleep):
    """429 with Retry-After 10 under a 3 s deadline: no wait, DeadlineExceeded naming the attempt and the wait."""
    with pytest.raises(DeadlineExceeded) as raised:
        fetch([httpx.Response(429, headers={"Retry-After": "10"})], deadline_seconds=3, max_retry_wait_seconds=30)
    assert raised.value.cause == (
        "deadline exceeded: no complete answer within 3 s (1 attempt(s); last: HTTP 429, next attempt due in 10.0 s)"
    )
    assert (raised.value.provider, raised.value.url, no_sleep) == ("groq", GROQ_URL, [])


def test_a_spent_deadline_sends_nothing_and_a_short_one_is_enough_for_a_quick_answer():
    """A deadline of 0 s: no request, '(0 attempt(s))'. Half a second is plenty for an answer that is there."""
    recorder = Recorder([httpx.Response(200, content=LIST)])
    with pytest.raises(DeadlineExceeded) as raised:
        fetch(recorder, deadline_seconds=0)
    assert (raised.value.cause, recorder.requests) == (
        "deadline exceeded: no complete answer within 0 s (0 attempt(s))",
        [],
    )
    assert (raised.value.provider, raised.value.url) == ("groq", GROQ_URL)
    assert len(fetch([httpx.Response(200, content=LIST)], deadline_seconds=0.5)[0].entries) == 2


@pytest.fixture
def clock(monkeypatch) -> types.SimpleNamespace:
    """The engine's monotonic clock, moved by hand (`clock.now`)."""
    state = types.SimpleNamespace(now=1000.0)
    engine_time = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    engine_time.monotonic = lambda: state.now
    engine_time.sleep = lambda seconds: setattr(state, "now", state.now + seconds)
    monkeypatch.setattr(http_engine, "time", engine_time)
    return state


def test_a_body_still_arriving_at_the_deadline_is_given_up(clock):
    """Each chunk takes 2 s under a 3 s deadline: after the second the fetch ends, naming what it waited for."""

    def slow(count: int) -> None:
        clock.now += 2

    stream = Stream(chunks_of(LIST, 10), on_chunk=slow)
    with pytest.raises(DeadlineExceeded) as raised:
        fetch([httpx.Response(200, stream=stream)], deadline_seconds=3)
    assert raised.value.cause == (
        "deadline exceeded: no complete answer within 3 s (1 attempt(s); last: body still arriving after 3 s)"
    )
    assert (stream.read, stream.closed) == (2, True)


def test_a_timeout_at_the_deadline_is_reported_as_the_deadline(clock):
    """A read timeout that fires when the 5 s budget is spent is the deadline, not 'after N attempts'."""

    def time_out(request: httpx.Request) -> httpx.Response:
        clock.now += 5
        raise httpx.ReadTimeout("timed out")

    with pytest.raises(DeadlineExceeded) as raised:
        fetch([time_out], deadline_seconds=5, max_attempts=4)
    assert (
        raised.value.cause
        == "deadline exceeded: no complete answer within 5 s (1 attempt(s); last: ReadTimeout: timed out)"
    )


def test_waits_that_use_up_the_deadline_stop_before_the_next_attempt(clock):
    """Backoff 2 s then 4 s under a 5 s deadline with 10 attempts: the third wait (8 s) is due beyond it."""
    with pytest.raises(DeadlineExceeded) as raised:
        fetch([httpx.Response(503)], deadline_seconds=5, max_attempts=10, backoff_seconds=2, max_retry_wait_seconds=60)
    assert raised.value.cause == (
        "deadline exceeded: no complete answer within 5 s (2 attempt(s); last: HTTP 503, next attempt due in 4.0 s)"
    )


# --- URLs the engine refuses before sending ----------------------------------------------------------


@pytest.mark.parametrize(
    ("base_url", "cause"),
    [
        ("ftp://api.groq.com/openai/v1", "invalid URL: scheme 'ftp', not http or https (not retried)"),
        ("api.groq.com/openai/v1", "invalid URL: scheme 'missing', not http or https (not retried)"),
        ("https://api.groq.com:0/openai/v1", "invalid URL: port 0 out of range (not retried)"),
        ("https://api.groq.com:65536/openai/v1", "invalid URL: port 65536 out of range (not retried)"),
        ("https://api.groq.com:-1/openai/v1", "invalid URL: port -1 out of range (not retried)"),
        ("https://api.groq.com:x1/openai/v1", "invalid URL: Invalid port: 'x1' (not retried)"),
    ],
    ids=["ftp", "no-scheme", "port-0", "port-65536", "port-minus-1", "unparsable"],
)
def test_a_url_that_cannot_be_fetched_is_refused_before_any_request(base_url, cause):
    """Only http and https, with a port from 1 to 65535 (RFC 6335), and a URL httpx can parse."""
    spec = dataclasses.replace(get_provider("groq"), base_url=base_url, variants=())
    error, requests = failure([httpx.Response(200, content=LIST)], spec=spec)
    assert (error.provider, error.cause, requests) == ("groq", cause, [])
    assert error.url == f"{base_url}/models"


def test_the_highest_port_is_a_port():
    """Port 65535 is in range: the request is sent."""
    spec = dataclasses.replace(get_provider("groq"), base_url="https://api.groq.com:65535/openai/v1", variants=())
    _, [request] = fetch([httpx.Response(200, content=LIST)], spec=spec)
    assert request.url.port == 65535


VERTEX_LIST = b'{"publisherModels": [{"name": "publishers/google/models/gemini-2.5-pro"}]}'


@pytest.mark.parametrize("location", ["europe-west4", "us-central1", "a", "eu_1.x-y"])
def test_a_location_of_letters_digits_dashes_underscores_and_dots_goes_into_the_host(location):
    """GOOGLE_VERTEX_LOCATION is pasted before '-aiplatform.googleapis.com' (Vertex AI docs: regional endpoints)."""
    environment = {"GOOGLE_VERTEX_API_KEY": KEY, "GOOGLE_VERTEX_LOCATION": location}
    _, [request] = fetch(
        [httpx.Response(200, content=VERTEX_LIST)], spec=get_provider("google-vertex"), environment=environment
    )
    assert request.url.host == f"{location}-aiplatform.googleapis.com".lower()


@pytest.mark.parametrize("location", ["eu/evil", "-eu", ".eu", "eu west", "evil.example#"])
def test_a_location_that_could_change_the_host_or_path_is_refused_before_any_request(location):
    """A slash, a leading dash or dot, a space, a '#': refused, naming the variable and what it may hold."""
    environment = {"GOOGLE_VERTEX_API_KEY": KEY, "GOOGLE_VERTEX_LOCATION": location}
    error, requests = failure(
        [httpx.Response(200, content=VERTEX_LIST)], spec=get_provider("google-vertex"), environment=environment
    )
    assert error.cause == "GOOGLE_VERTEX_LOCATION may hold only letters, digits, '-', '_' and '.' (not retried)"
    assert (error.provider, requests) == ("google-vertex", [])
    assert error.url.startswith(f"https://{location.split('#')[0]}")  # shown masked, as it was configured


def test_the_replay_servers_host_is_the_only_credential_host_in_replay_mode():
    """Replay mode: the key may go to the replay server's host only; a replay URL without a host allows none."""
    spec = get_provider("groq")
    assert credential_hosts(spec, {}, "http://LOCALHOST:8765/") == frozenset({"localhost"})
    assert credential_hosts(spec, {}, "file:///tmp/replay") == frozenset()
    assert credential_hosts(spec, {}, None) == frozenset({"api.groq.com"})


# --- credentials stripped for a host the spec does not name -------------------------------------------


def test_a_url_for_another_host_loses_its_user_info_and_every_query_value_that_is_a_key():
    """Secret query names in any case (key, API_KEY, token) and any value equal to a configured key of 4 or more
    characters go; a 3-character key is too short to recognise; other parameters stay, in order."""
    engine = CatalogHttpEngine({"GROQ_API_KEY": "abcd", "FAL_API_KEY": "xyz"})
    url = httpx.URL("https://user:pw@other.example/v1?key=1&API_KEY=2&page=3&token=4&cursor=abcd&short=xyz")
    assert str(engine._credential_free_url(url)) == "https://other.example/v1?page=3&short=xyz"
    assert str(engine._credential_free_url(httpx.URL("https://user@other.example/v1"))) == "https://other.example/v1"
    plain = httpx.URL("https://other.example/v1?page=3")
    assert engine._credential_free_url(plain) == plain


def test_headers_for_another_host_lose_every_credential_header_and_any_value_holding_a_key():
    """Credential header names in any case, and any header whose value contains a configured key of 4 or more
    characters; a 3-character key is too short to recognise."""
    engine = CatalogHttpEngine({"GROQ_API_KEY": "abcd", "FAL_API_KEY": "xyz"})
    headers = {
        "Authorization": "Bearer 1",
        "X-Api-Key": "2",
        "x-goog-api-key": "3",
        "Api-Key": "4",
        "Proxy-Authorization": "Basic 5",
        "X-Trace": "id-abcd-1",
        "X-Short": "xyz",
        "Accept": "application/json",
    }
    assert engine._credential_free(headers) == {"X-Short": "xyz", "Accept": "application/json"}


# --- parsing: exact values, shared where they repeat --------------------------------------------------


def test_repeated_short_values_are_one_object_and_long_values_and_containers_are_not():
    """Memory (README "Bounded memory"), in a list over 2 MiB: a string of up to 64 characters, an integer or a decimal repeated in
    two entries is one object; a 65-character string, the lists and the dicts are each their own; items of
    a list of up to 32 are shared, of a longer list not. "0.50" and "0.5" keep their own digits."""
    s64, s65 = "m" * 64, "n" * 65
    many = ", ".join(f'"t{i}"' for i in range(33))

    def entry(price: str) -> str:
        return (
            f'{{"id": "{s64}", "owned_by": "Meta", "long": "{s65}", "context_window": 131072, "price": {price}, '
            f'"modalities": ["text", "image"], "tags": [{many}], "limits": {{"k": 1}}}}'
        )

    body = f'{{"object": "list", "data": [{entry("0.50")}, {entry("0.5")}], "pad": "{PAD}"}}'
    result, _ = fetch([httpx.Response(200, content=body.encode())])
    first, second = result.entries
    assert (first["id"], second["owned_by"], second["context_window"]) == (s64, "Meta", 131072)
    assert first["id"] is second["id"] and first["owned_by"] is second["owned_by"]
    assert first["long"] == second["long"] and first["long"] is not second["long"]
    assert first["context_window"] is second["context_window"]
    assert (str(first["price"]), str(second["price"])) == ("0.50", "0.5")
    assert first["modalities"] is not second["modalities"] and first["limits"] is not second["limits"]
    assert first["modalities"][1] is second["modalities"][1]
    assert first["tags"] == second["tags"] and first["tags"][0] is not second["tags"][0]


def test_decimals_with_the_same_digits_are_shared():
    """In a list over 2 MiB, two prices "0.50" are one Decimal object (the value is immutable)."""
    body = b'{"object": "list", "data": [{"id": "a", "p": 0.50}, {"id": "b", "p": 0.50}], "pad": "%s"}' % PAD.encode()
    first, second = fetch([httpx.Response(200, content=body)])[0].entries
    assert first["p"] is second["p"]


def test_a_body_with_a_utf8_bom_and_a_lone_surrogate_is_still_read():
    """JSON text may start with a BOM (RFC 8259 8.1 lets a parser ignore it); one raw lone surrogate in one
    model's name must not make the whole list unreadable (the normalizer rejects that entry alone)."""
    body = b'\xef\xbb\xbf{"object": "list", "data": [{"id": "a", "name": "bad \xed\xa0\x80"}, {"id": "b"}]}'
    result, _ = fetch([httpx.Response(200, content=body)])
    assert [entry["id"] for entry in result.entries] == ["a", "b"]
    assert result.entries[0]["name"] == "bad \ud800"


def test_bytes_that_are_not_utf8_name_the_byte_and_the_size():
    """0xff cannot start a UTF-8 character: Python's reason, the byte count and HTTP 200."""
    body = b'{"data": ["\xff"]}'
    error, _ = failure([httpx.Response(200, content=body)])
    assert (error.provider, error.url) == ("groq", GROQ_URL)
    assert error.cause == (
        "response is not valid JSON ('utf-8' codec can't decode byte 0xff in position 11: invalid start byte); "
        "15 bytes received"
    )
    assert error.status == 200


@pytest.mark.parametrize("attempts", [0, 1])
def test_at_least_one_attempt_is_made_whatever_max_attempts_says(no_sleep, attempts):
    """max_attempts 0 or 1: one request, no wait, 'HTTP 503 after 1 attempts'."""
    error, requests = failure([httpx.Response(503)], max_attempts=attempts)
    assert (error.cause, error.status, len(requests), no_sleep) == ("HTTP 503 after 1 attempts", 503, 1, [])


def test_port_1_is_a_port_too():
    """The lowest port, 1, is in range: the request is sent to it."""
    spec = dataclasses.replace(get_provider("groq"), base_url="https://api.groq.com:1/openai/v1", variants=())
    _, [request] = fetch([httpx.Response(200, content=LIST)], spec=spec)
    assert request.url.port == 1


def test_the_default_http_port_written_out_is_the_same_origin():
    """http://api.groq.com:80 is http://api.groq.com (RFC 6454): the redirect is followed with the key."""
    spec = dataclasses.replace(get_provider("groq"), base_url="http://api.groq.com/openai/v1", variants=())
    answers = [
        httpx.Response(301, headers={"Location": "http://api.groq.com:80/v2"}),
        httpx.Response(200, content=LIST),
    ]
    _, requests = fetch(answers, spec=spec)
    assert [str(request.url) for request in requests] == [
        "http://api.groq.com/openai/v1/models",
        "http://api.groq.com/v2",
    ]
    assert requests[1].headers["Authorization"] == f"Bearer {KEY}"


def test_a_redirect_to_a_url_that_cannot_be_parsed_is_not_retried(no_sleep):
    """Location 'http://[::1' (an unclosed IPv6 literal): httpx refuses it; one request, no wait, the reason."""
    error, requests = failure([httpx.Response(301, headers={"Location": "http://[::1"})], max_attempts=4)
    assert error.cause == (
        "invalid URL: RemoteProtocolError: Invalid URL in location header: Invalid port: ':1'. (not retried)"
    )
    assert (error.url, len(requests), no_sleep) == (GROQ_URL, 1, [])


def test_a_tls_failure_while_the_body_streams_is_not_retried(no_sleep):
    """The connection's TLS layer fails halfway through the body: 'TLS failure', one request, the URL."""

    def fail_tls(count: int) -> None:
        if count == 2:
            raise _connect_error_caused_by(ssl.SSLError(1, "decryption failed or bad record mac"), "read failed")

    broken = httpx.Response(200, stream=Stream(chunks_of(LIST, 30), on_chunk=fail_tls))
    error, requests = failure([broken], max_attempts=3)
    assert (error.cause, error.url, len(requests)) == (
        "TLS failure: ConnectError: read failed (not retried)",
        GROQ_URL,
        1,
    )


def test_a_read_timeout_while_the_body_streams_is_retried_within_the_deadline(no_sleep):
    """A ReadTimeout mid-body with the deadline far away: a second attempt, which succeeds."""

    def stall(count: int) -> None:
        if count == 2:
            raise httpx.ReadTimeout("timed out")

    stalled = httpx.Response(200, stream=Stream(chunks_of(LIST, 30), on_chunk=stall))
    result, requests = fetch([stalled, httpx.Response(200, content=LIST)])
    assert (len(result.entries), result.attempts, len(requests)) == (2, 2, 2)


def test_an_error_body_that_is_not_utf8_is_shown_with_replacement_characters():
    """A 401 body with a stray 0xff byte: the message keeps the text around it, the byte shown as U+FFFD."""
    error, _ = failure([httpx.Response(401, content=b"bad \xff key")])
    assert error.cause == "HTTP 401 (bad \ufffd key)"


@pytest.mark.parametrize("encoding", ["gzip", "deflate"])
def test_each_decoding_step_unpacks_at_most_a_quarter_mebibyte(encoding):
    """Bounded memory: 600 KiB packed into one chunk comes out in steps of at most 256 KiB, and all of it."""
    from catalog_pipeline.http_engine import _Decoder

    data = b"0" * (600 * 1024)
    packed = gzip.compress(data) if encoding == "gzip" else zlib.compress(data)
    decoder = _Decoder(get_provider("groq"), GROQ_URL, encoding)
    pieces = [*decoder.feed(packed), *decoder.finish()]
    assert (max(map(len, pieces)), len(pieces), b"".join(pieces) == data) == (256 * 1024, 3, True)


def test_a_body_unpacking_to_more_than_one_step_from_one_chunk_is_read_whole():
    """600 KiB of list packed into a single chunk: every byte arrives, over three decoding steps."""
    body = b'{"object": "list", "data": [], "pad": "' + b"0" * (600 * 1024) + b'"}'
    packed = gzip.compress(body)
    result, _ = fetch([streamed(200, packed, "gzip", size=len(packed))])
    assert result.bytes == len(body)


def test_a_repeated_cursor_is_shown_cut_at_40_characters():
    """fal: a 50-character cursor seen twice is named by its first 40."""
    same = {"models": [{"endpoint_id": "fal-ai/a"}], "next_cursor": "c" * 40 + "d" * 10, "has_more": True}
    error, _ = failure([httpx.Response(200, json=same)], spec=get_provider("fal"), environment={})
    assert error.cause == f"pagination repeats cursor {'c' * 40!r}"


def test_the_page_cap_names_the_url():
    """fal with max_pages 2 and a provider that never stops: two requests, then the cap, with the URL."""
    spec = get_provider("fal")
    capped = dataclasses.replace(spec, pagination=dataclasses.replace(spec.pagination, max_pages=2))
    page = {"models": [{"endpoint_id": "fal-ai/a"}], "has_more": True}
    pages = [httpx.Response(200, json={**page, "next_cursor": f"c{n}"}) for n in range(3)]
    error, requests = failure(pages, spec=capped, environment={})
    assert (error.url, error.cause, len(requests)) == ("https://api.fal.ai/v1/models", "more than 2 pages; stopped", 2)


def test_a_key_inside_any_cause_is_masked_and_the_error_keeps_its_type_url_and_status(no_sleep):
    """A transport error that repeats the key: '***' in its place, still a ProviderError with the URL and the
    whole message rebuilt around the masked cause."""
    error, _ = failure([_raising(lambda: httpx.ConnectError(f"proxy refused {KEY}"))], max_attempts=2)
    assert (type(error), error.cause, error.url, error.status) == (
        ProviderError,
        "ConnectError: proxy refused *** after 2 attempts",
        GROQ_URL,
        None,
    )
    assert str(error) == f"provider 'groq': GET {GROQ_URL}: ConnectError: proxy refused *** after 2 attempts"


def test_a_deadline_error_quoting_a_key_stays_a_deadline_error(clock):
    """The timeout that ends the budget repeats the key: masked, and still DeadlineExceeded."""

    def time_out(request: httpx.Request) -> httpx.Response:
        clock.now += 5
        raise httpx.ReadTimeout(f"timed out at {KEY}")

    with pytest.raises(DeadlineExceeded) as raised:
        fetch([time_out], deadline_seconds=5)
    assert raised.value.cause == (
        "deadline exceeded: no complete answer within 5 s (1 attempt(s); last: ReadTimeout: timed out at ***)"
    )


def test_a_deflate_body_corrupt_midway_is_reported_with_zlibs_reason_for_that_spot():
    """A zlib-wrapped body with 20 bytes overwritten at offset 500, in 100-byte chunks: the decoder that
    accepted the first chunk as zlib keeps reading it as zlib, and zlib names what it found there."""
    data = b",".join(str(i * 7919 % 100003).encode() for i in range(20000))
    packed = bytearray(zlib.compress(data))
    packed[500:520] = b"\xff" * 20
    error, _ = failure([streamed(200, bytes(packed), "deflate", size=100)])
    assert (
        error.cause
        == "corrupt compressed body (DecodingError: Error -3 while decompressing data: invalid distance too far back)"
    )


def test_a_permanent_failure_at_the_deadline_is_reported_as_itself(clock):
    """A TLS failure that happens as the budget runs out is a TLS failure, not 'deadline exceeded'."""

    def fail(request: httpx.Request) -> httpx.Response:
        clock.now += 5
        raise _connect_error_caused_by(ssl.SSLCertVerificationError(1, "certificate verify failed"))

    error, requests = failure([fail], deadline_seconds=5)
    assert (type(error), error.cause, len(requests)) == (
        ProviderError,
        "TLS failure: ConnectError: connection failed (not retried)",
        1,
    )


def test_the_default_engine_caps_a_retry_after_at_30_seconds(no_sleep):
    """README "Failure behaviour": Retry-After is honoured, capped at 30 s: a 429 asking for 100 s waits 30."""
    recorder = Recorder([httpx.Response(429, headers={"Retry-After": "100"}), httpx.Response(200, content=LIST)])
    engine = CatalogHttpEngine({"GROQ_API_KEY": KEY}, client=httpx.Client(transport=httpx.MockTransport(recorder)))
    assert len(engine.fetch(get_provider("groq")).entries) == 2
    assert no_sleep == [30.0]


def test_the_latency_is_in_milliseconds_with_one_decimal(monkeypatch):
    """0.21234 s on the engine's clock is 212.3 ms (rounded to one decimal, not to a whole or two decimals)."""
    readings = iter([100.0, 100.21234])
    engine_time = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    engine_time.perf_counter = lambda: next(readings)
    monkeypatch.setattr(http_engine, "time", engine_time)
    assert fetch([httpx.Response(200, content=LIST)])[0].latency_ms == 212.3


def test_replay_mode_keeps_the_path_and_adds_no_empty_query():
    """https://api.groq.com/openai/v1/models -> {replay}/groq/openai/v1/models: no '?' without a query."""
    from catalog_pipeline.http_engine import replay_rewrite

    assert replay_rewrite(GROQ_URL, "groq", "http://127.0.0.1:8765/") == "http://127.0.0.1:8765/groq/openai/v1/models"


def test_the_default_engine_makes_four_attempts_with_a_30_second_timeout(no_sleep):
    """README "Failure behaviour": up to 4 attempts; each request times out after 30 s (the deadline, 90 s,
    is further away)."""
    recorder = Recorder([httpx.Response(503)])
    engine = CatalogHttpEngine({"GROQ_API_KEY": KEY}, client=httpx.Client(transport=httpx.MockTransport(recorder)))
    with pytest.raises(ProviderError) as raised:
        engine.fetch(get_provider("groq"))
    assert (raised.value.cause, len(recorder.requests)) == ("HTTP 503 after 4 attempts", 4)
    assert recorder.requests[0].extensions["timeout"] == {"connect": 30.0, "read": 30.0, "write": 30.0, "pool": 30.0}


def test_a_key_echoed_just_before_the_cut_of_an_error_body_leaves_no_piece_of_it():
    """The key (18 characters, no known shape) starts 5 characters before the 200-character cut: masked
    before cutting, so the message ends in '*** t…', not in the key's first five characters."""
    key = "plainvalue12345678"
    body = "x" * 194 + key + " tail"
    error, _ = failure([httpx.Response(401, text=body)], environment={"GROQ_API_KEY": key})
    assert error.cause == "HTTP 401 (" + "x" * 194 + "*** t…)"


def test_a_body_without_the_list_names_the_provider_and_its_url():
    """Groq answering an object without 'data': the provider, its real URL and what was found."""
    error, _ = failure([httpx.Response(200, json={"object": "list"})])
    assert (error.provider, error.url, error.cause) == (
        "groq",
        GROQ_URL,
        "expected a list in field 'data', found nothing",
    )


def test_every_endpoint_tried_before_the_last_is_listed_in_order():
    """DeepInfra with a second fallback: all three answer 404; the last error lists the two before it,
    separated by '; '."""
    spec = get_provider("deepinfra")
    [openai_v1] = spec.variants
    second = dataclasses.replace(openai_v1, name="second", changes={**openai_v1.changes, "list_path": "/v2/models"})
    error, requests = failure([httpx.Response(404)], spec=dataclasses.replace(spec, variants=(openai_v1, second)))
    assert error.cause == (
        "HTTP 404 (tried before: primary (https://api.deepinfra.com/models/list) answered HTTP 404; "
        "openai-v1 (https://api.deepinfra.com/v1/openai/models) answered HTTP 404)"
    )
    assert (error.url, len(requests)) == ("https://api.deepinfra.com/v2/models", 3)


def test_a_base_url_with_a_trailing_slash_is_joined_without_a_double_slash():
    """base_url 'https://api.groq.com/openai/v1/' and list_path '/models': GET https://api.groq.com/openai/v1/models."""
    spec = dataclasses.replace(get_provider("groq"), base_url="https://api.groq.com/openai/v1/", variants=())
    _, [request] = fetch([httpx.Response(200, content=LIST)], spec=spec)
    assert str(request.url) == GROQ_URL


def _stream_read(slug: str, body: bytes) -> list:
    import io

    from catalog_pipeline.http_engine import _streamed_records

    return list(_streamed_records(get_provider(slug), "https://shown.example/models", 200, io.BytesIO(body)))


def test_a_list_read_entry_by_entry_yields_the_entries_with_exact_decimals():
    """The streaming reader of large unpaged lists (main, issue 11): groq's `data`, helicone's nested
    `data.models`, together's bare list; 0.1 stays Decimal('0.1'); fields after the list are ignored."""
    from decimal import Decimal

    groq = _stream_read("groq", b'{"object": "list", "data": [{"id": "a", "p": 0.1}, {"id": "b"}], "more": 1}')
    assert groq == [{"id": "a", "p": Decimal("0.1")}, {"id": "b"}]
    assert _stream_read("helicone", b'{"data": {"total": 1, "models": [{"id": "h"}]}}') == [{"id": "h"}]
    assert _stream_read("together", b'[{"id": "t-1"}, {"id": "t-2"}]') == [{"id": "t-1"}, {"id": "t-2"}]


@pytest.mark.parametrize(
    ("slug", "body", "cause"),
    [
        ("groq", b'{"object": "list", "data": {"id": "x"}}', "expected a list in field 'data', found map"),
        ("groq", b'{"object": "list", "data": null}', "expected a list in field 'data', found nothing"),
        ("groq", b'{"object": "list"}', "expected a list in field 'data', found nothing"),
        ("groq", b'{"object": "list", "data": "none"}', "expected a list in field 'data', found string"),
        ("together", b'{"data": []}', "expected a list in the body, found map"),
    ],
    ids=["object", "null", "absent", "string", "bare-list-expected"],
)
def test_a_streamed_body_without_the_list_names_where_it_was_expected(slug, body, cause):
    """Streamed or parsed whole, the error names the field that should hold the list and what was there."""
    with pytest.raises(ProviderError) as raised:
        _stream_read(slug, body)
    assert (raised.value.provider, raised.value.url, raised.value.cause) == (
        slug,
        "https://shown.example/models",
        cause,
    )


def test_a_streamed_body_that_is_not_json_keeps_the_status():
    """A list cut off mid-entry: 'response is not valid JSON (...)', HTTP 200 kept."""
    with pytest.raises(ProviderError) as raised:
        _stream_read("groq", b'{"object": "list", "data": [{"id": "a"}, {"id": ')
    assert raised.value.cause.startswith("response is not valid JSON (")
    assert (raised.value.status, raised.value.provider) == (200, "groq")


def test_a_page_validator_is_stored_as_json_and_read_back_the_same():
    """What the snapshot store keeps per page: cursor, ETag and Last-Modified under their own keys, and read
    back into the same validator; a stored page without validators reads back as None for each."""
    from catalog_pipeline.http_engine import PageValidator

    validator = PageValidator("Mg==", '"v1-abc"', "Tue, 01 Dec 2026 12:00:00 GMT")
    assert validator.as_json() == {
        "cursor": "Mg==",
        "etag": '"v1-abc"',
        "last_modified": "Tue, 01 Dec 2026 12:00:00 GMT",
    }
    assert PageValidator.from_json(validator.as_json()) == validator
    assert PageValidator.from_json({}) == PageValidator(None, None, None)


def test_a_conditional_request_sends_each_validator_in_its_rfc_9110_header():
    """RFC 9110 13.1.2 / 13.1.3: the ETag goes back in If-None-Match, Last-Modified in If-Modified-Since;
    a validator the page was not served with is not sent, and no stored page means no condition."""
    from catalog_pipeline.http_engine import PageValidator, _conditional_headers

    both = PageValidator(None, '"v1"', "Tue, 01 Dec 2026 12:00:00 GMT")
    assert _conditional_headers(both) == {"If-None-Match": '"v1"', "If-Modified-Since": "Tue, 01 Dec 2026 12:00:00 GMT"}
    assert _conditional_headers(PageValidator(None, '"v1"')) == {"If-None-Match": '"v1"'}
    assert _conditional_headers(PageValidator(None, None, "Tue, 01 Dec 2026 12:00:00 GMT")) == {
        "If-Modified-Since": "Tue, 01 Dec 2026 12:00:00 GMT"
    }
    assert _conditional_headers(None) == {}
