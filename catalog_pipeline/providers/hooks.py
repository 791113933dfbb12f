"""Normalize hooks for the few payloads a spec's field paths cannot describe.

The replay server writes the same wire shapes (`catalog_pipeline.replay.render`), so its
output is a round-trip test of these hooks; this module imports nothing above `providers`.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from catalog_pipeline.providers.normalize import dig

# --- Cloudflare Workers AI: properties[] as {property_id, value} pairs ----------------


def _cloudflare_properties(entry: Mapping[str, Any]) -> dict[str, Any]:
    properties = entry.get("properties")
    if not isinstance(properties, list):
        return {}
    return {
        item["property_id"]: item.get("value")
        for item in properties
        if isinstance(item, Mapping) and isinstance(item.get("property_id"), str)
    }


def _cloudflare_price(prices: Any, kind: str) -> Any:
    """The price whose unit names `kind` (``input``, ``output``, ``cached input``) tokens; None if unlisted."""
    if not isinstance(prices, list):
        return None
    for item in prices:
        unit = str(item.get("unit", "")).lower() if isinstance(item, Mapping) else ""
        cached = "cached" in unit
        if unit.endswith(f"{kind.split()[-1]} tokens") and cached == kind.startswith("cached"):
            return item.get("price")
    return None


def cloudflare_normalize(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The model id callers use is ``name`` (``@cf/...``); ``id`` is an internal uuid. Prices are USD per
    million tokens keyed by their unit text; non-token units (``per audio minute``) are not stored."""
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
            "input": _cloudflare_price(price, "input"),
            "output": _cloudflare_price(price, "output"),
            "cache_read": _cloudflare_price(price, "cached input"),
        },
        "provider_status": entry.get("deprecated"),
    }


# --- Aggregators: one model, several upstream providers (Hugging Face router, Helicone) ---


def _number(value: Any) -> Decimal | None:
    """`value` as a finite, non-negative number, or None when it is not one."""
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal, str)):
        return None
    try:
        number = Decimal(value.strip()) if isinstance(value, str) else Decimal(str(value))
    except (ArithmeticError, ValueError):
        return None
    return number if number.is_finite() and number >= 0 else None


def _cheapest_upstream(upstreams: list[Mapping[str, Any]], input_path: str, output_path: str) -> Mapping[str, Any]:
    """The upstream with the lowest input price (then output price); the first one if none is priced.

    One upstream's prices are taken together, so input and output never come from two different upstreams.
    """
    priced = [u for u in upstreams if _number(dig(u, input_path)) is not None]
    if not priced:
        return upstreams[0] if upstreams else {}
    return min(priced, key=lambda u: (_number(dig(u, input_path)), _number(dig(u, output_path)) or Decimal(0)))


def _mappings(value: Any) -> list[Mapping[str, Any]]:
    return [item for item in value if isinstance(item, Mapping)] if isinstance(value, list) else []


def _live_providers(entry: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    return [p for p in _mappings(entry.get("providers")) if p.get("status", "live") == "live"]


def huggingface_normalize(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One row per model id: the cheapest live upstream's prices, the largest context any live upstream offers."""
    providers = _live_providers(entry)
    contexts = [p.get("context_length") for p in providers if isinstance(p.get("context_length"), int)]
    cheapest = _cheapest_upstream(providers, "pricing.input", "pricing.output")
    return {
        "id": entry.get("id"),
        "name": entry.get("id"),
        "context_length": max(contexts) if contexts else None,
        "max_output_tokens": None,
        "input_modalities": dig(entry, "architecture.input_modalities"),
        "output_modalities": dig(entry, "architecture.output_modalities"),
        "prices": {"input": dig(cheapest, "pricing.input"), "output": dig(cheapest, "pricing.output")},
    }


def helicone_normalize(entry: Mapping[str, Any]) -> dict[str, Any]:
    """One row per registry model id, priced by its cheapest endpoint (USD per million tokens)."""
    cheapest = _cheapest_upstream(_mappings(entry.get("endpoints")), "pricing.prompt", "pricing.completion")
    return {
        "id": entry.get("id"),
        "name": entry.get("name"),
        "context_length": entry.get("contextLength"),
        "max_output_tokens": entry.get("maxOutput"),
        "input_modalities": entry.get("inputModalities"),
        "output_modalities": entry.get("outputModalities"),
        "prices": {
            "input": dig(cheapest, "pricing.prompt"),
            "output": dig(cheapest, "pricing.completion"),
            "cache_read": dig(cheapest, "pricing.cacheRead"),
            "cache_write": dig(cheapest, "pricing.cacheWrite"),
        },
    }


# --- DeepInfra: the price fields depend on pricing.type; the cache rate is a multiplier -----


def deepinfra_normalize(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Token, embedding and compute-time pricing; a cached input costs ``rate_per_input_token_cached`` x input."""
    pricing = entry.get("pricing") if isinstance(entry.get("pricing"), Mapping) else {}
    input_price = pricing.get("cents_per_input_token")
    rate, base = _number(pricing.get("rate_per_input_token_cached")), _number(input_price)
    return {
        "id": entry.get("model_name"),
        "name": entry.get("model_name"),
        "context_length": entry.get("max_tokens"),
        "max_output_tokens": None,
        "input_modalities": None,
        "output_modalities": None,
        "prices": {
            "input": input_price,
            "output": pricing.get("cents_per_output_token"),
            "cache_read": _product(base, rate),
            "second": pricing.get("cents_per_sec"),
        },
        "deprecation_date": entry.get("deprecated"),
    }


def _product(price: Decimal | None, multiplier: Decimal | None) -> Decimal | None:
    if price is None or multiplier is None:
        return None
    try:
        return price * multiplier
    except ArithmeticError:  # absurd exponents; the input price itself is rejected then
        return None


# --- Together: all-zero prices mean "not served per token", except for the -Free models ------


def together_normalize(entry: Mapping[str, Any], id_key: str = "id") -> dict[str, Any]:
    """Zero input and output prices on a model whose id does not say ``free`` are unknown, not free:
    Together writes zeros for dedicated-only and image models, which are billed elsewhere."""
    input_price, output_price = dig(entry, "pricing.input"), dig(entry, "pricing.output")
    model_id = entry.get(id_key)
    named_free = isinstance(model_id, str) and "free" in model_id.lower()
    if _number(input_price) == 0 and _number(output_price) == 0 and not named_free:
        input_price = output_price = None
    return {
        "id": model_id,
        "name": entry.get("display_name"),
        "context_length": entry.get("context_length"),
        "max_output_tokens": entry.get("max_tokens") if id_key == "name" else None,
        "input_modalities": None,
        "output_modalities": None,
        "prices": {"input": input_price, "output": output_price},
    }


def together_legacy_normalize(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The legacy /api/models list: the same zero-price rule, the id in ``name``."""
    return together_normalize(entry, id_key="name")
