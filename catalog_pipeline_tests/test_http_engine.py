"""The shared HTTP engine: retries, Retry-After, pagination, replay rewrite and secret hygiene."""

from __future__ import annotations

import time

import httpx
import pytest

from catalog_pipeline.http_engine import (
    CatalogHttpEngine,
    ProviderError,
    ProviderNotConfigured,
    mask_url,
    replay_rewrite,
)
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline.replay.server import expected_live_count
from catalog_pipeline_tests.conftest import inject_fault

SECRET = "sk-test-0123456789abcdef0123456789"


def engine_for(replay_url: str | None, environment: dict | None = None, **kwargs) -> CatalogHttpEngine:
    kwargs.setdefault("max_retry_wait_seconds", 2)
    kwargs.setdefault("backoff_seconds", 0.01)
    return CatalogHttpEngine(environment or {}, replay_url=replay_url, **kwargs)


def test_replay_rewrite_keeps_the_real_path_and_query():
    url = "https://api.cloudflare.com/client/v4/accounts/abc/ai/models/search?page=2"
    assert replay_rewrite(url, "cloudflare-workers-ai", "http://127.0.0.1:9/") == (
        "http://127.0.0.1:9/cloudflare-workers-ai/client/v4/accounts/abc/ai/models/search?page=2"
    )


def test_mask_url_hides_credentials_and_secret_query_values():
    masked = mask_url("https://user:pw@generativelanguage.googleapis.com/v1beta/models?key=AIzaSECRET&pageSize=50")
    assert "AIzaSECRET" not in masked and "pw" not in masked
    assert masked == "https://generativelanguage.googleapis.com/v1beta/models?key=***&pageSize=50"


def test_retry_after_is_honoured_then_the_request_succeeds(replay_server):
    """Two 429s with Retry-After: 1 cost about two seconds, then the list arrives."""
    inject_fault(replay_server, "groq", status=429, times=2, retry_after=1)
    engine = engine_for(replay_server.url)
    started = time.monotonic()
    result = engine.fetch(get_provider("groq"))
    assert time.monotonic() - started >= 1.9
    assert result.attempts == 3
    assert len(result.entries) == expected_live_count("groq")


def test_server_errors_exhaust_attempts_and_name_provider_url_and_cause(replay_server):
    inject_fault(replay_server, "together", status=503)
    engine = engine_for(replay_server.url, max_attempts=3)
    with pytest.raises(ProviderError) as raised:
        engine.fetch(get_provider("together"))
    message = str(raised.value)
    assert message == "provider 'together': GET https://api.together.xyz/v1/models: HTTP 503 after 3 attempts"
    assert replay_server.state.requests["together"] == 3


def test_client_errors_are_not_retried(replay_server):
    inject_fault(replay_server, "groq", status=401)
    engine = engine_for(replay_server.url)
    with pytest.raises(ProviderError, match="HTTP 401"):
        engine.fetch(get_provider("groq"))
    assert replay_server.state.requests["groq"] == 1


@pytest.mark.parametrize(
    ("body", "cause"), [("truncated", "not valid JSON"), ("not_a_list", "expected a list in field 'data'")]
)
def test_unreadable_bodies_fail_with_the_cause(replay_server, body, cause):
    inject_fault(replay_server, "groq", body=body)
    with pytest.raises(ProviderError, match=cause):
        engine_for(replay_server.url).fetch(get_provider("groq"))


def test_page_number_pagination_reads_every_page(replay_server):
    """Cloudflare pages with page/per_page; 250 models arrive over 3 pages of 100."""
    inject_fault(replay_server, "cloudflare-workers-ai", size=250)
    result = engine_for(replay_server.url).fetch(get_provider("cloudflare-workers-ai"))
    assert result.pages == 3
    ids = [entry["name"] for entry in result.entries]
    assert len(ids) == len(set(ids)) == 250


def test_after_id_pagination_follows_has_more_and_last_id(replay_server):
    """Anthropic pages with has_more/last_id/after_id; 2,500 models arrive over 3 pages of 1000."""
    inject_fault(replay_server, "anthropic", size=2500)
    result = engine_for(replay_server.url).fetch(get_provider("anthropic"))
    assert result.pages == 3
    assert len({entry["id"] for entry in result.entries}) == 2500


def test_missing_key_outside_replay_mode_is_reported_with_the_variable_name():
    with pytest.raises(ProviderNotConfigured) as raised:
        engine_for(None).fetch(get_provider("groq"))
    assert raised.value.missing == ["GROQ_API_KEY"]
    assert "set GROQ_API_KEY" in str(raised.value)
    with pytest.raises(ProviderNotConfigured, match="CLOUDFLARE_ACCOUNT_ID"):
        engine_for(None, {"CLOUDFLARE_WORKERS_AI_API_KEY": SECRET}).fetch(get_provider("cloudflare-workers-ai"))


def test_keys_travel_in_headers_only_and_never_reach_an_error_message():
    """A provider that echoes the key back in its error body: the message shows *** instead."""
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["headers"] = dict(request.headers)
        seen["url"] = str(request.url)
        return httpx.Response(403, text=f"invalid key {request.headers.get('x-api-key')}")

    engine = CatalogHttpEngine(
        {"ANTHROPIC_API_KEY": SECRET}, client=httpx.Client(transport=httpx.MockTransport(handler))
    )
    with pytest.raises(ProviderError) as raised:
        engine.fetch(get_provider("anthropic"))
    assert seen["headers"]["x-api-key"] == SECRET
    assert seen["headers"]["anthropic-version"] == "2023-06-01"
    assert SECRET not in seen["url"]
    assert SECRET not in str(raised.value)
    assert "invalid key ***" in str(raised.value)


def test_bearer_key_is_sent_as_authorization_header():
    seen = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen["authorization"] = request.headers.get("authorization")
        return httpx.Response(200, json={"object": "list", "data": [{"id": "llama-3.1-8b-instant"}]})

    engine = CatalogHttpEngine({"GROQ_API_KEY": SECRET}, client=httpx.Client(transport=httpx.MockTransport(handler)))
    result = engine.fetch(get_provider("groq"))
    assert seen["authorization"] == f"Bearer {SECRET}"
    assert result.entries == [{"id": "llama-3.1-8b-instant"}]


def test_reported_totals_win_over_a_short_page():
    """Featherless caps per_page below what we ask for: short pages keep coming until total_pages."""
    spec = get_provider("featherless")
    pages_served = []

    def handler(request: httpx.Request) -> httpx.Response:
        page = int(request.url.params["page"])
        pages_served.append(page)
        entries = [{"id": f"org/model-{page}-{i}"} for i in range(10)]  # far fewer than per_page
        return httpx.Response(200, json={"data": entries, "pagination": {"current_page": page, "total_pages": 3}})

    engine = CatalogHttpEngine({}, client=httpx.Client(transport=httpx.MockTransport(handler)))
    result = engine.fetch(spec)
    assert pages_served == [1, 2, 3]
    assert len(result.entries) == 30


def test_a_corrupt_compressed_body_fails_that_provider_with_a_provider_error():
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, headers={"Content-Encoding": "gzip"}, content=b"not gzip at all")

    engine = CatalogHttpEngine({"GROQ_API_KEY": SECRET}, client=httpx.Client(transport=httpx.MockTransport(handler)))
    with pytest.raises(ProviderError, match="provider 'groq'.*DecodingError"):
        engine.fetch(get_provider("groq"))
