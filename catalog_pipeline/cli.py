"""The ``catalog-pipeline`` command: sync, status, replay-server and db."""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from catalog_pipeline import settings
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, PROVIDERS

EXIT_OK, EXIT_FAILED, EXIT_UNKNOWN = 0, 1, 2


def _prepare_dagster_home() -> Path:
    """Use ``$DAGSTER_HOME``, or ``./.catalog/dagster_home`` (where `make demo` and `make dev` keep
    theirs) when it is not set."""
    from catalog_pipeline.storage.database import DEFAULT_DAGSTER_HOME

    home = Path(os.environ.get("DAGSTER_HOME") or Path(DEFAULT_DAGSTER_HOME).resolve())
    home.mkdir(parents=True, exist_ok=True)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _quiet_run_config(op_config: dict | None = None) -> dict:
    config: dict = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    if op_config is not None:
        config["ops"] = {"sync_provider_catalogs": {"config": op_config}}
    return config


def command_sync(args: argparse.Namespace) -> int:
    _prepare_dagster_home()
    import dagster as dg

    from catalog_pipeline.definitions import defs
    from catalog_pipeline.defs.partitions import contiguous_ranges

    named = list(dict.fromkeys(args.provider or []))
    unknown = [slug for slug in named if slug not in PROVIDERS]
    if unknown:
        print(f"unknown provider(s): {', '.join(unknown)}; known: {', '.join(PROVIDER_SLUGS)}", file=sys.stderr)
        return EXIT_UNKNOWN
    slugs = named or list(PROVIDER_SLUGS)
    # All providers go in one run that skips unconfigured ones; named providers are
    # synced as asked (an unconfigured one fails), in as few runs as their order allows.
    ranges = contiguous_ranges(slugs) if named else [(PROVIDER_SLUGS[0], PROVIDER_SLUGS[-1])]
    op_config = {"skip_unconfigured": not named, "allow_mass_deactivation": args.allow_mass_deactivation}

    progress = logging.getLogger("catalog_pipeline.sync")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("  %(message)s"))
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False

    instance = dg.DagsterInstance.get()
    sync_job = defs.resolve_job_def("catalog_sync_job")
    run_ids: list[str] = []
    print(f"syncing {len(slugs) if named else 'all configured'} provider(s) in {len(ranges)} run(s)")
    for start, end in ranges:
        result = sync_job.execute_in_process(
            instance=instance,
            run_config=_quiet_run_config(op_config),
            tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
            raise_on_error=False,
        )
        run_ids.append(result.run_id)
    progress.removeHandler(handler)
    print("reconciling live counts with the database ...")
    reconciliation = defs.resolve_job_def("catalog_reconciliation_job").execute_in_process(
        instance=instance, run_config=_quiet_run_config(), raise_on_error=False
    )

    from catalog_pipeline.storage.database import create_catalog_engine
    from catalog_pipeline.storage.queries import sync_log_for_runs

    engine = create_catalog_engine(_database_url())
    rows = sync_log_for_runs(engine, run_ids)
    print()
    print(_summary_table(rows))
    requested = set(named) if named else {row["provider_slug"] for row in rows if row["status"] != "skipped"}
    synced = {row["provider_slug"] for row in rows if row["status"] == "success"}
    failed = sorted(requested - synced)
    print()
    if failed:
        print(f"FAILED: {', '.join(failed)} (see error_message above and pricing_sync_log)")
    else:
        print(f"all {len(synced)} requested provider(s) synced")
    if not reconciliation.success:
        print("reconciliation run failed; see the Dagster run " + reconciliation.run_id)
    return EXIT_FAILED if failed or not synced else EXIT_OK


def _database_url() -> str:
    from catalog_pipeline.storage.database import default_database_url

    return os.environ.get(settings.DATABASE_URL) or default_database_url(os.environ.get("DAGSTER_HOME"))


def _summary_table(rows: list[dict]) -> str:
    header = f"{'provider':<24} {'status':<8} {'fetched':>7} {'inserted':>8} {'updated':>7} {'unchanged':>9} {'deact.':>6} {'rejected':>8}  error"
    lines = [header, "-" * len(header)]
    for row in rows:
        lines.append(
            f"{row['provider_slug']:<24} {row['status']:<8} {row['models_fetched']:>7} {row['models_inserted']:>8} "
            f"{row['models_updated'] - row['models_inserted'] - row['models_deactivated']:>7} {row['models_unchanged']:>9} "
            f"{row['models_deactivated']:>6} {row['models_rejected']:>8}  {(row['error_message'] or '')[:120]}"
        )
    return "\n".join(lines)


def command_status(args: argparse.Namespace) -> int:
    from catalog_pipeline.status import status_report

    _prepare_dagster_home()
    try:
        report, problem = status_report(_database_url(), live=args.live, environment=os.environ)
    except Exception as error:  # database unreachable or unreadable: say so, exit 2
        message = f"cannot read the catalog database: {type(error).__name__}: {error}"
        print(json.dumps({"status": "unknown", "error": message}) if args.json else message, file=sys.stdout)
        return EXIT_UNKNOWN
    if report is None:
        print(json.dumps({"status": "unknown", "error": problem}) if args.json else problem)
        return EXIT_UNKNOWN
    if args.json:
        print(json.dumps(report.as_json(), indent=2, default=str))
    else:
        from catalog_pipeline.status import format_report

        print(format_report(report))
    return EXIT_FAILED if report.status == "out_of_sync" else EXIT_OK


def command_replay_server(args: argparse.Namespace) -> int:
    from catalog_pipeline.replay.server import ReplayServer

    server = ReplayServer(port=args.port, scale=args.scale, verbose=args.verbose)
    total = sum(server.state.size_for(spec) for spec in PROVIDERS.values())
    print(
        f"replay server on {server.url} ({len(PROVIDERS)} providers, {total} models); "
        f"export CATALOG_REPLAY_URL={server.url}",
        flush=True,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return EXIT_OK


def command_db(args: argparse.Namespace) -> int:
    from catalog_pipeline.storage import database

    _prepare_dagster_home()
    engine = database.create_catalog_engine(_database_url())
    if args.db_command == "upgrade":
        database.upgrade(engine, args.revision)
    elif args.db_command == "downgrade":
        database.downgrade(engine, args.revision)
    print(f"catalog database at revision {database.current_revision(engine)} (head {database.head_revision()})")
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="catalog-pipeline", description="Keep a model catalog database in lockstep with providers' live catalogs."
    )
    commands = parser.add_subparsers(dest="command", required=True)

    sync = commands.add_parser("sync", help="sync providers through Dagster, then reconcile")
    sync.add_argument("--provider", action="append", metavar="SLUG", help="sync only this provider (repeatable)")
    sync.add_argument(
        "--allow-mass-deactivation", action="store_true", help="accept a live list that shrank beyond the guard"
    )
    sync.set_defaults(handler=command_sync)

    status = commands.add_parser("status", help="health report: live vs stored per provider")
    status.add_argument("--json", action="store_true", help="machine-readable output")
    status.add_argument(
        "--live", action="store_true", help="fetch fresh live counts instead of using the last reconciliation"
    )
    status.set_defaults(handler=command_status)

    replay = commands.add_parser("replay-server", help="serve generated demo catalogs on 127.0.0.1")
    replay.add_argument("--port", type=int, default=8765)
    replay.add_argument("--scale", type=float, default=1.0, help="multiply every provider's demo size")
    replay.add_argument("--verbose", action="store_true", help="log every request")
    replay.set_defaults(handler=command_replay_server)

    db = commands.add_parser("db", help="catalog database schema")
    db_commands = db.add_subparsers(dest="db_command", required=True)
    upgrade = db_commands.add_parser("upgrade", help="apply migrations")
    upgrade.add_argument("revision", nargs="?", default="head")
    downgrade = db_commands.add_parser("downgrade", help="revert migrations")
    downgrade.add_argument("revision")
    db_commands.add_parser("current", help="show the current revision")
    db.set_defaults(handler=command_db)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return args.handler(args)


if __name__ == "__main__":
    sys.exit(main())
