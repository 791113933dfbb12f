"""Write demo models in a provider's own wire format, page by page.

The generic path follows the spec's field paths, units and pagination, so the
replay server speaks every provider's format from the same data that the engine
reads it with; providers with unusual payloads supply a `render` hook.
"""

from __future__ import annotations

import base64
import copy
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from catalog_pipeline.providers.spec import PaginationStyle, PriceUnit, ProviderSpec
from catalog_pipeline.replay.demo_models import DemoModel
from catalog_pipeline.replay.render import RENDERERS


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def wire_price(amount: Decimal, unit: PriceUnit, quoted: bool = False) -> Any:
    """`amount` (in `unit`'s stored unit) written the way a provider quoting in `unit` writes it."""
    raw = (amount / unit.factor).normalize()
    if unit is PriceUnit.SCALED_USD_PER_TOKEN:
        scale = max(9, -raw.as_tuple().exponent)
        return {"amount": int(raw.scaleb(scale)), "scale": scale, "currency": "USD"}
    text = format(raw, "f")
    if quoted:
        return text
    return int(raw) if raw == raw.to_integral_value() else float(text)


def _extra_price(kind: str, model: DemoModel, unit: PriceUnit) -> Decimal | None:
    """Demo amounts for prices beyond input/output: cache reads a tenth of input, writes 1.25x, the rest 0."""
    if model.input_price is None:
        return None
    if unit.stored_unit != "usd_per_million_tokens":
        return Decimal(0)
    if kind == "cache_read":
        return model.input_price / 10
    if kind == "cache_write":
        return model.input_price * Decimal("1.25")
    return Decimal(0)


def render_entry(spec: ProviderSpec, model: DemoModel) -> dict[str, Any]:
    """One list entry for `model`, exactly as `spec`'s provider would write it."""
    render = RENDERERS.get((spec.slug, spec.endpoint_name))
    if render:
        return render(model)
    entry: dict[str, Any] = {}
    if spec.envelope.get("object") == "list":
        entry.update({"id": None, "object": "model", "created": model.created, "owned_by": model.organization})
    _set(entry, spec.id_path, model.model_id)
    if spec.name_path:
        _set(entry, spec.name_path, model.display_name)
    if spec.context_path:
        _set(entry, spec.context_path, model.context_length)
    if spec.max_output_path:
        _set(entry, spec.max_output_path, model.max_output_tokens)
    if spec.input_modalities_path:
        _set(entry, spec.input_modalities_path, ["text"])
    if spec.output_modalities_path:
        _set(entry, spec.output_modalities_path, ["text"])
    for kind, price_field in spec.prices.items():
        if kind in ("input", "output"):
            amount = model.input_price if kind == "input" else model.output_price
        else:
            amount = _extra_price(kind, model, price_field.unit)
        if amount is not None:
            _set(entry, price_field.path, wire_price(amount, price_field.unit, price_field.quoted))
    return entry


def render_page(spec: ProviderSpec, entries: list[Any], query: Mapping[str, str]) -> Any:
    """The response body for one request, paginated the way `spec`'s provider pages.

    Args:
        spec: whose envelope and pagination to use.
        entries: every entry of the provider's list, already rendered.
        query: the request's query parameters.
    """
    pagination = spec.pagination
    page_size = max(1, _int(query.get(pagination.size_param or ""), pagination.page_size))
    extra: dict[str, Any] = {}
    selected = entries
    start = 0
    if pagination.style is PaginationStyle.PAGE_NUMBER:
        page = _int(query.get(pagination.page_param or ""), pagination.first_page)
        start = (page - pagination.first_page) * page_size
        selected = entries[start : start + page_size]
    elif pagination.style is PaginationStyle.AFTER_ID:
        after = query.get(pagination.page_param or "")
        ids = [_entry_id(spec, entry) for entry in entries]
        start = ids.index(after) + 1 if after in ids else 0
        selected = entries[start : start + page_size]
        _set(extra, pagination.has_more_path or "has_more", start + page_size < len(entries))
        _set(extra, pagination.cursor_path or "last_id", _entry_id(spec, selected[-1]) if selected else None)
        extra["first_id"] = _entry_id(spec, selected[0]) if selected else None
    elif pagination.style is PaginationStyle.PAGE_TOKEN:
        start = _offset(query.get(pagination.page_param or ""))
        selected = entries[start : start + page_size]
        more = start + page_size < len(entries)
        if more or pagination.has_more_path:
            # token-only providers omit the token on the last page; cursor + has_more ones write null
            _set(extra, pagination.cursor_path or "next_page_token", _token(start + page_size) if more else None)
        if pagination.has_more_path:
            _set(extra, pagination.has_more_path, more)
    facts = {
        "page": start // page_size + pagination.first_page,
        "per_page": page_size,
        "count": len(selected),
        "total_count": len(entries),
        "total_pages": -(-len(entries) // page_size),
    }
    for path, fact in pagination.page_info.items():
        _set(extra, path, facts[fact])
    if not spec.records_path:
        return selected
    body: dict[str, Any] = copy.deepcopy(dict(spec.envelope))
    _set(body, spec.records_path, selected)
    _merge(body, extra)
    return body


def _merge(target: dict[str, Any], extra: Mapping[str, Any]) -> None:
    for key, value in extra.items():
        if isinstance(value, Mapping) and isinstance(target.get(key), dict):
            _merge(target[key], value)
        else:
            target[key] = value


def _token(offset: int) -> str:
    """An opaque page token, as providers hand them out (the offset, base64-encoded)."""
    return base64.urlsafe_b64encode(str(offset).encode()).decode()


def _offset(token: str | None) -> int:
    if not token:
        return 0
    try:
        return int(base64.urlsafe_b64decode(token.encode()).decode())
    except (ValueError, UnicodeDecodeError):
        return 0


def _entry_id(spec: ProviderSpec, entry: Any) -> Any:
    value: Any = entry
    for part in spec.id_path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return value


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value else default
    except ValueError:
        return default
