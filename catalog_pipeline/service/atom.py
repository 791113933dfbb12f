"""The change feed as an Atom document (RFC 4287), for feed readers."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote
from xml.etree import ElementTree

ATOM = "http://www.w3.org/2005/Atom"
FEED_ID = "urn:catalog-pipeline:changes"


def change_title(event: dict[str, Any]) -> str:
    """One line per event: what happened to which model, with the numbers."""
    subject = f"{event['provider']}/{event['model']}"
    details = event.get("details") or {}
    kind = event["kind"]
    if kind == "price_changed":
        old, new = details.get("old") or {}, details.get("new") or {}
        percent = details.get("percent")
        moved = f" ({percent:+g}%)" if percent is not None else ""
        return (
            f"{subject}: {details.get('price_type')} price {_price(old)} -> {_price(new)} "
            f"{details.get('unit', '')}{moved}"
        )
    if kind == "limits_changed":
        parts = [f"{name} {values.get('old')} -> {values.get('new')}" for name, values in sorted(details.items())]
        return f"{subject}: {', '.join(parts)}"
    return f"{subject}: {kind.replace('_', ' ')}"


def _price(value: dict[str, Any]) -> str:
    return value.get("amount") or value.get("state") or "?"


def render_atom(events: list[dict[str, Any]], base_url: str, self_url: str, updated: datetime | None) -> bytes:
    """An Atom feed of `events` (newest first), each entry linking to the model's API document."""
    ElementTree.register_namespace("", ATOM)
    feed = ElementTree.Element(f"{{{ATOM}}}feed")

    def add(parent: ElementTree.Element, tag: str, text: str | None = None, **attributes: str) -> ElementTree.Element:
        element = ElementTree.SubElement(parent, f"{{{ATOM}}}{tag}", attributes)
        if text is not None:
            element.text = text
        return element

    newest = events[0]["time"] if events else None
    add(feed, "id", FEED_ID)
    add(feed, "title", "catalog_pipeline: model catalog changes")
    add(feed, "updated", newest or _iso(updated) or "1970-01-01T00:00:00Z")
    add(feed, "link", rel="self", href=self_url)
    add(add(feed, "author"), "name", "catalog_pipeline")
    for event in events:
        entry = add(feed, "entry")
        add(entry, "id", f"{FEED_ID}:{event['id']}")
        add(entry, "title", change_title(event))
        add(entry, "updated", event["time"])
        model_link = f"{base_url}/v1/models/{quote(event['provider'], safe='')}/{quote(event['model'], safe='/')}"
        add(entry, "link", rel="alternate", href=model_link)
        add(entry, "category", term=event["kind"])
        run = f"; Dagster run {event['dagster_run_id']}" if event.get("dagster_run_id") else ""
        add(entry, "content", f"{change_title(event)}{run}", type="text")
    return ElementTree.tostring(feed, encoding="utf-8", xml_declaration=True)


def _iso(value: datetime | None) -> str | None:
    if value is None:
        return None
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
