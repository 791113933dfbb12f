"""What a rejected entry records, exactly: the reason code, the message naming the provider, the model and
the offending value, the id kept for the row, and an excerpt of the raw entry; plus the edges of the price
rules (the smallest and largest storable amounts, NEAR's scaled prices, a failing normalize hook).

The messages are what an operator reads in `rejected_models` and the run log, so they are pinned word for
word."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

import pytest

from catalog_pipeline.providers.normalize import (
    MAX_PRICE_SCALE,
    PriceState,
    RejectedEntry,
    Rejection,
    normalize_catalog,
)
from catalog_pipeline.providers.registry import get_provider

GROQ = get_provider("groq")  # prices: pricing.prompt / pricing.completion strings in USD per token
NEAR = get_provider("near")  # prices: {amount, scale, currency}


def _rejections(spec, entries) -> list[Rejection]:  # type: ignore[no-untyped-def]
    return normalize_catalog(spec, entries).rejections


@pytest.mark.parametrize(
    ("entry", "reason", "model_id", "detail"),
    [
        (
            {"id": "m", "pricing": {"prompt": "abc"}},
            "invalid_price",
            "m",
            "groq: model 'm' has an unreadable input price 'abc'",
        ),
        (
            {"id": "m", "pricing": {"prompt": "-2"}},
            "invalid_price",
            "m",
            "groq: model 'm' has an unreadable input price '-2'",
        ),
        (
            {"id": "m", "pricing": {"completion": "NaN"}},
            "invalid_price",
            "m",
            "groq: model 'm' has an unreadable output price 'NaN'",
        ),
        (
            {"id": "m", "pricing": {"prompt": True}},
            "invalid_price",
            "m",
            "groq: model 'm' has an unreadable input price True",
        ),
        (
            {"id": "m", "pricing": {"prompt": [1]}},
            "invalid_price",
            "m",
            "groq: model 'm' has an unreadable input price [1]",
        ),
        (
            {"id": "m", "pricing": {"prompt": "1e300"}},
            "invalid_price",
            "m",
            "groq: model 'm' has an unreadable input price '1e300'",
        ),
        (
            {"id": "m", "pricing": {"prompt": "x" * 200}},
            "invalid_price",
            "m",
            "groq: model 'm' has an unreadable input price '" + "x" * 79,
        ),
        ({"name": "no id"}, "missing_id", None, "groq: entry has no id ('id')"),
        ({"id": "  "}, "missing_id", None, "groq: entry has no id ('id')"),
        ({"id": ["a"]}, "invalid_id", "['a']", "groq: id is list, expected text"),
        ({"id": "a\x00b"}, "invalid_id", "a b", "groq: id 'a\\x00b' contains control characters"),
        (
            {"id": "m", "context_window": "lots"},
            "invalid_context_length",
            "m",
            "groq: model 'm' has an unreadable context length 'lots'",
        ),
        (
            {"id": "m", "context_window": -1},
            "invalid_context_length",
            "m",
            "groq: model 'm' has an implausible context length -1",
        ),
        ("a string", "not_a_model", None, "groq: list entry is str, not an object"),
    ],
)
def test_a_rejection_names_the_provider_the_model_and_the_value(entry, reason, model_id, detail):
    """Each bad entry is one rejection with its reason, the id kept (cleaned) and a message an operator can act on."""
    [rejection] = _rejections(GROQ, [entry])
    assert (rejection.reason, rejection.provider_model_id, rejection.detail) == (reason, model_id, detail)


def test_the_excerpt_is_the_raw_entry_as_json_cut_at_500_characters_with_decimals_as_numbers():
    """Exact decimals are shown as JSON numbers, non-ASCII text as itself (control characters JSON-escaped)."""
    entries = [
        {"id": "m", "pricing": {"prompt": Decimal("-1.5")}, "note": "déjà\x01vu"},
        {"id": "n", "pricing": {"prompt": "bad"}, "pad": "y" * 600},
    ]
    first, second = _rejections(GROQ, entries)
    assert first.excerpt == '{"id": "m", "pricing": {"prompt": -1.5}, "note": "déjà\\u0001vu"}'
    assert len(second.excerpt) == 500 and second.excerpt.startswith(
        '{"id": "n", "pricing": {"prompt": "bad"}, "pad": "yyy'
    )


def test_a_duplicate_is_rejected_after_the_first_occurrence_is_kept():
    """The same id twice: the first entry is stored, the second rejected as duplicate_id with the provider."""
    catalog = normalize_catalog(GROQ, [{"id": "m", "name": "first"}, {"id": "m", "name": "second"}])
    assert [model.name for model in catalog.models] == ["first"]
    [duplicate] = catalog.rejections
    assert (duplicate.reason, duplicate.provider_model_id, duplicate.detail) == (
        "duplicate_id",
        "m",
        "groq: id 'm' is listed more than once",
    )
    assert duplicate.excerpt == '{"id": "m", "name": "second"}'


def test_the_smallest_and_largest_storable_prices_are_accepted_beyond_them_rejected():
    """USD per million tokens: 1e-12 (the stored precision) and 1,000,000 are kept; half of 1e-12 and a
    million and one are unit mix-ups and rejected."""
    per_million = "0.000001"  # USD per token, so a factor of 1e6 to per million
    smallest, largest = Decimal("1e-18"), Decimal(1)  # 1e-12 and 1e6 per million
    catalog = normalize_catalog(
        GROQ,
        [
            {"id": "small", "pricing": {"prompt": str(smallest)}},
            {"id": "large", "pricing": {"prompt": str(largest)}},
            {"id": "too-small", "pricing": {"prompt": "5e-19"}},
            {"id": "too-large", "pricing": {"prompt": "1.000001"}},
            {"id": "normal", "pricing": {"prompt": per_million}},
        ],
    )
    prices = {model.provider_model_id: model.prices["input"].amount for model in catalog.models}
    assert prices == {"small": Decimal("1e-12"), "large": Decimal("1e6"), "normal": Decimal(1)}
    assert [r.provider_model_id for r in catalog.rejections] == ["too-small", "too-large"]


@pytest.mark.parametrize(
    ("raw", "amount"),
    [
        ({"amount": 850, "scale": 9, "currency": "USD"}, Decimal("0.85")),
        ({"amount": 1}, Decimal("1000000")),  # no scale given: none; no currency: USD
        ({"amount": 1, "scale": MAX_PRICE_SCALE - 24}, Decimal("1")),  # 1e-6 USD per token
        ({"amount": None, "scale": 9}, None),
    ],
)
def test_near_scaled_prices_are_read_exactly(raw, amount):
    """amount x 10^-scale USD per token, to per million tokens; a null amount is unknown."""
    [model] = normalize_catalog(NEAR, [{"modelId": "m", "inputCostPerToken": raw}]).models
    assert model.prices["input"].amount == amount
    assert model.prices["input"].state == (PriceState.UNKNOWN if amount is None else PriceState.KNOWN)


@pytest.mark.parametrize(
    "raw",
    [
        {"amount": 1, "scale": -1},
        {"amount": 1, "scale": MAX_PRICE_SCALE + 1},
        {"amount": 1, "scale": 9, "currency": "EUR"},
        {"amount": 1.5, "scale": 9},
        {"amount": 1, "scale": True},
        850,
    ],
)
def test_near_prices_outside_the_documented_form_are_rejected_naming_the_kind(raw):
    """A negative or too large scale, another currency, a fraction or a bare number is rejected."""
    [rejection] = _rejections(NEAR, [{"modelId": "m", "outputCostPerToken": raw}])
    assert rejection.reason == "invalid_price"
    assert rejection.detail.startswith("near: model 'm' has an unreadable output price ")


def test_a_scale_at_its_limit_is_still_read():
    """scale = MAX_PRICE_SCALE (30) is allowed: 10^20 x 10^-30 = 1e-10 USD per token = 0.0001 per million."""
    [model] = normalize_catalog(
        NEAR, [{"modelId": "m", "inputCostPerToken": {"amount": 10**20, "scale": MAX_PRICE_SCALE}}]
    ).models
    assert model.prices["input"].amount == Decimal("1e-4")


def test_a_failing_normalize_hook_rejects_that_entry_only_and_says_why():
    """A hook that raises on one entry: that entry is unreadable_entry with the provider, the error type and
    message; the others are stored."""

    def hook(entry):  # type: ignore[no-untyped-def]
        if entry.get("boom"):
            raise KeyError("pricing")
        return {"id": entry["id"], "prices": {}}

    spec = replace(GROQ, normalize=hook, prices={})
    catalog = normalize_catalog(spec, [{"id": "a"}, {"id": "b", "boom": 1}])
    assert [model.provider_model_id for model in catalog.models] == ["a"]
    [rejection] = catalog.rejections
    assert (rejection.reason, rejection.provider_model_id) == ("unreadable_entry", None)
    assert rejection.detail == "groq: normalize hook failed on this entry: KeyError: \"'pricing'\""
    assert rejection.excerpt == '{"id": "b", "boom": 1}'


def test_a_hook_rejection_keeps_its_own_reason_and_id():
    """A hook raising RejectedEntry itself: its reason, detail and id are kept."""

    def hook(entry):  # type: ignore[no-untyped-def]
        raise RejectedEntry("not_a_model", "groq: a router alias, not a model", entry["id"])

    [rejection] = _rejections(replace(GROQ, normalize=hook), [{"id": "alias"}])
    assert (rejection.reason, rejection.detail, rejection.provider_model_id) == (
        "not_a_model",
        "groq: a router alias, not a model",
        "alias",
    )
    assert str(RejectedEntry("x", "the detail")) == "the detail"
