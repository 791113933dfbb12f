"""Which providers scheduled syncs cover and how often: the ``PRICING_SYNC_*`` settings as a resource."""

from __future__ import annotations

import dagster as dg

from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.settings import DEFAULT_SYNC_INTERVAL_HOURS


class SyncScheduleResource(dg.ConfigurableResource):
    """Which providers scheduled syncs cover and how often they run (``PRICING_SYNC_*``).

    The freshness check and the drift remediation sensor read it too, so all three
    agree on what "the providers we keep in sync" and "recently" mean.
    """

    interval_hours: int = DEFAULT_SYNC_INTERVAL_HOURS
    providers: str = ""

    def selected_providers(self) -> list[str]:
        """The ``PRICING_SYNC_PROVIDERS`` selection in partition order; every provider when empty."""
        return parse_provider_selection(self.providers) or list(PROVIDER_SLUGS)


def parse_provider_selection(raw: str | None) -> list[str]:
    """Comma-separated slugs, validated and in partition order (empty means no selection)."""
    named = [slug.strip() for slug in (raw or "").split(",") if slug.strip()]
    unknown = sorted(set(named) - set(PROVIDER_SLUGS))
    if unknown:
        raise ValueError(f"PRICING_SYNC_PROVIDERS names unknown provider(s) {', '.join(unknown)}")
    return sorted(set(named), key=PROVIDER_SLUGS.index)
