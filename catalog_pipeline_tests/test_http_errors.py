"""What the engine reports when a provider answers something it cannot use, and how it reads numbers and
pages at the edges: each error names the provider, the URL (never a key) and the cause, and keeps the
HTTP status; prices stay exact decimals; page-number paging without totals stops at the first short page.

Every case goes through `CatalogHttpEngine.fetch` with an `httpx.MockTransport` at the real URL.
"""

from __future__ import annotations

import time
from decimal import Decimal
from email.utils import formatdate

import httpx
import pytest

from catalog_pipeline.http_engine import CatalogHttpEngine, ProviderError, ProviderNotConfigured
from catalog_pipeline.providers.registry import get_provider

GROQ_URL = "https://api.groq.com/openai/v1/models"


def _fetch(slug: str, responses: list[httpx.Response], environment: dict[str, str] | None = None, **options):  # type: ignore[no-untyped-def]
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return responses[min(len(requests), len(responses)) - 1]

    environment = environment if environment is not None else {f"{slug.upper().replace('-', '_')}_API_KEY": "key"}
    engine = CatalogHttpEngine(environment, client=httpx.Client(transport=httpx.MockTransport(answer)), **options)
    try:
        return engine.fetch(get_provider(slug)), requests
    finally:
        engine.close()


def _error(slug: str, responses: list[httpx.Response], **options) -> ProviderError:  # type: ignore[no-untyped-def]
    with pytest.raises(ProviderError) as raised:
        _fetch(slug, responses, **options)
    return raised.value


@pytest.mark.parametrize(
    ("slug", "body", "cause"),
    [
        ("groq", {"object": "list", "data": {"id": "x"}}, "expected a list in field 'data', found dict"),
        ("groq", {"object": "list"}, "expected a list in field 'data', found nothing"),
        ("together", {"data": []}, "expected a list in the body, found dict"),
        ("helicone", {"data": {"models": "none"}}, "expected a list in field 'data.models', found str"),
    ],
)
def test_a_body_without_the_list_names_where_the_list_was_expected(slug, body, cause):
    """The cause says which field should have held the list and what was there instead."""
    error = _error(slug, [httpx.Response(200, json=body)])
    assert error.provider == slug
    assert error.cause == cause
    assert str(error) == f"provider {slug!r}: GET {error.url}: {cause}"


def test_invalid_json_says_how_many_bytes_arrived_and_keeps_the_status():
    """A truncated body: 'not valid JSON', the byte count, the provider, the URL and HTTP 200."""
    error = _error("groq", [httpx.Response(200, content=b'{"object": "list", "data": [')])
    assert (error.provider, error.url, error.status) == ("groq", GROQ_URL, 200)
    assert error.cause.startswith("response is not valid JSON (") and error.cause.endswith("; 28 bytes received")


def test_a_client_error_shows_the_first_200_characters_of_the_body_on_one_line():
    """HTTP 401 with a two-line body: the cause is 'HTTP 401 (line one line two ...)', cut to 200 characters
    with an ellipsis; an empty body adds nothing."""
    body = "invalid api key\nsee the docs " + "x" * 300
    error = _error("groq", [httpx.Response(401, text=body)])
    assert (error.provider, error.url, error.status) == ("groq", GROQ_URL, 401)
    assert error.cause == f"HTTP 401 ({('invalid api key see the docs ' + 'x' * 300)[:199]}…)"
    assert _error("groq", [httpx.Response(403, text="  ")]).cause == "HTTP 403"


def test_a_key_echoed_by_the_provider_is_masked_and_the_error_keeps_its_status():
    """The provider repeats the 4-character key in its error body: '***' instead, provider, URL and status kept."""
    error = _error("groq", [httpx.Response(401, text="bad key abcd")], environment={"GROQ_API_KEY": "abcd"})
    assert error.cause == "HTTP 401 (bad key ***)"
    assert (error.provider, error.url, error.status) == ("groq", GROQ_URL, 401)


@pytest.mark.parametrize(
    ("slug", "body", "field"),
    [
        ("anthropic", {"data": [{"id": "claude-a"}], "has_more": True, "last_id": None}, "last_id"),
        ("fal", {"models": [{"endpoint_id": "fal-ai/a"}], "has_more": True, "next_cursor": ""}, "next_cursor"),
    ],
)
def test_has_more_without_a_cursor_is_an_error_naming_the_cursor_field(slug, body, field):
    """'More pages' with nothing to ask for them with would end the list early: it is an error instead."""
    error = _error(slug, [httpx.Response(200, json=body)])
    assert error.provider == slug and error.url.startswith("https://api.")
    assert error.cause == f"has_more is true but {field!r} is empty"


def test_prices_parse_as_exact_decimals_and_absurd_integers_as_decimals():
    """0.1 stays Decimal('0.1') (a float would be 0.1000000000000000055...); a 4,000-digit integer is still an
    int, a 4,001-digit one becomes a Decimal for the normalizer to reject instead of failing the whole list."""
    body = (
        '{"object": "list", "data": [{"id": "a", "pricing": {"prompt": 0.1}, "n": '
        + "9" * 4000
        + '}, {"id": "b", "n": '
        + "9" * 4001
        + "}]}"
    ).encode()
    result, _ = _fetch("groq", [httpx.Response(200, content=body)])
    first, second = result.entries
    assert first["pricing"]["prompt"] == Decimal("0.1") and isinstance(first["pricing"]["prompt"], Decimal)
    assert isinstance(first["n"], int) and first["n"] == int("9" * 4000)
    assert isinstance(second["n"], Decimal) and second["n"] == Decimal("9" * 4001)


def test_page_number_paging_without_totals_stops_at_the_first_short_page():
    """Cloudflare pages of 100 without result_info: a full page asks for the next (page 2, then 3), the
    first page shorter than 100 is the last."""

    def page(start: int, count: int) -> httpx.Response:
        return httpx.Response(
            200, json={"success": True, "result": [{"name": f"@cf/m/{start + i}"} for i in range(count)]}
        )

    environment = {"CLOUDFLARE_WORKERS_AI_API_KEY": "key", "CLOUDFLARE_ACCOUNT_ID": "acc"}
    result, requests = _fetch(
        "cloudflare-workers-ai", [page(0, 100), page(100, 100), page(200, 99)], environment=environment
    )
    assert [request.url.params["page"] for request in requests] == ["1", "2", "3"]
    assert len(result.entries) == 299 and result.pages == 3


def test_page_number_paging_stops_at_the_reported_total_count():
    """result_info.total_count 150 over pages of 100: two requests, even though the second page is full."""

    def page(number: int) -> httpx.Response:
        entries = [{"name": f"@cf/m/{number}-{i}"} for i in range(100 if number == 1 else 50)]
        return httpx.Response(200, json={"result": entries, "result_info": {"total_count": 150, "page": number}})

    environment = {"CLOUDFLARE_WORKERS_AI_API_KEY": "key", "CLOUDFLARE_ACCOUNT_ID": "acc"}
    result, requests = _fetch("cloudflare-workers-ai", [page(1), page(2), page(3)], environment=environment)
    assert (len(requests), len(result.entries)) == (2, 150)


def test_an_unconfigured_provider_names_every_missing_variable_and_its_url():
    """Cloudflare without key and account: both variables, the URL with the placeholder, the provider."""
    with pytest.raises(ProviderNotConfigured) as raised:
        _fetch("cloudflare-workers-ai", [], environment={})
    error = raised.value
    assert error.provider == "cloudflare-workers-ai"
    assert error.url == "https://api.cloudflare.com/client/v4/accounts/{CLOUDFLARE_ACCOUNT_ID}/ai/models/search"
    assert error.missing == ["CLOUDFLARE_WORKERS_AI_API_KEY", "CLOUDFLARE_ACCOUNT_ID"]
    assert error.cause == "not configured: set CLOUDFLARE_WORKERS_AI_API_KEY, CLOUDFLARE_ACCOUNT_ID"


def test_retry_after_as_an_http_date_waits_until_that_time(monkeypatch):
    """Retry-After as a date 10 s ahead waits about 10 s; a date in the past retries at once."""
    sleeps: list[float] = []
    monkeypatch.setattr(time, "sleep", sleeps.append)
    ahead, past = formatdate(time.time() + 10, usegmt=True), formatdate(time.time() - 60, usegmt=True)
    ok = httpx.Response(200, json={"object": "list", "data": []})
    _fetch(
        "groq",
        [httpx.Response(429, headers={"Retry-After": ahead}), httpx.Response(503, headers={"Retry-After": past}), ok],
        max_attempts=3,
        max_retry_wait_seconds=30,
    )
    assert len(sleeps) == 2
    assert 7 <= sleeps[0] <= 10.5
    assert sleeps[1] == 0


def test_server_errors_after_every_attempt_keep_the_status(monkeypatch):
    """Four 502s: 'HTTP 502 after 4 attempts', status 502, provider and URL."""
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    error = _error("groq", [httpx.Response(502)], max_attempts=4)
    assert (error.cause, error.status, error.provider, error.url) == (
        "HTTP 502 after 4 attempts",
        502,
        "groq",
        GROQ_URL,
    )


def test_a_fetch_reports_its_pages_bytes_status_attempts_and_latency_in_milliseconds(monkeypatch):
    """Two pages, the first after one 429: pages 2, bytes of both bodies, status 200, 3 attempts, and the
    latency from the engine's clock in ms with one decimal (0.25 s -> 250.0)."""
    import types

    from catalog_pipeline import http_engine

    readings = [100.0]

    def perf_counter() -> float:  # the first reading starts the fetch; every later one is 0.25 s on
        reading = readings[-1]
        readings.append(100.25)
        return reading

    engine_time = types.SimpleNamespace(**{name: getattr(time, name) for name in dir(time) if not name.startswith("_")})
    engine_time.perf_counter, engine_time.sleep = perf_counter, lambda seconds: None
    monkeypatch.setattr(http_engine, "time", engine_time)
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    first = b'{"models": [{"endpoint_id": "fal-ai/a"}], "next_cursor": "Mg==", "has_more": true}'
    second = b'{"models": [{"endpoint_id": "fal-ai/b"}], "next_cursor": null, "has_more": false}'
    result, requests = _fetch(
        "fal", [httpx.Response(429), httpx.Response(200, content=first), httpx.Response(200, content=second)]
    )
    assert (result.provider, result.url, result.pages, result.http_status) == (
        "fal",
        "https://api.fal.ai/v1/models",
        2,
        200,
    )
    assert (result.bytes, result.attempts, len(requests)) == (len(first) + len(second), 3, 3)
    assert result.latency_ms == 250.0


def test_when_every_endpoint_is_gone_the_error_lists_what_was_tried():
    """DeepInfra: the public list and the OpenAI-compatible one both answer 404: the last error, naming the
    endpoint tried before it and keeping status 404."""
    error = _error("deepinfra", [httpx.Response(404, text="gone")])
    assert (error.provider, error.url, error.status) == ("deepinfra", "https://api.deepinfra.com/v1/openai/models", 404)
    assert (
        error.cause
        == "HTTP 404 (gone) (tried before: primary (https://api.deepinfra.com/models/list) answered HTTP 404)"
    )


def test_a_fallback_that_needs_a_key_that_is_not_set_is_skipped_and_named():
    """Cerebras' public list answers 404 and its keyed fallback has no key: 'no endpoint left', both named."""
    error = _error("cerebras", [httpx.Response(404)], environment={})
    assert (error.provider, error.url) == ("cerebras", "https://api.cerebras.ai/public/v1/models")
    assert error.cause == (
        "no endpoint left: primary (https://api.cerebras.ai/public/v1/models) answered HTTP 404; "
        "openai-v1 not configured"
    )


def test_410_gone_moves_to_the_next_endpoint_like_404():
    """Together's /v1/models answers 410: the legacy list is asked next and its models arrive."""
    legacy = [{"name": "togethercomputer/llama-2-70b-chat", "pricing": {"input": 225, "output": 225}}]
    result, requests = _fetch("together", [httpx.Response(410), httpx.Response(200, json=legacy)])
    assert [str(r.url) for r in requests] == [
        "https://api.together.xyz/v1/models",
        "https://api.together.xyz/api/models",
    ]
    assert (result.endpoint, len(result.entries)) == ("legacy", 1)


def test_other_client_errors_do_not_move_to_another_endpoint():
    """A 400 or 401 says nothing about where the list moved: the fetch ends there, with that status."""
    for status in (400, 401):
        error = _error("deepinfra", [httpx.Response(status)])
        assert (error.status, error.url) == (status, "https://api.deepinfra.com/models/list")


def test_an_unknown_endpoint_selector_is_an_error_naming_the_variable_and_the_choices():
    """GOOGLE_VERTEX_API=bogus: the provider, its (masked) URL and the valid names."""
    error = _error("google-vertex", [], environment={"GOOGLE_VERTEX_API": "bogus", "GOOGLE_VERTEX_LOCATION": "eu"})
    assert (error.provider, error.url) == (
        "google-vertex",
        "https://eu-aiplatform.googleapis.com/v1beta1/publishers/google/models",
    )
    assert error.cause == "GOOGLE_VERTEX_API='bogus' is not an endpoint of google-vertex; use one of: vertex, gemini"


def test_a_repeated_cursor_and_too_many_pages_stop_the_fetch_with_a_reason():
    """A cursor seen before would loop forever: an error naming it. A provider that never stops paging is
    cut at max_pages (here 2): two requests, then the error."""
    from dataclasses import replace

    same = {"models": [{"endpoint_id": "fal-ai/a"}], "next_cursor": "Mg==", "has_more": True}
    error = _error("fal", [httpx.Response(200, json=same)])
    assert (error.provider, error.url, error.cause) == (
        "fal",
        "https://api.fal.ai/v1/models",
        "pagination repeats cursor 'Mg=='",
    )

    spec = get_provider("fal")
    capped = replace(spec, pagination=replace(spec.pagination, max_pages=2))
    pages = [httpx.Response(200, json={**same, "next_cursor": f"c{n}"}) for n in range(5)]
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return pages[len(requests) - 1]

    engine = CatalogHttpEngine({}, client=httpx.Client(transport=httpx.MockTransport(answer)))
    with pytest.raises(ProviderError) as raised:
        engine.fetch(capped)
    assert (raised.value.provider, raised.value.cause, len(requests)) == ("fal", "more than 2 pages; stopped", 2)


def test_a_connection_that_keeps_failing_is_reported_after_the_attempts(monkeypatch):
    """Every attempt raises ConnectError: '<error type>: <message> after N attempts', no HTTP status."""
    monkeypatch.setattr(time, "sleep", lambda seconds: None)
    calls = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        raise httpx.ConnectError("connection refused")

    engine = CatalogHttpEngine(
        {"GROQ_API_KEY": "k"}, client=httpx.Client(transport=httpx.MockTransport(refuse)), max_attempts=2
    )
    with pytest.raises(ProviderError) as raised:
        engine.fetch(get_provider("groq"))
    error = raised.value
    assert (error.provider, error.url, error.status, len(calls)) == ("groq", GROQ_URL, None, 2)
    assert error.cause == "ConnectError: connection refused after 2 attempts"


def test_the_default_client_identifies_itself_and_asks_for_json():
    """Without an injected client, requests carry the catalog-pipeline User-Agent and Accept: application/json."""
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen: dict[str, str] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            seen.update({k.lower(): v for k, v in self.headers.items()})
            body = b'{"object": "list", "data": [{"id": "m"}]}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    engine = CatalogHttpEngine({}, replay_url=f"http://127.0.0.1:{server.server_address[1]}")
    try:
        assert len(engine.fetch(get_provider("groq")).entries) == 1
    finally:
        engine.close()
        server.shutdown()
        server.server_close()
    assert seen["user-agent"] == "catalog-pipeline/0.1 (+model catalog sync)"
    assert seen["accept"] == "application/json"


def test_masked_urls_drop_credentials_keep_blank_values_and_placeholders():
    """user:pass@ (even with an @ in the password) disappears; key= stays as key=***; a {PLACEHOLDER} and
    blank values stay readable."""
    from catalog_pipeline.http_engine import mask_url

    assert mask_url("https://user:p@ss@example.com/v1/models?key=abc&page=&a={X}") == (
        "https://example.com/v1/models?key=***&page=&a={X}"
    )
