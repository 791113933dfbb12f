"""Write demo models in a provider's own wire format, page by page.

The generic path follows the spec's field paths, units and pagination, so the
replay server speaks every provider's format from the same data that the engine
reads it with; providers with unusual payloads supply a `render` hook.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from catalog_pipeline.providers.spec import PaginationStyle, PriceUnit, ProviderSpec
from catalog_pipeline.replay.demo_models import DemoModel


def _set(target: dict[str, Any], path: str, value: Any) -> None:
    parts = path.split(".")
    for part in parts[:-1]:
        target = target.setdefault(part, {})
    target[parts[-1]] = value


def _wire_price(amount: Decimal, unit: PriceUnit, quoted: bool) -> Any:
    raw = (amount / unit.factor).normalize()
    text = format(raw, "f")
    return text if quoted else float(text)


def render_entry(spec: ProviderSpec, model: DemoModel) -> dict[str, Any]:
    """One list entry for `model`, exactly as `spec`'s provider would write it."""
    if spec.render:
        return spec.render(model)
    entry: dict[str, Any] = {}
    if spec.records_path == "data":
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
            if amount is None:
                continue
            _set(entry, price_field.path, _wire_price(amount, price_field.unit, price_field.quoted))
        else:
            _set(entry, price_field.path, "0" if price_field.quoted else 0)
    return entry


def render_page(spec: ProviderSpec, entries: list[Any], query: Mapping[str, str]) -> Any:
    """The response body for one request, paginated the way `spec`'s provider pages.

    Args:
        spec: whose envelope and pagination to use.
        entries: every entry of the provider's list, already rendered.
        query: the request's query parameters.
    """
    pagination = spec.pagination
    page_size = _int(query.get(pagination.size_param or ""), pagination.page_size)
    extra: dict[str, Any] = {}
    selected = entries
    if pagination.style is PaginationStyle.PAGE_NUMBER:
        page = _int(query.get(pagination.page_param or ""), pagination.first_page)
        start = (page - pagination.first_page) * page_size
        selected = entries[start : start + page_size]
        extra["result_info"] = {
            "page": page,
            "per_page": page_size,
            "count": len(selected),
            "total_count": len(entries),
        }
    elif pagination.style is PaginationStyle.AFTER_ID:
        after = query.get(pagination.page_param or "")
        ids = [_entry_id(spec, entry) for entry in entries]
        start = ids.index(after) + 1 if after in ids else 0
        selected = entries[start : start + page_size]
        _set(extra, pagination.has_more_path or "has_more", start + page_size < len(entries))
        _set(extra, pagination.cursor_path or "last_id", _entry_id(spec, selected[-1]) if selected else None)
        extra["first_id"] = _entry_id(spec, selected[0]) if selected else None
    elif pagination.style is PaginationStyle.PAGE_TOKEN:
        start = _int(query.get(pagination.page_param or ""), 0)
        selected = entries[start : start + page_size]
        if start + page_size < len(entries):
            _set(extra, pagination.cursor_path or "next_page_token", str(start + page_size))
    if not spec.records_path:
        return selected
    body: dict[str, Any] = {"object": "list"} if spec.records_path == "data" else {}
    if spec.records_path == "result":
        body.update({"success": True, "errors": [], "messages": []})
    _set(body, spec.records_path, selected)
    body.update(extra)
    return body


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
