"""Every provider the pipeline syncs, as data.

Adding a provider means adding a `ProviderSpec` here (and a normalize/render pair in
`hooks.py` only if its payload is unusual) plus a test; the engine, the assets and
the replay server pick it up from `PROVIDERS`.
"""

from __future__ import annotations

from catalog_pipeline.providers import hooks
from catalog_pipeline.providers.spec import (
    AuthStyle,
    Pagination,
    PaginationStyle,
    PriceField,
    PriceUnit,
    ProviderSpec,
)

_PER_TOKEN = PriceUnit.USD_PER_TOKEN
_PER_MILLION = PriceUnit.USD_PER_MILLION_TOKENS


def _openrouter_price(path: str, unit: PriceUnit = _PER_TOKEN) -> PriceField:
    return PriceField(path, unit, negative_means_variable=True, quoted=True)


SPECS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        slug="openrouter",
        name="OpenRouter",
        base_url="https://openrouter.ai/api/v1",
        list_path="/models",
        key_required=False,
        name_path="name",
        context_path="context_length",
        max_output_path="top_provider.max_completion_tokens",
        input_modalities_path="architecture.input_modalities",
        output_modalities_path="architecture.output_modalities",
        prices={
            "input": _openrouter_price("pricing.prompt"),
            "output": _openrouter_price("pricing.completion"),
            "request": _openrouter_price("pricing.request", PriceUnit.USD_PER_REQUEST),
            "image": _openrouter_price("pricing.image", PriceUnit.USD_PER_IMAGE),
            "cache_read": _openrouter_price("pricing.input_cache_read"),
            "cache_write": _openrouter_price("pricing.input_cache_write"),
        },
        docs_url="https://openrouter.ai/docs/api-reference/list-available-models",
        demo_size=3500,
        notes="Public list. Prices are strings in USD per token; '-1' marks a router's variable price. "
        "Variants such as ':free' are separate ids and separate rows.",
    ),
    ProviderSpec(
        slug="together",
        name="Together AI",
        base_url="https://api.together.xyz/v1",
        list_path="/models",
        records_path="",
        name_path="display_name",
        context_path="context_length",
        prices={
            "input": PriceField("pricing.input", _PER_MILLION),
            "output": PriceField("pricing.output", _PER_MILLION),
        },
        docs_url="https://docs.together.ai/reference/models-1",
        demo_size=800,
        notes="A bare JSON array; prices in USD per million tokens.",
    ),
    ProviderSpec(
        slug="groq",
        name="Groq",
        base_url="https://api.groq.com/openai/v1",
        list_path="/models",
        context_path="context_window",
        max_output_path="max_completion_tokens",
        docs_url="https://console.groq.com/docs/api-reference#models-list",
        demo_size=100,
        demo_id_template="{name}",
        notes="OpenAI-compatible list plus context_window; no prices in the list.",
    ),
    ProviderSpec(
        slug="anthropic",
        name="Anthropic",
        base_url="https://api.anthropic.com/v1",
        list_path="/models",
        auth=AuthStyle.X_API_KEY,
        extra_headers={"anthropic-version": "2023-06-01"},
        name_path="display_name",
        pagination=Pagination(
            style=PaginationStyle.AFTER_ID,
            page_size=1000,
            size_param="limit",
            page_param="after_id",
            has_more_path="has_more",
            cursor_path="last_id",
        ),
        docs_url="https://docs.anthropic.com/en/api/models-list",
        demo_size=12,
        demo_id_template="claude-{name}-{date}",
        notes="x-api-key plus anthropic-version; cursor pagination with has_more/last_id/after_id; no prices.",
    ),
    ProviderSpec(
        slug="cloudflare-workers-ai",
        name="Cloudflare Workers AI",
        base_url="https://api.cloudflare.com/client/v4/accounts/{CLOUDFLARE_ACCOUNT_ID}",
        list_path="/ai/models/search",
        extra_env=("CLOUDFLARE_ACCOUNT_ID",),
        records_path="result",
        prices={
            "input": PriceField("properties.price", _PER_MILLION),
            "output": PriceField("properties.price", _PER_MILLION),
        },
        pagination=Pagination(
            style=PaginationStyle.PAGE_NUMBER, page_size=100, size_param="per_page", page_param="page"
        ),
        normalize=hooks.cloudflare_normalize,
        render=hooks.cloudflare_render,
        docs_url="https://developers.cloudflare.com/api/resources/ai/subresources/models/methods/list/",
        demo_size=90,
        demo_id_template="@cf/{org}/{name}",
        notes="Needs CLOUDFLARE_ACCOUNT_ID. Ids are the '@cf/...' names; context window and prices "
        "(USD per million tokens) sit in properties[] as property_id/value pairs.",
    ),
    ProviderSpec(
        slug="huggingface",
        name="Hugging Face Inference Providers",
        base_url="https://router.huggingface.co/v1",
        list_path="/models",
        key_required=False,
        prices={
            "input": PriceField("providers.pricing.input", _PER_MILLION),
            "output": PriceField("providers.pricing.output", _PER_MILLION),
        },
        normalize=hooks.huggingface_normalize,
        render=hooks.huggingface_render,
        docs_url="https://huggingface.co/docs/inference-providers/index",
        demo_size=1500,
        notes="One row per model id; prices (USD per million tokens) are the cheapest live upstream's, "
        "context is the largest any live upstream offers.",
    ),
)

PROVIDERS: dict[str, ProviderSpec] = {spec.slug: spec for spec in SPECS}
PROVIDER_SLUGS: tuple[str, ...] = tuple(PROVIDERS)


def get_provider(slug: str) -> ProviderSpec:
    """The spec for `slug`, or a KeyError listing the known slugs."""
    try:
        return PROVIDERS[slug]
    except KeyError:
        raise KeyError(f"unknown provider {slug!r}; known: {', '.join(PROVIDER_SLUGS)}") from None
