"""Wire-format drift, on a hand-made spec and hand-made entries: which field paths count as read, ignored
or unknown, how deep nested objects are looked into, how many entries carry each field, the sample shown,
and when a read field counts as vanished."""

from __future__ import annotations

from decimal import Decimal

from catalog_pipeline.providers.drift import IGNORED, READ, UNKNOWN, VANISHED, FieldObservation, news, observe_fields
from catalog_pipeline.providers.spec import PriceField, PriceUnit, ProviderSpec

SPEC = ProviderSpec(
    slug="synthetic",
    name="Synthetic",
    base_url="https://synthetic.invalid/v1",
    list_path="/models",
    name_path="name",
    context_path="limits.context.max",  # a path three levels deep: the walk follows it
    prices={"input": PriceField("pricing.prompt", PriceUnit.USD_PER_TOKEN)},
    read_fields=("extra",),
    ignored_fields={"object": "always 'model'", "owner": "an organization", "meta": "a whole ignored subtree"},
)


def _by_path(observations: list[FieldObservation]) -> dict[str, tuple[str, int, str | None]]:
    return {o.path: (o.status, o.entries, o.sample) for o in observations}


def test_every_field_is_read_ignored_or_unknown_with_its_count_and_first_sample():
    """Two entries: id, name, the deep context path, pricing.prompt and extra are read; object, owner and
    everything under meta are ignored; pricing.cached and sparkle are unknown. Counts are per entry; the
    sample is the first non-null value, as JSON."""
    entries = [
        {
            "id": "m-1",
            "name": None,
            "object": "model",
            "owner": "acme",
            "limits": {"context": {"max": 8192, "soft": 4096}},
            "pricing": {"prompt": Decimal("0.000001"), "cached": "0.5"},
            "meta": {"a": {"b": 1}},
            "extra": [1, 2],
        },
        {"id": "m-2", "name": "Model two", "sparkle": {"x": True}, "pricing": {"prompt": "1e-6"}},
        "not an entry",
    ]
    observed = _by_path(observe_fields(SPEC, entries))
    assert observed == {
        "extra": (READ, 1, "[1, 2]"),
        "id": (READ, 2, '"m-1"'),
        "limits.context.max": (READ, 1, "8192"),
        "limits.context.soft": (UNKNOWN, 1, "4096"),
        "meta": (IGNORED, 1, '{"a": {"b": 1}}'),
        "name": (READ, 2, '"Model two"'),
        "object": (IGNORED, 1, '"model"'),
        "owner": (IGNORED, 1, '"acme"'),
        "pricing.cached": (UNKNOWN, 1, '"0.5"'),
        "pricing.prompt": (READ, 2, '"0.000001"'),
        "sparkle.x": (UNKNOWN, 1, "true"),
    }
    assert [o.path for o in news(observe_fields(SPEC, entries))] == [
        "limits.context.soft",
        "pricing.cached",
        "sparkle.x",
    ]


def test_nested_objects_are_looked_into_two_levels_unless_a_spec_path_leads_deeper():
    """a.b.c (three levels, no spec path there) is reported as a.b; an empty object is a field itself."""
    observed = _by_path(observe_fields(SPEC, [{"id": "m", "a": {"b": {"c": 1}}, "empty": {}}]))
    assert observed["a.b"] == (UNKNOWN, 1, '{"c": 1}')
    assert observed["empty"] == (UNKNOWN, 1, "{}")
    assert "a.b.c" not in observed


def test_a_null_container_of_read_fields_counts_as_read():
    """pricing: null (DeepInfra's metadata: null) is the read field's parent, not news."""
    observed = _by_path(observe_fields(SPEC, [{"id": "m", "pricing": None, "limits": None}]))
    assert observed["pricing"] == (READ, 1, None)
    assert observed["limits"] == (READ, 1, None)


def test_a_read_field_seen_before_and_absent_now_has_vanished():
    """name and pricing.prompt were read before; now no entry has name (vanished), pricing.prompt is still
    there under its parent, and a field never read before (sparkle) cannot vanish."""
    observations = observe_fields(
        SPEC, [{"id": "m", "pricing": {"prompt": "1"}}], ["name", "pricing.prompt", "sparkle"]
    )
    assert [(o.path, o.status, o.entries) for o in observations if o.status == VANISHED] == [("name", VANISHED, 0)]
    covered = observe_fields(SPEC, [{"id": "m", "pricing": None}], ["pricing.prompt"])
    assert [o.path for o in covered if o.status == VANISHED] == []  # a null parent still carries the field


def test_a_sample_is_cut_at_80_characters_and_unprintable_values_fall_back_to_repr():
    """Long values are cut; a value json cannot encode even as text is shown by repr."""

    loop: list = []
    loop.append(loop)
    observed = _by_path(observe_fields(SPEC, [{"id": "x" * 200, "sparkle": loop}]))
    assert observed["id"][2] == '"' + "x" * 79
    assert observed["sparkle"][2] == "[[...]]"
