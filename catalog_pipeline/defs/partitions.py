"""Partitions: one per provider slug."""

from collections.abc import Sequence

import dagster as dg

from catalog_pipeline.providers.registry import PROVIDER_SLUGS

PROVIDER_PARTITIONS = dg.StaticPartitionsDefinition(list(PROVIDER_SLUGS))


def contiguous_ranges(slugs: Sequence[str]) -> list[tuple[str, str]]:
    """Group partition keys into runs: consecutive keys (in partition order) share one run."""
    positions = sorted({PROVIDER_SLUGS.index(slug) for slug in slugs})
    ranges: list[tuple[str, str]] = []
    for position in positions:
        if ranges and PROVIDER_SLUGS.index(ranges[-1][1]) == position - 1:
            ranges[-1] = (ranges[-1][0], PROVIDER_SLUGS[position])
        else:
            ranges.append((PROVIDER_SLUGS[position], PROVIDER_SLUGS[position]))
    return ranges
