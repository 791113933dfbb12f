"""Mutation testing of the provider specs themselves: the data in `catalog_pipeline/providers/registry.py`.

mutmut mutates code inside functions only, and a provider is data (a `ProviderSpec` at module level), so
a wrong URL, parameter name, header, field path, unit or paging field in the registry is never one of
its mutants. This pytest plugin makes those mutants: for every spec (and every endpoint variant) it
changes one field at a time (a path renamed, a unit swapped, a price dropped, the auth style switched,
a paging parameter renamed, ...), puts the mutated spec in the registry, runs the tests of that
provider, and counts the mutant killed when one of them fails.

    python -m pytest -p catalog_pipeline_tests.spec_mutation --spec-mutation \
        catalog_pipeline_tests/test_provider_requests.py catalog_pipeline_tests/test_provider_conformance.py

`scripts/mutation.py providers` runs it after mutmut. Prints the score and every surviving mutant; the
session fails when the score is below ``--spec-mutation-fail-under`` (default 85).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from catalog_pipeline.providers import registry
from catalog_pipeline.providers.spec import (
    AuthStyle,
    EndpointVariant,
    Pagination,
    PaginationStyle,
    PriceUnit,
    ProviderSpec,
)

#: Fields the engine and the normalizer read; the rest (names, notes, demo_*, envelope) only feed the
#: README, the UI or the replay server.
_PATH_FIELDS = (
    "records_path",
    "id_path",
    "name_path",
    "context_path",
    "max_output_path",
    "input_modalities_path",
    "output_modalities_path",
    "deprecation_path",
    "status_path",
)
_OTHER_UNIT = {
    PriceUnit.USD_PER_TOKEN: PriceUnit.USD_PER_MILLION_TOKENS,
    PriceUnit.USD_PER_MILLION_TOKENS: PriceUnit.USD_PER_TOKEN,
    PriceUnit.USD_PER_REQUEST: PriceUnit.USD_PER_TOKEN,
    PriceUnit.USD_PER_IMAGE: PriceUnit.USD_PER_REQUEST,
}


@dataclasses.dataclass(frozen=True)
class SpecMutant:
    slug: str
    endpoint: str
    description: str
    spec: ProviderSpec


def _renamed(value: str) -> str:
    return value + "_mutated"


def _field_mutants(fields: Mapping[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(description, changed fields) for one endpoint's spec fields."""
    if "base_url" in fields:
        yield "base_url host changed", {"base_url": fields["base_url"].replace("://", "://mutated.", 1)}
    if "list_path" in fields:
        yield "list_path changed", {"list_path": fields["list_path"] + "/mutated"}
    for key, value in (fields.get("query") or {}).items():
        query = dict(fields["query"])
        yield f"query {key} dropped", {"query": {k: v for k, v in query.items() if k != key}}
        yield f"query {key} value changed", {"query": {**query, key: _renamed(value)}}
    if "auth" in fields:
        for style in AuthStyle:
            if style is not fields["auth"]:
                yield f"auth {fields['auth'].value} -> {style.value}", {"auth": style}
    if "key_required" in fields and fields.get("auth") is not AuthStyle.NONE:  # a keyless list never needs one
        yield f"key_required -> {not fields['key_required']}", {"key_required": not fields["key_required"]}
    for key, value in (fields.get("extra_headers") or {}).items():
        yield f"header {key} value changed", {"extra_headers": {**fields["extra_headers"], key: _renamed(value)}}
    # A normalize hook reads its raw entry itself: the spec's id, field and price paths then only name what
    # the hook reads (for the drift check), so renaming them changes nothing the engine does.
    hooked = fields.get("normalize") is not None
    for name in _PATH_FIELDS:
        if fields.get(name) and not (hooked and name != "records_path"):
            yield f"{name} renamed", {name: _renamed(fields[name])}
    if fields.get("status_path") and "status_labels" in fields:
        yes, no = fields["status_labels"]
        yield "status_labels swapped", {"status_labels": (no, yes)}
    for kind, price in (fields.get("prices") or {}).items():
        prices = dict(fields["prices"])
        yield f"price {kind} dropped", {"prices": {k: v for k, v in prices.items() if k != kind}}
        if not hooked:
            renamed_path = dataclasses.replace(price, path=_renamed(price.path))
            yield f"price {kind} path renamed", {"prices": {**prices, kind: renamed_path}}
        other = _OTHER_UNIT.get(price.unit, PriceUnit.USD_PER_MILLION_TOKENS)
        if other is not price.unit:
            yield (
                f"price {kind} unit -> {other.value}",
                {"prices": {**prices, kind: dataclasses.replace(price, unit=other)}},
            )
        flipped = dataclasses.replace(price, negative_means_variable=not price.negative_means_variable)
        if price.negative_means_variable:
            yield f"price {kind} negative_means_variable -> False", {"prices": {**prices, kind: flipped}}
        if price.threshold_path:
            renamed = dataclasses.replace(price, threshold_path=_renamed(price.threshold_path))
            yield f"price {kind} threshold_path renamed", {"prices": {**prices, kind: renamed}}
    pagination: Pagination | None = fields.get("pagination")
    if pagination is not None and pagination.style is not PaginationStyle.NONE:
        yield "pagination style -> none", {"pagination": dataclasses.replace(pagination, style=PaginationStyle.NONE)}
        yield "page_size + 1", {"pagination": dataclasses.replace(pagination, page_size=pagination.page_size + 1)}
        for name in ("size_param", "page_param", "cursor_path", "has_more_path"):
            if getattr(pagination, name):
                changed = dataclasses.replace(pagination, **{name: _renamed(getattr(pagination, name))})
                yield f"pagination {name} renamed", {"pagination": changed}
        if pagination.style is PaginationStyle.PAGE_NUMBER:
            yield (
                "first_page + 1",
                {"pagination": dataclasses.replace(pagination, first_page=pagination.first_page + 1)},
            )
        # the engine reads total_pages and total_count of page-number paging; the other facts (and any
        # page_info of token paging) are written by the replay server only
        counted = {"total_pages", "total_count"} if pagination.style is PaginationStyle.PAGE_NUMBER else set()
        for path, fact in pagination.page_info.items():
            if fact not in counted:
                continue
            info = {(_renamed(p) if p == path else p): f for p, f in pagination.page_info.items()}
            yield f"page_info {fact} ({path}) renamed", {"pagination": dataclasses.replace(pagination, page_info=info)}


def spec_mutants(specs: Mapping[str, ProviderSpec]) -> list[SpecMutant]:
    """Every one-field mutant of every provider's primary endpoint and of each endpoint variant's changes."""
    mutants = []
    for slug, spec in specs.items():
        primary = {f.name: getattr(spec, f.name) for f in dataclasses.fields(spec)}
        for description, changes in _field_mutants(primary):
            mutants.append(SpecMutant(slug, spec.primary_name, description, dataclasses.replace(spec, **changes)))
        for index, variant in enumerate(spec.variants):
            seen = {**{k: v for k, v in primary.items() if k in ("pagination",)}, **variant.changes}
            for description, changes in _field_mutants(seen):
                if not set(changes) <= set(variant.changes):
                    continue  # the variant inherits this field from the primary: its mutant is above
                mutated = EndpointVariant(
                    variant.name, {**variant.changes, **changes}, variant.fallback, variant.description
                )
                variants = (*spec.variants[:index], mutated, *spec.variants[index + 1 :])
                mutants.append(
                    SpecMutant(slug, variant.name, description, dataclasses.replace(spec, variants=variants))
                )
    return mutants


def _slug_of(item: pytest.Item) -> str | None:
    params = getattr(getattr(item, "callspec", None), "params", {})
    if "slug" in params:
        return params["slug"]
    if "name" in params and isinstance(params["name"], str):  # a capture file, named <slug>.<...>.json
        return params["name"].split(".", 1)[0]
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("spec mutation")
    group.addoption("--spec-mutation", action="store_true", help="mutate the provider specs, not run the tests")
    group.addoption("--spec-mutation-fail-under", type=float, default=85.0)
    group.addoption("--spec-mutation-only", default="", help="comma-separated slugs to mutate (default: all)")


def _fails(item: pytest.Item) -> bool:
    reports = runtestprotocol(item, nextitem=None, log=False)
    return any(report.failed for report in reports)


@pytest.hookimpl(tryfirst=True)
def pytest_runtestloop(session: pytest.Session) -> bool | None:
    config = session.config
    if not config.getoption("spec_mutation"):
        return None
    terminal = config.pluginmanager.get_plugin("terminalreporter")
    broken = [item.nodeid for item in session.items if _fails(item)]
    if broken:
        raise pytest.UsageError(f"the tests fail without any mutation: {broken[:5]}")
    by_slug: dict[str | None, list[pytest.Item]] = {}
    for item in session.items:
        by_slug.setdefault(_slug_of(item), []).append(item)
    only = {slug for slug in config.getoption("spec_mutation_only").split(",") if slug}
    original = dict(registry.PROVIDERS)
    mutants = [m for m in spec_mutants(original) if not only or m.slug in only]
    survivors: list[SpecMutant] = []
    try:
        for mutant in mutants:
            registry.PROVIDERS[mutant.slug] = mutant.spec
            try:
                candidates = by_slug.get(mutant.slug, []) + by_slug.get(None, [])
                if not any(_fails(item) for item in candidates):
                    survivors.append(mutant)
            finally:
                registry.PROVIDERS[mutant.slug] = original[mutant.slug]
    finally:
        registry.PROVIDERS.update(original)
    killed = len(mutants) - len(survivors)
    score = 100.0 * killed / len(mutants) if mutants else 100.0
    terminal.write_line("")
    terminal.write_line(f"spec mutants: {len(mutants)}, killed {killed}, survived {len(survivors)}: {score:.1f}%")
    for mutant in survivors:
        terminal.write_line(f"  survived: {mutant.slug} [{mutant.endpoint}] {mutant.description}")
    if score < config.getoption("spec_mutation_fail_under"):
        session.testsfailed = len(survivors)
        terminal.write_line(f"FAILED: spec mutation score {score:.1f}% is below the limit")
    return True
