"""Partitions: one per provider slug."""

import dagster as dg

from catalog_pipeline.providers.registry import PROVIDER_SLUGS

PROVIDER_PARTITIONS = dg.StaticPartitionsDefinition(list(PROVIDER_SLUGS))
