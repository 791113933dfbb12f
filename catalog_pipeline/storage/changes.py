"""Change events: what one provider's write changed, as rows of `model_changes`.

The writer records them in the same transaction as the change itself, so the change
feed (``GET /v1/changes``) never shows a change that was rolled back, and a sync that
changes nothing, fails or is blocked records none.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any


class ChangeKind:
    """Values of `model_changes.kind`."""

    ADDED = "added"
    DEACTIVATED = "deactivated"
    REACTIVATED = "reactivated"
    PRICE_CHANGED = "price_changed"
    LIMITS_CHANGED = "limits_changed"
    DEPRECATION_ANNOUNCED = "deprecation_announced"
    #: a change the anomaly guard held back instead of applying (`held_changes`)
    HELD = "held"
    ALL = (ADDED, DEACTIVATED, REACTIVATED, PRICE_CHANGED, LIMITS_CHANGED, DEPRECATION_ANNOUNCED, HELD)


#: The model limits whose change is a `limits_changed` event.
LIMIT_FIELDS = ("context_length", "max_output_tokens")


@dataclass(frozen=True)
class ChangeEvent:
    """One change of one model; `details` is stored as JSON text."""

    provider_model_id: str
    kind: str
    details: dict[str, Any] | None = None

    def details_json(self) -> str | None:
        return None if self.details is None else json.dumps(self.details, sort_keys=True, separators=(",", ":"))


def decimal_text(value: Decimal | None) -> str | None:
    """An exact decimal as plain text without trailing zeros (``3.000000000000`` -> ``3``), never in exponent form."""
    if value is None:
        return None
    text = format(Decimal(value), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return text


def percent_change(old: Decimal | None, new: Decimal | None) -> float | None:
    """How much `new` differs from `old`, in percent of `old`; None when either is missing or `old` is 0."""
    if old is None or new is None or Decimal(old) == 0:
        return None
    return round(float((Decimal(new) - Decimal(old)) / Decimal(old) * 100), 4)


def price_changed(
    provider_model_id: str,
    price_type: str,
    unit: str,
    old_amount: Decimal | None,
    old_state: str,
    new_amount: Decimal | None,
    new_state: str,
) -> ChangeEvent:
    return ChangeEvent(
        provider_model_id,
        ChangeKind.PRICE_CHANGED,
        {
            "price_type": price_type,
            "unit": unit,
            "old": {"amount": decimal_text(old_amount), "state": old_state},
            "new": {"amount": decimal_text(new_amount), "state": new_state},
            "percent": percent_change(old_amount, new_amount),
        },
    )


def limits_changed(provider_model_id: str, stored: Any, fresh: Any) -> ChangeEvent | None:
    """A `limits_changed` event when any of `LIMIT_FIELDS` differs between the stored row and the fresh record."""
    changed = {
        name: {"old": getattr(stored, name), "new": getattr(fresh, name)}
        for name in LIMIT_FIELDS
        if getattr(stored, name) != getattr(fresh, name)
    }
    return ChangeEvent(provider_model_id, ChangeKind.LIMITS_CHANGED, changed) if changed else None


def _utc_text(value: datetime | None) -> str | None:
    if value is None:
        return None
    aware = value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
    return aware.isoformat().replace("+00:00", "Z")


def same_instant(stored: datetime | None, fresh: datetime | None) -> bool:
    """Equal timestamps, reading a naive one (SQLite hands those back) as UTC."""
    return _utc_text(stored) == _utc_text(fresh)


def deprecation_announced(provider_model_id: str, previous: datetime | None, announced: datetime) -> ChangeEvent:
    """The provider now says when it stops serving the model (or moved the date it had given)."""
    return ChangeEvent(
        provider_model_id,
        ChangeKind.DEPRECATION_ANNOUNCED,
        {"deprecation_date": _utc_text(announced), "previous_deprecation_date": _utc_text(previous)},
    )


def held(
    provider_model_id: str, field: str, stored: Any, proposed: Any, reason: str, unit: str | None = None
) -> ChangeEvent:
    """A change the anomaly guard did not apply: which field, its stored and proposed values, the rule.

    Recorded in the same transaction as the rest of the write; decimals travel as exact text.
    """
    return ChangeEvent(
        provider_model_id,
        ChangeKind.HELD,
        {"field": field, "old": _plain(stored), "new": _plain(proposed), "reason": reason, "unit": unit},
    )


def _plain(value: Any) -> Any:
    if isinstance(value, Decimal):
        return decimal_text(value)
    if isinstance(value, datetime):
        return _utc_text(value)
    return value
