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
                    {"unit": "per M cached input tokens", "price": model.input_price / 10, "currency": "USD"},
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


def _markup(index: int) -> Decimal:
    # later upstreams are dearer, so the cheapest is the model's own price
    return Decimal(1) + Decimal(index) / 10


def huggingface_render(model: DemoModel) -> dict[str, Any]:
    upstreams = []
    names = model.upstreams or ("together",)
    for index, upstream in enumerate(names):
        # a third upstream is down, and cheapest of all: its price must not count
        failing = index == 2
        upstream_entry: dict[str, Any] = {
            "provider": upstream,
            "status": "error" if failing else "live",
            "context_length": model.context_length,
            "supports_tools": index == 0,
            "supports_structured_output": False,
            "is_model_author": False,
        }
        if model.input_price is not None:
            markup = Decimal("0.5") if failing else _markup(index)
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


def helicone_render(model: DemoModel) -> dict[str, Any]:
    endpoints = []
    for index, upstream in enumerate(model.upstreams or ("openai",)):
        pricing: dict[str, Any] = {}
        raw_tiers: list[dict[str, Any]] = []
        if model.input_price is not None:
            prompt, completion = model.input_price * _markup(index), model.output_price * _markup(index)
            pricing = {"prompt": prompt, "completion": completion, "cacheRead": prompt / 10}
            raw_tiers = [{"threshold": 0, "input": prompt / 1_000_000, "output": completion / 1_000_000}]
        endpoints.append(
            {
                "provider": upstream,
                "providerSlug": upstream,
                "supportsPtb": index == 0,
                "pricing": pricing,
                "endpoint": {
                    "pricing": raw_tiers,
                    "contextLength": model.context_length,
                    "maxCompletionTokens": model.max_output_tokens,
                    "ptbEnabled": index == 0,
                    "provider": upstream,
                    "author": model.organization,
                    "providerModelId": model.model_id,
                },
            }
        )
    return {
        "id": model.model_id,
        "name": model.display_name,
        "author": model.organization,
        "contextLength": model.context_length,
        "maxOutput": model.max_output_tokens,
        "trainingDate": model.created_iso[:10],
        "description": f"{model.display_name}, routed by Helicone.",
        "inputModalities": ["text"],
        "outputModalities": ["text"],
        "supportedParameters": ["max_tokens", "temperature", "tools"],
        "endpoints": endpoints,
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
    }


def _product(price: Decimal | None, multiplier: Decimal | None) -> Decimal | None:
    if price is None or multiplier is None:
        return None
    try:
        return price * multiplier
    except ArithmeticError:  # absurd exponents; the input price itself is rejected then
        return None


def deepinfra_render(model: DemoModel) -> dict[str, Any]:
    cents = {"type": "tokens"}
    if model.input_price is not None:
        # USD per million tokens to US cents per token
        cents["cents_per_input_token"] = _plain(model.input_price / 10_000)
        cents["cents_per_output_token"] = _plain(model.output_price / 10_000)
    return {
        "model_name": model.model_id,
        "type": "text-generation",
        "reported_type": "text-generation",
        "description": f"{model.display_name} on DeepInfra.",
        "max_tokens": model.context_length,
        "deprecated": None,
        "replaced_by": None,
        "private": 0,
        "tags": [],
        "pricing": cents | {"rate_per_input_token_cached": None, "discount": None, "discount_ends_at": None},
    }


# --- Together: all-zero prices mean "not served per token", except for the -Free models ------


def together_normalize(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Zero input and output prices on a model whose id does not say ``free`` are unknown, not free:
    Together writes zeros for dedicated-only and image models, which are billed elsewhere."""
    input_price, output_price = dig(entry, "pricing.input"), dig(entry, "pricing.output")
    model_id = entry.get("id")
    named_free = isinstance(model_id, str) and "free" in model_id.lower()
    if _number(input_price) == 0 and _number(output_price) == 0 and not named_free:
        input_price = output_price = None
    return {
        "id": model_id,
        "name": entry.get("display_name"),
        "context_length": entry.get("context_length"),
        "max_output_tokens": None,
        "input_modalities": None,
        "output_modalities": None,
        "prices": {"input": input_price, "output": output_price},
    }


def together_render(model: DemoModel) -> dict[str, Any]:
    pricing: dict[str, Any] = {"hourly": 0, "base": 0, "finetune": 0}
    if model.input_price is not None:
        pricing |= {"input": _plain(model.input_price), "output": _plain(model.output_price)}
    return {
        "id": model.model_id,
        "object": "model",
        "created": model.created,
        "type": "chat",
        "running": False,
        "display_name": model.display_name,
        "organization": model.organization,
        "link": f"https://huggingface.co/{model.organization}",
        "license": "other",
        "context_length": model.context_length,
        "config": {"chat_template": None, "stop": [], "bos_token": None, "eos_token": None},
        "pricing": pricing,
    }


def _plain(amount: Decimal) -> int | float:
    """A JSON number as providers write it: an integer when whole."""
    exact = amount.normalize()
    return int(exact) if exact == exact.to_integral_value() else float(exact)
