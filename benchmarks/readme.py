"""Write the figures of the last `make bench` run (`.bench/latest.json`) into the README.

``python -m benchmarks.readme`` replaces what lies between the README's ``<!-- bench:begin -->`` and
``<!-- bench:end -->`` lines with the run's machine, tables, scale series, plot and targets, so the
README shows one run's figures, all of them, and never figures typed by hand. A ``--quick`` run (one
repeat, a small scale series) is refused unless ``--allow-quick`` is given.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / ".bench" / "latest.json"
README = ROOT / "README.md"
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"

_SYNC_ROWS = (
    ("first_sync", "first sync"),
    ("first_sync_one_writer", "first sync, one provider written at a time (`CATALOG_CONCURRENT_WRITES=1`)"),
    ("unchanged_sync_etag", "unchanged re-sync (ETag: every page 304)"),
    ("unchanged_sync_digest", "unchanged re-sync (no ETag: same digest)"),
)
_SERIES = {"all_providers": "all 32 providers", "one_provider": "Featherless alone"}


def _stages(stages: dict[str, float]) -> str:
    return ", ".join(f"{name} {seconds:.2f}" for name, seconds in sorted(stages.items()))


def _sync_section(database: str, section: dict[str, Any]) -> list[str]:
    floor = section["floor"]
    lines = [
        f"**{database}** (catalog on {database}; Dagster instance: {section['dagster_instance']}); floor (a trivial "
        f"asset run, whole process) **{floor['wall_seconds']:.2f} s**:",
        "",
        "| all 32 providers, 18,000 models | wall | x floor | op | peak RSS | CPU |",
        "|---|---|---|---|---|---|",
    ]
    for key, label in _SYNC_ROWS:
        run = section.get(key)
        if run is None:
            continue
        if key == "first_sync" and "first_sync_one_writer" in section:
            label = "first sync (two providers written at a time)"
        lines.append(
            f"| {label} | {run['wall_seconds']:.2f} s | {run['floors']:.2f}x | {run['op_seconds']:.2f} s "
            f"| {run['peak_rss_mib']:.0f} MiB | {run['cpu_seconds']:.1f} s |"
        )
    first, rows = section["first_sync"], section["first_sync"]["rows"]
    unchanged = section["unchanged_sync_etag"]["rows_written"]
    xmin = unchanged.get("models_new_tuple_versions")
    lines += [
        "",
        f"First sync, seconds summed over providers: fetch {first['fetch_seconds_summed']:.2f} (8 threads, "
        f"overlapping), {_stages(first['stages_summed'])}; Dagster run overhead (run − op) "
        f"{first['dagster_run_overhead_seconds']:.2f} s, start-up + Dagster (process − op) "
        f"{first['dagster_and_startup_seconds']:.2f} s; reconciliation job {section['reconcile']['wall_seconds']:.2f} s. "
        f"First write: {rows['models']:,} `models` rows at {rows['models_rows_per_second_models_stage']:,} rows/s "
        f"(models stage), {rows['all_tables']:,} rows in all tables at {rows['all_rows_per_second_write_stages']:,} "
        f"rows/s. Rows written by the unchanged re-sync: {unchanged['total']}"
        + (f" (and {xmin} `models` rows with a new `xmin`)" if xmin is not None else "")
        + f". Catalog {section['catalog_bytes_per_model']:,} bytes per model; snapshots "
        f"{section['snapshot_bytes']:,} bytes, at most {section['snapshots_max_per_provider']} per provider."
        + (
            f" The catalog's migrations ran once before the syncs, as a deployment runs them before its code "
            f"server starts (`catalog-pipeline db upgrade`, {section['schema_migration_seconds']:.2f} s as a process)."
            if "schema_migration_seconds" in section
            else ""
        ),
    ]
    alone = section.get("first_sync_one_writer")
    if alone is not None:
        lines += [
            "",
            f"First sync with one provider written at a time: seconds summed over providers "
            f"{_stages(alone['stages_summed'])}; `models` at {alone['rows']['models_rows_per_second_models_stage']:,} "
            "rows/s (models stage). With two writers each stage's wall time also holds the other writer's work, "
            "so the summed stages grow while the sync gets shorter.",
        ]
    return lines + [""]


def _writer_section(writer: dict[str, dict[str, Any]]) -> list[str]:
    databases = [name for name in ("postgresql", "sqlite") if name in writer]
    keys = sorted({key for name in databases for key in writer[name] if key != "database"})
    lines = [
        "Writer alone (18,000 synthetic models over 6 providers, `benchmarks/sync_benchmark.py`):",
        "",
        "| | " + " | ".join(databases) + " |",
        "|---|" + "---|" * len(databases),
    ]
    for key in keys:
        lines.append(f"| {key} | " + " | ".join(str(writer[name].get(key, "")) for name in databases) + " |")
    return lines + [""]


def _scale_section(scale: dict[str, list[dict[str, Any]]], date: str) -> list[str]:
    lines = [
        f"Scale series (SQLite catalog, the local Dagster instance; one process per sync; run of {date}):",
        "",
        "| series | models | first sync | per model | peak RSS | unchanged re-sync | unchanged / first "
        "| catalog bytes/model |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for series, label in _SERIES.items():
        for point in scale.get(series, []):
            lines.append(
                f"| {label} | {point['models']:,} | {point['first_wall_seconds']:.1f} s "
                f"| {point['first_us_per_model']:.0f} µs | {point['first_peak_rss_mib']:.0f} MiB "
                f"| {point['unchanged_wall_seconds']:.1f} s | {point['unchanged_share_of_first']:.1%} "
                f"| {point['catalog_bytes_per_model']:,} |"
            )
    return lines + ["", "![time and memory against catalog size](benchmarks/results/scale.png)", ""]


def _targets(targets: dict[str, dict[str, Any]]) -> list[str]:
    lines = ["Targets of issue 11:", "", "| target | measured | |", "|---|---|---|"]
    for name in sorted(targets):
        target = targets[name]
        lines.append(f"| {name} | {target['value']} | {'met' if target['met'] else '**not met**'} |")
    return lines


def render(figures: dict[str, Any]) -> str:
    """The README's bench block for one run's `figures` (the JSON `make bench` writes)."""
    machine = figures["machine"]
    syncs = figures["sync"]
    repeats = max(section.get("repeats", 1) for section in syncs.values())
    lines = [
        f"Measured by `make bench` on {figures['date']} on this machine: {machine['cpus']} CPUs (shared; load "
        f"average {machine['load_average'][0]} at the start of the run, {machine['load_average_after'][0]} at its "
        f"end), {machine['memory_gib']} GiB, Python {machine['python']}, {machine['platform']}. Medians of "
        f"{repeats} processes each; whole processes (start-up and imports included). The Dagster instances are the "
        "ones we ship: `deploy/dagster-local.yaml` (SQLite) and `deploy/dagster.yaml` (PostgreSQL), whose storage "
        "keeps its connections (`catalog_pipeline/dagster_storage.py`).",
        "",
    ]
    for database in ("postgresql", "sqlite"):
        if database in syncs:
            lines += _sync_section(database, syncs[database])
    lines += _writer_section(figures["writer"])
    if "scale" in figures:
        lines += _scale_section(figures["scale"], figures.get("scale_date", figures["date"]))
    lines += _targets(figures["targets"])
    return "\n".join(lines)


def update(readme: str, block: str) -> str:
    """`readme` with the text between its bench markers replaced by `block`."""
    before, found, rest = readme.partition(BEGIN + "\n")
    _, found_end, after = rest.partition(END)
    if not found or not found_end:
        raise ValueError(f"README.md has no {BEGIN} ... {END} block to replace")
    return f"{before}{BEGIN}\n{block}\n{END}{after}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--allow-quick", action="store_true", help="write a --quick run's figures too")
    args = parser.parse_args()
    figures = json.loads(RESULTS.read_text())
    if figures.get("quick") and not args.allow_quick:
        print("README not updated: the last run was --quick (one repeat); pass --allow-quick to write it anyway")
        sys.exit(0)
    README.write_text(update(README.read_text(), render(figures)))
    print(f"README.md: bench figures of {figures['date']} written")


if __name__ == "__main__":
    main()
