"""Dagster definitions: assets, checks, jobs, schedules, sensors and resources."""
