"""Every provider spec reads its provider's documented wire format: hand-written fixtures for every
provider (real captured payloads are tested in `test_real_payloads.py`).

The fixtures in ``fixtures/providers/<slug>.json`` are small, in the exact documented wire format,
and include the documented edge cases; they are fetched through the real HTTP engine (a mock
transport answers at the provider's real URL) and their expected values were read off the files by
hand.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from catalog_pipeline.http_engine import CatalogHttpEngine, FetchResult
from catalog_pipeline.providers.normalize import ModelRecord, NormalizedCatalog, PriceState, normalize_catalog
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, get_provider

FIXTURES = Path(__file__).parent / "fixtures" / "providers"

#: Where each provider's raw body keeps its list ("" for a bare array) and each entry's id.
RAW_LAYOUT: dict[str, tuple[str, str]] = {
    "openrouter": ("data", "id"),
    "featherless": ("data", "id"),
    "deepinfra": ("", "model_name"),
    "groq": ("data", "id"),
    "fireworks": ("models", "name"),
    "together": ("", "id"),
    "cerebras": ("data", "id"),
    "nebius": ("data", "id"),
    "xai": ("models", "id"),
    "novita": ("data", "id"),
    "chutes": ("data", "id"),
    "aimo": ("data", "name"),
    "near": ("models", "modelId"),
    "fal": ("models", "endpoint_id"),
    "helicone": ("data.models", "id"),
    "anannas": ("data", "id"),
    "aihubmix": ("data", "model_id"),
    "vercel-ai-gateway": ("data", "id"),
    "google-vertex": ("publisherModels", "name"),
    "openai": ("data", "id"),
    "anthropic": ("data", "id"),
    "simplismart": ("data", "id"),
    "onerouter": ("data", "id"),
    "cloudflare-workers-ai": ("result", "name"),
    "clarifai": ("data", "id"),
    "morpheus": ("data", "id"),
    "sybil": ("data", "id"),
    "canopywave": ("data", "id"),
    "modelz": ("", "Token"),
    "cohere": ("models", "name"),
    "huggingface": ("data", "id"),
    "alibaba-cloud": ("data", "id"),
}

#: Fake values for the variables a live request needs, so the engine builds the real URL.
FAKE_ENVIRONMENT = {
    "CLOUDFLARE_ACCOUNT_ID": "023e105f4ecef8ad9ca31a8372d0c353",
    "GOOGLE_VERTEX_LOCATION": "us-central1",
}


def _raw_list(body: Any, records_path: str) -> list[Any]:
    value = body
    for part in filter(None, records_path.split(".")):
        value = value.get(part) if isinstance(value, dict) else None
    return value if isinstance(value, list) else []


def raw_ids(slug: str, bodies: list[Any]) -> set[str]:
    """Distinct non-empty ids in raw response bodies, read with `RAW_LAYOUT` only."""
    records_path, id_key = RAW_LAYOUT[slug]
    ids = set()
    for body in bodies:
        for entry in _raw_list(body, records_path):
            value = entry.get(id_key) if isinstance(entry, dict) else None
            if isinstance(value, str) and value.strip():
                ids.add(value.strip())
    return ids


def test_every_provider_has_a_fixture_and_a_raw_layout():
    """Each provider keeps a hand-written fixture in its documented format; real captures are tested in
    `test_real_payloads.py`."""
    assert set(RAW_LAYOUT) == set(PROVIDER_SLUGS)
    missing = [slug for slug in PROVIDER_SLUGS if not (FIXTURES / f"{slug}.json").is_file()]
    assert missing == []


def test_readme_providers_table_has_one_row_per_provider_in_partition_order():
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("\n## Providers\n", 1)[1].split("\n## ", 1)[0]
    rows = [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| ")]
    assert rows[1:] == list(PROVIDER_SLUGS)


def _check_fields(catalog: NormalizedCatalog) -> None:
    for model in catalog.models:
        assert model.provider_model_id and model.provider_model_id == model.provider_model_id.strip()
        assert model.context_length is None or model.context_length > 0
        for kind, price in model.prices.items():
            assert price.amount is None or price.amount >= 0, (model.provider_model_id, kind)
            assert (price.amount is None) == (price.state in (PriceState.UNKNOWN, PriceState.VARIABLE))
            if kind in ("input", "output"):
                assert price.unit == "usd_per_million_tokens"


# --- hand-written fixtures in the documented wire format ---------------------------------------


def fetch_fixture(slug: str) -> tuple[FetchResult, httpx.Request]:
    """The fixture served at the provider's real URL and fetched like a live sync, and the request sent."""
    spec = get_provider(slug)
    body = (FIXTURES / f"{slug}.json").read_bytes()
    requests: list[httpx.Request] = []

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        return httpx.Response(200, content=body, headers={"Content-Type": "application/json"})

    environment = {spec.key_env: "test-key", **FAKE_ENVIRONMENT}
    engine = CatalogHttpEngine(environment, client=httpx.Client(transport=httpx.MockTransport(answer)))
    fetched = engine.fetch(spec)
    assert len(requests) == 1, "a fixture is one complete (last) page"
    return fetched, requests[0]


def normalized_fixture(slug: str) -> tuple[NormalizedCatalog, httpx.Request]:
    fetched, request = fetch_fixture(slug)
    return normalize_catalog(get_provider(slug), fetched.entries), request


@dataclass(frozen=True)
class Expected:
    """What a fixture must normalize to, read off the fixture by hand.

    `values` maps (model id, field) to the expected value; a field is ``context_length``,
    ``max_output_tokens``, ``name``, ``input_modalities``, a price kind (its amount in the stored
    unit) or ``<kind>.state`` / ``<kind>.unit`` / ``<kind>.threshold``.
    """

    count: int
    values: dict[tuple[str, str], Any] = field(default_factory=dict)


def _field(model: ModelRecord, name: str) -> Any:
    kind, _, part = name.partition(".")
    if kind in model.prices:
        price = model.prices[kind]
        return {"": price.amount, "state": price.state, "unit": price.unit, "threshold": price.threshold_tokens}[part]
    return getattr(model, name)


UNKNOWN, FREE, VARIABLE, KNOWN = PriceState.UNKNOWN, PriceState.FREE, PriceState.VARIABLE, PriceState.KNOWN
D = Decimal

EXPECTED: dict[str, Expected] = {
    "openrouter": Expected(
        4,
        {
            ("meta-llama/llama-3.1-70b-instruct", "input"): D("0.4"),
            ("meta-llama/llama-3.1-70b-instruct", "output"): D("0.4"),
            ("meta-llama/llama-3.1-70b-instruct", "name"): "Meta: Llama 3.1 70B Instruct",
            ("meta-llama/llama-3.1-70b-instruct", "request"): D("0"),
            ("meta-llama/llama-3.1-70b-instruct", "request.unit"): "usd_per_request",
            ("meta-llama/llama-3.1-70b-instruct", "reasoning"): D("0"),
            ("meta-llama/llama-3.1-70b-instruct", "deprecation_date"): None,
            ("meta-llama/llama-3.1-70b-instruct", "context_length"): 131072,
            ("meta-llama/llama-3.1-70b-instruct", "max_output_tokens"): 16384,
            ("meta-llama/llama-3.1-70b-instruct", "request.state"): FREE,
            ("mistralai/mistral-small-3.2-24b-instruct:free", "input.state"): FREE,
            ("mistralai/mistral-small-3.2-24b-instruct:free", "input_modalities"): "image,text",
            ("openrouter/auto", "input.state"): VARIABLE,
            ("openrouter/auto", "output"): None,
            ("openrouter/auto", "request.state"): UNKNOWN,
            ("google/gemini-2.5-flash-image-preview", "image"): D("0.001238"),
            ("google/gemini-2.5-flash-image-preview", "image.unit"): "usd_per_image",
            ("google/gemini-2.5-flash-image-preview", "cache_read"): D("0.075"),
            ("google/gemini-2.5-flash-image-preview", "output"): D("2.5"),
            ("google/gemini-2.5-flash-image-preview", "cache_write"): D("0.3833"),
            ("google/gemini-2.5-flash-image-preview", "reasoning"): D("2.5"),
            ("google/gemini-2.5-flash-image-preview", "web_search"): D("0.01"),
            ("google/gemini-2.5-flash-image-preview", "web_search.unit"): "usd_per_request",
            ("google/gemini-2.5-flash-image-preview", "audio"): D("1"),
            ("google/gemini-2.5-flash-image-preview", "deprecation_date"): datetime(2026, 10, 31, tzinfo=UTC),
            ("google/gemini-2.5-flash-image-preview", "request.state"): UNKNOWN,
            ("google/gemini-2.5-flash-image-preview", "output_modalities"): "image,text",
        },
    ),
    "featherless": Expected(
        3,
        {
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "context_length"): 16384,
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "max_output_tokens"): 4096,
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "name"): "meta-llama/Meta-Llama-3.1-70B-Instruct",
            ("Qwen/Qwen2.5-72B-Instruct", "context_length"): 32768,
        },
    ),
    "deepinfra": Expected(
        4,
        {
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "input"): D("0.23"),
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "output"): D("0.4"),
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "cache_read"): D("0.115"),
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "name"): "meta-llama/Meta-Llama-3.1-70B-Instruct",
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "context_length"): 131072,
            ("BAAI/bge-m3", "input"): D("0.01"),
            ("BAAI/bge-m3", "output.state"): UNKNOWN,
            ("stabilityai/sdxl-turbo", "second"): D("0.0005"),
            ("stabilityai/sdxl-turbo", "second.unit"): "usd_per_second",
            ("stabilityai/sdxl-turbo", "input.state"): UNKNOWN,
            ("openai/whisper-large-v3", "input.state"): UNKNOWN,
            ("openai/whisper-large-v3", "second.state"): UNKNOWN,
            # 'deprecated' is a Unix time: 1767225600 = 2026-01-01T00:00:00Z
            ("openai/whisper-large-v3", "deprecation_date"): datetime(2026, 1, 1, tzinfo=UTC),
            ("BAAI/bge-m3", "deprecation_date"): None,
        },
    ),
    "groq": Expected(
        5,
        {
            # the 2026 form: name, modalities and OpenRouter-style prices (strings, USD per token)
            ("canopylabs/orpheus-v1-english", "name"): "Canopy Labs Orpheus V1 English",
            ("canopylabs/orpheus-v1-english", "input_modalities"): "text",
            ("canopylabs/orpheus-v1-english", "output_modalities"): "speech",
            ("canopylabs/orpheus-v1-english", "input"): D("22"),
            ("canopylabs/orpheus-v1-english", "output"): D("50"),
            ("canopylabs/orpheus-v1-english", "cache_read"): D("11"),
            ("canopylabs/orpheus-v1-english", "image"): D("0.002"),
            ("canopylabs/orpheus-v1-english", "image.unit"): "usd_per_image",
            ("canopylabs/orpheus-v1-english", "request"): D("0.0001"),
            ("canopylabs/orpheus-v1-english", "request.unit"): "usd_per_request",
            ("canopylabs/orpheus-v1-english", "context_length"): 4000,
            ("canopylabs/orpheus-v1-english", "max_output_tokens"): 50000,
            ("canopylabs/orpheus-v1-english", "provider_status"): "inactive",
            ("llama-3.3-70b-versatile", "input.state"): UNKNOWN,
            ("llama-3.3-70b-versatile", "context_length"): 131072,
            ("llama-3.3-70b-versatile", "max_output_tokens"): 32768,
            ("whisper-large-v3-turbo", "context_length"): 448,
            ("playai-tts", "context_length"): None,
            ("playai-tts", "provider_status"): "active",
        },
    ),
    "fireworks": Expected(
        3,
        {
            ("accounts/fireworks/models/llama-v3p1-70b-instruct", "context_length"): 131072,
            ("accounts/fireworks/models/llama-v3p1-70b-instruct", "name"): "Llama 3.1 70B Instruct",
            ("accounts/fireworks/models/flux-1-dev-fp8", "context_length"): None,
            # deprecationDate is a google.type.Date object
            ("accounts/fireworks/models/flux-1-dev-fp8", "deprecation_date"): datetime(2026, 6, 30, tzinfo=UTC),
            ("accounts/fireworks/models/llama-v3p1-70b-instruct", "deprecation_date"): None,
            ("accounts/fireworks/models/llama-v3p1-70b-instruct", "provider_status"): "ready",
        },
    ),
    "together": Expected(
        4,
        {
            ("meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", "input"): D("0.88"),
            ("meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", "name"): "Meta Llama 3.1 70B Instruct Turbo",
            ("meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", "context_length"): 131072,
            ("meta-llama/Llama-3.3-70B-Instruct-Turbo-Free", "input.state"): FREE,
            ("black-forest-labs/FLUX.1-schnell", "input.state"): UNKNOWN,
            ("black-forest-labs/FLUX.1-schnell", "output.state"): UNKNOWN,
            ("BAAI/bge-large-en-v1.5", "output"): D("0.02"),
        },
    ),
    "cerebras": Expected(
        3,
        {
            ("gpt-oss-120b", "input"): D("0.35"),
            ("gpt-oss-120b", "name"): "OpenAI GPT OSS",
            ("gpt-oss-120b", "output"): D("0.75"),
            ("gpt-oss-120b", "context_length"): 131072,
            ("gpt-oss-120b", "max_output_tokens"): 40960,
            ("llama3.1-8b", "input"): D("0.1"),
            ("llama3.1-8b", "provider_status"): "deprecated",
            ("gpt-oss-120b", "provider_status"): "active",
        },
    ),
    "nebius": Expected(
        3,
        {
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "input"): D("0.13"),
            ("meta-llama/Meta-Llama-3.1-70B-Instruct", "name"): "Meta: Llama 3.1 70B Instruct",
            ("meta-llama/Meta-Llama-3.1-70B-Instruct-fast", "output"): D("0.75"),
            ("Qwen/Qwen2.5-72B-Instruct", "context_length"): 32000,
        },
    ),
    "xai": Expected(
        3,
        {
            ("grok-3", "input"): D("3"),
            ("grok-3", "output"): D("15"),
            ("grok-3", "cache_read"): D("0.75"),
            ("grok-3", "image_input.state"): FREE,
            ("grok-4-fast-reasoning", "input"): D("0.2"),
            ("grok-4-fast-reasoning", "image_input"): D("0.2"),
            ("grok-4-fast-reasoning", "input_long_context"): D("0.4"),
            ("grok-4-fast-reasoning", "input_long_context.threshold"): 128000,
            ("grok-4-fast-reasoning", "output_long_context"): D("1"),
            ("grok-4-fast-reasoning", "output_long_context.threshold"): 128000,
            ("grok-4-fast-reasoning", "cache_read_long_context"): D("0.1"),
            ("grok-4-fast-reasoning", "cache_read_long_context.threshold"): 128000,
            ("grok-4-fast-reasoning", "input.threshold"): None,
            ("grok-3", "input_long_context.state"): UNKNOWN,
            ("grok-3", "output_modalities"): "text",
            ("grok-4-fast-reasoning", "input_modalities"): "image,text",
            ("grok-2-vision-1212", "context_length"): None,
        },
    ),
    "novita": Expected(
        3,
        {
            ("meta-llama/llama-3.3-70b-instruct", "input"): D("0.39"),
            ("meta-llama/llama-3.3-70b-instruct", "name"): "meta-llama/llama-3.3-70b-instruct",
            ("meta-llama/llama-3.3-70b-instruct", "context_length"): 131072,
            ("deepseek/deepseek-v3-0324", "output"): D("1.14"),
            ("deepseek/deepseek-v3-0324", "max_output_tokens"): 163840,
        },
    ),
    "chutes": Expected(
        3,
        {
            ("deepseek-ai/DeepSeek-V3.2-TEE", "input"): D("0.25"),
            ("deepseek-ai/DeepSeek-V3.2-TEE", "cache_read"): D("0.125"),
            ("deepseek-ai/DeepSeek-V3.2-TEE", "output"): D("0.4"),
            ("google/gemma-3-27b-it", "output"): D("0.37"),
            ("google/gemma-3-27b-it", "input_modalities"): "image,text",
            ("google/gemma-3-27b-it", "output_modalities"): "text",
            ("deepseek-ai/DeepSeek-V3.2-TEE", "max_output_tokens"): 65536,
            ("google/gemma-3-27b-it", "context_length"): 131072,
            ("google/gemma-3-27b-it", "cache_read.state"): UNKNOWN,
            ("unsloth/Llama-3.3-70B-Instruct", "input.state"): UNKNOWN,
        },
    ),
    "aimo": Expected(
        2,
        {
            ("openai/gpt-4o", "context_length"): 128000,
            ("openai/gpt-4o", "name"): "GPT-4o",
            ("openai/gpt-4o", "output_modalities"): "text",
            ("openai/gpt-4o", "input_modalities"): "image,text",
            ("deepseek/deepseek-chat", "input_modalities"): "text",
        },
    ),
    "near": Expected(
        3,
        {
            ("zai-org/GLM-4.6-FP8", "input"): D("0.85"),
            ("zai-org/GLM-4.6-FP8", "output"): D("3.3"),
            ("zai-org/GLM-4.6-FP8", "context_length"): 202752,
            ("zai-org/GLM-4.6-FP8", "name"): "GLM 4.6",
            ("zai-org/GLM-4.6-FP8", "input_modalities"): "text",
            ("Qwen/Qwen3-Embedding-0.6B", "output.state"): FREE,
            ("Qwen/Qwen3-Embedding-0.6B", "output_modalities"): "embedding",
            ("anthropic/claude-haiku-4-5", "input"): D("1"),
            ("anthropic/claude-haiku-4-5", "output"): D("5"),
        },
    ),
    "fal": Expected(
        3,
        {
            ("fal-ai/flux/dev", "name"): "FLUX.1 [dev]",
            ("fal-ai/fast-sdxl", "context_length"): None,
        },
    ),
    "helicone": Expected(
        3,
        {
            ("claude-opus-4-1", "input"): D("15"),
            ("claude-opus-4-1", "cache_write"): D("18.75"),
            ("claude-opus-4-1", "context_length"): 200000,
            ("claude-opus-4-1", "name"): "Anthropic: Claude Opus 4.1",
            ("claude-opus-4-1", "max_output_tokens"): 32000,
            ("claude-opus-4-1", "input_modalities"): "image,text",
            ("claude-opus-4-1", "output_modalities"): "text",
            ("gpt-4o-mini", "input"): D("0.15"),
            ("gpt-4o-mini", "output"): D("0.6"),
            ("gpt-4o-mini", "cache_read"): D("0.075"),
            ("llama-3.3-70b-instruct", "input.state"): UNKNOWN,
        },
    ),
    "anannas": Expected(
        3,
        {
            ("openai/gpt-5-mini", "input"): D("0.25"),
            ("openai/gpt-5-mini", "name"): "GPT-5 Mini",
            ("openai/gpt-5-mini", "output"): D("2"),
            ("openai/gpt-5-mini", "context_length"): 400000,
            ("anthropic/claude-sonnet-4-5", "request.state"): UNKNOWN,
            ("perplexity/sonar", "request"): D("0.005"),
            ("perplexity/sonar", "request.unit"): "usd_per_request",
        },
    ),
    "aihubmix": Expected(
        3,
        {
            ("claude-sonnet-4-5", "input"): D("3.3"),
            ("claude-sonnet-4-5", "output"): D("16.5"),
            ("claude-sonnet-4-5", "cache_read"): D("0.33"),
            ("Qwen/Qwen2.5-72B-Instruct", "output"): D("1.68"),
            ("claude-sonnet-4-5", "cache_write"): D("4.125"),
            ("claude-sonnet-4-5", "input_modalities"): "image,text",
            ("claude-sonnet-4-5", "max_output_tokens"): 64000,
            ("glm-4.7-flash-free", "input.state"): FREE,
            ("glm-4.7-flash-free", "max_output_tokens"): None,
            ("Qwen/Qwen2.5-72B-Instruct", "context_length"): 131072,
        },
    ),
    "vercel-ai-gateway": Expected(
        4,
        {
            ("anthropic/claude-sonnet-4.5", "input"): D("3"),
            ("anthropic/claude-sonnet-4.5", "output"): D("15"),
            ("anthropic/claude-sonnet-4.5", "cache_write"): D("3.75"),
            ("anthropic/claude-sonnet-4.5", "cache_read"): D("0.3"),
            ("anthropic/claude-sonnet-4.5", "name"): "Claude Sonnet 4.5",
            ("anthropic/claude-sonnet-4.5", "max_output_tokens"): 64000,
            ("anthropic/claude-sonnet-4.5", "deprecation_date"): None,
            ("meta/llama-3.1-70b", "deprecation_date"): datetime(2026, 12, 1, tzinfo=UTC),
            ("voyage/voyage-3.5", "max_output_tokens"): None,
            ("anthropic/claude-sonnet-4.5", "context_length"): 200000,
            ("voyage/voyage-3.5", "input"): D("0.06"),
            ("voyage/voyage-3.5", "output.state"): FREE,
            ("voyage/voyage-3.5", "context_length"): None,
            ("bfl/flux-pro-1.1", "input.state"): UNKNOWN,
        },
    ),
    "google-vertex": Expected(
        3,
        {
            ("publishers/google/models/gemini-2.5-flash", "context_length"): None,
            ("publishers/google/models/gemma3", "name"): None,
        },
    ),
    "openai": Expected(
        4,
        {
            ("ft:gpt-4o-mini-2024-07-18:acme:support:9xYz12Ab", "context_length"): None,
            ("gpt-3.5-turbo", "deprecation_date"): datetime(2026, 10, 23, tzinfo=UTC),
            ("gpt-4o-mini", "deprecation_date"): None,
        },
    ),
    "anthropic": Expected(
        3,
        {
            ("claude-opus-4-1-20250805", "name"): "Claude Opus 4.1",
            ("claude-opus-4-1-20250805", "context_length"): 200000,
            ("claude-opus-4-1-20250805", "max_output_tokens"): 32000,
            ("claude-2.1", "context_length"): None,
        },
    ),
    "simplismart": Expected(3, {("google/gemma-3-27b-it", "context_length"): None}),
    "onerouter": Expected(
        3,
        {
            ("openai/gpt-5", "input"): D("1.25"),
            ("openai/gpt-5", "name"): "GPT-5",
            ("openai/gpt-5", "input_modalities"): "image,text",
            ("openai/gpt-5", "output_modalities"): "text",
            ("openai/gpt-5", "output"): D("10"),
            ("openai/gpt-5", "context_length"): 400000,
            ("openai/gpt-5", "max_output_tokens"): 128000,
            ("qwen/qwen3-32b:free", "output.state"): FREE,
            ("meta-llama/llama-3.1-70b-instruct", "input"): D("0.4"),
        },
    ),
    "cloudflare-workers-ai": Expected(
        4,
        {
            ("@cf/meta/llama-3.2-1b-instruct", "input"): D("0.027"),
            ("@cf/meta/llama-3.2-1b-instruct", "output"): D("0.201"),
            ("@cf/meta/llama-3.2-1b-instruct", "context_length"): 60000,
            ("@cf/meta/llama-3.2-1b-instruct", "max_output_tokens"): 8192,
            ("@cf/meta/llama-3.2-1b-instruct", "name"): "@cf/meta/llama-3.2-1b-instruct",
            ("@cf/meta/llama-3.2-1b-instruct", "provider_status"): None,
            ("@cf/openai/whisper", "context_length"): 448,  # max_input_tokens when there is no context_window
            ("@cf/openai/whisper", "provider_status"): "deprecated",
            ("@cf/meta/llama-3.2-1b-instruct", "cache_read.state"): UNKNOWN,
            ("@cf/zai-org/glm-4.7-flash", "input"): D("1.4"),
            ("@cf/zai-org/glm-4.7-flash", "cache_read"): D("0.26"),
            ("@cf/openai/whisper", "input.state"): UNKNOWN,
            ("@hf/thebloke/mistral-7b-instruct-v0.1-awq", "input.state"): UNKNOWN,
            ("@hf/thebloke/mistral-7b-instruct-v0.1-awq", "context_length"): 4096,
        },
    ),
    "clarifai": Expected(3, {("openai/chat-completion/models/gpt-oss-120b", "context_length"): None}),
    "morpheus": Expected(3, {("glm-4.6:web", "context_length"): None}),
    "sybil": Expected(
        2,
        {
            ("zai-org/GLM-4.6", "input"): D("1.5"),
            ("zai-org/GLM-4.6", "name"): "GLM 4.6",
            ("zai-org/GLM-4.6", "output"): D("2"),
            ("zai-org/GLM-4.6", "context_length"): 202752,
            ("Qwen/Qwen3-Embedding-8B", "output.state"): FREE,
        },
    ),
    "canopywave": Expected(
        3,
        {
            ("zai/glm-4.6", "context_length"): 202752,
            ("moonshotai/kimi-k2-thinking", "context_length"): None,
        },
    ),
    "modelz": Expected(2, {("DeepSeek-R1", "name"): None}),
    "cohere": Expected(
        3,
        {
            ("command-a-03-2025", "context_length"): 256000,
            ("embed-v4.0", "context_length"): 128000,
            ("command-r-03-2024", "provider_status"): "deprecated",
            ("embed-v4.0", "provider_status"): "active",
        },
    ),
    "huggingface": Expected(
        3,
        {
            # hyperbolic is cheaper but its status is "error"; featherless-ai publishes no price
            ("meta-llama/Llama-3.1-70B-Instruct", "input"): D("0.34"),
            ("meta-llama/Llama-3.1-70B-Instruct", "output"): D("0.39"),
            ("meta-llama/Llama-3.1-70B-Instruct", "context_length"): 131072,
            ("Qwen/Qwen3-VL-32B-Instruct", "input.state"): UNKNOWN,
            ("Qwen/Qwen3-VL-32B-Instruct", "context_length"): None,
            ("Qwen/Qwen3-VL-32B-Instruct", "input_modalities"): "image,text",
            ("deepseek-ai/DeepSeek-V3", "input"): D("0.9"),
            # fireworks-ai and together both ask 0.9 for input: the lower output price (together's 0.8) decides
            ("deepseek-ai/DeepSeek-V3", "output"): D("0.8"),
            ("deepseek-ai/DeepSeek-V3", "name"): "deepseek-ai/DeepSeek-V3",
            ("deepseek-ai/DeepSeek-V3", "output_modalities"): "text",
            ("deepseek-ai/DeepSeek-V3", "context_length"): 163840,
        },
    ),
    "alibaba-cloud": Expected(4, {("qwen-plus", "prices"): {}, ("qwen2.5-72b-instruct", "context_length"): None}),
}


@pytest.mark.parametrize("slug", PROVIDER_SLUGS)
def test_fixture_in_the_documented_wire_format_normalizes_to_the_values_read_by_hand(slug):
    if slug not in EXPECTED:
        pytest.fail(f"{slug}: no expectations for fixtures/providers/{slug}.json")
    expected = EXPECTED[slug]
    catalog, request = normalized_fixture(slug)
    spec = get_provider(slug)

    assert request.url.path == httpx.URL(spec.list_url(FAKE_ENVIRONMENT)).path
    assert catalog.rejections == []
    models = {model.provider_model_id: model for model in catalog.models}
    assert len(models) == expected.count == len(raw_ids(slug, [json.loads((FIXTURES / f"{slug}.json").read_text())]))
    for (model_id, name), value in expected.values.items():
        assert _field(models[model_id], name) == value, (model_id, name)
    _check_fields(catalog)


def test_fixture_requests_carry_the_key_the_way_the_provider_expects():
    """Keyed providers get their key in the documented header; keyless public lists get none."""
    headers: dict[str, Callable[[httpx.Request], Any]] = {
        "groq": lambda r: r.headers.get("authorization") == "Bearer test-key",
        "fal": lambda r: r.headers.get("authorization") == "Key test-key",
        "cerebras": lambda r: "authorization" not in r.headers,
        "near": lambda r: "authorization" not in r.headers,
        "helicone": lambda r: "authorization" not in r.headers,
        "clarifai": lambda r: r.headers.get("authorization") == "Key test-key",
        "anthropic": lambda r: r.headers.get("x-api-key") == "test-key" and "authorization" not in r.headers,
        "modelz": lambda r: "authorization" not in r.headers,
    }
    for slug, check in headers.items():
        _, request = fetch_fixture(slug)
        assert check(request), slug
    _, openrouter = fetch_fixture("openrouter")
    assert openrouter.url.params["output_modalities"] == "all"


#: The record field each spec path fills, for the completeness test below.
_PATH_FIELDS = {
    "name_path": "name",
    "context_path": "context_length",
    "max_output_path": "max_output_tokens",
    "input_modalities_path": "input_modalities",
    "output_modalities_path": "output_modalities",
    "deprecation_path": "deprecation_date",
    "status_path": "provider_status",
}


@pytest.mark.parametrize("slug", PROVIDER_SLUGS)
def test_every_price_limit_and_lifecycle_field_a_spec_reads_has_a_value_read_by_hand(slug):
    """A field path or price a spec reads is pinned by at least one expectation with a real value (not
    None), so pointing it at a field that does not exist fails the fixture test. The spec only says which
    fields need an expectation; the values come from the fixtures."""
    spec = get_provider(slug)
    pinned: dict[str, list[Any]] = {}
    for (_, name), value in EXPECTED[slug].values.items():
        pinned.setdefault(name, []).append(value)
    wanted = [name for attribute, name in _PATH_FIELDS.items() if getattr(spec, attribute)] + list(spec.prices)
    unpinned = [name for name in wanted if not any(value is not None for value in pinned.get(name, []))]
    assert unpinned == [], f"{slug}: no expected value for {unpinned} in EXPECTED"


def _one_entry(slug: str, endpoint: str, body: dict[str, Any]) -> ModelRecord:
    """`body` served at the endpoint's real URL, fetched and normalized; its one model."""
    spec = get_provider(slug).variant(endpoint)
    answer = httpx.MockTransport(lambda request: httpx.Response(200, json=body))
    engine = CatalogHttpEngine({spec.key_env: "test-key", **FAKE_ENVIRONMENT}, client=httpx.Client(transport=answer))
    catalog = normalize_catalog(spec, engine.fetch(spec).entries)
    assert catalog.rejections == []
    [model] = catalog.models
    return model


def test_openrouter_marks_minus_one_as_variable_in_every_price_it_reads():
    """A router entry priced "-1" everywhere (OpenRouter's "depends on the routed model") is variable in
    every price kind, never a negative amount and never unknown."""
    kinds = ("prompt", "completion", "request", "image", "input_cache_read", "input_cache_write")
    pricing = {name: "-1" for name in (*kinds, "internal_reasoning", "web_search", "audio")}
    model = _one_entry("openrouter", "primary", {"data": [{"id": "openrouter/auto", "pricing": pricing}]})
    assert {kind: (price.state, price.amount) for kind, price in model.prices.items()} == {
        kind: (VARIABLE, None)
        for kind in (
            "input",
            "output",
            "request",
            "image",
            "cache_read",
            "cache_write",
            "reasoning",
            "web_search",
            "audio",
        )
    }


def test_xai_models_endpoint_reads_every_price_with_its_unit_and_tier_threshold():
    """/v1/models (the newer form): cents per 100 million tokens (20000 = $2 per million), the long-context
    tier above long_context_threshold, image_price in cents per 100 million images (200000000 = $0.02)."""
    entry = {
        "id": "grok-4",
        "object": "model",
        "context_length": 256000,
        "prompt_text_token_price": 20000,
        "completion_text_token_price": 100000,
        "cached_prompt_text_token_price": 5000,
        "prompt_image_token_price": 20000,
        "prompt_text_token_price_long_context": 40000,
        "completion_text_token_price_long_context": 150000,
        "cached_prompt_text_token_price_long_context": 10000,
        "long_context_threshold": 128000,
        "image_price": 200000000,
    }
    model = _one_entry("xai", "models", {"object": "list", "data": [entry]})
    assert model.context_length == 256000
    assert {kind: (p.amount, p.unit, p.threshold_tokens) for kind, p in model.prices.items()} == {
        "input": (D(2), "usd_per_million_tokens", None),
        "output": (D(10), "usd_per_million_tokens", None),
        "cache_read": (D("0.5"), "usd_per_million_tokens", None),
        "image_input": (D(2), "usd_per_million_tokens", None),
        "input_long_context": (D(4), "usd_per_million_tokens", 128000),
        "output_long_context": (D(15), "usd_per_million_tokens", 128000),
        "cache_read_long_context": (D(1), "usd_per_million_tokens", 128000),
        "image": (D("0.02"), "usd_per_image", None),
    }


def test_near_openai_compatible_endpoint_reads_every_price_with_its_unit_and_readiness():
    """NEAR's /v1/models in OpenRouter's shape: strings in USD per token, image per image, request per call;
    is_ready true is 'ready'."""
    entry = {
        "id": "zai-org/GLM-4.6",
        "name": "GLM 4.6",
        "context_length": 202752,
        "max_output_length": 8192,
        "input_modalities": ["text", "image"],
        "output_modalities": ["text"],
        "pricing": {
            "prompt": "0.00000085",
            "completion": "0.0000033",
            "input_cache_read": "0.0000001",
            "image": "0.001",
            "request": "0.0005",
        },
        "is_ready": True,
    }
    model = _one_entry("near", "openai-v1", {"object": "list", "data": [entry]})
    assert (model.name, model.context_length, model.max_output_tokens) == ("GLM 4.6", 202752, 8192)
    assert (model.input_modalities, model.output_modalities, model.provider_status) == ("image,text", "text", "ready")
    assert {kind: (p.amount, p.unit) for kind, p in model.prices.items()} == {
        "input": (D("0.85"), "usd_per_million_tokens"),
        "output": (D("3.3"), "usd_per_million_tokens"),
        "cache_read": (D("0.1"), "usd_per_million_tokens"),
        "image": (D("0.001"), "usd_per_image"),
        "request": (D("0.0005"), "usd_per_request"),
    }


def test_together_legacy_endpoint_reads_both_prices_in_its_own_unit():
    """The legacy /api/models: 225 units of 1/250 USD per million tokens = $0.90 per million, both ways."""
    entry = {
        "name": "togethercomputer/llama-2-70b-chat",
        "display_name": "LLaMA-2 Chat (70B)",
        "context_length": 4096,
        "max_tokens": 2048,
        "pricing": {"input": 225, "output": 150},
    }
    model = _one_entry("together", "legacy", [entry])  # type: ignore[arg-type]
    assert (model.provider_model_id, model.name, model.context_length) == (
        "togethercomputer/llama-2-70b-chat",
        "LLaMA-2 Chat (70B)",
        4096,
    )
    assert (model.prices["input"].amount, model.prices["output"].amount) == (D("0.9"), D("0.6"))
    assert model.max_output_tokens == 2048


def test_hooks_read_odd_but_valid_entries_without_rejecting_them():
    """DeepInfra with pricing null: stored, every price unknown. Cloudflare with a junk property and a junk
    price item beside a real one: the real price is read."""
    deepinfra = _one_entry("deepinfra", "primary", [{"model_name": "x/y", "pricing": None}])  # type: ignore[arg-type]
    assert {p.state for p in deepinfra.prices.values()} <= {UNKNOWN}
    properties = [
        "junk",
        {"property_id": 5, "value": 1},
        {"property_id": "price", "value": ["junk", {"unit": "per M input tokens", "price": 0.5, "currency": "USD"}]},
    ]
    cloudflare = _one_entry(
        "cloudflare-workers-ai", "primary", {"result": [{"name": "@cf/x/y", "properties": properties}]}
    )
    assert cloudflare.prices["input"].amount == D("0.5")
