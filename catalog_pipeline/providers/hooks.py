"""Normalize and render hooks for the few payloads a spec's field paths cannot describe.

Each pair reads (normalize) and writes (render, for the replay server) the same wire
shape, so the replay server's output is a round-trip test of the normalizer.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from catalog_pipeline.providers.normalize import dig

if TYPE_CHECKING:
    from catalog_pipeline.replay.demo_models import DemoModel


# --- Cloudflare Workers AI: properties[] as {property_id, value} pairs ----------------


def _cloudflare_properties(entry: Mapping[str, Any]) -> dict[str, Any]:
    properties = entry.get("properties")
    if not isinstance(properties, list):
        return {}
    return {item.get("property_id"): item.get("value") for item in properties if isinstance(item, Mapping)}


def _cloudflare_price(prices: Any, unit_words: str) -> Any:
    if not isinstance(prices, list):
        return None
    for item in prices:
        if isinstance(item, Mapping) and unit_words in str(item.get("unit", "")).lower():
            return item.get("price")
    return None


def cloudflare_normalize(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The model id callers use is ``name`` (``@cf/...``); ``id`` is an internal uuid."""
    properties = _cloudflare_properties(entry)
    price = properties.get("price")
    return {
        "id": entry.get("name"),
        "name": entry.get("name"),
        "context_length": properties.get("context_window") or properties.get("max_input_tokens"),
        "max_output_tokens": properties.get("max_total_tokens"),
        "input_modalities": None,
        "output_modalities": None,
        "prices": {
            "input": _cloudflare_price(price, "input tokens"),
            "output": _cloudflare_price(price, "output tokens"),
        },
        "task": dig(entry, "task.name"),
    }


def cloudflare_render(model: DemoModel) -> dict[str, Any]:
    properties: list[dict[str, Any]] = []
    if model.context_length:
        properties.append({"property_id": "context_window", "value": str(model.context_length)})
    if model.input_price is not None:
        properties.append(
            {
                "property_id": "price",
                "value": [
                    {"unit": "per M input tokens", "price": model.input_price, "currency": "USD"},
                    {"unit": "per M output tokens", "price": model.output_price, "currency": "USD"},
                ],
            }
        )
    return {
        "id": model.uuid,
        "source": 1,
        "name": model.model_id,
        "description": f"{model.display_name} served on Workers AI.",
        "task": {"id": model.uuid[::-1], "name": "Text Generation", "description": "Text generation models."},
        "created_at": model.created_iso,
        "tags": [],
        "properties": properties,
    }


# --- Hugging Face router: one model, several upstream providers -----------------------


def _live_providers(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    providers = entry.get("providers")
    if not isinstance(providers, list):
        return []
    return [p for p in providers if isinstance(p, Mapping) and p.get("status", "live") == "live"]


def _cheapest(providers: list[Mapping[str, Any]], field: str) -> Any:
    """The lowest published price among live upstreams; raw values pass through for validation."""
    values = [dig(p, f"pricing.{field}") for p in providers]
    numeric = [v for v in values if isinstance(v, (int, Decimal)) and not isinstance(v, bool)]
    if numeric:
        return min(numeric)
    return next((v for v in values if v is not None), None)


def huggingface_normalize(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One row per model id: the cheapest live upstream's prices, the largest context."""
    providers = _live_providers(entry)
    contexts = [p.get("context_length") for p in providers if isinstance(p.get("context_length"), int)]
    return {
        "id": entry.get("id"),
        "name": entry.get("id"),
        "context_length": max(contexts) if contexts else None,
        "max_output_tokens": None,
        "input_modalities": dig(entry, "architecture.input_modalities"),
        "output_modalities": dig(entry, "architecture.output_modalities"),
        "prices": {"input": _cheapest(providers, "input"), "output": _cheapest(providers, "output")},
    }


def huggingface_render(model: DemoModel) -> dict[str, Any]:
    upstreams = []
    for index, upstream in enumerate(model.upstreams or ("together",)):
        upstream_entry: dict[str, Any] = {
            "provider": upstream,
            "status": "live",
            "context_length": model.context_length,
            "supports_tools": index == 0,
            "supports_structured_output": False,
        }
        if model.input_price is not None:
            # later upstreams are dearer, so the cheapest is the model's own price
            markup = Decimal(1) + Decimal(index) / 10
            upstream_entry["pricing"] = {"input": model.input_price * markup, "output": model.output_price * markup}
        upstreams.append(upstream_entry)
    return {
        "id": model.model_id,
        "object": "model",
        "created": model.created,
        "owned_by": model.organization,
        "architecture": {"input_modalities": ["text"], "output_modalities": ["text"]},
        "providers": upstreams,
    }
