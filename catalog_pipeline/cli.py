"""The ``catalog-pipeline`` command: sync, status, serve, replay-server and db."""

from __future__ import annotations

import argparse
import gc
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from catalog_pipeline import settings
from catalog_pipeline.masking import mask_secrets, shorten
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, PROVIDERS
from catalog_pipeline.settings import ConfigurationError
from catalog_pipeline.storage.database import check_database

EXIT_OK, EXIT_FAILED, EXIT_UNKNOWN = 0, 1, 2


def _prepare_dagster_home() -> Path:
    """Use ``$DAGSTER_HOME``, or ``./.catalog/dagster_home`` (where `make demo` and `make dev` keep
    theirs) when it is not set, as an absolute path.

    Raises:
        ConfigurationError: the folder is a file, cannot be created or cannot be written.
    """
    from catalog_pipeline.storage.database import DEFAULT_DAGSTER_HOME

    raw = os.environ.get("DAGSTER_HOME", "").strip()
    home = (Path(raw).expanduser() if raw else Path(DEFAULT_DAGSTER_HOME)).resolve()
    if home.exists() and not home.is_dir():
        raise ConfigurationError(
            f"DAGSTER_HOME={home} is a file; it must be a folder (Dagster keeps runs and logs in it)"
        )
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError(f"DAGSTER_HOME={home} cannot be created: {error.strerror}") from None
    if not os.access(home, os.W_OK | os.X_OK):
        raise ConfigurationError(f"DAGSTER_HOME={home} is not writable")
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def _checked_configuration() -> str:
    """Check every variable and the catalog database before anything is fetched; returns the database URL.

    Raises:
        ConfigurationError: naming each unusable variable, or the database problem.
    """
    problems = settings.environment_problems(os.environ)
    if problems:
        raise ConfigurationError("\n  ".join(["cannot run with these settings:", *problems]))
    url = _database_url()
    check_database(url)
    return url


def _dagster_instance(home: Path):  # type: ignore[no-untyped-def]
    import dagster as dg

    try:
        return dg.DagsterInstance.get()
    except Exception as error:  # a broken dagster.yaml, storage Dagster cannot open
        cause = (str(error).strip().splitlines() or [""])[0]
        raise ConfigurationError(
            f"cannot open the Dagster instance in DAGSTER_HOME={home}: {type(error).__name__}: {mask_secrets(cause)}"
        ) from None


def _quiet_run_config(op_name: str | None = None, op_config: dict | None = None) -> dict:
    # The command prints its own progress and summary; a run failure the summary does not
    # explain is printed after it (`_unexplained_failures`). The run's log keeps everything.
    config: dict = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}
    if op_name is not None and op_config is not None:
        config["ops"] = {op_name: {"config": op_config}}
    return config


class _MaskingFormatter(logging.Formatter):
    """Every progress line through the masking rule, whatever put it together."""

    def format(self, record: logging.LogRecord) -> str:
        return mask_secrets(super().format(record))


def command_sync(args: argparse.Namespace) -> int:
    home = _prepare_dagster_home()
    # As the deployment runs: a run's planned and per-partition materialization events are stored in
    # batches (one transaction per batch on the local instance, not one per event); a value set wins.
    if not os.environ.get(settings.EVENT_BATCH_SIZE, "").strip():
        os.environ[settings.EVENT_BATCH_SIZE] = str(settings.DEFAULT_EVENT_BATCH_SIZE)
    named = list(dict.fromkeys(args.provider or []))
    unknown = [slug for slug in named if slug not in PROVIDERS]
    if unknown:
        raise ConfigurationError(f"unknown provider(s): {', '.join(unknown)}; known: {', '.join(PROVIDER_SLUGS)}")
    database_url = _checked_configuration()

    from catalog_pipeline.definitions import defs
    from catalog_pipeline.defs.partitions import contiguous_ranges
    from catalog_pipeline.storage.database import create_catalog_engine
    from catalog_pipeline.storage.queries import sync_log_for_runs

    slugs = named or list(PROVIDER_SLUGS)
    # All providers go in one run that skips unconfigured ones; named providers are
    # synced as asked (an unconfigured one fails), in as few runs as their order allows.
    ranges = contiguous_ranges(slugs) if named else [(PROVIDER_SLUGS[0], PROVIDER_SLUGS[-1])]
    op_config = {
        "skip_unconfigured": not named,
        "allow_mass_deactivation": args.allow_mass_deactivation,
        "accept_held_changes": args.accept_held_changes,
    }

    progress = logging.getLogger("catalog_pipeline.sync")
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(_MaskingFormatter("  %(message)s"))
    progress.addHandler(handler)
    progress.setLevel(logging.INFO)
    progress.propagate = False

    instance = _dagster_instance(home)
    sync_job = defs.resolve_job_def("catalog_sync_job")
    run_ids: list[str] = []
    results: list = []
    print(f"syncing {len(slugs) if named else 'all configured'} provider(s) in {len(ranges)} run(s)")
    for start, end in ranges:
        result = sync_job.execute_in_process(
            instance=instance,
            run_config=_quiet_run_config("sync_provider_catalogs", op_config),
            tags={"dagster/asset_partition_range_start": start, "dagster/asset_partition_range_end": end},
            raise_on_error=False,
        )
        run_ids.append(result.run_id)
        results.append(result)
    progress.removeHandler(handler)
    engine = create_catalog_engine(database_url)
    rows = sync_log_for_runs(engine, run_ids)
    # A provider that just used up its deadline is not waited for a second time.
    not_refetched = {
        row["provider_slug"]: f"not fetched again: deadline exceeded in sync run {row['dagster_run_id']}"
        for row in rows
        if row["status"] == "failed" and "deadline exceeded" in (row["error_message"] or "")
    }
    print("reconciling live counts with the database ...")
    if not_refetched:
        print(f"  not fetching again (deadline exceeded just now): {', '.join(sorted(not_refetched))}")
    reconciliation = defs.resolve_job_def("catalog_reconciliation_job").execute_in_process(
        instance=instance,
        run_config=_quiet_run_config("catalog_reconciliation", {"not_refetched": not_refetched}),
        raise_on_error=False,
    )
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
    held = [f"{row['provider_slug']} ({row['models_held']})" for row in rows if row.get("models_held")]
    if held:
        print(
            f"HELD for review (models keep their stored values): {', '.join(held)}; "
            "see the held_changes check on models, apply with --accept-held-changes"
        )
    for line in _unexplained_failures(instance, [*results, reconciliation], rows):
        print(line)
    return EXIT_FAILED if failed or not synced else EXIT_OK


def _unexplained_failures(instance, results: list, rows: list[dict]) -> list[str]:  # type: ignore[no-untyped-def]
    """A line for each failed run whose failure no provider's sync log row explains."""
    from catalog_pipeline.defs.sensors import _run_failure_reason

    explained = {row["dagster_run_id"] for row in rows if row["status"] in ("failed", "blocked")}
    lines = []
    for result in results:
        if result.success or result.run_id in explained:
            continue
        reason = shorten(mask_secrets(_run_failure_reason(instance, result.run_id)), 300)
        lines.append(f"run {result.run_id} of {result.job_def.name} failed: {reason}")
    return lines


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
            f"{row['models_deactivated']:>6} {row['models_rejected']:>8}  {shorten(mask_secrets(row['error_message'] or ''), 120)}"
        )
    return "\n".join(lines)


def command_status(args: argparse.Namespace) -> int:
    from catalog_pipeline.status import status_report

    _prepare_dagster_home()
    database_url = _checked_configuration()
    try:
        report, problem = status_report(database_url, live=args.live, environment=os.environ)
    except Exception as error:  # database unreachable or unreadable: say so, exit 2
        cause = (str(error).strip().splitlines() or [""])[0]
        message = mask_secrets(f"cannot read the catalog database: {type(error).__name__}: {cause}")
        print(json.dumps({"status": "unknown", "error": message}) if args.json else message, file=sys.stdout)
        return EXIT_UNKNOWN
    if report is None:
        print(json.dumps({"status": "unknown", "error": problem}) if args.json else problem)
        return EXIT_UNKNOWN
    if args.json:
        print(mask_secrets(json.dumps(report.as_json(), indent=2, default=str)))
    else:
        from catalog_pipeline.status import format_report

        print(mask_secrets(format_report(report)))
    return EXIT_FAILED if report.status == "out_of_sync" else EXIT_OK


def command_replay_server(args: argparse.Namespace) -> int:
    from catalog_pipeline.replay.server import ReplayServer

    try:
        server = ReplayServer(port=args.port, scale=args.scale, verbose=args.verbose, etags=not args.no_etags)
    except OSError as error:
        raise ConfigurationError(f"cannot listen on 127.0.0.1:{args.port}: {error.strerror}") from None
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


def command_serve(args: argparse.Namespace) -> int:
    import sqlalchemy as sa
    import uvicorn

    from catalog_pipeline.service.app import database_url_from_environment

    url = database_url_from_environment(os.environ)
    shown = sa.make_url(url).render_as_string(hide_password=True)
    print(f"catalog API on http://{args.host}:{args.port} (read-only, database {shown})", flush=True)
    uvicorn.run(
        "catalog_pipeline.service.app:create_app_from_environment",
        factory=True,
        host=args.host,
        port=args.port,
        workers=args.workers,
        access_log=not args.no_access_log,
        log_level="info",
    )
    return EXIT_OK


def command_db(args: argparse.Namespace) -> int:
    from alembic.util import CommandError

    from catalog_pipeline.storage import database

    _prepare_dagster_home()
    engine = database.create_catalog_engine(_checked_configuration())
    try:
        if args.db_command == "upgrade":
            database.upgrade(engine, args.revision)
        elif args.db_command == "downgrade":
            database.downgrade(engine, args.revision)
    except CommandError as error:
        raise ConfigurationError(f"db {args.db_command} {args.revision}: {error}") from None
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
    sync.add_argument(
        "--accept-held-changes",
        action="store_true",
        help="apply price and context-length changes beyond the limits instead of holding them for review",
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
    replay.add_argument(
        "--no-etags",
        action="store_true",
        help="send no ETag and never answer 304 (a provider without conditional requests)",
    )
    replay.set_defaults(handler=command_replay_server)

    serve = commands.add_parser("serve", help="the read-only catalog API over HTTP (see README: Catalog API)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8000)
    serve.add_argument("--workers", type=int, default=1, help="uvicorn worker processes")
    serve.add_argument("--no-access-log", action="store_true", help="do not log every request")
    serve.set_defaults(handler=command_serve)

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
    """Run a command; a setting or argument it cannot work with ends in one clear line and exit code 2."""
    args = build_parser().parse_args(argv)
    try:
        return args.handler(args)
    except ConfigurationError as error:
        message = mask_secrets(str(error))
        if getattr(args, "json", False):
            print(json.dumps({"status": "unknown", "error": message}))
        else:
            print(f"catalog-pipeline: {message}", file=sys.stderr)
        return EXIT_UNKNOWN


def run() -> None:
    """The `catalog-pipeline` console script: `main`, then the process exits.

    Its work is done and committed by then, so the exit skips the interpreter's last garbage
    collections: over the objects Dagster leaves behind they took 0.8-1 s of every command here, a
    third of a trivial run's process. Objects are still released, files flushed and atexit handlers
    run; only reference cycles are left to the end of the process."""
    code = main()
    gc.freeze()
    sys.exit(code)


if __name__ == "__main__":
    run()
