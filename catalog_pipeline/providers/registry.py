"""Every provider the pipeline syncs, as data.

Adding a provider means adding a `ProviderSpec` here (and a normalize hook in
`hooks.py` only if its payload is unusual) plus a test; the engine, the assets and
the replay server pick it up from `PROVIDERS`.
"""

from __future__ import annotations

from catalog_pipeline.providers import hooks
from catalog_pipeline.providers.spec import (
    AuthStyle,
    EndpointVariant,
    Pagination,
    PaginationStyle,
    PriceField,
    PriceUnit,
    ProviderSpec,
)

_PER_TOKEN = PriceUnit.USD_PER_TOKEN
_PER_MILLION = PriceUnit.USD_PER_MILLION_TOKENS
#: The envelope of an OpenAI-compatible list: ``{"object": "list", "data": [...]}``.
_OPENAI_LIST = {"object": "list"}
#: The fields every OpenAI-compatible entry carries that are no part of the catalog.
_OPENAI_ENTRY_IGNORED = {
    "object": "always 'model'",
    "created": "creation time as the provider states it; first_seen_at records when we first listed it",
    "owned_by": "an organization or engine label, not the provider or a model property",
}
_DESCRIPTION_IGNORED = {"description": "prose for people"}


def _openrouter_price(path: str, unit: PriceUnit = _PER_TOKEN) -> PriceField:
    return PriceField(path, unit, negative_means_variable=True, quoted=True)


def _per_token_strings(prompt: str, completion: str) -> dict[str, PriceField]:
    """OpenRouter-style ``pricing.prompt``/``pricing.completion`` strings in USD per token."""
    return {
        "input": PriceField(prompt, _PER_TOKEN, quoted=True),
        "output": PriceField(completion, _PER_TOKEN, quoted=True),
    }


def _xai_price(path: str, tier: bool = False) -> PriceField:
    return PriceField(
        path, PriceUnit.CENTS_PER_HUNDRED_MILLION_TOKENS, threshold_path="long_context_threshold" if tier else None
    )


#: xAI's prices, in both of its list forms; the ``*_long_context`` tier applies above ``long_context_threshold``.
_XAI_PRICES = {
    "input": _xai_price("prompt_text_token_price"),
    "output": _xai_price("completion_text_token_price"),
    "cache_read": _xai_price("cached_prompt_text_token_price"),
    "image_input": _xai_price("prompt_image_token_price"),
    "input_long_context": _xai_price("prompt_text_token_price_long_context", tier=True),
    "output_long_context": _xai_price("completion_text_token_price_long_context", tier=True),
    "cache_read_long_context": _xai_price("cached_prompt_text_token_price_long_context", tier=True),
}
_XAI_IGNORED = {**_OPENAI_ENTRY_IGNORED, "aliases": "other names of the same model, not rows of their own"}

SPECS: tuple[ProviderSpec, ...] = (
    ProviderSpec(
        slug="openrouter",
        name="OpenRouter",
        base_url="https://openrouter.ai/api/v1",
        list_path="/models",
        query={"output_modalities": "all"},
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
            "reasoning": _openrouter_price("pricing.internal_reasoning"),
            "web_search": _openrouter_price("pricing.web_search", PriceUnit.USD_PER_REQUEST),
            "audio": _openrouter_price("pricing.audio"),
        },
        deprecation_path="expiration_date",
        ignored_fields={
            **_DESCRIPTION_IGNORED,
            "created": "creation time as OpenRouter states it",
            "canonical_slug": "OpenRouter's own slug; ours (canonical_slug) is computed the same way for every provider",
            "hugging_face_id": "a link to the weights, not a catalog field",
            "architecture.modality": "the input and output modalities again, as one string",
            "architecture.tokenizer": "tokenizer family, no catalog column",
            "architecture.instruct_type": "chat template family, no catalog column",
            "top_provider.context_length": "the context of the upstream OpenRouter prefers; context_length is the model's",
            "top_provider.is_moderated": "moderation flag of one upstream",
            "per_request_limits": "the caller's rate limits, not the model's",
            "supported_parameters": "request parameters, no catalog column",
            "default_parameters": "request defaults, no catalog column",
        },
        docs_url="https://openrouter.ai/docs/api-reference/list-available-models",
        demo_size=3500,
        demo_id_template="{lorg}/{lname}",
        demo_free_suffix=":free",
        notes="Public list; without output_modalities=all it lists text-output models only. Prices are "
        "strings in USD per token, a key is omitted when it does not apply (unknown, not 0) and '-1' marks "
        "a router's variable price. Variants such as ':free' are separate ids and separate rows.",
    ),
    ProviderSpec(
        slug="featherless",
        name="Featherless",
        base_url="https://api.featherless.ai/v1",
        list_path="/models",
        key_required=False,
        name_path="name",
        context_path="context_length",
        max_output_path="max_completion_tokens",
        pagination=Pagination(
            style=PaginationStyle.PAGE_NUMBER,
            page_size=1000,
            size_param="per_page",
            page_param="page",
            page_info={
                "pagination.current_page": "page",
                "pagination.total_pages": "total_pages",
                "pagination.total_items": "total_count",
                "total": "total_count",
            },
        ),
        docs_url="https://featherless.ai/docs/api-reference-models",
        demo_size=6500,
        notes="Public list of Hugging Face repos (tens of thousands). Without per_page it sends the whole "
        "catalog at once (~8 MB); we page with per_page=1000 until pagination.total_pages. Subscription "
        "pricing: no per-token prices, stored as unknown.",
    ),
    ProviderSpec(
        slug="deepinfra",
        name="DeepInfra",
        base_url="https://api.deepinfra.com",
        list_path="/models/list",
        key_required=False,
        records_path="",
        id_path="model_name",
        context_path="max_tokens",
        prices={
            "input": PriceField("pricing.cents_per_input_token", PriceUnit.CENTS_PER_TOKEN),
            "output": PriceField("pricing.cents_per_output_token", PriceUnit.CENTS_PER_TOKEN),
            # a multiplier on the input price; the hook turns it into cents per cached token
            "cache_read": PriceField("pricing.rate_per_input_token_cached", PriceUnit.CENTS_PER_TOKEN),
            "second": PriceField("pricing.cents_per_sec", PriceUnit.CENTS_PER_SECOND),
        },
        normalize=hooks.deepinfra_normalize,
        deprecation_path="deprecated",
        ignored_fields={
            **_DESCRIPTION_IGNORED,
            "type": "task name (text-generation, embeddings, ...)",
            "reported_type": "task name again",
            "replaced_by": "successor's id; the successor is listed on its own",
            "private": "always 0 in the public list",
            "tags": "marketing tags",
            "pricing.type": "which price fields apply; the hook reads them",
            "pricing.discount": "a temporary discount without its terms",
            "pricing.discount_ends_at": "end of that discount",
            "cover_img_url": "a picture",
            "mmlu": "a benchmark score",
            "quantization": "weight format, no catalog column",
            "expected": "DeepInfra's internal field",
        },
        variants=(
            EndpointVariant(
                "openai-v1",
                {
                    "list_path": "/v1/openai/models",
                    "records_path": "data",
                    "envelope": _OPENAI_LIST,
                    "id_path": "id",
                    "context_path": "metadata.context_length",
                    "max_output_path": "metadata.max_tokens",
                    "prices": {
                        "input": PriceField("metadata.pricing.input_tokens", _PER_MILLION),
                        "output": PriceField("metadata.pricing.output_tokens", _PER_MILLION),
                        "cache_read": PriceField("metadata.pricing.cache_read_tokens", _PER_MILLION),
                    },
                    "deprecation_path": None,
                    "normalize": None,
                    "ignored_fields": {
                        **_OPENAI_ENTRY_IGNORED,
                        "root": "the id again",
                        "parent": "always null",
                        "metadata.description": "prose for people",
                        "metadata.tags": "marketing tags",
                    },
                },
                description="The OpenAI-compatible list: ids, and for priced models metadata.pricing in USD per "
                "million tokens and metadata.context_length; null metadata on embedding and image models.",
            ),
        ),
        docs_url="https://deepinfra.com/docs/inference",
        demo_size=2000,
        notes="Public bare array keyed by model_name (an invalid key gets 401, so set the key only if valid). "
        "Prices in US cents per token; their fields depend on pricing.type (tokens, input_tokens, time in "
        "cents per second, ...), and the cached-input rate is a multiplier on the input price. Deprecated "
        "models stay listed with a 'deprecated' timestamp.",
    ),
    ProviderSpec(
        slug="groq",
        name="Groq",
        base_url="https://api.groq.com/openai/v1",
        list_path="/models",
        envelope=_OPENAI_LIST,
        name_path="name",
        context_path="context_window",
        max_output_path="max_completion_tokens",
        input_modalities_path="input_modalities",
        output_modalities_path="output_modalities",
        prices={
            **_per_token_strings("pricing.prompt", "pricing.completion"),
            "cache_read": PriceField("pricing.input_cache_read", _PER_TOKEN, quoted=True),
            "image": PriceField("pricing.image", PriceUnit.USD_PER_IMAGE, quoted=True),
            "request": PriceField("pricing.request", PriceUnit.USD_PER_REQUEST, quoted=True),
        },
        status_path="active",
        ignored_fields={
            **_OPENAI_ENTRY_IGNORED,
            "context_length": "the same number as context_window",
            "max_output_length": "the same number as max_completion_tokens",
            "public_apps": "always null",
            "hugging_face_id": "a link to the weights, not a catalog field",
            "supported_sampling_parameters": "request parameters, no catalog column",
            "supported_features": "feature flags, no catalog column",
        },
        docs_url="https://console.groq.com/docs/api-reference#models-list",
        demo_size=100,
        demo_id_template="{lname}",
        notes="OpenAI-compatible list plus active, context_window and max_completion_tokens; chat, speech and "
        "guard models mixed, no type field. Since 2026 it also carries name, modalities and OpenRouter-style "
        "pricing (strings in USD per token; speech models list no completion price).",
    ),
    ProviderSpec(
        slug="fireworks",
        name="Fireworks AI",
        base_url="https://api.fireworks.ai/v1",
        list_path="/accounts/fireworks/models",
        records_path="models",
        id_path="name",
        name_path="displayName",
        context_path="contextLength",
        pagination=Pagination(
            style=PaginationStyle.PAGE_TOKEN,
            page_size=200,
            size_param="pageSize",
            page_param="pageToken",
            cursor_path="nextPageToken",
            page_info={"totalSize": "total_count"},
        ),
        deprecation_path="deprecationDate",
        status_path="state",
        ignored_fields={
            **_DESCRIPTION_IGNORED,
            **{
                name: "training, tuning or deployment detail, no catalog column"
                for name in (
                    "baseModelDetails",
                    "calibrated",
                    "cluster",
                    "conversationConfig",
                    "defaultDraftModel",
                    "defaultDraftTokenCount",
                    "defaultSamplingParams",
                    "deployedModelRefs",
                    "encryptionState",
                    "fineTuningJob",
                    "importedFrom",
                    "kind",
                    "peftDetails",
                    "rlFullParameterTunable",
                    "rlLoraTunable",
                    "rlTunable",
                    "serverlessModes",
                    "snapshotType",
                    "supervisedFullParameterTunable",
                    "supervisedLoraTunable",
                    "supportsLora",
                    "teftDetails",
                    "trainingContextLength",
                    "tunable",
                    "useHfApplyChatTemplate",
                    "useTrainingV2",
                )
            },
            "createTime": "creation time as Fireworks states it",
            "updateTime": "last edit of the model record",
            "githubUrl": "a link",
            "huggingFaceUrl": "a link",
            "public": "always true in the fireworks account's list",
            "status": "status.code/message of the model record (state is read)",
            "supportsImageInput": "a capability flag, no catalog column",
            "supportsServerless": "whether a serverless deployment exists; both kinds are listed",
            "supportsTools": "a capability flag, no catalog column",
        },
        docs_url="https://docs.fireworks.ai/api-reference/list-models",
        demo_size=600,
        demo_id_template="accounts/fireworks/models/{pname}",
        notes="The control-plane catalog of the public 'fireworks' account (camelCase fields, id in 'name'), "
        "paged with pageSize (max 200) / pageToken -> nextPageToken. It includes models that need a "
        "dedicated deployment (filter=supports_serverless=true would list only serverless ones). No prices.",
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
        normalize=hooks.together_normalize,
        ignored_fields={
            **_OPENAI_ENTRY_IGNORED,
            "type": "task (chat, image, embedding, ...)",
            "running": "whether a dedicated instance of the caller runs",
            "organization": "the model's author",
            "link": "a link",
            "license": "license name",
            "config": "chat template and stop tokens",
            "pricing.hourly": "dedicated-instance price per hour, not per token",
            "pricing.base": "dedicated-instance base fee",
            "pricing.finetune": "fine-tuning price",
        },
        variants=(
            EndpointVariant(
                "legacy",
                {
                    "base_url": "https://api.together.xyz",
                    "list_path": "/api/models",
                    "id_path": "name",
                    "name_path": "display_name",
                    "context_path": "context_length",
                    "max_output_path": "max_tokens",
                    "prices": {
                        "input": PriceField("pricing.input", PriceUnit.TOGETHER_LEGACY_PRICE_UNITS),
                        "output": PriceField("pricing.output", PriceUnit.TOGETHER_LEGACY_PRICE_UNITS),
                    },
                    "normalize": hooks.together_legacy_normalize,
                    "ignored_fields": {
                        **_DESCRIPTION_IGNORED,
                        **{
                            name: "playground, hardware or listing detail, no catalog column"
                            for name in (
                                "modelInstanceConfig",
                                "_id",
                                "display_type",
                                "license",
                                "creator_organization",
                                "hardware_label",
                                "num_parameters",
                                "show_in_playground",
                                "isFeaturedModel",
                                "config",
                                "instances",
                                "access",
                                "link",
                                "descriptionLink",
                                "depth",
                                "pricing_tier",
                                "external_pricing_url",
                                "finetuning_supported",
                                "autopilot_pool",
                            )
                        },
                        "created_at": "creation time as Together states it",
                        "update_at": "last edit of the record",
                        "release_date": "the model's release",
                        "renamed": "an earlier id; the model is listed under its current name",
                        "pricing.hourly": "dedicated-instance price per hour, not per token",
                        "pricing.base": "dedicated-instance base fee",
                        "pricing.finetune": "fine-tuning price",
                    },
                },
                description="The legacy list (before /v1/models): a bare array keyed by name; prices in "
                "1/250 USD per million tokens.",
            ),
        ),
        docs_url="https://docs.together.ai/reference/models-1",
        demo_size=800,
        demo_free_suffix="-Free",
        notes="A bare JSON array; prices are numbers in USD per million tokens. Zero input and output prices "
        "on a model not named '-Free' are stored as unknown: Together writes zeros for dedicated-only and "
        "image models, which are billed otherwise.",
    ),
    ProviderSpec(
        slug="cerebras",
        name="Cerebras",
        base_url="https://api.cerebras.ai/public/v1",
        list_path="/models",
        auth=AuthStyle.NONE,
        envelope=_OPENAI_LIST,
        name_path="name",
        context_path="limits.max_context_length",
        max_output_path="limits.max_completion_tokens",
        prices=_per_token_strings("pricing.prompt", "pricing.completion"),
        ignored_fields={**_OPENAI_ENTRY_IGNORED, **_DESCRIPTION_IGNORED, "deprecated": "see provider_status"},
        status_path="deprecated",
        status_labels=("deprecated", "active"),
        variants=(
            EndpointVariant(
                "openai-v1",
                {
                    "base_url": "https://api.cerebras.ai/v1",
                    "auth": AuthStyle.BEARER,
                    "name_path": None,
                    "context_path": None,
                    "max_output_path": None,
                    "prices": {},
                    "status_path": None,
                    "ignored_fields": _OPENAI_ENTRY_IGNORED,
                },
                description="The keyed OpenAI-compatible list: ids only.",
            ),
        ),
        docs_url="https://inference-docs.cerebras.ai/api-reference/models/public-models",
        demo_size=40,
        demo_id_template="{lname}",
        notes="The public catalog (no key), richer than the keyed OpenAI-compatible /v1/models: context and "
        "output limits under limits.*, prices as strings in USD per token.",
    ),
    ProviderSpec(
        slug="nebius",
        name="Nebius Token Factory",
        base_url="https://api.tokenfactory.nebius.com/v1",
        list_path="/models",
        query={"verbose": "true"},
        envelope=_OPENAI_LIST,
        name_path="name",
        context_path="context_length",
        prices=_per_token_strings("pricing.prompt", "pricing.completion"),
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        variants=(
            EndpointVariant(
                "studio",
                {
                    "base_url": "https://api.studio.nebius.com/v1",
                    "query": {},
                    "name_path": None,
                    "context_path": None,
                    "prices": {},
                },
                description="The former AI Studio host, without verbose=true: ids only.",
            ),
        ),
        docs_url="https://docs.tokenfactory.nebius.com/api-reference/examples/list-of-models",
        demo_size=150,
        notes="Formerly Nebius AI Studio (api.studio.nebius.com). verbose=true adds name, context_length and "
        "OpenRouter-style pricing in USD per token. A keyless alternative with per-flavor ids is "
        "tokenfactory.nebius.com/api/public/models_info.",
    ),
    ProviderSpec(
        slug="xai",
        name="xAI",
        base_url="https://api.x.ai/v1",
        list_path="/language-models",
        records_path="models",
        input_modalities_path="input_modalities",
        output_modalities_path="output_modalities",
        prices=_XAI_PRICES,
        ignored_fields={
            **_XAI_IGNORED,
            "fingerprint": "build fingerprint of the serving system",
            "version": "the model's version label",
            "search_price": "price per live-search source, not per token: no catalog unit for it",
        },
        variants=(
            EndpointVariant(
                "models",
                {
                    "list_path": "/models",
                    "records_path": "data",
                    "envelope": _OPENAI_LIST,
                    "context_path": "context_length",
                    "input_modalities_path": None,
                    "output_modalities_path": None,
                    "prices": {
                        **_XAI_PRICES,
                        "image": PriceField("image_price", PriceUnit.CENTS_PER_HUNDRED_MILLION_IMAGES),
                    },
                    "ignored_fields": _XAI_IGNORED,
                },
                description="The newer /v1/models form: every model (image models too) with context_length, "
                "the same prices and a per-image price for image models.",
            ),
        ),
        docs_url="https://docs.x.ai/docs/api-reference#list-language-models",
        demo_size=30,
        demo_id_template="grok-{lname}",
        notes="/v1/language-models (not /v1/models) carries prices: integers in US cents per 100 million "
        "tokens (30000 = $3.00 per million). aliases[] are other names of the same model, not rows. No "
        "context length in this list; search_price (per search) is not stored.",
    ),
    ProviderSpec(
        slug="novita",
        name="Novita AI",
        base_url="https://api.novita.ai/openai/v1",
        list_path="/models",
        envelope=_OPENAI_LIST,
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        name_path="title",
        context_path="context_size",
        max_output_path="max_output_tokens",
        prices={
            "input": PriceField("input_token_price_per_m", PriceUnit.TEN_THOUSANDTH_USD_PER_MILLION_TOKENS),
            "output": PriceField("output_token_price_per_m", PriceUnit.TEN_THOUSANDTH_USD_PER_MILLION_TOKENS),
        },
        docs_url="https://novita.ai/docs/api-reference/model-apis-llm-list-models",
        demo_size=200,
        demo_id_template="{lorg}/{lname}",
        notes="Prices are integers in units of 0.0001 USD per million tokens (3900 = $0.39 per million). "
        "The legacy path /v3/openai/models answers the same list.",
    ),
    ProviderSpec(
        slug="chutes",
        name="Chutes",
        base_url="https://llm.chutes.ai/v1",
        list_path="/models",
        key_required=False,
        envelope=_OPENAI_LIST,
        context_path="context_length",
        max_output_path="max_output_length",
        input_modalities_path="input_modalities",
        output_modalities_path="output_modalities",
        prices={
            "input": PriceField("pricing.prompt", _PER_MILLION),
            "output": PriceField("pricing.completion", _PER_MILLION),
            "cache_read": PriceField("pricing.input_cache_read", _PER_MILLION),
        },
        ignored_fields={
            **_OPENAI_ENTRY_IGNORED,
            "price": "the same prices again, in USD and in TAO; pricing.* is read",
            "max_model_len": "the engine's maximum; context_length is the context served",
            "chute_id": "Chutes' deployment id",
            "confidential_compute": "whether it runs in a TEE (also in the id's -TEE suffix)",
            "quantization": "weight format, no catalog column",
            "root": "the base model's id",
            "parent": "always null",
            "permission": "OpenAI-era permission objects",
            "supported_features": "feature flags, no catalog column",
            "supported_sampling_parameters": "request parameters, no catalog column",
        },
        docs_url="https://chutes.ai/docs",
        demo_size=200,
        demo_id_template="{org}/{name}-TEE",
        notes="Public list; prices are numbers in USD per million tokens (price.*.tao is the same price in "
        "TAO and is ignored); context_length, not max_model_len, is the context; owned_by names the "
        "serving engine.",
    ),
    ProviderSpec(
        slug="aimo",
        name="AiMo Network",
        base_url="https://devnet.aimo.network/api/v1",
        list_path="/models",
        key_required=False,
        id_path="name",
        name_path="display_name",
        context_path="context_length",
        input_modalities_path="architecture.input_modalities",
        output_modalities_path="architecture.output_modalities",
        docs_url="https://docs.aimo.network/user-guide/api-usage",
        demo_size=60,
        demo_id_template="{lorg}/{lname}",
        notes="A marketplace: each model (id in 'name') lists providers[] with their own pricing, in a unit "
        "the docs do not state, so prices are stored as unknown until a real payload settles it. Keys look "
        "like aimo-sk-v2-...; the list answered without one when last checked.",
    ),
    ProviderSpec(
        slug="near",
        name="NEAR AI Cloud",
        base_url="https://cloud-api.near.ai/v1",
        list_path="/model/list",
        auth=AuthStyle.NONE,
        records_path="models",
        id_path="modelId",
        name_path="metadata.modelDisplayName",
        context_path="metadata.contextLength",
        input_modalities_path="metadata.architecture.inputModalities",
        output_modalities_path="metadata.architecture.outputModalities",
        prices={
            "input": PriceField("inputCostPerToken", PriceUnit.SCALED_USD_PER_TOKEN),
            "output": PriceField("outputCostPerToken", PriceUnit.SCALED_USD_PER_TOKEN),
        },
        variants=(
            EndpointVariant(
                "openai-v1",
                {
                    "list_path": "/models",
                    "records_path": "data",
                    "envelope": _OPENAI_LIST,
                    "id_path": "id",
                    "name_path": "name",
                    "context_path": "context_length",
                    "max_output_path": "max_output_length",
                    "input_modalities_path": "input_modalities",
                    "output_modalities_path": "output_modalities",
                    "prices": {
                        **_per_token_strings("pricing.prompt", "pricing.completion"),
                        "cache_read": PriceField("pricing.input_cache_read", _PER_TOKEN, quoted=True),
                        "image": PriceField("pricing.image", PriceUnit.USD_PER_IMAGE, quoted=True),
                        "request": PriceField("pricing.request", PriceUnit.USD_PER_REQUEST, quoted=True),
                    },
                    "status_path": "is_ready",
                    "status_labels": ("ready", "not_ready"),
                    "ignored_fields": {
                        **_OPENAI_ENTRY_IGNORED,
                        **_DESCRIPTION_IGNORED,
                        "pricing.input": "the input price again, per million tokens as a float; pricing.prompt is exact",
                        "pricing.output": "the output price again, per million tokens as a float; "
                        "pricing.completion is exact",
                        "architecture": "the modalities again (camelCase)",
                        "top_provider": "the context and output limit again",
                        "hugging_face_id": "a link to the weights, not a catalog field",
                        "quantization": "weight format, no catalog column",
                        "supported_features": "feature flags, no catalog column",
                        "supported_sampling_parameters": "request parameters, no catalog column",
                        "datacenters": "where it runs",
                        "openrouter": "the model's OpenRouter slug",
                    },
                },
                description="The OpenAI-compatible list in OpenRouter's shape: pricing strings in USD per token "
                "(and the same as floats per million), is_ready.",
            ),
        ),
        docs_url="https://cloud-api.near.ai/v1/model/list",
        demo_size=60,
        notes="The public catalog /v1/model/list (not the OpenAI-compatible /v1/models): camelCase, id in "
        "modelId, prices as {amount, scale, currency} meaning amount x 10^-scale USD per token.",
    ),
    ProviderSpec(
        slug="fal",
        name="fal",
        base_url="https://api.fal.ai/v1",
        list_path="/models",
        auth=AuthStyle.KEY,
        key_required=False,
        records_path="models",
        id_path="endpoint_id",
        name_path="metadata.display_name",
        pagination=Pagination(
            style=PaginationStyle.PAGE_TOKEN,
            page_size=100,
            size_param="limit",
            page_param="cursor",
            cursor_path="next_cursor",
            has_more_path="has_more",
        ),
        docs_url="https://docs.fal.ai/platform-apis/v1/models",
        demo_size=250,
        demo_id_template="fal-ai/{lname}",
        notes="Media-generation endpoints (image, video, audio), active and deprecated; 'Authorization: Key' "
        "is optional for the list. Cursor paging: next_cursor + has_more. Prices are per output unit "
        "(image, second, ...) from /v1/models/pricing, 50 ids per call with a key, and are not synced.",
    ),
    ProviderSpec(
        slug="helicone",
        name="Helicone AI Gateway",
        base_url="https://api.helicone.ai/v1/public/model-registry",
        list_path="/models",
        auth=AuthStyle.NONE,
        records_path="data.models",
        envelope={"data": {"filters": {"providers": [], "authors": [], "capabilities": []}}, "error": None},
        # the hook reads these from the cheapest of endpoints[]
        prices={
            "input": PriceField("endpoints.pricing.prompt", _PER_MILLION),
            "output": PriceField("endpoints.pricing.completion", _PER_MILLION),
            "cache_read": PriceField("endpoints.pricing.cacheRead", _PER_MILLION),
            "cache_write": PriceField("endpoints.pricing.cacheWrite", _PER_MILLION),
        },
        pagination=Pagination(page_info={"data.total": "total_count"}),
        normalize=hooks.helicone_normalize,
        read_fields=("id", "name", "contextLength", "maxOutput", "inputModalities", "outputModalities", "endpoints"),
        ignored_fields={
            **_DESCRIPTION_IGNORED,
            "author": "the model's author",
            "trainingDate": "training cut-off",
            "supportedParameters": "request parameters, no catalog column",
        },
        docs_url="https://docs.helicone.ai/rest/models/get-v1public-model-registry-models",
        demo_size=200,
        demo_id_template="{lname}",
        notes="Public model registry inside Helicone's {data, error} envelope. One row per model id; each "
        "model has endpoints[] (one per upstream) and is priced by its cheapest endpoint, in USD per "
        "million tokens.",
    ),
    ProviderSpec(
        slug="anannas",
        name="Anannas AI",
        base_url="https://api.anannas.ai/v1",
        list_path="/models",
        name_path="name",
        context_path="context_length",
        prices={
            **_per_token_strings("pricing.prompt", "pricing.completion"),
            "request": PriceField("pricing.request", PriceUnit.USD_PER_REQUEST, quoted=True),
        },
        docs_url="https://docs.anannas.ai/models",
        demo_size=200,
        demo_id_template="{lorg}/{lname}",
        notes="OpenRouter-style router: prices are strings in USD per token (request per call, optional); "
        "capabilities[] instead of modality lists.",
    ),
    ProviderSpec(
        slug="aihubmix",
        name="AiHubMix",
        base_url="https://aihubmix.com/api/v1",
        list_path="/models",
        auth=AuthStyle.NONE,
        envelope={"success": True, "message": ""},
        id_path="model_id",
        context_path="context_length",
        max_output_path="max_output",
        input_modalities_path="input_modalities",
        prices={
            "input": PriceField("pricing.input", _PER_MILLION),
            "output": PriceField("pricing.output", _PER_MILLION),
            "cache_read": PriceField("pricing.cache_read", _PER_MILLION),
            "cache_write": PriceField("pricing.cache_write", _PER_MILLION),
        },
        docs_url="https://docs.aihubmix.com/en/api/Models-API",
        demo_size=300,
        demo_id_template="{lname}",
        demo_free_suffix="-free",
        notes="The public catalog /api/v1/models (the OpenAI-compatible /v1/models has ids only): id in "
        "model_id, features and input_modalities as comma-separated strings, max_output 0 when unknown. "
        "Prices are numbers in USD per million tokens: the docs page says 'per 1K tokens', but the values "
        "(Claude Sonnet 4.5 at 3.3/16.5) and every client read them per million.",
    ),
    ProviderSpec(
        slug="vercel-ai-gateway",
        name="Vercel AI Gateway",
        base_url="https://ai-gateway.vercel.sh/v1",
        list_path="/models",
        auth=AuthStyle.NONE,
        envelope=_OPENAI_LIST,
        name_path="name",
        context_path="context_window",
        max_output_path="max_tokens",
        prices={
            **_per_token_strings("pricing.input", "pricing.output"),
            "cache_read": PriceField("pricing.input_cache_read", _PER_TOKEN, quoted=True),
            "cache_write": PriceField("pricing.input_cache_write", _PER_TOKEN, quoted=True),
        },
        deprecation_path="deprecated_at",
        ignored_fields={
            **_OPENAI_ENTRY_IGNORED,
            **_DESCRIPTION_IGNORED,
            "type": "language, embedding or image",
            "tags": "capability tags",
            "pricing.input_tiers": "long-context tiers: not stored yet (no capture shows their shape)",
            "pricing.output_tiers": "long-context tiers: not stored yet (no capture shows their shape)",
            "pricing.image": "per-image price without a documented unit",
            "pricing.web_search": "per-search price without a documented unit",
        },
        docs_url="https://vercel.com/docs/ai-gateway/sdks-and-apis/rest-api",
        demo_size=200,
        demo_id_template="{lorg}/{lname}",
        notes="Public list of creator/model ids; prices are strings in USD per token (the base tier; "
        "*_tiers for long contexts and image/web-search prices are not stored); context_window and "
        "max_tokens are 0 when unknown (embeddings, image models).",
    ),
    ProviderSpec(
        slug="google-vertex",
        name="Google Vertex AI",
        base_url="https://{GOOGLE_VERTEX_LOCATION}-aiplatform.googleapis.com/v1beta1",
        list_path="/publishers/google/models",
        extra_env=("GOOGLE_VERTEX_LOCATION",),
        records_path="publisherModels",
        id_path="name",
        pagination=Pagination(
            style=PaginationStyle.PAGE_TOKEN,
            page_size=100,
            size_param="pageSize",
            page_param="pageToken",
            cursor_path="nextPageToken",
        ),
        endpoint_selector="GOOGLE_VERTEX_API",
        primary_name="vertex",
        variants=(
            EndpointVariant(
                "gemini",
                {
                    "base_url": "https://generativelanguage.googleapis.com/v1beta",
                    "list_path": "/models",
                    "auth": AuthStyle.X_GOOG_API_KEY,
                    "extra_env": (),
                    "records_path": "models",
                    "name_path": "displayName",
                    "context_path": "inputTokenLimit",
                    "max_output_path": "outputTokenLimit",
                    "pagination": Pagination(
                        style=PaginationStyle.PAGE_TOKEN,
                        page_size=1000,
                        size_param="pageSize",
                        page_param="pageToken",
                        cursor_path="nextPageToken",
                    ),
                    "demo_id_template": "models/gemini-{lname}",
                    "ignored_fields": {
                        **_DESCRIPTION_IGNORED,
                        "version": "the model's version label",
                        "supportedGenerationMethods": "API methods, no catalog column",
                        "temperature": "sampling default",
                        "maxTemperature": "sampling limit",
                        "topP": "sampling default",
                        "topK": "sampling default",
                        "thinking": "a capability flag, no catalog column",
                        "baseModelId": "the base model's name",
                    },
                },
                fallback=False,
                description="The Gemini API list (GOOGLE_VERTEX_API=gemini, an API key in GOOGLE_VERTEX_API_KEY "
                "sent as x-goog-api-key): ids models/..., names, input and output token limits; no prices.",
            ),
        ),
        docs_url="https://cloud.google.com/vertex-ai/docs/reference/rest/v1beta1/publishers.models/list",
        demo_size=60,
        demo_id_template="publishers/google/models/gemini-{lname}",
        notes="Model Garden publisher models (v1beta1 only), paged with pageSize/pageToken -> nextPageToken. "
        "GOOGLE_VERTEX_API_KEY holds an OAuth access token (service account, cloud-platform scope), "
        "GOOGLE_VERTEX_LOCATION the region (us-central1). Ids only: no names, limits or prices in the "
        "basic view.",
    ),
    ProviderSpec(
        slug="openai",
        name="OpenAI",
        base_url="https://api.openai.com/v1",
        list_path="/models",
        envelope=_OPENAI_LIST,
        docs_url="https://platform.openai.com/docs/api-reference/models/list",
        deprecation_path="shutdown_date",
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        demo_size=120,
        demo_id_template="gpt-{lname}",
        notes="Ids only, scoped to what the key's project may use (the org's fine-tunes included); chat, "
        "embedding, speech and image models mixed; no prices or limits.",
    ),
    ProviderSpec(
        slug="anthropic",
        name="Anthropic",
        base_url="https://api.anthropic.com/v1",
        list_path="/models",
        auth=AuthStyle.X_API_KEY,
        extra_headers={"anthropic-version": "2023-06-01"},
        name_path="display_name",
        context_path="max_input_tokens",
        max_output_path="max_tokens",
        pagination=Pagination(
            style=PaginationStyle.AFTER_ID,
            page_size=1000,
            size_param="limit",
            page_param="after_id",
            has_more_path="has_more",
            cursor_path="last_id",
        ),
        ignored_fields={
            "type": "always 'model'",
            "created_at": "release time as Anthropic states it",
            "capabilities": "feature flags (batch, thinking, effort, ...), no catalog column",
        },
        docs_url="https://docs.anthropic.com/en/api/models-list",
        demo_size=12,
        demo_id_template="claude-{lname}-{date}",
        notes="x-api-key plus anthropic-version; cursor pagination with has_more/last_id/after_id (limit up to "
        "1000). max_input_tokens and max_tokens give the limits; retired models stay listed (lifecycle); "
        "no prices.",
    ),
    ProviderSpec(
        slug="simplismart",
        name="Simplismart",
        base_url="https://api.simplismart.live/v1",
        list_path="/models",
        envelope=_OPENAI_LIST,
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        docs_url="https://simplismart.ai/pricing",
        demo_size=70,
        notes="No documented list endpoint: this is the OpenAI-compatible convention on the documented "
        "inference host, unverified. Keys are JWTs that expire. No prices in the list.",
    ),
    ProviderSpec(
        slug="onerouter",
        name="OneRouter",
        base_url="https://llm.onerouter.pro/v1",
        list_path="/models",
        key_required=False,
        name_path="display_name",
        context_path="context_length",
        max_output_path="max_output_tokens",
        input_modalities_path="input_modalities",
        output_modalities_path="output_modalities",
        prices={
            "input": PriceField("min_prompt_price", _PER_MILLION),
            "output": PriceField("min_completion_price", _PER_MILLION),
        },
        docs_url="https://docs.onerouter.pro/api-reference/llm-model-api/overview",
        demo_size=200,
        demo_id_template="{lorg}/{lname}",
        demo_free_suffix=":free",
        notes="Public rich list on llm.onerouter.pro (api.onerouter.pro lists ids only). One row per model id, "
        "priced at min_prompt_price/min_completion_price, the cheapest upstream in USD per million tokens; "
        "':free' variants are separate ids.",
    ),
    ProviderSpec(
        slug="cloudflare-workers-ai",
        name="Cloudflare Workers AI",
        base_url="https://api.cloudflare.com/client/v4/accounts/{CLOUDFLARE_ACCOUNT_ID}",
        list_path="/ai/models/search",
        extra_env=("CLOUDFLARE_ACCOUNT_ID",),
        records_path="result",
        envelope={"success": True, "errors": [], "messages": []},
        prices={
            "input": PriceField("properties.price", _PER_MILLION),
            "output": PriceField("properties.price", _PER_MILLION),
            "cache_read": PriceField("properties.price", _PER_MILLION),
        },
        pagination=Pagination(
            style=PaginationStyle.PAGE_NUMBER,
            page_size=100,
            size_param="per_page",
            page_param="page",
            page_info={
                "result_info.page": "page",
                "result_info.per_page": "per_page",
                "result_info.count": "count",
                "result_info.total_count": "total_count",
            },
        ),
        normalize=hooks.cloudflare_normalize,
        read_fields=("name", "properties", "deprecated"),
        status_labels=("deprecated", "active"),
        ignored_fields={
            **_DESCRIPTION_IGNORED,
            "id": "an internal uuid; callers use the @cf/... name",
            "source": "Cloudflare's catalog source number",
            "task": "the task (Text Generation, ...), no catalog column",
            "created_at": "when Cloudflare added the model",
            "tags": "listing tags",
        },
        docs_url="https://developers.cloudflare.com/api/resources/ai/subresources/models/methods/list/",
        demo_size=90,
        demo_id_template="@cf/{lorg}/{lname}",
        notes="Needs CLOUDFLARE_ACCOUNT_ID. Ids are the '@cf/...' names (id is an internal uuid); context "
        "window (a digit string) and prices sit in properties[] as property_id/value pairs, prices as "
        "[{unit, price}] in USD per million tokens; non-token units (per audio minute) are not stored.",
    ),
    ProviderSpec(
        slug="clarifai",
        name="Clarifai",
        base_url="https://api.clarifai.com/v2/ext/openai/v1",
        list_path="/models",
        auth=AuthStyle.KEY,
        envelope=_OPENAI_LIST,
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        docs_url="https://docs.clarifai.com/compute/inference/open-ai",
        demo_size=150,
        demo_id_template="{lorg}/chat-completion/models/{name}",
        notes="OpenAI-compatible shim; the key is a Personal Access Token sent as 'Authorization: Key'. Ids are "
        "user/app/models/model paths; no prices or limits.",
    ),
    ProviderSpec(
        slug="morpheus",
        name="Morpheus",
        base_url="https://api.mor.org/api/v1",
        list_path="/models",
        key_required=False,
        envelope=_OPENAI_LIST,
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        docs_url="https://apidocs.mor.org/api-reference/introduction",
        demo_size=40,
        demo_id_template="{name}",
        notes="Gateway to the Morpheus compute marketplace; base path /api/v1 (/v1 answers 403). Lists the "
        "models with live provider bids (on-chain names; ':web' twins are separate ids) with blockchainID, "
        "tags and modelType; no USD prices (bids are priced on-chain in MOR).",
    ),
    ProviderSpec(
        slug="sybil",
        name="Sybil",
        base_url="https://api.sybil.com/v1",
        list_path="/models",
        envelope=_OPENAI_LIST,
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        name_path="name",
        context_path="capabilities.context_length",
        prices=_per_token_strings("pricing.prompt", "pricing.completion"),
        docs_url="https://docs.sybil.com",
        demo_size=40,
        notes="OpenAI-style list with name, capabilities.context_length and pricing.prompt/completion in USD per "
        "token, as read by the one client found (low confidence: check the unit against a real payload).",
    ),
    ProviderSpec(
        slug="canopywave",
        name="Canopy Wave",
        base_url="https://inference.canopywave.io/v1",
        list_path="/models",
        envelope=_OPENAI_LIST,
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        context_path="context_length",
        docs_url="https://canopywave.com/docs/get-started/openai-compatible",
        demo_size=40,
        demo_id_template="{lorg}/{lname}",
        notes="OpenAI-compatible list; context_length when present. Any pricing.* in the list has an "
        "undocumented unit and is not stored (prices are per million tokens on the website).",
    ),
    ProviderSpec(
        slug="modelz",
        name="Modelz",
        base_url="https://backend.alpacanetwork.ai/api",
        list_path="/tokens",
        auth=AuthStyle.NONE,
        records_path="",
        id_path="Token",
        docs_url="https://backend.alpacanetwork.ai/api/tokens",
        demo_size=48,
        demo_id_template="{name}",
        notes="Alpaca Network's Modelz model-token registry: a public bare array keyed by Token. priceInUSD is the "
        "price of a crypto token, not of inference, and is never stored; no inference prices or limits. "
        "(TensorChord's modelz.ai had per-deployment endpoints only.)",
    ),
    ProviderSpec(
        slug="cohere",
        name="Cohere",
        base_url="https://api.cohere.com/v1",
        list_path="/models",
        records_path="models",
        id_path="name",
        context_path="context_length",
        pagination=Pagination(
            style=PaginationStyle.PAGE_TOKEN,
            page_size=1000,
            size_param="page_size",
            page_param="page_token",
            cursor_path="next_page_token",
        ),
        status_path="is_deprecated",
        status_labels=("deprecated", "active"),
        docs_url="https://docs.cohere.com/v1/reference/list-models",
        demo_size=40,
        demo_id_template="command-{lname}",
        notes="models[] keyed by name; page_size (max 1000) / page_token -> next_page_token; context_length is "
        "a float in the schema; is_deprecated models stay listed; no prices.",
    ),
    ProviderSpec(
        slug="huggingface",
        name="Hugging Face Inference Providers",
        base_url="https://router.huggingface.co/v1",
        list_path="/models",
        key_required=False,
        envelope=_OPENAI_LIST,
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        prices={
            "input": PriceField("providers.pricing.input", _PER_MILLION),
            "output": PriceField("providers.pricing.output", _PER_MILLION),
        },
        normalize=hooks.huggingface_normalize,
        read_fields=("id", "architecture.input_modalities", "architecture.output_modalities", "providers"),
        docs_url="https://huggingface.co/docs/inference-providers/hub-api",
        demo_size=1500,
        notes="Router list (chat models with inference providers). One row per model id: prices (USD per "
        "million tokens) are the cheapest live upstream's, context the largest any live upstream offers; "
        "upstreams with status 'error' do not count, and an absent price is unknown, not free.",
    ),
    ProviderSpec(
        slug="alibaba-cloud",
        name="Alibaba Cloud Model Studio",
        base_url="https://dashscope-intl.aliyuncs.com/compatible-mode/v1",
        list_path="/models",
        envelope=_OPENAI_LIST,
        ignored_fields=_OPENAI_ENTRY_IGNORED,
        docs_url="https://www.alibabacloud.com/help/en/model-studio/compatibility-of-openai-with-dashscope",
        demo_size=200,
        demo_id_template="{lname}",
        notes="DashScope OpenAI-compatible list on the international (Singapore) host; keys are region-bound, "
        "so a Beijing key needs dashscope.aliyuncs.com instead. Ids only, no prices.",
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
