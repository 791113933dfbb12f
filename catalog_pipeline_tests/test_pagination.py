"""The paging schemes providers use, end to end through the replay server and the engine: page
numbers that stop at the reported total, opaque page tokens, and cursors with a has_more flag."""

from __future__ import annotations

import httpx
import pytest

from catalog_pipeline.http_engine import CatalogHttpEngine
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline_tests.conftest import inject_fault


@pytest.mark.parametrize(
    ("slug", "size", "pages"),
    [
        ("featherless", 2000, 2),  # full last page: stops at pagination.total_pages, no empty third request
        ("featherless", 2001, 3),
        ("cloudflare-workers-ai", 200, 2),  # stops at result_info.total_count
        ("fal", 250, 3),  # next_cursor + has_more
        ("fireworks", 401, 3),  # pageToken -> nextPageToken
        ("cohere", 1000, 1),
        ("google-vertex", 150, 2),
        ("anthropic", 1001, 2),  # after_id <- last_id while has_more
    ],
)
def test_every_page_is_read_once_and_paging_stops_where_the_provider_says(replay_server, slug, size, pages):
    inject_fault(replay_server, slug, size=size)
    result = CatalogHttpEngine({}, replay_url=replay_server.url).fetch(get_provider(slug))
    assert result.pages == pages == replay_server.state.requests[slug]
    spec = get_provider(slug)
    ids = [entry[spec.id_path] for entry in result.entries]
    assert len(ids) == len(set(ids)) == size


def _engine(pages: list[dict]) -> tuple[CatalogHttpEngine, list[httpx.Request]]:
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, json=pages[len(requests) - 1])

    environment = {"FAL_API_KEY": "k", "COHERE_API_KEY": "k"}
    return CatalogHttpEngine(environment, client=httpx.Client(transport=httpx.MockTransport(answer))), requests


def test_a_cursor_is_not_followed_once_has_more_is_false():
    engine, requests = _engine(
        [
            {"models": [{"endpoint_id": "fal-ai/a"}], "next_cursor": "Mg==", "has_more": True},
            {"models": [{"endpoint_id": "fal-ai/b"}], "next_cursor": "Mw==", "has_more": False},
        ]
    )
    result = engine.fetch(get_provider("fal"))
    assert [entry["endpoint_id"] for entry in result.entries] == ["fal-ai/a", "fal-ai/b"]
    assert requests[1].url.params["cursor"] == "Mg=="
    assert requests[1].url.params["limit"] == "100"
    assert len(requests) == 2


def test_page_tokens_are_sent_back_until_the_body_has_none():
    engine, requests = _engine(
        [
            {"models": [{"name": "command-a"}], "next_page_token": "t1"},
            {"models": [{"name": "embed-v4.0"}], "next_page_token": None},
        ]
    )
    result = engine.fetch(get_provider("cohere"))
    assert [entry["name"] for entry in result.entries] == ["command-a", "embed-v4.0"]
    assert [r.url.params.get("page_token") for r in requests] == [None, "t1"]
    assert requests[0].url.params["page_size"] == "1000"
