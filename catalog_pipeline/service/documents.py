"""The catalog API's response documents, as pydantic models: they write /openapi.json.

Responses are rendered by hand (18,000 models through pydantic would cost more than the
query); schemathesis checks in the test suite that what is sent matches these models.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from catalog_pipeline.storage.changes import ChangeKind

ChangeKindName = Literal[*ChangeKind.ALL]  # type: ignore[valid-type]


class ErrorDetail(BaseModel):
    type: str = Field(description="`invalid_parameter`, `not_found`, `database_unavailable`, ...")
    message: str
    parameter: str | None = Field(None, description="the query or path parameter at fault, for 400s")


class ErrorDocument(BaseModel):
    error: ErrorDetail


class Price(BaseModel):
    amount: str | None = Field(description="exact decimal as text; null unless the state is known or free")
    state: str = Field(description="known | free | variable | unknown (never stored as 0)")
    unit: str = Field(description="usd_per_million_tokens, usd_per_request, usd_per_image, usd_per_second")
    threshold_tokens: int | None = Field(None, description="a tier price applies above this many prompt tokens")
    since: datetime | None = Field(None, description="with ?at=: when this price came into force")


class Model(BaseModel):
    id: str = Field(description="the model id as the provider lists it")
    object: Literal["model"]
    created: int = Field(description="first seen by the catalog, Unix seconds")
    owned_by: str = Field(description="the provider slug")
    provider: str
    canonical_slug: str
    name: str | None
    context_length: int | None
    max_output_tokens: int | None
    input_modalities: list[str]
    output_modalities: list[str]
    pricing: dict[str, Price] = Field(description="every stored price by price type (input, output, cache_read, ...)")
    price_status: str
    deprecation_date: datetime | None
    provider_status: str | None
    is_active: bool
    first_seen_at: datetime
    updated_at: datetime
    deactivated_at: datetime | None


class ModelList(BaseModel):
    object: Literal["list"]
    data: list[Model]
    has_more: bool
    next_cursor: str | None = Field(description="pass as `after` for the next page; null on the last page")


class PriceValue(BaseModel):
    amount: str | None
    state: str


class PriceHistoryEntry(BaseModel):
    price_type: str
    unit: str
    old: PriceValue | None = Field(description="null for a model's first listing")
    new: PriceValue
    changed_at: datetime
    dagster_run_id: str | None


class ChangeEvent(BaseModel):
    id: int = Field(description="stable, increasing: the feed's cursor")
    time: datetime
    provider: str
    model: str
    kind: ChangeKindName
    details: dict[str, Any] | None = Field(
        description="price_changed: price_type, unit, old, new, percent; limits_changed: {field: {old, new}}"
    )
    dagster_run_id: str | None


class ModelDetail(Model):
    at: datetime | None = Field(description="with ?at=: `pricing` holds the prices in force at this time")
    price_history: list[PriceHistoryEntry]
    changes: list[ChangeEvent]


class ChangeList(BaseModel):
    object: Literal["list"]
    data: list[ChangeEvent]
    has_more: bool
    next_since: int = Field(description="pass as `since` to read on")


class GatewayArchitecture(BaseModel):
    modality: str | None
    input_modalities: list[str]
    output_modalities: list[str]


class GatewayTopProvider(BaseModel):
    context_length: int | None
    max_completion_tokens: int | None


class GatewayModel(BaseModel):
    id: str
    canonical_slug: str
    name: str
    created: int
    context_length: int | None
    architecture: GatewayArchitecture
    pricing: dict[str, str] = Field(
        description="OpenRouter-style: USD per token as text; '-1' variable; unknown omitted"
    )
    top_provider: GatewayTopProvider
    provider_slug: str
    source_gateway: str
    is_active: bool


class GatewayList(BaseModel):
    data: list[GatewayModel]
    total: int
    returned: int
    offset: int
    limit: int
    has_more: bool
    next_offset: int | None
    gateway: str
    timestamp: datetime | None = Field(description="when the catalog was last written by a sync")


class Health(BaseModel):
    status: Literal["ok"]


class Readiness(BaseModel):
    status: Literal["ready", "unavailable"]
    reason: str | None = None
    last_successful_sync: datetime | None = None
    max_sync_age_hours: int
    schema_revision: str | None = None


class ParityDocument(BaseModel):
    """The same document as ``catalog-pipeline status --json``."""

    model_config = {"extra": "allow"}
    status: str
