"""Demo payloads in the wire shapes that field paths cannot describe (the normalize hooks' inverse).

Each function writes one entry as its provider does; `catalog_pipeline.providers.hooks` reads it
back, so a replayed catalog is a round-trip test of those hooks.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import Decimal
from typing import Any

from catalog_pipeline.replay.demo_models import DemoModel


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


#: The providers (and endpoints) whose entries the generic writer in `wire.py` cannot produce.
RENDERERS: dict[tuple[str, str], Callable[[DemoModel], dict[str, Any]]] = {
    ("deepinfra", "primary"): deepinfra_render,
    ("together", "primary"): together_render,
    ("helicone", "primary"): helicone_render,
    ("cloudflare-workers-ai", "primary"): cloudflare_render,
    ("huggingface", "primary"): huggingface_render,
}
