"""The fault suite, as a user meets it: the real `catalog-pipeline` command, canary keys for every
provider, the fault-injecting proxy in front of the replay server, SQLite and PostgreSQL.

A clean sync lands every provider; then a sync with a different fault on each of many
providers at once. Pinned: each failing provider fails alone with the right cause and keeps
its rows exactly, every other provider lands, the hanging ones cost one deadline (the
reconciliation does not wait for them again), and no piece of any configured secret reaches
the catalog database, the Dagster storage and compute logs under DAGSTER_HOME, or the output.
Then every bad input: one clear line, exit code 2, no traceback, nothing fetched.
"""

from __future__ import annotations

import contextlib
import gzip
import re
import secrets
import socket
import time
from pathlib import Path

import pytest
import sqlalchemy as sa

from catalog_pipeline.providers.registry import PROVIDER_SLUGS, PROVIDERS
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.fault_proxy import gzip_bomb
from catalog_pipeline_tests.helpers import sync_log
from catalog_pipeline_tests.storage_helpers import cli_environment, provider_tables, run_cli

pytestmark = pytest.mark.e2e

DEADLINE_SECONDS = 3
#: (slug, how it breaks, what its sync log must say, a regular expression). Proxy faults are injected on the proxy,
#: list faults on the replay server behind it.
STORM = [
    ("anthropic", ("proxy", "redirect_elsewhere", {}), "redirected to another origin"),
    ("groq", ("proxy", "echo_credentials", {}), r"HTTP 401 \(invalid credentials"),
    ("openai", ("proxy", "gzip_bomb", {"megabytes": 600}), "response exceeds 16 MiB"),
    ("fireworks", ("proxy", "huge_body", {"megabytes": 40}), "response exceeds 16 MiB"),
    ("openrouter", ("proxy", "hang", {}), "deadline exceeded"),
    ("cloudflare-workers-ai", ("proxy", "trickle", {}), "deadline exceeded"),
    ("chutes", ("proxy", "status", {"status": 429, "retry_after": "1"}), "deadline exceeded"),
    ("novita", ("proxy", "reset", {}), r"Connection reset|disconnected"),
    (
        "fal",
        ("proxy", "truncate", {}),
        r"RemoteProtocolError: peer closed connection without sending complete message body",
    ),
    ("anannas", ("proxy", "status", {"status": 503}), "HTTP 503"),
    ("helicone", ("proxy", "status", {"status": 403}), "HTTP 403"),
    ("huggingface", ("replay", "size", 0), "would deactivate"),
    ("featherless", ("replay", "size", 3), "would deactivate"),
]
#: Breaks nothing: a same-origin redirect is followed.
REDIRECTED_BUT_FINE = "aihubmix"


def canary_secrets() -> dict[str, str]:
    """A random value for every provider key and the other secrets the pipeline knows of."""
    values = {spec.key_env: "ck" + secrets.token_hex(16) for spec in PROVIDERS.values()}
    values["RESEND_API_KEY"] = "ck" + secrets.token_hex(16)
    values["DAGSTER_PG_PASSWORD"] = "ck" + secrets.token_hex(16)
    return values


def with_password(database_url: str, password: str) -> str:
    """The URL with a password (the test server trusts every local connection, so it is only a canary)."""
    url = sa.make_url(database_url)
    return (
        url.set(password=password).render_as_string(hide_password=False)
        if url.get_backend_name() == "postgresql"
        else database_url
    )


def pieces(values: list[str]) -> list[bytes]:
    """What to search for: a secret's first 8 characters are in every piece of it the masking rule must catch."""
    return [value[:8].encode() for value in values if value]


def database_text(database_url: str) -> bytes:
    """Every value in every table of the catalog database, compressed snapshots unpacked."""
    engine = sa.create_engine(database_url)
    metadata = sa.MetaData()
    metadata.reflect(engine)
    out: list[bytes] = []
    with engine.connect() as connection:
        for table in metadata.sorted_tables:
            for row in connection.execute(sa.select(table)):
                for value in row:
                    if isinstance(value, bytes | memoryview):
                        raw = bytes(value)
                        with contextlib.suppress(OSError):  # not every byte column is gzip
                            raw = gzip.decompress(raw)
                        out.append(raw)
                    elif value is not None:
                        out.append(str(value).encode())
    engine.dispose()
    return b"\n".join(out)


def dagster_files(dagster_home: Path) -> dict[Path, bytes]:
    """Every file Dagster wrote: run and event storage, schedules, compute logs."""
    return {path: path.read_bytes() for path in dagster_home.rglob("*") if path.is_file()}


def assert_no_secret_anywhere(values: list[str], database_url: str, dagster_home: Path, outputs: list[str]) -> None:
    needles = pieces(values)
    stored = database_text(database_url)
    for needle in needles:
        assert needle not in stored, f"a piece of a secret is stored in the catalog database: {needle!r}"
    files = dagster_files(dagster_home)
    assert any(path.suffix == ".db" for path in files), "no Dagster storage found to search"
    for path, content in files.items():
        for needle in needles:
            assert needle not in content, f"a piece of a secret is in {path.relative_to(dagster_home)}"
    for output in outputs:
        for needle in needles:
            assert needle.decode() not in output, "a piece of a secret reached the command's output"


def inject_storm(replay_server, fault_proxy) -> None:  # noqa: ANN001 - fixtures
    gzip_bomb(600)  # packed once, before the clock runs: packing 600 MiB takes seconds
    for slug, (where, kind, options), _cause in STORM:
        if where == "proxy":
            fault_proxy.inject(slug, kind, **options)
        else:
            inject_fault(replay_server, slug, **{kind: options})
    fault_proxy.inject(REDIRECTED_BUT_FINE, "redirect_same_origin")


def test_a_storm_of_faults_fails_each_broken_provider_alone_and_leaks_no_secret(
    tmp_path, replay_server, fault_proxy, database_url
):
    canaries = canary_secrets()
    database_password = "ck" + secrets.token_hex(16)
    url = with_password(database_url, database_password)
    dagster_home = tmp_path / "dagster_home"
    environment = cli_environment(
        dagster_home,
        url,
        fault_proxy.url,
        **canaries,
        CATALOG_PROVIDER_DEADLINE_S=str(DEADLINE_SECONDS),
        CATALOG_MAX_RESPONSE_MB="16",
    )

    clean = run_cli(["sync"], environment)
    assert clean.returncode == 0, clean.stdout[-3000:] + clean.stderr[-3000:]
    before = {slug: provider_tables(url, slug) for slug, *_ in STORM}
    assert all(tables["models"] for tables in before.values())
    first_log = len(sync_log(url))

    inject_storm(replay_server, fault_proxy)
    fault_proxy.seen.clear()
    started = time.monotonic()
    storm = run_cli(["sync"], environment)
    elapsed = time.monotonic() - started
    output = storm.stdout + storm.stderr
    assert storm.returncode == 1, output[-4000:]
    assert "Traceback" not in output

    rows = {row["provider_slug"]: row for row in sync_log(url)[first_log:]}
    broken = {slug for slug, *_ in STORM}
    for slug, _fault, cause in STORM:
        assert rows[slug]["status"] in ("failed", "blocked"), slug
        assert re.search(cause, rows[slug]["error_message"]), (slug, rows[slug]["error_message"])
        assert provider_tables(url, slug) == before[slug], f"{slug}'s rows changed"
    for slug in PROVIDER_SLUGS:
        if slug not in broken:
            assert rows[slug]["status"] == "success", (slug, rows[slug]["error_message"])
    assert rows[REDIRECTED_BUT_FINE]["status"] == "success"
    named = re.search(r"^FAILED: (.*) \(see error_message", storm.stdout, re.M)
    assert named, storm.stdout[-3000:]
    assert named.group(1).split(", ") == sorted(broken)

    # One deadline, not one per attempt, and the reconciliation does not wait for the hanging ones again.
    assert len(fault_proxy.seen["openrouter"]) == 1
    announced = re.search(r"not fetching again \(deadline exceeded just now\): (.*)", storm.stdout)
    assert announced, storm.stdout
    deadline_failures = {slug for slug, row in rows.items() if "deadline exceeded" in (row["error_message"] or "")}
    assert {"openrouter", "cloudflare-workers-ai", "chutes"} <= deadline_failures
    assert set(announced.group(1).split(", ")) == deadline_failures
    assert elapsed < DEADLINE_SECONDS + 60, f"the sync took {elapsed:.0f} s"
    assert fault_proxy.elsewhere.requests == []

    assert_no_secret_anywhere(
        [*canaries.values(), database_password],
        url,
        dagster_home,
        [clean.stdout, clean.stderr, storm.stdout, storm.stderr],
    )


def test_a_sync_with_one_hanging_provider_finishes_within_its_deadline_plus_a_few_seconds(
    tmp_path, replay_server, fault_proxy, sqlite_url
):
    """The rest land; the sync and the reconciliation after it cost one deadline, measured against a clean sync."""
    deadline = 12
    environment = cli_environment(
        tmp_path / "dagster_home", sqlite_url, fault_proxy.url, CATALOG_PROVIDER_DEADLINE_S=str(deadline)
    )
    started = time.monotonic()
    clean = run_cli(["sync"], environment)
    clean_seconds = time.monotonic() - started
    assert clean.returncode == 0, clean.stdout[-3000:]

    fault_proxy.inject("openrouter", "hang")
    fault_proxy.seen.clear()
    started = time.monotonic()
    result = run_cli(["sync"], environment)
    hanging_seconds = time.monotonic() - started
    assert result.returncode == 1
    assert "FAILED: openrouter" in result.stdout
    assert "deadline exceeded" in result.stdout
    assert f"all {len(PROVIDER_SLUGS)} requested" not in result.stdout
    assert len(fault_proxy.seen["openrouter"]) == 1  # one request, one deadline: not again for the reconciliation
    assert hanging_seconds < clean_seconds + deadline + 8, (clean_seconds, hanging_seconds)


# --- bad input ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PASSWORD = "ck" + secrets.token_hex(12)


def bad_inputs(tmp_path: Path) -> dict[str, tuple[list[str], dict[str, str], str]]:
    """Case -> (arguments, variables, what the one line must say)."""
    a_file = tmp_path / "a-file"
    a_file.write_text("not a folder")
    broken_home = tmp_path / "broken-home"
    broken_home.mkdir()
    (broken_home / "dagster.yaml").write_text("run_storage:\n  module: no.such.module\n  class: Nope\n")
    return {
        "malformed database URL": (
            ["sync"],
            {"CATALOG_DATABASE_URL": f"postgresql+psycopg://catalog:{PASSWORD}@db:notaport/catalog"},
            "CATALOG_DATABASE_URL is not a database URL",
        ),
        "unreachable PostgreSQL": (
            ["sync"],
            {"CATALOG_DATABASE_URL": f"postgresql+psycopg://catalog:{PASSWORD}@127.0.0.1:{free_port()}/catalog"},
            "catalog database unreachable at postgresql+psycopg://catalog:***@127.0.0.1:",
        ),
        "unsupported database": (["sync"], {"CATALOG_DATABASE_URL": "mysql://u@h/d"}, "SQLite or PostgreSQL"),
        "SQLite folder cannot be created": (
            ["sync"],
            {"CATALOG_DATABASE_URL": f"sqlite:///{a_file}/catalog/catalog.db"},
            "the folder of the SQLite catalog",
        ),
        "DAGSTER_HOME is a file": (["sync"], {"DAGSTER_HOME": str(a_file)}, "is a file; it must be a folder"),
        "DAGSTER_HOME cannot be created": (["sync"], {"DAGSTER_HOME": str(a_file / "home")}, "cannot be created"),
        "DAGSTER_HOME with a broken dagster.yaml": (
            ["sync"],
            {"DAGSTER_HOME": str(broken_home)},
            "cannot open the Dagster instance",
        ),
        "invalid CATALOG_REPLAY_URL": (
            ["sync"],
            {"CATALOG_REPLAY_URL": "localhost:8765"},
            "CATALOG_REPLAY_URL must be an http:// or https:// URL",
        ),
        "unknown provider": (["sync", "--provider", "groq", "--provider", "nope"], {}, "unknown provider(s): nope"),
        "interval not a number": (
            ["sync"],
            {"PRICING_SYNC_INTERVAL_HOURS": "abc"},
            "PRICING_SYNC_INTERVAL_HOURS must be a whole number, got 'abc'",
        ),
        "interval not dividing a day": (["sync"], {"PRICING_SYNC_INTERVAL_HOURS": "5"}, "must divide a day"),
        "negative threshold": (
            ["sync"],
            {"CATALOG_PARITY_WARN_THRESHOLD": "-1"},
            "CATALOG_PARITY_WARN_THRESHOLD must be at least 0",
        ),
        "zero deadline": (
            ["sync"],
            {"CATALOG_PROVIDER_DEADLINE_S": "0"},
            "CATALOG_PROVIDER_DEADLINE_S must be at least 1",
        ),
        "no concurrent writes": (
            ["sync"],
            {"CATALOG_CONCURRENT_WRITES": "0"},
            "CATALOG_CONCURRENT_WRITES must be at least 1",
        ),
        "response limit not a number": (
            ["sync"],
            {"CATALOG_MAX_RESPONSE_MB": "lots"},
            "CATALOG_MAX_RESPONSE_MB must be a whole number",
        ),
        "price factor below one": (
            ["sync"],
            {"CATALOG_MAX_PRICE_CHANGE_FACTOR": "-2"},
            "CATALOG_MAX_PRICE_CHANGE_FACTOR must be a number above 1",
        ),
        "status with an unreachable database": (
            ["status"],
            {"CATALOG_DATABASE_URL": f"postgresql+psycopg://catalog:{PASSWORD}@127.0.0.1:{free_port()}/catalog"},
            "catalog database unreachable",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "malformed database URL",
        "unreachable PostgreSQL",
        "unsupported database",
        "SQLite folder cannot be created",
        "DAGSTER_HOME is a file",
        "DAGSTER_HOME cannot be created",
        "DAGSTER_HOME with a broken dagster.yaml",
        "invalid CATALOG_REPLAY_URL",
        "unknown provider",
        "interval not a number",
        "interval not dividing a day",
        "negative threshold",
        "zero deadline",
        "response limit not a number",
        "price factor below one",
        "status with an unreachable database",
    ],
)
def test_every_bad_input_gets_one_clear_line_and_exit_code_2(tmp_path, fault_proxy, sqlite_url, case):
    """Checked before any provider is fetched: the proxy sees no request; the password never shows."""
    arguments, variables, expected = bad_inputs(tmp_path)[case]
    environment = cli_environment(tmp_path / "dagster_home", sqlite_url, fault_proxy.url)
    environment.update(variables)
    result = run_cli(arguments, environment, timeout=120)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output[-3000:]
    assert expected in output, output[-3000:]
    assert "Traceback" not in output
    assert PASSWORD[:8] not in output
    assert not fault_proxy.seen, f"fetched before the input was checked: {sorted(fault_proxy.seen)}"


def test_a_sqlite_catalog_in_a_missing_folder_gets_the_folder(tmp_path, fault_proxy):
    database = tmp_path / "not" / "yet" / "there" / "catalog.db"
    environment = cli_environment(tmp_path / "dagster_home", f"sqlite:///{database}", fault_proxy.url)
    result = run_cli(["sync", "--provider", "groq"], environment)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert database.is_file()
