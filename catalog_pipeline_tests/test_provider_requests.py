"""The exact request the engine sends to every provider, written from each provider's API documentation.

Nothing here reads a `ProviderSpec` field to build an expectation: URLs, query parameters, header
names and forms, key variables and paging fields are literal strings copied from the documentation
(the spec's `docs_url`, the research notes in ``../shared/docs/PROVIDERS.md`` and the notes of the
README's provider table). A spec that drifts from its documentation therefore fails here, while
the replay server, which renders from the same spec, would follow it.

Paged providers are served two pages in their documented wire format through an
`httpx.MockTransport` at the real URL; the test pins the query of the first and of the following
request and that paging stops where the documentation says the list ends.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog_pipeline.http_engine import CatalogHttpEngine, FetchResult
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, get_provider

FIXTURES = Path(__file__).parent / "fixtures" / "providers"
KEY = "sk-doc-0123456789abcdef"
ACCOUNT = "023e105f4ecef8ad9ca31a8372d0c353"
BEARER = ("authorization", f"Bearer {KEY}")
KEY_FORM = ("authorization", f"Key {KEY}")  # fal and Clarifai: 'Authorization: Key <key>'


@dataclass(frozen=True)
class Documented:
    """One provider's documented list request.

    Attributes:
        url: scheme, host and path of the first request.
        query: the first request's query parameters, exactly.
        key_variable: the variable the key is read from (None: the list takes no key).
        auth: (header, value) the key travels in; None when the list is public and takes no key.
        key_optional: the list answers without a key, so none may be required (and none sent when unset).
        headers: further headers the documentation requires.
        environment: further variables the URL needs.
    """

    url: str
    query: dict[str, str] = field(default_factory=dict)
    key_variable: str | None = None
    auth: tuple[str, str] | None = BEARER
    key_optional: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)


DOCUMENTED: dict[str, Documented] = {
    # https://openrouter.ai/docs/api-reference/list-available-models: public; output_modalities=all lists
    # image and audio models too (the default is text output only).
    "openrouter": Documented(
        "https://openrouter.ai/api/v1/models",
        {"output_modalities": "all"},
        "OPENROUTER_API_KEY",
        key_optional=True,
    ),
    # https://featherless.ai/docs/api-reference-models: public; page / per_page
    "featherless": Documented(
        "https://api.featherless.ai/v1/models",
        {"per_page": "1000", "page": "1"},
        "FEATHERLESS_API_KEY",
        key_optional=True,
    ),
    # https://deepinfra.com/docs/inference: the public /models/list bare array
    "deepinfra": Documented("https://api.deepinfra.com/models/list", {}, "DEEPINFRA_API_KEY", key_optional=True),
    # https://console.groq.com/docs/api-reference#models-list
    "groq": Documented("https://api.groq.com/openai/v1/models", {}, "GROQ_API_KEY"),
    # https://docs.fireworks.ai/api-reference/list-models: pageSize (max 200), pageToken <- nextPageToken
    "fireworks": Documented(
        "https://api.fireworks.ai/v1/accounts/fireworks/models", {"pageSize": "200"}, "FIREWORKS_API_KEY"
    ),
    # https://docs.together.ai/reference/models-1
    "together": Documented("https://api.together.xyz/v1/models", {}, "TOGETHER_API_KEY"),
    # https://inference-docs.cerebras.ai/api-reference/models/public-models: no authentication
    "cerebras": Documented("https://api.cerebras.ai/public/v1/models", {}, None, auth=None),
    # https://docs.tokenfactory.nebius.com/api-reference/examples/list-of-models: verbose=true adds prices
    "nebius": Documented("https://api.tokenfactory.nebius.com/v1/models", {"verbose": "true"}, "NEBIUS_API_KEY"),
    # https://docs.x.ai/docs/api-reference#list-language-models
    "xai": Documented("https://api.x.ai/v1/language-models", {}, "XAI_API_KEY"),
    # https://novita.ai/docs/api-reference/model-apis-llm-list-models
    "novita": Documented("https://api.novita.ai/openai/v1/models", {}, "NOVITA_API_KEY"),
    # https://chutes.ai/docs: the public list of llm.chutes.ai
    "chutes": Documented("https://llm.chutes.ai/v1/models", {}, "CHUTES_API_KEY", key_optional=True),
    # https://docs.aimo.network/user-guide/api-usage
    "aimo": Documented("https://devnet.aimo.network/api/v1/models", {}, "AIMO_API_KEY", key_optional=True),
    # https://cloud-api.near.ai/v1/model/list: the public catalog, no key
    "near": Documented("https://cloud-api.near.ai/v1/model/list", {}, None, auth=None),
    # https://docs.fal.ai/platform-apis/v1/models: 'Authorization: Key <key>' optional; limit, cursor <- next_cursor
    "fal": Documented("https://api.fal.ai/v1/models", {"limit": "100"}, "FAL_API_KEY", KEY_FORM, key_optional=True),
    # https://docs.helicone.ai/rest/models/get-v1public-model-registry-models: public
    "helicone": Documented("https://api.helicone.ai/v1/public/model-registry/models", {}, None, auth=None),
    # https://docs.anannas.ai/models
    "anannas": Documented("https://api.anannas.ai/v1/models", {}, "ANANNAS_API_KEY"),
    # https://docs.aihubmix.com/en/api/Models-API: the public catalog, no key
    "aihubmix": Documented("https://aihubmix.com/api/v1/models", {}, None, auth=None),
    # https://vercel.com/docs/ai-gateway/sdks-and-apis/rest-api: the model list needs no key
    "vercel-ai-gateway": Documented("https://ai-gateway.vercel.sh/v1/models", {}, None, auth=None),
    # https://cloud.google.com/vertex-ai/docs/reference/rest/v1beta1/publishers.models/list: an OAuth token as
    # Bearer, the region in the host; pageSize, pageToken <- nextPageToken
    "google-vertex": Documented(
        "https://us-central1-aiplatform.googleapis.com/v1beta1/publishers/google/models",
        {"pageSize": "100"},
        "GOOGLE_VERTEX_API_KEY",
        environment={"GOOGLE_VERTEX_LOCATION": "us-central1"},
    ),
    # https://platform.openai.com/docs/api-reference/models/list
    "openai": Documented("https://api.openai.com/v1/models", {}, "OPENAI_API_KEY"),
    # https://docs.anthropic.com/en/api/models-list: x-api-key and anthropic-version; limit (1..1000),
    # after_id <- last_id while has_more
    "anthropic": Documented(
        "https://api.anthropic.com/v1/models",
        {"limit": "1000"},
        "ANTHROPIC_API_KEY",
        ("x-api-key", KEY),
        headers={"anthropic-version": "2023-06-01"},
    ),
    # OpenAI-compatible convention on the documented inference host (no list endpoint is documented)
    "simplismart": Documented("https://api.simplismart.live/v1/models", {}, "SIMPLISMART_API_KEY"),
    # https://docs.onerouter.pro/api-reference/llm-model-api/overview: public
    "onerouter": Documented("https://llm.onerouter.pro/v1/models", {}, "ONEROUTER_API_KEY", key_optional=True),
    # https://developers.cloudflare.com/api/resources/ai/subresources/models/methods/list/: page, per_page,
    # result_info.total_count; the account id in the path
    "cloudflare-workers-ai": Documented(
        f"https://api.cloudflare.com/client/v4/accounts/{ACCOUNT}/ai/models/search",
        {"per_page": "100", "page": "1"},
        "CLOUDFLARE_WORKERS_AI_API_KEY",
        environment={"CLOUDFLARE_ACCOUNT_ID": ACCOUNT},
    ),
    # https://docs.clarifai.com/compute/inference/open-ai: a Personal Access Token as 'Authorization: Key'
    "clarifai": Documented("https://api.clarifai.com/v2/ext/openai/v1/models", {}, "CLARIFAI_API_KEY", KEY_FORM),
    # https://apidocs.mor.org/api-reference/introduction: base path /api/v1, public list
    "morpheus": Documented("https://api.mor.org/api/v1/models", {}, "MORPHEUS_API_KEY", key_optional=True),
    # https://docs.sybil.com
    "sybil": Documented("https://api.sybil.com/v1/models", {}, "SYBIL_API_KEY"),
    # https://canopywave.com/docs/get-started/openai-compatible
    "canopywave": Documented("https://inference.canopywave.io/v1/models", {}, "CANOPYWAVE_API_KEY"),
    # https://backend.alpacanetwork.ai/api/tokens: public registry, no key
    "modelz": Documented("https://backend.alpacanetwork.ai/api/tokens", {}, None, auth=None),
    # https://docs.cohere.com/v1/reference/list-models: page_size (max 1000), page_token <- next_page_token
    "cohere": Documented("https://api.cohere.com/v1/models", {"page_size": "1000"}, "COHERE_API_KEY"),
    # https://huggingface.co/docs/inference-providers/hub-api: the router list, key optional
    "huggingface": Documented("https://router.huggingface.co/v1/models", {}, "HUGGINGFACE_API_KEY", key_optional=True),
    # https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope (international)
    "alibaba-cloud": Documented(
        "https://dashscope-intl.aliyuncs.com/compatible-mode/v1/models", {}, "ALIBABA_CLOUD_API_KEY"
    ),
}


class Recorder:
    """A mock provider at its real URL: answers each request with the next body and remembers the requests."""

    def __init__(self, bodies: list[Any]):
        self.bodies = bodies
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if len(self.requests) > len(self.bodies):
            return httpx.Response(500, text="no more pages were documented")
        body = self.bodies[len(self.requests) - 1]
        content = body if isinstance(body, bytes) else json.dumps(body).encode()
        return httpx.Response(200, content=content, headers={"Content-Type": "application/json"})


def fetch(slug: str, environment: dict[str, str], bodies: list[Any]) -> tuple[FetchResult, list[httpx.Request]]:
    recorder = Recorder(bodies)
    engine = CatalogHttpEngine(environment, client=httpx.Client(transport=httpx.MockTransport(recorder)))
    try:
        return engine.fetch(get_provider(slug)), recorder.requests
    finally:
        engine.close()


def _url(request: httpx.Request) -> str:
    return str(request.url.copy_with(query=None))


def _query(request: httpx.Request) -> dict[str, str]:
    items = request.url.params.multi_items()
    assert len(items) == len(dict(items)), f"a query parameter is repeated: {items}"
    return dict(items)


def test_every_provider_has_a_documented_request():
    """No provider escapes the request test: one documented request per registry entry."""
    assert set(DOCUMENTED) == set(PROVIDER_SLUGS)


@pytest.mark.parametrize("slug", PROVIDER_SLUGS)
def test_first_request_matches_the_documentation(slug):
    """URL, query and key header of the first request, with the key set, are exactly the documented ones;
    the key never travels in the URL."""
    documented = DOCUMENTED[slug]
    environment = dict(documented.environment)
    if documented.key_variable:
        environment[documented.key_variable] = KEY
    else:
        environment[slug.upper().replace("-", "_") + "_API_KEY"] = KEY  # set anyway: it must not be sent
    fixture = (FIXTURES / f"{slug}.json").read_bytes()
    result, requests = fetch(slug, environment, [fixture])

    assert len(requests) == 1
    [request] = requests
    assert request.method == "GET"
    assert _url(request) == documented.url
    assert _query(request) == documented.query
    assert KEY not in str(request.url)
    sent_with_key = {name: value for name, value in request.headers.items() if KEY in value}
    assert sent_with_key == (dict([documented.auth]) if documented.auth else {})
    for name, value in documented.headers.items():
        assert request.headers.get(name) == value, name
    if documented.auth and documented.auth[0] != "authorization":
        assert "authorization" not in request.headers
    assert result.entries, "the fixture lists models"


@pytest.mark.parametrize("slug", PROVIDER_SLUGS)
def test_a_key_is_required_exactly_where_the_documentation_requires_one(slug):
    """Public lists are fetched without a key and with no Authorization header; keyed lists are not
    configured until their key variable is set."""
    documented = DOCUMENTED[slug]
    engine = CatalogHttpEngine(dict(documented.environment))
    try:
        missing = engine.missing_variables(get_provider(slug))
    finally:
        engine.close()
    if documented.auth is None or documented.key_optional:
        assert missing == []
        fixture = (FIXTURES / f"{slug}.json").read_bytes()
        _, [request] = fetch(slug, dict(documented.environment), [fixture])
        assert "authorization" not in request.headers
        assert "x-api-key" not in request.headers
    else:
        assert missing == [documented.key_variable]


def test_providers_that_need_an_account_or_region_say_which_variable():
    """Cloudflare needs its account id and Vertex its region before any live request."""
    cloudflare = CatalogHttpEngine({"CLOUDFLARE_WORKERS_AI_API_KEY": KEY})
    vertex = CatalogHttpEngine({"GOOGLE_VERTEX_API_KEY": KEY})
    try:
        assert cloudflare.missing_variables(get_provider("cloudflare-workers-ai")) == ["CLOUDFLARE_ACCOUNT_ID"]
        assert vertex.missing_variables(get_provider("google-vertex")) == ["GOOGLE_VERTEX_LOCATION"]
    finally:
        cloudflare.close()
        vertex.close()


# --- paging, in each provider's documented wire format ---------------------------------------------


@dataclass(frozen=True)
class TwoPages:
    """Two pages as the provider documents them, and the query the engine must send for the second."""

    pages: list[Any]
    next_query: dict[str, str]
    ids: list[str]
    id_field: str


PAGED: dict[str, TwoPages] = {
    "featherless": TwoPages(
        [
            {"data": [{"id": "org/a"}, {"id": "org/b"}], "pagination": {"current_page": 1, "total_pages": 2}},
            {"data": [{"id": "org/c"}], "pagination": {"current_page": 2, "total_pages": 2}},
        ],
        {"per_page": "1000", "page": "2"},
        ["org/a", "org/b", "org/c"],
        "id",
    ),
    "fireworks": TwoPages(
        [
            {"models": [{"name": "accounts/fireworks/models/a"}], "nextPageToken": "tok-2", "totalSize": 2},
            {"models": [{"name": "accounts/fireworks/models/b"}], "nextPageToken": "", "totalSize": 2},
        ],
        {"pageSize": "200", "pageToken": "tok-2"},
        ["accounts/fireworks/models/a", "accounts/fireworks/models/b"],
        "name",
    ),
    "fal": TwoPages(
        [
            {"models": [{"endpoint_id": "fal-ai/a"}], "next_cursor": "Mg==", "has_more": True},
            {"models": [{"endpoint_id": "fal-ai/b"}], "next_cursor": None, "has_more": False},
        ],
        {"limit": "100", "cursor": "Mg=="},
        ["fal-ai/a", "fal-ai/b"],
        "endpoint_id",
    ),
    "google-vertex": TwoPages(
        [
            {"publisherModels": [{"name": "publishers/google/models/a"}], "nextPageToken": "vtx-2"},
            {"publisherModels": [{"name": "publishers/google/models/b"}]},
        ],
        {"pageSize": "100", "pageToken": "vtx-2"},
        ["publishers/google/models/a", "publishers/google/models/b"],
        "name",
    ),
    "anthropic": TwoPages(
        [
            {
                "data": [{"type": "model", "id": "claude-b"}, {"type": "model", "id": "claude-a"}],
                "has_more": True,
                "first_id": "claude-b",
                "last_id": "claude-a",
            },
            {
                "data": [{"type": "model", "id": "claude-z"}],
                "has_more": False,
                "first_id": "claude-z",
                "last_id": "claude-z",
            },
        ],
        {"limit": "1000", "after_id": "claude-a"},
        ["claude-b", "claude-a", "claude-z"],
        "id",
    ),
    "cloudflare-workers-ai": TwoPages(
        [
            {
                "success": True,
                "errors": [],
                "messages": [],
                "result": [{"name": "@cf/a/one"}, {"name": "@cf/a/two"}],
                "result_info": {"page": 1, "per_page": 100, "count": 2, "total_count": 3},
            },
            {
                "success": True,
                "errors": [],
                "messages": [],
                "result": [{"name": "@cf/a/three"}],
                "result_info": {"page": 2, "per_page": 100, "count": 1, "total_count": 3},
            },
        ],
        {"per_page": "100", "page": "2"},
        ["@cf/a/one", "@cf/a/two", "@cf/a/three"],
        "name",
    ),
    "cohere": TwoPages(
        [
            {"models": [{"name": "command-a-03-2025"}], "next_page_token": "co-2"},
            {"models": [{"name": "embed-v4.0"}], "next_page_token": ""},
        ],
        {"page_size": "1000", "page_token": "co-2"},
        ["command-a-03-2025", "embed-v4.0"],
        "name",
    ),
}

#: Documented as one response: the engine must never ask for a second page.
SINGLE_PAGE = sorted(set(PROVIDER_SLUGS) - set(PAGED))


@pytest.mark.parametrize("slug", sorted(PAGED))
def test_the_following_page_is_requested_as_documented_and_paging_stops_at_the_documented_end(slug):
    """Page two carries the documented cursor or page number (beside the page size, once); the last
    page's own signal (has_more false, an empty token, total pages or total count reached) ends paging."""
    documented, paged = DOCUMENTED[slug], PAGED[slug]
    environment = {**documented.environment, **({documented.key_variable: KEY} if documented.key_variable else {})}
    result, requests = fetch(slug, environment, paged.pages)

    assert len(requests) == 2
    first, second = requests
    assert _query(first) == documented.query
    assert _url(second) == documented.url
    assert _query(second) == paged.next_query
    if documented.auth:
        assert second.headers.get(documented.auth[0]) == documented.auth[1]
    assert [entry[paged.id_field] for entry in result.entries] == paged.ids
    assert result.pages == 2


@pytest.mark.parametrize("slug", SINGLE_PAGE)
def test_an_unpaged_list_is_one_request_even_when_the_body_looks_like_more(slug):
    """Providers without documented paging are read in one request, whatever paging-like fields the body has."""
    documented = DOCUMENTED[slug]
    environment = {**documented.environment, **({documented.key_variable: KEY} if documented.key_variable else {})}
    body = json.loads((FIXTURES / f"{slug}.json").read_text())
    if isinstance(body, dict):
        body |= {"has_more": True, "next_cursor": "x", "nextPageToken": "x", "next_page_token": "x", "last_id": "x"}
    _, requests = fetch(slug, environment, [body, body])
    assert len(requests) == 1


def test_gemini_api_endpoint_sends_the_key_in_x_goog_api_key_and_pages_with_page_token():
    """GOOGLE_VERTEX_API=gemini lists https://generativelanguage.googleapis.com/v1beta/models (pageSize up to
    1000, pageToken <- nextPageToken), the API key in x-goog-api-key, never in the URL or as a Bearer token."""
    environment = {"GOOGLE_VERTEX_API": "gemini", "GOOGLE_VERTEX_API_KEY": KEY}
    pages = [
        {"models": [{"name": "models/gemini-a"}], "nextPageToken": "gem-2"},
        {"models": [{"name": "models/gemini-b"}]},
    ]
    result, requests = fetch("google-vertex", environment, pages)
    assert [_url(r) for r in requests] == ["https://generativelanguage.googleapis.com/v1beta/models"] * 2
    assert [_query(r) for r in requests] == [{"pageSize": "1000"}, {"pageSize": "1000", "pageToken": "gem-2"}]
    for request in requests:
        assert request.headers.get("x-goog-api-key") == KEY
        assert "authorization" not in request.headers
        assert KEY not in str(request.url)
    assert [entry["name"] for entry in result.entries] == ["models/gemini-a", "models/gemini-b"]
    assert result.endpoint == "gemini"


#: Where the list moved to, in the order tried when the one before answers 404 (moved) or 410 (gone).
FALLBACK_URLS: dict[str, list[str]] = {
    "deepinfra": ["https://api.deepinfra.com/models/list", "https://api.deepinfra.com/v1/openai/models"],
    "together": ["https://api.together.xyz/v1/models", "https://api.together.xyz/api/models"],
    "cerebras": ["https://api.cerebras.ai/public/v1/models", "https://api.cerebras.ai/v1/models"],
    "nebius": ["https://api.tokenfactory.nebius.com/v1/models", "https://api.studio.nebius.com/v1/models"],
    "xai": ["https://api.x.ai/v1/language-models", "https://api.x.ai/v1/models"],
    "near": ["https://cloud-api.near.ai/v1/model/list", "https://cloud-api.near.ai/v1/models"],
}


@pytest.mark.parametrize("slug", sorted(FALLBACK_URLS))
def test_a_moved_list_is_looked_for_at_the_documented_older_or_other_endpoint(slug):
    """The primary answers 404: the engine asks the documented alternative next, and nothing else."""
    urls: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        urls.append(_url(request))
        return httpx.Response(404, text="not here")

    environment = {f"{slug.upper()}_API_KEY": KEY}
    engine = CatalogHttpEngine(environment, client=httpx.Client(transport=httpx.MockTransport(answer)))
    try:
        with pytest.raises(Exception, match="HTTP 404"):
            engine.fetch(get_provider(slug))
    finally:
        engine.close()
    assert urls == FALLBACK_URLS[slug]


def test_cerebras_keyed_fallback_sends_the_key_as_bearer_and_the_public_list_does_not():
    """The public catalog takes no key; its OpenAI-compatible fallback is keyed (Bearer)."""
    seen: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if len(seen) == 1:
            return httpx.Response(404)
        return httpx.Response(200, json={"object": "list", "data": [{"id": "llama3.1-8b", "object": "model"}]})

    engine = CatalogHttpEngine({"CEREBRAS_API_KEY": KEY}, client=httpx.Client(transport=httpx.MockTransport(answer)))
    try:
        result = engine.fetch(get_provider("cerebras"))
    finally:
        engine.close()
    assert "authorization" not in seen[0].headers
    assert seen[1].headers.get("authorization") == f"Bearer {KEY}"
    assert result.endpoint == "openai-v1"


# --- real captures split into pages ----------------------------------------------------------------


def _split(entries: list[Any], at: int) -> tuple[list[Any], list[Any]]:
    return entries[:at], entries[at:]


def test_real_anthropic_and_fireworks_captures_read_across_two_pages(shared_snapshots):
    """The captured Anthropic and Fireworks lists, cut into two pages with the documented cursor fields,
    arrive whole and in order, the second request carrying the first page's last_id / nextPageToken."""
    anthropic = json.loads((shared_snapshots / "anthropic.2026-08-17.json").read_text())
    head, tail = _split(anthropic["data"], 4)
    pages = [
        {"data": head, "has_more": True, "first_id": head[0]["id"], "last_id": head[-1]["id"]},
        {"data": tail, "has_more": False, "first_id": tail[0]["id"], "last_id": tail[-1]["id"]},
    ]
    result, requests = fetch("anthropic", {"ANTHROPIC_API_KEY": KEY}, pages)
    assert [entry["id"] for entry in result.entries] == [entry["id"] for entry in anthropic["data"]]
    assert _query(requests[1]) == {"limit": "1000", "after_id": "claude-opus-4-8"}

    fireworks = json.loads((shared_snapshots / "fireworks.control-plane-serverless.2026-07-25.json").read_text())
    head, tail = _split(fireworks["models"], 7)
    pages = [
        {"models": head, "nextPageToken": "page-2", "totalSize": len(fireworks["models"])},
        {"models": tail, "nextPageToken": "", "totalSize": len(fireworks["models"])},
    ]
    result, requests = fetch("fireworks", {"FIREWORKS_API_KEY": KEY}, pages)
    assert len(result.entries) == 14
    assert _query(requests[1]) == {"pageSize": "200", "pageToken": "page-2"}
