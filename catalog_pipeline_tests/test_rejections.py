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


# --- token counts, dates and statuses at the edges of what is storable ---------------------------------

EDGES = replace(
    GROQ, context_path="ctx", deprecation_path="dep", status_path="st", prices={}, normalize=None, variants=()
)


@pytest.mark.parametrize(
    ("raw", "detail"),
    [
        ("8192.5", "p: model 'm' has an unreadable context length '8192.5'"),
        ("Infinity", "p: model 'm' has an unreadable context length 'Infinity'"),
        (True, "p: model 'm' has an unreadable context length True"),
        (1_000_000_001, "p: model 'm' has an implausible context length 1000000001"),
        (-1, "p: model 'm' has an implausible context length -1"),
    ],
    ids=["fraction", "infinity", "bool", "above-a-billion", "negative"],
)
def test_a_token_count_that_is_not_a_whole_number_of_tokens_up_to_a_billion_is_rejected(raw, detail):
    """A context length is a whole number of tokens from 0 to 1,000,000,000: half a token, infinity, a
    boolean, a billion and one and -1 each reject the entry with its reason and the value."""
    [rejection] = _rejections(replace(EDGES, slug="p"), [{"id": "m", "ctx": raw}])
    assert (rejection.reason, rejection.provider_model_id, rejection.detail) == ("invalid_context_length", "m", detail)


@pytest.mark.parametrize(
    ("raw", "stored"),
    [("8192.0", 8192), (" 128000 ", 128000), (1_000_000_000, 1_000_000_000), (0, None), ("", None), (None, None)],
    ids=["integral-text", "padded-text", "a-billion", "zero", "blank", "absent"],
)
def test_a_whole_token_count_is_stored_and_zero_or_blank_means_unknown(raw, stored):
    """'8192.0' is 8192 tokens, padding is ignored, exactly a billion is storable; 0, '' and null are unknown."""
    [model] = normalize_catalog(EDGES, [{"id": "m", "ctx": raw}]).models
    assert model.context_length == stored


@pytest.mark.parametrize(
    ("raw", "accepted"),
    [("1990-01-01", True), ("1989-12-31", False), ("2200-12-31", True), ("2201-01-01", False)],
)
def test_a_deprecation_date_is_read_from_1990_to_2200(raw, accepted):
    """Dates before 1990 or after 2200 are typos (a shutdown in 2201, a Unix-epoch zero read as a date):
    the entry is rejected as an unreadable deprecation date; the first and last days of the span are read."""
    catalog = normalize_catalog(replace(EDGES, slug="p"), [{"id": "m", "dep": raw}])
    if accepted:
        assert [model.deprecation_date.date().isoformat() for model in catalog.models] == [raw]
        assert catalog.rejections == []
    else:
        assert catalog.models == []
        assert [(r.reason, r.detail) for r in catalog.rejections] == [
            ("invalid_deprecation_date", f"p: model 'm' has an unreadable deprecation date {raw!r}")
        ]


def test_a_status_is_stored_lower_case_trimmed_and_cut_at_32_characters():
    """' Deprecated ' is 'deprecated'; a 40-character status keeps its first 32 characters."""
    catalog = normalize_catalog(EDGES, [{"id": "a", "st": " Deprecated "}, {"id": "b", "st": "Preview" + "X" * 33}])
    assert [model.provider_status for model in catalog.models] == ["deprecated", "preview" + "x" * 25]


def test_an_xai_threshold_without_a_tier_price_is_neither_attached_nor_a_reason_to_reject():
    """xAI's long_context_threshold applies to the *_long_context prices; a model listing none (like the real
    grok-imagine entries, here with a threshold present) has no tier price to attach it to, so an unreadable
    threshold does not reject the model and a readable one is not stored on an absent price."""
    spec = get_provider("xai").variant("models")
    entries = [
        {"id": "grok-imagine-image", "image_price": 200000000, "long_context_threshold": "n/a"},
        {"id": "grok-x", "prompt_text_token_price": 20000, "long_context_threshold": 128000},
    ]
    catalog = normalize_catalog(spec, entries)
    assert catalog.rejections == []
    image, text = catalog.models
    assert image.prices["image"].amount == Decimal("0.02")
    assert {kind: price.threshold_tokens for kind, price in text.prices.items()} == dict.fromkeys(text.prices)
    assert text.prices["input_long_context"].amount is None


def test_a_hugging_face_upstream_without_a_status_counts_as_live():
    """The router lists each upstream with status 'live' or 'error'; one without a status is not known to be
    down: its price is the cheapest and its context the largest, while an 'error' upstream's are ignored."""
    entry = {
        "id": "org/model",
        "providers": [
            {"provider": "a", "context_length": 65536, "pricing": {"input": 0.2, "output": 0.4}},
            {"provider": "b", "status": "error", "context_length": 262144, "pricing": {"input": 0.1, "output": 0.1}},
            {"provider": "c", "status": "live", "context_length": 32768, "pricing": {"input": 0.3, "output": 0.3}},
        ],
    }
    [model] = normalize_catalog(get_provider("huggingface"), [entry]).models
    assert (model.context_length, model.input_price.amount, model.output_price.amount) == (
        65536,
        Decimal("0.2"),
        Decimal("0.4"),
    )


@pytest.mark.parametrize(
    ("raw", "model_id", "detail"),
    [
        ("m\ud800", "m\ufffd", "groq: id 'm\\ud800' is not valid Unicode"),
        (10**5000, None, "groq: id is an integer of absurd length"),
        ("x" * 513, "x" * 512, "groq: id is 513 characters long (limit 512)"),
    ],
    ids=["lone-surrogate", "5001-digit-integer", "513-characters"],
)
def test_an_id_that_cannot_be_stored_is_rejected_with_what_is_wrong_with_it(raw, model_id, detail):
    """A lone surrogate (not storable as UTF-8), an integer id too long to print, an id over 512 characters:
    each rejected as invalid_id with its own message; the id is kept in a storable form where there is one."""
    [rejection] = _rejections(GROQ, [{"id": raw}])
    assert (rejection.reason, rejection.provider_model_id, rejection.detail) == ("invalid_id", model_id, detail)


def test_an_id_of_exactly_512_characters_is_stored():
    """512 characters is the limit itself: stored as it is."""
    [model] = normalize_catalog(GROQ, [{"id": "x" * 512}]).models
    assert model.provider_model_id == "x" * 512


@pytest.mark.parametrize(
    ("raw", "read"),
    [("", None), (False, None), (None, None), (1767225600000, "2026-01-01"), (1767225600, "2026-01-01")],
    ids=["empty", "false", "null", "unix-milliseconds", "unix-seconds"],
)
def test_no_deprecation_date_is_none_and_unix_times_are_read_in_seconds_or_milliseconds(raw, read):
    """'' and false say "no date" (not an unreadable one); 1,767,225,600 is 2026-01-01 in Unix seconds and
    1,767,225,600,000 the same instant in milliseconds (JavaScript's Date.now() unit)."""
    catalog = normalize_catalog(EDGES, [{"id": "m", "dep": raw}])
    assert catalog.rejections == []
    [model] = catalog.models
    assert (model.deprecation_date.date().isoformat() if model.deprecation_date else None) == read
