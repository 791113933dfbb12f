"""Cross-provider identity: one open model, spelled the way each provider really spells it, gets one
canonical slug; different models (sizes, versions, base vs instruct, coder and vision fine-tunes) keep
different slugs; and `who_serves` answers which providers list a model, cheapest first.

The ids come from the providers' documentation and the research notes in
``/work/research/providers/`` (and the fixtures in ``fixtures/providers/``), one per provider.
"""

from __future__ import annotations

from decimal import Decimal
from itertools import combinations

import pytest

from catalog_pipeline.providers.canonical import canonical_slug
from catalog_pipeline.providers.normalize import normalize_catalog
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.queries import who_serves
from catalog_pipeline.storage.writer import CatalogWriter
from catalog_pipeline_tests.test_provider_conformance import fetch_fixture

SAME_MODEL: dict[str, dict[str, str]] = {
    "llama-3.1-70b-instruct": {
        "together": "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
        "deepinfra": "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "fireworks": "accounts/fireworks/models/llama-v3p1-70b-instruct",
        "groq": "llama-3.1-70b-versatile",
        "openrouter": "meta-llama/llama-3.1-70b-instruct",
        "cloudflare-workers-ai": "@cf/meta/llama-3.1-70b-instruct",
        "nebius": "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "nebius fast flavor": "meta-llama/Meta-Llama-3.1-70B-Instruct-fast",
        "novita": "meta-llama/llama-3.1-70b-instruct",
        "huggingface": "meta-llama/Llama-3.1-70B-Instruct",
        "featherless": "meta-llama/Meta-Llama-3.1-70B-Instruct",
    },
    "llama-3.3-70b-instruct": {
        "together": "meta-llama/Llama-3.3-70B-Instruct-Turbo",
        "together free": "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free",
        "groq": "llama-3.3-70b-versatile",
        "novita": "meta-llama/llama-3.3-70b-instruct",
        "openrouter": "meta-llama/llama-3.3-70b-instruct",
        "openrouter free": "meta-llama/llama-3.3-70b-instruct:free",
        "chutes": "unsloth/Llama-3.3-70B-Instruct",
        "helicone": "llama-3.3-70b-instruct",
        "cloudflare-workers-ai": "@cf/meta/llama-3.3-70b-instruct-fp8-fast",
    },
    "llama-3.1-8b-instruct": {
        "groq": "llama-3.1-8b-instant",
        "deepinfra": "meta-llama/Meta-Llama-3.1-8B-Instruct",
        "cloudflare-workers-ai": "@cf/meta/llama-3.1-8b-instruct",
        "cloudflare-workers-ai fp8": "@cf/meta/llama-3.1-8b-instruct-fp8",
        "fireworks": "accounts/fireworks/models/llama-v3p1-8b-instruct",
        "huggingface": "meta-llama/Llama-3.1-8B-Instruct",
    },
    "qwen-2.5-72b-instruct": {
        "together": "Qwen/Qwen2.5-72B-Instruct-Turbo",
        "deepinfra": "Qwen/Qwen2.5-72B-Instruct",
        "fireworks": "accounts/fireworks/models/qwen2p5-72b-instruct",
        "openrouter": "qwen/qwen-2.5-72b-instruct",
        "nebius": "Qwen/Qwen2.5-72B-Instruct",
        "novita": "qwen/qwen-2.5-72b-instruct",
        "huggingface": "Qwen/Qwen2.5-72B-Instruct",
        "featherless": "Qwen/Qwen2.5-72B-Instruct",
    },
    "gemma-2-9b-it": {
        "groq": "gemma2-9b-it",
        "together": "google/gemma-2-9b-it",
        "openrouter": "google/gemma-2-9b-it",
        "openrouter free": "google/gemma-2-9b-it:free",
    },
    "deepseek-v3": {
        "together": "deepseek-ai/DeepSeek-V3",
        "fireworks": "accounts/fireworks/models/deepseek-v3",
        "novita": "deepseek/deepseek_v3",
        "huggingface": "deepseek-ai/DeepSeek-V3",
    },
}


@pytest.mark.parametrize(
    ("expected", "provider", "model_id"),
    [(slug, provider, model_id) for slug, spellings in SAME_MODEL.items() for provider, model_id in spellings.items()],
)
def test_each_providers_spelling_maps_to_the_one_canonical_slug(expected, provider, model_id):
    assert canonical_slug(model_id) == expected, provider


DISTINCT_MODELS = [
    "meta-llama/Meta-Llama-3.1-70B-Instruct",
    "meta-llama/Meta-Llama-3.1-8B-Instruct",
    "meta-llama/Meta-Llama-3.1-405B-Instruct",
    "meta-llama/Llama-3.3-70B-Instruct",
    "meta-llama/Llama-3.1-70B",
    "Qwen/Qwen2.5-72B-Instruct",
    "Qwen/Qwen2.5-VL-72B-Instruct",
    "Qwen/Qwen2.5-Coder-32B-Instruct",
    "Qwen/Qwen2.5-32B-Instruct",
    "qwen/qwen3-32b",
    "deepseek-ai/DeepSeek-V3",
    "deepseek-ai/DeepSeek-R1",
    "deepseek-ai/DeepSeek-R1-Distill-Llama-70B",
    "google/gemma-2-9b-it",
    "google/gemma-2-27b-it",
    "google/gemma-3-27b-it",
    "mistralai/Mixtral-8x7B-Instruct-v0.1",
    "mistralai/Mixtral-8x22B-Instruct-v0.1",
    "mistralai/Mistral-7B-Instruct-v0.3",
    "gpt-4o-2024-08-06",
    "gpt-4o-mini",
]


def test_distinct_models_keep_distinct_slugs():
    slugs = {model_id: canonical_slug(model_id) for model_id in DISTINCT_MODELS}
    clashes = [(a, b) for a, b in combinations(DISTINCT_MODELS, 2) if slugs[a] == slugs[b]]
    assert clashes == []


def test_separators_and_case_never_make_two_models_one():
    """Underscores, case and doubled dashes are spelling, not identity."""
    assert canonical_slug("deepseek/deepseek_v3") == canonical_slug("deepseek-ai/DeepSeek-V3")
    assert canonical_slug("Qwen/Qwen2.5--72B-Instruct") == canonical_slug("qwen/qwen2.5-72b-instruct")
    assert canonical_slug("gpt-4o") != canonical_slug("gpt-4o-mini")
    # a spaced dash ("Llama 3.1 - 70B", as display names are written) is one separator, not three
    assert canonical_slug("Meta/Llama 3.1 - 70B Instruct") == "llama-3.1-70b-instruct"


def test_a_slug_never_starts_or_ends_with_a_separator():
    """Stray separators around a name (a trailing underscore, a dash left by a removed variant) are not part of it."""
    assert canonical_slug("org/-llama-3-8b-") == "llama-3-8b"
    assert canonical_slug("org/_qwen-2-7b_") == "qwen-2-7b"
    assert canonical_slug("mistral-7b-:free") == "mistral-7b"


def test_who_serves_lists_every_provider_of_one_model_cheapest_first(sqlite_url):
    """Three providers synced from their fixtures: Llama 3.1 70B Instruct is served by all three
    (Nebius twice: its base and fast flavors), priced in USD per million tokens, cheapest first."""
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    for slug in ("together", "deepinfra", "nebius"):
        spec = get_provider(slug)
        fetched, _ = fetch_fixture(slug)
        writer.write_provider(spec, fetched, normalize_catalog(spec, fetched.entries))

    rows = who_serves(engine, "llama-3.1-70b-instruct")
    assert [(row["provider"], row["provider_model_id"], Decimal(row["input_price_per_million"])) for row in rows] == [
        ("nebius", "meta-llama/Meta-Llama-3.1-70B-Instruct", Decimal("0.13")),
        ("deepinfra", "meta-llama/Meta-Llama-3.1-70B-Instruct", Decimal("0.23")),
        ("nebius", "meta-llama/Meta-Llama-3.1-70B-Instruct-fast", Decimal("0.25")),
        ("together", "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo", Decimal("0.88")),
    ]
    assert [row["provider"] for row in who_serves(engine, "qwen-2.5-72b-instruct")] == ["nebius"]
    assert [row["provider_model_id"] for row in who_serves(engine, "llama-3.3-70b-instruct")] == [
        "meta-llama/Llama-3.3-70B-Instruct-Turbo-Free"
    ]
    assert who_serves(engine, "llama-3.1-405b-instruct") == []
