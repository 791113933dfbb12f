"""The typed description of one provider's list-models endpoint.

A provider is data: where its list lives, how to authenticate, how to page, which
fields hold the id, limits and prices, and in which unit each price is quoted. The
shared HTTP engine (`catalog_pipeline.http_engine`) and the normalizer
(`catalog_pipeline.providers.normalize`) interpret it; only unusual payloads add a
small `normalize` function (the replay server has the matching writers).
"""

from __future__ import annotations

import enum
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit


class AuthStyle(enum.StrEnum):
    """How the key travels: `Authorization: Bearer`, `x-api-key`, `Authorization: Key` or not at all."""

    NONE = "none"
    BEARER = "bearer"
    X_API_KEY = "x-api-key"
    KEY = "key"
    #: Google's Gemini API: the key in an ``x-goog-api-key`` header.
    X_GOOG_API_KEY = "x-goog-api-key"


class PaginationStyle(enum.StrEnum):
    """How a provider splits its list across responses."""

    NONE = "none"
    PAGE_NUMBER = "page_number"  # ?page=N&per_page=M, stop on a short or empty page or at the total page count
    AFTER_ID = "after_id"  # has_more + last_id, next request ?after_id=<last_id>
    PAGE_TOKEN = "page_token"  # next token (or cursor) in the body, sent back as a query parameter


class PriceUnit(enum.StrEnum):
    """The unit a provider quotes a price in; `factor` converts it to the stored unit."""

    USD_PER_TOKEN = "usd_per_token"
    USD_PER_THOUSAND_TOKENS = "usd_per_thousand_tokens"
    USD_PER_MILLION_TOKENS = "usd_per_million_tokens"
    CENTS_PER_TOKEN = "cents_per_token"
    TEN_THOUSANDTH_USD_PER_MILLION_TOKENS = "ten_thousandth_usd_per_million_tokens"
    #: xAI: US cents per 100 million tokens, i.e. 1/10,000 USD per million tokens.
    CENTS_PER_HUNDRED_MILLION_TOKENS = "cents_per_hundred_million_tokens"
    #: NEAR AI: an object ``{"amount": 850, "scale": 9, "currency": "USD"}`` meaning amount x 10^-scale USD per token.
    SCALED_USD_PER_TOKEN = "scaled_usd_per_token"
    USD_PER_REQUEST = "usd_per_request"
    USD_PER_IMAGE = "usd_per_image"
    #: Compute time (DeepInfra's ``pricing.type == "time"``): US cents per second.
    CENTS_PER_SECOND = "cents_per_second"
    #: xAI's ``image_price`` on /v1/models: US cents per 100 million images (200000000 = $0.02 per image).
    CENTS_PER_HUNDRED_MILLION_IMAGES = "cents_per_hundred_million_images"
    #: Together's legacy /api/models: 1/250 USD per million tokens (75 = $0.30 per million), read off the
    #: payload against Together's published per-size prices of early 2024 (7B 50, 13B 75, 70B 225, Mixtral 150).
    TOGETHER_LEGACY_PRICE_UNITS = "together_legacy_price_units"

    @property
    def stored_unit(self) -> str:
        """The unit of the stored amount: per million tokens, per request, per image or per second."""
        return _STORED_UNITS.get(self, "usd_per_million_tokens")

    @property
    def factor(self) -> Decimal:
        """Multiplier from this unit to `stored_unit`, exact."""
        return _FACTORS[self]


_FACTORS = {
    PriceUnit.USD_PER_TOKEN: Decimal(1_000_000),
    PriceUnit.USD_PER_THOUSAND_TOKENS: Decimal(1_000),
    PriceUnit.USD_PER_MILLION_TOKENS: Decimal(1),
    PriceUnit.CENTS_PER_TOKEN: Decimal(10_000),
    PriceUnit.TEN_THOUSANDTH_USD_PER_MILLION_TOKENS: Decimal("0.0001"),
    PriceUnit.CENTS_PER_HUNDRED_MILLION_TOKENS: Decimal("0.0001"),
    PriceUnit.SCALED_USD_PER_TOKEN: Decimal(1_000_000),
    PriceUnit.USD_PER_REQUEST: Decimal(1),
    PriceUnit.USD_PER_IMAGE: Decimal(1),
    PriceUnit.CENTS_PER_SECOND: Decimal("0.01"),
    PriceUnit.CENTS_PER_HUNDRED_MILLION_IMAGES: Decimal("1e-10"),
    PriceUnit.TOGETHER_LEGACY_PRICE_UNITS: Decimal("0.004"),
}
_STORED_UNITS = {
    PriceUnit.USD_PER_REQUEST: "usd_per_request",
    PriceUnit.USD_PER_IMAGE: "usd_per_image",
    PriceUnit.CENTS_PER_HUNDRED_MILLION_IMAGES: "usd_per_image",
    PriceUnit.CENTS_PER_SECOND: "usd_per_second",
}


@dataclass(frozen=True)
class PriceField:
    """One price in the payload: its dotted path and unit.

    Attributes:
        path: dotted path inside one list entry, e.g. ``pricing.prompt``.
        unit: the unit the provider quotes it in.
        negative_means_variable: the provider writes a negative number (OpenRouter's
            ``"-1"``) for a price that depends on the routed model.
        quoted: the provider writes the number as a JSON string (the replay server
            copies this; the normalizer accepts both).
        threshold_path: for a tier price (xAI's ``*_long_context``), the entry's field
            holding the prompt size in tokens above which this price applies; it is
            stored beside the price (``model_pricing.threshold_tokens``).
    """

    path: str
    unit: PriceUnit
    negative_means_variable: bool = False
    quoted: bool = False
    threshold_path: str | None = None


@dataclass(frozen=True)
class Pagination:
    """Paging parameters; which ones matter depends on `style`.

    Attributes:
        style: the paging scheme.
        page_size: how many entries to ask for per page.
        size_param: query parameter carrying `page_size`.
        page_param: query parameter carrying the page number (PAGE_NUMBER) or the
            cursor/token (AFTER_ID, PAGE_TOKEN).
        first_page: number of the first page for PAGE_NUMBER.
        has_more_path: body field that says another page follows (AFTER_ID; optional for
            PAGE_TOKEN, e.g. fal's ``has_more`` beside ``next_cursor``).
        cursor_path: body field holding the next cursor (AFTER_ID: ``last_id``;
            PAGE_TOKEN: e.g. ``nextPageToken``).
        page_info: body fields describing the page (PAGE_NUMBER), dotted path to one of
            ``page``, ``per_page``, ``count``, ``total_count``, ``total_pages``; the engine
            stops at ``total_pages`` when the provider reports it, the replay server writes them all.
        max_pages: a hard stop, so a provider that never stops paging cannot hang a sync.
    """

    style: PaginationStyle = PaginationStyle.NONE
    page_size: int = 100
    size_param: str | None = None
    page_param: str | None = None
    first_page: int = 1
    has_more_path: str | None = None
    cursor_path: str | None = None
    page_info: Mapping[str, str] = field(default_factory=dict)
    max_pages: int = 1000


@dataclass(frozen=True)
class EndpointVariant:
    """Another list endpoint of the same provider: another path or host, an older or richer form.

    Attributes:
        name: short name shown in metadata and the sync log (``openai-v1``, ``legacy``).
        changes: the `ProviderSpec` fields that differ from the primary endpoint (base_url,
            list_path, records_path, field paths, prices, pagination, auth, ignored_fields, ...).
        fallback: tried, in order, when the endpoint before it answers 404 or 410. A variant
            that is not a fallback is used only when chosen by the spec's `endpoint_selector`.
        description: why the variant exists, for the README and the UI.
    """

    name: str
    changes: Mapping[str, Any]
    fallback: bool = True
    description: str = ""


#: Signature of a provider's own normalize hook: raw entry -> fields for `ModelFields`.
NormalizeHook = Callable[[Mapping[str, Any]], Mapping[str, Any]]


@dataclass(frozen=True)
class ProviderSpec:
    """Everything the engine needs to list one provider's models.

    Attributes:
        slug: partition key and the prefix of the key variable (``<SLUG>_API_KEY``).
        name: display name.
        base_url: scheme, host and base path, e.g. ``https://openrouter.ai/api/v1``;
            may hold ``{VARIABLE}`` placeholders filled from `extra_env`.
        list_path: path of the list endpoint below `base_url`.
        query: fixed query parameters.
        auth: how the key is sent.
        key_required: whether the list endpoint refuses anonymous requests.
        extra_headers: fixed headers (e.g. ``anthropic-version``).
        extra_env: further variables the URL needs (an account id).
        records_path: dotted path of the list in the body; empty for a bare array.
        envelope: fixed fields of the response body beside the list (``{"object": "list"}``
            for OpenAI-compatible lists); only the replay server writes them.
        id_path / name_path / context_path / max_output_path: dotted field paths.
        input_modalities_path / output_modalities_path: lists of modality names.
        prices: price kind (``input``, ``output``, ``cache_read``, ``request``...) to field.
        pagination: paging scheme.
        max_response_mb: largest decompressed response accepted from this provider, for a
            provider whose list is known to be larger than the engine's default
            (``CATALOG_MAX_RESPONSE_MB`` still wins when set).
        docs_url: where the endpoint is documented.
        normalize: optional hook for payloads the paths cannot describe (the replay server
            writes such payloads with its own renderers, `catalog_pipeline.replay.render`).
        demo_size: default number of models the replay server lists.
        demo_id_template: how this provider spells ids, for the replay server:
            ``{org}`` and ``{name}`` as on Hugging Face (``meta-llama``, ``Llama-3.1-8B-Instruct``),
            ``{lorg}``/``{lname}`` lower-cased, ``{pname}`` lower-cased with dots written
            as ``p`` (Fireworks' ``llama-v3p1-8b``), ``{date}`` as ``YYYYMMDD``.
        demo_free_suffix: how this provider marks a free variant in its ids (OpenRouter's
            ``:free``, Together's ``-Free``); the replay server appends it to its free models.
        notes: what is unusual about this provider, for the README and the UI.
        deprecation_path: field with the date the provider stops serving the model
            (``shutdown_date``, ``deprecationDate``, ``expiration_date``, ...).
        status_path: the provider's own state flag (Groq ``active``, Fireworks ``state``);
            booleans are stored as `status_labels` (true, false), text lower-cased.
        read_fields: further entry fields a normalize hook reads (the paths above count as read).
        ignored_fields: entry fields read on purpose by nobody, each with the reason; a
            field path covers everything below it. Any other field in a live payload is
            reported by the `payload_drift` check.
        endpoint_name: which endpoint this spec describes (``primary`` or a variant's name).
        variants: the provider's other list endpoints.
        endpoint_selector: a variable choosing one endpoint by name (``GOOGLE_VERTEX_API=gemini``);
            unset or the primary's name means the primary, then the fallbacks.
        primary_name: what `endpoint_selector` calls the primary endpoint.
    """

    slug: str
    name: str
    base_url: str
    list_path: str
    auth: AuthStyle = AuthStyle.BEARER
    key_required: bool = True
    query: Mapping[str, str] = field(default_factory=dict)
    extra_headers: Mapping[str, str] = field(default_factory=dict)
    extra_env: tuple[str, ...] = ()
    records_path: str = "data"
    envelope: Mapping[str, Any] = field(default_factory=dict)
    id_path: str = "id"
    name_path: str | None = None
    context_path: str | None = None
    max_output_path: str | None = None
    input_modalities_path: str | None = None
    output_modalities_path: str | None = None
    prices: Mapping[str, PriceField] = field(default_factory=dict)
    pagination: Pagination = field(default_factory=Pagination)
    max_response_mb: float | None = None
    docs_url: str = ""
    normalize: NormalizeHook | None = None
    demo_size: int = 50
    demo_id_template: str = "{org}/{name}"
    demo_free_suffix: str = ""
    notes: str = ""
    deprecation_path: str | None = None
    status_path: str | None = None
    status_labels: tuple[str, str] = ("active", "inactive")
    read_fields: tuple[str, ...] = ()
    ignored_fields: Mapping[str, str] = field(default_factory=dict)
    endpoint_name: str = "primary"
    variants: tuple[EndpointVariant, ...] = ()
    endpoint_selector: str | None = None
    primary_name: str = "primary"

    def __post_init__(self) -> None:
        known = {f.name for f in fields(self)} - {"slug", "variants", "endpoint_name", "endpoint_selector"}
        for variant in self.variants:
            unknown = set(variant.changes) - known
            if unknown:
                raise ValueError(f"{self.slug}: endpoint variant {variant.name!r} changes unknown fields {unknown}")

    @property
    def key_env(self) -> str:
        """Name of the variable holding this provider's key."""
        return self.slug.upper().replace("-", "_") + "_API_KEY"

    @property
    def required_env(self) -> tuple[str, ...]:
        """Variables that must be set before a live (non-replay) sync can run."""
        key = (self.key_env,) if self.key_required and self.auth is not AuthStyle.NONE else ()
        return key + self.extra_env

    def list_url(self, env: Mapping[str, str]) -> str:
        """The real list URL with `extra_env` placeholders filled in.

        Placeholders without a value become ``{NAME}`` literally, so the URL stays
        printable in an error message without inventing a value.
        """
        base = self.base_url
        for name in self.extra_env:
            base = base.replace("{" + name + "}", env.get(name) or "{" + name + "}")
        return base.rstrip("/") + self.list_path

    @property
    def read_paths(self) -> tuple[str, ...]:
        """Every entry field this endpoint reads: the field paths, price paths and `read_fields`."""
        paths = [
            self.id_path,
            self.name_path,
            self.context_path,
            self.max_output_path,
            self.input_modalities_path,
            self.output_modalities_path,
            self.deprecation_path,
            self.status_path,
            *(price.path for price in self.prices.values()),
            *(price.threshold_path for price in self.prices.values()),
            *self.read_fields,
        ]
        return tuple(dict.fromkeys(path for path in paths if path))

    def variant(self, name: str) -> ProviderSpec:
        """This provider's spec as seen through the endpoint called `name` (the primary's name included)."""
        if name in (self.primary_name, "primary"):
            return self
        for variant in self.variants:
            if variant.name == name:
                return replace(self, **variant.changes, endpoint_name=variant.name)
        raise KeyError(f"{self.slug}: no endpoint {name!r}; known: {', '.join(self.endpoint_names)}")

    @property
    def endpoint_label(self) -> str:
        """The name of the endpoint this spec describes, as metadata and the sync log show it."""
        return self.primary_name if self.endpoint_name == "primary" else self.endpoint_name

    @property
    def endpoint_names(self) -> tuple[str, ...]:
        return (self.primary_name, *(variant.name for variant in self.variants))

    def endpoints(self, env: Mapping[str, str]) -> list[ProviderSpec]:
        """The endpoints to try, in order: the selected one alone, or the primary then each fallback.

        Raises:
            ValueError: `endpoint_selector` names an endpoint this provider does not have.
        """
        if self.endpoint_name != "primary" and self.endpoint_name != self.primary_name:
            return [self]
        chosen = (env.get(self.endpoint_selector) or "").strip() if self.endpoint_selector else ""
        if chosen and chosen != self.primary_name:
            if chosen not in self.endpoint_names:
                raise ValueError(
                    f"{self.endpoint_selector}={chosen!r} is not an endpoint of {self.slug}; "
                    f"use one of: {', '.join(self.endpoint_names)}"
                )
            return [self.variant(chosen)]
        return [self] + [self.variant(v.name) for v in self.variants if v.fallback]

    def credential_hosts(self, env: Mapping[str, str]) -> frozenset[str]:
        """The hosts this provider's key may be sent to: those of its primary and every variant."""
        specs = [self, *(self.variant(v.name) for v in self.variants)]
        return frozenset(filter(None, (urlsplit(spec.list_url(env)).hostname for spec in specs)))
