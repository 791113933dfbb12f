"""Every provider's replay output parses back into exactly the models it was generated from."""

from __future__ import annotations

import pytest

from catalog_pipeline.http_engine import CatalogHttpEngine
from catalog_pipeline.providers.drift import UNKNOWN, observe_fields
from catalog_pipeline.providers.normalize import normalize_catalog
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, get_provider
from catalog_pipeline.replay.demo_models import demo_models
from catalog_pipeline.replay.server import expected_live_count
from catalog_pipeline_tests.conftest import inject_fault


@pytest.mark.parametrize("slug", PROVIDER_SLUGS)
def test_replay_catalog_round_trips_through_the_engine_and_normalizer(replay_server, slug):
    spec = get_provider(slug)
    engine = CatalogHttpEngine({}, replay_url=replay_server.url)
    fetched = engine.fetch(spec)
    catalog = normalize_catalog(spec, fetched.entries)
    expected = demo_models(spec, expected_live_count(slug))

    assert catalog.rejections == []
    assert [m.provider_model_id for m in catalog.models] == [d.model_id for d in expected]
    for model, demo in zip(catalog.models, expected, strict=True):
        if spec.context_path or spec.normalize:
            assert model.context_length == demo.context_length, model.provider_model_id
        if "input" in spec.prices:
            assert model.input_price.amount == demo.input_price, model.provider_model_id
            assert model.output_price.amount == demo.output_price, model.provider_model_id
            assert model.input_price.unit == "usd_per_million_tokens"


def test_demo_catalog_sizes_are_deterministic_and_distinct():
    for slug in PROVIDER_SLUGS:
        spec = get_provider(slug)
        first = [m.model_id for m in demo_models(spec, 40)]
        assert first == [m.model_id for m in demo_models(spec, 40)]
        assert len(set(first)) == 40


ENDPOINTS = [(slug, name) for slug in PROVIDER_SLUGS for name in get_provider(slug).endpoint_names[1:]]


@pytest.mark.parametrize(("slug", "endpoint"), ENDPOINTS)
def test_every_endpoint_variant_is_served_and_falls_back_when_the_primary_is_gone(replay_server, slug, endpoint):
    """With the primary answering 404 (a fault on that endpoint alone), each fallback variant is served in its
    own shape and read back through it; a selector-only variant (Gemini) is served when selected."""
    spec = get_provider(slug)
    variant = spec.variant(endpoint)
    selected = not any(v.name == endpoint and v.fallback for v in spec.variants)
    if selected:
        environment = {spec.endpoint_selector: endpoint}
    else:
        environment = {}
        for earlier in spec.endpoint_names[: spec.endpoint_names.index(endpoint)]:
            inject_fault(replay_server, slug, status=404, endpoint=earlier)
    fetched = CatalogHttpEngine(environment, replay_url=replay_server.url).fetch(spec)
    assert fetched.endpoint == endpoint
    catalog = normalize_catalog(variant, fetched.entries)
    assert catalog.rejections == []
    assert [m.provider_model_id for m in catalog.models] == [
        d.model_id for d in demo_models(variant, len(fetched.entries))
    ]
    assert [o.path for o in observe_fields(variant, fetched.entries) if o.status == UNKNOWN] == []


@pytest.mark.parametrize("slug", PROVIDER_SLUGS)
def test_replay_payloads_carry_no_field_the_spec_neither_reads_nor_ignores(replay_server, slug):
    """The demo catalogs raise no payload_drift warning: every field they write is read or ignored."""
    spec = get_provider(slug)
    fetched = CatalogHttpEngine({}, replay_url=replay_server.url).fetch(spec)
    assert [o.path for o in observe_fields(spec, fetched.entries) if o.status == UNKNOWN] == []
