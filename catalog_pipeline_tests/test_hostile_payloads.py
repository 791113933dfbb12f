"""Hostile list entries never break a provider's sync: each one is stored safely or rejected with a
reason, so ``live = stored + rejected`` holds whatever a provider sends.

Entries start as realistic ones (the replay server's rendering, so every provider's own wire shape
and normalize hook is exercised) and get hostile values written into any of their fields: missing
or empty ids, ids with quotes, semicolons, control characters, lone surrogates or 10,000
characters, negative prices, ``"$0.50/M"``, nulls, absurd exponents, huge context lengths, wrong
types and whole subtrees replaced; some entries are not objects at all, some repeat earlier ids.
"""

from __future__ import annotations

import contextlib
import copy
import math
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from catalog_pipeline.http_engine import FetchResult
from catalog_pipeline.providers.normalize import (
    MAX_CONTEXT_LENGTH,
    MAX_ID_LENGTH,
    PriceState,
    RejectReason,
    normalize_catalog,
)
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, get_provider
from catalog_pipeline.replay.demo_models import demo_models
from catalog_pipeline.replay.wire import render_entry
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import CatalogWriter

REASONS = {  # RejectReason.UNREADABLE_ENTRY is left out on purpose: it means a hook has a bug
    RejectReason.NOT_A_MODEL,
    RejectReason.MISSING_ID,
    RejectReason.INVALID_ID,
    RejectReason.DUPLICATE_ID,
    RejectReason.INVALID_PRICE,
    RejectReason.INVALID_CONTEXT_LENGTH,
    RejectReason.INVALID_DEPRECATION_DATE,  # a lifecycle field (migration 0003) that does not parse
}

ODD_IDS = [
    "org/mödel'; DROP TABLE models;--\"ü",
    'quote"in"id',
    "semi;colon;id",
    "Robert'); DELETE FROM providers; --",
    "percent%_and_underscore\\backslash",
    "emoji-🦙-llama",
    "中文模型/通义千问-72B",
    "x" * MAX_ID_LENGTH,
]

hostile_text = st.one_of(
    st.sampled_from(ODD_IDS + ["", "   ", "x" * 10_000, "bad\nid", "nul\x00id", "lone\ud800surrogate", "\u202etxt"]),
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8"), min_size=500, max_size=600),
)
hostile_number = st.one_of(
    st.integers(min_value=-(10**30), max_value=10**30),
    # numbers longer than 4,000 digits reach the normalizer as Decimals (see http_engine._parse_int)
    st.sampled_from([Decimal("9" * 5000), -1, 0, 2**63, 10**15]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.sampled_from(
        ["$0.50/M", "-1", "-0.5", "1e999999999", "1e-999999999", "NaN", "Infinity", " 0.5 ", "0x10", "1_000", "free"]
    ),
)
hostile_value = st.recursive(
    st.one_of(st.none(), st.booleans(), hostile_text, hostile_number),
    lambda children: st.one_of(
        st.lists(children, max_size=3), st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=6,
)


def _paths(value: Any, prefix: tuple = ()) -> list[tuple]:
    """Every place in a nested entry a hostile value can be written: keys and list items, at any depth."""
    found = [prefix] if prefix else []
    if isinstance(value, dict):
        for key, item in value.items():
            found += _paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:3]):
            found += _paths(item, (*prefix, index))
    return found


def _write(entry: Any, path: tuple, value: Any) -> None:
    target = entry
    for step in path[:-1]:
        target = target[step]
    if isinstance(target, (dict, list)):
        target[path[-1]] = value


@st.composite
def hostile_catalogs(draw: st.DrawFn) -> tuple[str, list[Any]]:
    """A provider slug and a list of its entries, many of them damaged."""
    slug = draw(st.sampled_from(PROVIDER_SLUGS))
    spec = get_provider(slug)
    templates = [render_entry(spec, model) for model in demo_models(spec, 4)]
    entries: list[Any] = []
    for _ in range(draw(st.integers(min_value=1, max_value=8))):
        kind = draw(st.sampled_from(["damaged", "damaged", "damaged", "clean", "not_an_object", "repeat"]))
        if kind == "not_an_object":
            entries.append(draw(hostile_value))
            continue
        if kind == "repeat" and entries:
            entries.append(copy.deepcopy(draw(st.sampled_from(entries))))
            continue
        entry = copy.deepcopy(draw(st.sampled_from(templates)))
        if kind == "damaged":
            paths = _paths(entry)
            for _ in range(draw(st.integers(min_value=1, max_value=3))):
                path = draw(st.sampled_from(paths))
                value = draw(hostile_value)
                with contextlib.suppress(KeyError, IndexError, TypeError):  # an earlier mutation replaced the parent
                    _write(entry, path, value)
                if draw(st.booleans()) and path:
                    parent = entry
                    for step in path[:-1]:
                        parent = parent.get(step) if isinstance(parent, dict) else None
                    if isinstance(parent, dict):
                        parent.pop(path[-1], None)  # or drop the field altogether
        entries.append(entry)
    return slug, entries


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(hostile_catalogs())
@example(("together", [{"id": odd} for odd in ODD_IDS]))
@example(("together", [{"id": "x" * 10_000}, {"id": None}, {"display_name": "no id"}, "string", 42, None]))
@example(("openrouter", [{"id": "m", "pricing": {"prompt": "$0.50/M"}}, {"id": "n", "pricing": {"prompt": -3}}]))
@example(("groq", [{"id": "a", "context_window": Decimal("1e5000")}, {"id": "b", "context_window": math.inf}]))
@example(("near", [{"modelId": "m", "inputCostPerToken": {"amount": 1, "scale": 10**9}}]))
@example(
    (
        "deepinfra",
        [{"model_name": "m", "pricing": {"cents_per_input_token": "1e999999", "rate_per_input_token_cached": 2}}],
    )
)
def test_every_hostile_entry_is_stored_safely_or_rejected_with_a_reason(catalog):
    slug, entries = catalog
    result = normalize_catalog(get_provider(slug), entries)

    assert len(result.models) + len(result.rejections) == len(entries)
    ids = [model.provider_model_id for model in result.models]
    assert len(ids) == len(set(ids))
    for model in result.models:
        assert 0 < len(model.provider_model_id) <= MAX_ID_LENGTH
        assert not any(ord(c) < 32 or ord(c) == 127 for c in model.provider_model_id)
        model.provider_model_id.encode("utf-8")  # no lone surrogates
        assert model.context_length is None or 0 < model.context_length <= MAX_CONTEXT_LENGTH
        assert len(model.canonical_slug) <= MAX_ID_LENGTH
        for price in model.prices.values():
            assert price.amount is None or (isinstance(price.amount, Decimal) and price.amount >= 0)
            assert price.amount is None or price.amount.is_finite()
            assert (price.amount is None) == (price.state in (PriceState.UNKNOWN, PriceState.VARIABLE))
        model.content_hash  # noqa: B018 - must be computable for every stored model
    for rejection in result.rejections:
        assert rejection.reason in REASONS
        assert rejection.detail.startswith(f"{slug}:")
        assert rejection.provider_model_id is None or len(rejection.provider_model_id) <= MAX_ID_LENGTH
        assert len(rejection.excerpt) <= 500
        rejection.excerpt.encode("utf-8")  # storable in any database
        (rejection.provider_model_id or "").encode("utf-8")


def test_python_integers_too_long_to_print_are_rejected_not_raised():
    huge = 10**5000
    entries = [{"id": huge}, {"id": "a", "context_length": huge}, {"id": "b", "pricing": {"input": huge}}, {"id": "c"}]
    result = normalize_catalog(get_provider("together"), entries)
    assert [model.provider_model_id for model in result.models] == ["c"]
    assert [r.reason for r in result.rejections] == [
        RejectReason.INVALID_ID,
        RejectReason.INVALID_CONTEXT_LENGTH,
        RejectReason.INVALID_PRICE,
    ]


def test_a_hostile_catalog_is_written_to_sqlite_and_odd_ids_read_back_verbatim(sqlite_url):
    """Quotes, semicolons, SQL fragments, LIKE wildcards, emoji and CJK survive the round trip exactly;
    what cannot be stored lands in rejected_models with its reason, and the write succeeds."""
    spec = get_provider("together")
    entries: list[Any] = [{"id": odd, "pricing": {"input": 0.5, "output": 1}} for odd in ODD_IDS]
    entries += [
        {"id": "x" * 10_000},
        {"id": "nul\x00id"},
        {"id": "lone\ud800surrogate"},
        {"id": "price/words", "pricing": {"input": "$0.50/M"}},
        {"id": "price/negative", "pricing": {"input": -0.5}},
        {"id": "context/huge", "context_length": 10**15},
        {"display_name": "no id at all"},
        {"id": ODD_IDS[0]},
        ["not", "an", "object"],
    ]
    catalog = normalize_catalog(spec, entries)
    fetched = FetchResult(spec.slug, "https://api.together.xyz/v1/models", entries, 1, 0, 0.0, 200, 1)
    engine = create_catalog_engine(sqlite_url)
    CatalogWriter(engine).write_provider(spec, fetched, catalog)

    with engine.connect() as connection:
        stored = connection.execute(sa.select(schema.models.c.provider_model_id)).scalars().all()
        rejected = connection.execute(
            sa.select(schema.rejected_models.c.reason, schema.rejected_models.c.provider_model_id)
        ).all()
        prices = dict(
            connection.execute(
                sa.select(schema.models.c.provider_model_id, schema.models.c.input_price_per_million)
            ).all()
        )
    assert sorted(stored) == sorted(ODD_IDS)
    assert Decimal(prices[ODD_IDS[0]]) == Decimal("0.5")
    assert sorted(reason for reason, _ in rejected) == sorted(
        [
            RejectReason.INVALID_ID,
            RejectReason.INVALID_ID,
            RejectReason.INVALID_ID,
            RejectReason.INVALID_PRICE,
            RejectReason.INVALID_PRICE,
            RejectReason.INVALID_CONTEXT_LENGTH,
            RejectReason.MISSING_ID,
            RejectReason.DUPLICATE_ID,
            RejectReason.NOT_A_MODEL,
        ]
    )
    assert ("duplicate_id", ODD_IDS[0]) in rejected
    assert len(stored) + len(rejected) == len(entries)


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture]
)
@given(hostile_catalogs())
def test_hostile_catalogs_never_fail_the_database_write(sqlite_url, catalog):
    slug, entries = catalog
    spec = get_provider(slug)
    result = normalize_catalog(spec, entries)
    fetched = FetchResult(slug, spec.list_url({}), entries, 1, 0, 0.0, 200, 1)
    engine = create_catalog_engine(sqlite_url)
    CatalogWriter(engine).write_provider(spec, fetched, result, allow_mass_deactivation=True)
    with engine.connect() as connection:
        stored = set(connection.execute(sa.select(schema.models.c.provider_model_id)).scalars())
    assert {model.provider_model_id for model in result.models} <= stored


def test_scaled_prices_are_exact_and_anything_but_integer_usd_amounts_is_rejected():
    """NEAR's {amount, scale, currency}: amount x 10^-scale USD per token, read exactly; strings, fractions,
    other currencies and absurd scales are rejected rather than guessed."""
    entries = [
        {"modelId": "ok", "inputCostPerToken": {"amount": 850, "scale": 9, "currency": "USD"}},
        {"modelId": "string-amount", "inputCostPerToken": {"amount": "850", "scale": 9}},
        {"modelId": "fraction", "inputCostPerToken": {"amount": 8.5, "scale": 9}},
        {"modelId": "euro", "inputCostPerToken": {"amount": 850, "scale": 9, "currency": "EUR"}},
        {"modelId": "scale", "inputCostPerToken": {"amount": 850, "scale": 400}},
        {"modelId": "plain-number", "inputCostPerToken": 0.00000085},
        {"modelId": "no-amount", "inputCostPerToken": {"scale": 9}},
    ]
    result = normalize_catalog(get_provider("near"), entries)
    models = {model.provider_model_id: model for model in result.models}
    assert models["ok"].input_price.amount == Decimal("0.85")
    assert models["no-amount"].input_price.state == PriceState.UNKNOWN
    assert sorted(r.provider_model_id for r in result.rejections) == [
        "euro",
        "fraction",
        "plain-number",
        "scale",
        "string-amount",
    ]
    assert {r.reason for r in result.rejections} == {RejectReason.INVALID_PRICE}
