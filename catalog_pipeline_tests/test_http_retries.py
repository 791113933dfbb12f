"""How long the engine waits between attempts: the provider's Retry-After, capped, or exponential backoff.

The waits are read off a recording `time.sleep`, so the test pins the exact numbers instead of a
lower bound on wall-clock time (which an engine that always waited the cap would also pass).
"""

from __future__ import annotations

import time

import httpx
import pytest

from catalog_pipeline.http_engine import CatalogHttpEngine, ProviderError
from catalog_pipeline.providers.registry import get_provider

GROQ_LIST = {"object": "list", "data": [{"id": "llama-3.1-8b-instant", "object": "model"}]}


def _engine(responses: list[httpx.Response], **options: float) -> tuple[CatalogHttpEngine, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return responses[len(requests) - 1]

    client = httpx.Client(transport=httpx.MockTransport(answer))
    return CatalogHttpEngine({"GROQ_API_KEY": "k"}, client=client, **options), requests


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    recorded: list[float] = []
    monkeypatch.setattr(time, "sleep", recorded.append)
    return recorded


def test_retry_after_is_the_wait_up_to_the_cap_and_backoff_applies_without_it(sleeps):
    """429 with Retry-After 7 waits 7 s; 503 with Retry-After 120 waits the 30 s cap; a 503 without
    Retry-After waits the third backoff step (0.5 x 2^2 = 2 s); the fourth attempt gets the list."""
    engine, requests = _engine(
        [
            httpx.Response(429, headers={"Retry-After": "7"}),
            httpx.Response(503, headers={"Retry-After": "120"}),
            httpx.Response(503),
            httpx.Response(200, json=GROQ_LIST),
        ],
        max_attempts=4,
        max_retry_wait_seconds=30,
        backoff_seconds=0.5,
    )
    result = engine.fetch(get_provider("groq"))
    assert sleeps == [7, 30, 2]
    assert (result.attempts, len(requests), result.entries) == (4, 4, GROQ_LIST["data"])


def test_backoff_doubles_from_its_base_and_stops_at_the_cap(sleeps):
    """Without Retry-After the waits are 1, 2, 4, then 5 (the cap) seconds."""
    engine, _ = _engine(
        [httpx.Response(502)] * 4 + [httpx.Response(200, json=GROQ_LIST)],
        max_attempts=5,
        max_retry_wait_seconds=5,
        backoff_seconds=1,
    )
    engine.fetch(get_provider("groq"))
    assert sleeps == [1, 2, 4, 5]


def test_a_retry_after_of_zero_or_garbage_is_not_a_long_wait(sleeps):
    """Retry-After 0 retries at once; an unreadable Retry-After falls back to the backoff step."""
    engine, _ = _engine(
        [
            httpx.Response(429, headers={"Retry-After": "0"}),
            httpx.Response(429, headers={"Retry-After": "soon"}),
            httpx.Response(200, json=GROQ_LIST),
        ],
        max_attempts=3,
        max_retry_wait_seconds=30,
        backoff_seconds=0.25,
    )
    engine.fetch(get_provider("groq"))
    assert sleeps == [0, 0.5]


def test_attempts_are_bounded_and_the_error_says_how_many(sleeps):
    """Three 503s with max_attempts=3: two waits, then an error naming the status and the attempts."""
    engine, requests = _engine([httpx.Response(503)] * 3, max_attempts=3, backoff_seconds=0.1)
    with pytest.raises(ProviderError, match="HTTP 503 after 3 attempts"):
        engine.fetch(get_provider("groq"))
    assert len(requests) == 3
    assert sleeps == [0.1, 0.2]
