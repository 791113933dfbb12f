"""A model gateway as a second live source: how many models it serves per provider.

The old monitor script asked, for every provider,
``curl "$GATEWAY/models?gateway=$slug&limit=$N" | jq '.data | length'``; this module asks
the same question, concurrently, and the `gateway_parity` check compares the answers
with the catalog database.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import dagster as dg
import httpx

from catalog_pipeline.http_engine import USER_AGENT, mask_url
from catalog_pipeline.sync import LiveCounts

GATEWAY_SOURCE = "gateway"


def fetch_gateway_counts(
    models_url: str,
    slugs: Sequence[str],
    limit: int = 10_000,
    timeout_seconds: float = 30.0,
    max_workers: int = 8,
) -> LiveCounts:
    """Count ``.data`` of ``{models_url}?gateway=<slug>&limit=<limit>`` for every slug.

    Returns:
        Live counts per provider; a provider the gateway could not answer for has
        ``None`` and the cause (URL with secrets masked, status, never a body) in `errors`.
    """
    result = LiveCounts(live={}, skipped={}, errors={})
    shown = mask_url(models_url)

    def count(client: httpx.Client, slug: str) -> None:
        where = f"gateway: GET {shown}?gateway={slug}&limit={limit}"
        try:
            response = client.get(models_url, params={"gateway": slug, "limit": limit})
        except httpx.HTTPError as error:
            result.live[slug], result.errors[slug] = None, f"{where}: {type(error).__name__}"
            return
        if response.status_code != 200:
            result.live[slug], result.errors[slug] = None, f"{where}: HTTP {response.status_code}"
            return
        try:
            data = response.json().get("data")
        except (ValueError, AttributeError):
            data = None
        if not isinstance(data, list):
            result.live[slug], result.errors[slug] = None, f"{where}: answer has no .data list"
            return
        result.live[slug] = len(data)

    with (
        httpx.Client(timeout=timeout_seconds, headers={"User-Agent": USER_AGENT}) as client,
        ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(slugs))), thread_name_prefix="gateway") as pool,
    ):
        list(pool.map(lambda slug: count(client, slug), slugs))
    return result


class GatewayResource(dg.ConfigurableResource):
    """A gateway's ``/models`` endpoint (``CATALOG_GATEWAY_MODELS_URL``), answering ``{"data": [...]}``
    for ``?gateway=<slug>&limit=N``. Unset, the gateway comparison is off."""

    models_url: str | None = None
    limit: int = 10_000
    timeout_seconds: float = 30.0

    @property
    def configured(self) -> bool:
        return bool(self.models_url)

    def fetch_counts(self, slugs: Sequence[str]) -> LiveCounts:
        if not self.models_url:
            raise ValueError("the gateway is not configured: set CATALOG_GATEWAY_MODELS_URL")
        return fetch_gateway_counts(self.models_url, slugs, self.limit, self.timeout_seconds)
