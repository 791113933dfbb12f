"""Every provider's replay output parses back into exactly the models it was generated from."""

from __future__ import annotations

import pytest

from catalog_pipeline.http_engine import CatalogHttpEngine
from catalog_pipeline.providers.normalize import normalize_catalog
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, get_provider
from catalog_pipeline.replay.demo_models import demo_models
from catalog_pipeline.replay.server import expected_live_count


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
