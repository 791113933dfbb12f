"""Normalization: price units to USD per million tokens, price states, and explained rejections."""

from __future__ import annotations

from decimal import Decimal

import pytest

from catalog_pipeline.providers.canonical import canonical_slug
from catalog_pipeline.providers.normalize import PriceState, RejectReason, normalize_catalog
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline.providers.spec import PriceField, PriceUnit, ProviderSpec


@pytest.mark.parametrize(
    ("unit", "raw", "per_million"),
    [
        (PriceUnit.USD_PER_TOKEN, "0.00000015", Decimal("0.15")),
        (PriceUnit.USD_PER_THOUSAND_TOKENS, "0.0005", Decimal("0.5")),
        (PriceUnit.USD_PER_MILLION_TOKENS, Decimal("0.88"), Decimal("0.88")),
        (PriceUnit.CENTS_PER_TOKEN, Decimal("0.000006"), Decimal("0.06")),
        (PriceUnit.TEN_THOUSANDTH_USD_PER_MILLION_TOKENS, 2690, Decimal("0.269")),
    ],
)
def test_price_units_convert_exactly(unit, raw, per_million):
    spec = ProviderSpec(
        slug="p", name="P", base_url="https://x", list_path="/m", prices={"input": PriceField("price", unit)}
    )
    [model] = normalize_catalog(spec, [{"id": "m", "price": raw}]).models
    assert model.input_price.amount == per_million
    assert model.input_price.state == PriceState.KNOWN


def test_free_variable_and_unknown_prices_stay_distinct():
    spec = get_provider("openrouter")
    entries = [
        {"id": "free", "pricing": {"prompt": "0", "completion": "0"}},
        {"id": "router", "pricing": {"prompt": "-1", "completion": "-1"}},
        {"id": "unpublished", "pricing": {}},
    ]
    models = {m.provider_model_id: m for m in normalize_catalog(spec, entries).models}
    assert (models["free"].input_price.amount, models["free"].input_price.state) == (Decimal(0), PriceState.FREE)
    assert (models["router"].input_price.amount, models["router"].input_price.state) == (None, PriceState.VARIABLE)
    assert (models["unpublished"].input_price.amount, models["unpublished"].input_price.state) == (
        None,
        PriceState.UNKNOWN,
    )


@pytest.mark.parametrize(
    ("entry", "reason"),
    [
        ({"display_name": "no id"}, RejectReason.MISSING_ID),
        ({"id": "   "}, RejectReason.MISSING_ID),
        ({"id": "x" * 10_000}, RejectReason.INVALID_ID),
        ({"id": "bad\nid"}, RejectReason.INVALID_ID),
        ({"id": "m", "pricing": {"input": "$0.50/M"}}, RejectReason.INVALID_PRICE),
        ({"id": "m", "pricing": {"input": -3}}, RejectReason.INVALID_PRICE),
        ({"id": "m", "context_length": 10**15}, RejectReason.INVALID_CONTEXT_LENGTH),
        ("just a string", RejectReason.NOT_A_MODEL),
    ],
)
def test_hostile_entries_are_rejected_with_a_reason_naming_the_provider(entry, reason):
    catalog = normalize_catalog(get_provider("together"), [entry, {"id": "fine/model"}])
    assert [m.provider_model_id for m in catalog.models] == ["fine/model"]
    [rejection] = catalog.rejections
    assert rejection.reason == reason
    assert rejection.detail.startswith("together:")


def test_ids_with_quotes_semicolons_and_unicode_are_kept_verbatim():
    odd = "org/mödel'; DROP TABLE models;--\"ü"
    [model] = normalize_catalog(get_provider("together"), [{"id": odd}]).models
    assert model.provider_model_id == odd


def test_duplicate_ids_keep_the_first_entry():
    catalog = normalize_catalog(
        get_provider("groq"), [{"id": "a", "context_window": 1}, {"id": "a", "context_window": 2}]
    )
    assert [(m.provider_model_id, m.context_length) for m in catalog.models] == [("a", 1)]
    assert [r.reason for r in catalog.rejections] == [RejectReason.DUPLICATE_ID]


@pytest.mark.parametrize(
    "model_id",
    [
        "meta-llama/Meta-Llama-3.1-70B-Instruct",
        "meta-llama/llama-3.1-70b-instruct",
        "meta-llama/llama-3.1-70b-instruct:free",
        "accounts/fireworks/models/llama-v3p1-70b-instruct",
        "@cf/meta/llama-3.1-70b-instruct",
        "meta-llama/Meta-Llama-3.1-70B-Instruct-Turbo",
    ],
)
def test_one_open_model_maps_to_one_canonical_slug(model_id):
    assert canonical_slug(model_id) == "llama-3.1-70b-instruct"


def test_distinct_models_keep_distinct_slugs():
    assert canonical_slug("meta-llama/llama-3.1-8b-instruct") != canonical_slug("meta-llama/llama-3.1-70b-instruct")
    assert canonical_slug("gpt-4o-2024-08-06") == "gpt-4o-2024-08-06"


def test_modalities_read_as_one_sorted_lower_case_list_whatever_their_form():
    """A list, a ``+``/``,`` separated text (OpenRouter's ``text+image->text`` names both sides), repeats, case,
    blanks and non-text items; a long list is read the same way as a short one."""
    from catalog_pipeline.providers.normalize import _modalities

    assert _modalities(["Text", "image", "text", 3, None, " "]) == "image,text"
    assert _modalities("text+image") == _modalities("image, text") == "image,text"
    assert _modalities("text+image->text") == "image,text"
    assert _modalities(("audio",)) == "audio"
    many = [f"m{index:02d}" for index in range(20)]
    assert _modalities(many) == ",".join(many)
    assert _modalities(["x\tspace"]) == "x space"  # a control character, replaced
    assert _modalities(["x" * 40]) == "x" * 32  # one modality: at most 32 characters
    wide = [f"{index:02d}" + "y" * 29 for index in range(12)]  # 12 of 31 characters: 383 joined
    assert _modalities(wide) == ",".join(wide)[:256]  # the column holds 256
    assert _modalities([]) is _modalities(None) is _modalities(7) is None


def test_long_modality_lists_are_read_but_not_remembered():
    """A provider sending long (or hostile) modality text gets it read as usual, but only short lists are kept
    in the cache, so a catalog of distinct huge values cannot grow it."""
    from catalog_pipeline.providers.normalize import _modalities, _modality_text

    _modality_text.cache_clear()
    huge = ",".join(f"kind{index}" for index in range(200))
    assert _modalities(huge) == ",".join(sorted(f"kind{index}" for index in range(200)))[:256]
    assert _modalities(huge.split(",")) == _modalities(huge)
    assert _modality_text.cache_info().currsize == 0
    assert _modalities("text+image") == "image,text"
    assert _modalities(["text", "image"]) == "image,text"
    assert _modality_text.cache_info().currsize == 2


def test_a_models_content_hash_is_the_one_earlier_releases_stored():
    """`models.content_hash` decides whether a stored model is rewritten: a digest that changed between
    releases would make every stored model look changed on the first sync after an upgrade. This record's
    digest is the one the release before 2026-12-02 computed and stored."""
    from datetime import UTC, datetime

    from catalog_pipeline.providers.normalize import ModelRecord, Price

    record = ModelRecord(
        provider_model_id="meta-llama/Llama-3.3-70B-Instruct-Turbo",
        name="Llama 3.3 70B",
        canonical_slug="llama-3.3-70b-instruct",
        context_length=131072,
        max_output_tokens=None,
        input_modalities="text",
        output_modalities="text",
        prices={
            "input": Price(Decimal("0.88"), "priced", "per_million_tokens"),
            "output": Price(Decimal("0.880"), "priced", "per_million_tokens", 200000),
        },
        deprecation_date=datetime(2027, 1, 31, tzinfo=UTC),
        provider_status="active",
    )
    assert record.content_hash == "9220b52e56f4e9e93b99b2365bd9e0c7"
