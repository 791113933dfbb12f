"""An unchanged catalog costs almost nothing: conditional requests, the payload digest, snapshot history
and the bound on providers held in memory (issue 11)."""

from __future__ import annotations

import json
import threading
import time

import dagster as dg
import httpx
import pytest
import sqlalchemy as sa

from catalog_pipeline import sync as sync_module
from catalog_pipeline.defs.assets import MODELS, PROVIDER_CATALOG, UNEXPLAINED_GAP_CHECK
from catalog_pipeline.http_engine import CatalogHttpEngine, FetchResult, PageValidator, PreviousFetch
from catalog_pipeline.providers import normalize
from catalog_pipeline.providers.registry import PROVIDER_SLUGS, get_provider
from catalog_pipeline.replay.server import expected_live_count
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.database import create_catalog_engine
from catalog_pipeline.storage.writer import CatalogWriter, SnapshotToStore
from catalog_pipeline.sync import SyncOptions, sync_providers
from catalog_pipeline_tests.conftest import inject_fault
from catalog_pipeline_tests.helpers import materializations, reconcile, sync, sync_log
from catalog_pipeline_tests.storage_helpers import provider_tables


def _refuse_to_normalize(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(spec, entry):  # noqa: ANN001, ANN202
        raise AssertionError(f"{spec.slug}: an unchanged list was normalized")

    monkeypatch.setattr(normalize, "normalize_entry", refuse)


def _snapshots(database_url: str, slug: str) -> list[dict]:
    table = schema.provider_catalog_snapshots
    engine = create_catalog_engine(database_url)
    try:
        with engine.connect() as connection:
            return [
                dict(row)
                for row in connection.execute(
                    sa.select(table.c.id, table.c.applied, table.c.payload_sha256, table.c.live_count)
                    .join(schema.providers, schema.providers.c.id == table.c.provider_id)
                    .where(schema.providers.c.slug == slug)
                    .order_by(table.c.id)
                ).mappings()
            ]
    finally:
        engine.dispose()


@pytest.mark.parametrize("etags", [True, False], ids=["etag-304", "payload-digest"])
def test_an_unchanged_catalog_is_neither_normalized_nor_written_and_keeps_its_gap_accounting(
    replay_server, database_url, monkeypatch, etags
):
    """Second sync of an identical list (with ETags: every page 304; without: the same digest) normalizes
    nothing, writes no model row, stores no new snapshot, logs the stored counts (rejections included) as
    unchanged, and the reconciliation still proves live = stored + rejected with no gap."""
    slug = "featherless"  # paged (page_size 1000): three pages at size 2500
    inject_fault(replay_server, slug, size=2500, duplicates=3, etag=etags)
    first = sync(database_url, replay_server.url, [slug])
    assert first.success
    before = provider_tables(database_url, slug)
    assert len(before["models"]) == 2500
    snapshots_before = _snapshots(database_url, slug)
    assert [s["applied"] for s in snapshots_before] == [True]

    _refuse_to_normalize(monkeypatch)
    instance = dg.DagsterInstance.ephemeral()
    second = sync(database_url, replay_server.url, [slug], instance=instance)
    assert second.success
    assert provider_tables(database_url, slug) == before
    assert _snapshots(database_url, slug) == snapshots_before
    log = sync_log(database_url)[-1]
    assert log["status"] == "success"
    assert log["catalog_change"] == ("not_modified" if etags else "same_payload")
    assert (log["models_fetched"], log["models_unchanged"], log["models_rejected"], log["models_updated"]) == (
        2503,
        2500,
        3,
        0,
    )
    catalog = materializations(instance, PROVIDER_CATALOG, second.run_id)[slug]
    assert catalog["catalog_unchanged"] is True and catalog["live_count"] == 2503
    models = materializations(instance, MODELS, second.run_id)[slug]
    assert models["catalog_unchanged"] is True and models["rejection_reasons"] == {"duplicate_id": 3}

    result = reconcile(database_url, replay_server.url)
    gap = next(c for c in result.get_asset_check_evaluations() if c.check_name == UNEXPLAINED_GAP_CHECK)
    assert gap.passed, gap.metadata
    engine = create_catalog_engine(database_url)
    with engine.connect() as connection:
        row = connection.execute(
            sa.select(schema.reconciliation_history)
            .where(schema.reconciliation_history.c.provider_slug == slug)
            .order_by(schema.reconciliation_history.c.id.desc())
        ).first()
    engine.dispose()
    assert (row.live_models, row.db_active_models, row.rejected_models, row.missing) == (2503, 2500, 3, 0)


def test_a_list_that_changed_is_written_and_stored_as_a_new_snapshot(replay_server, sqlite_url):
    """The digest decides nothing on its own when the list changed: new prices are written, a second
    snapshot is stored and applied, and the sync log says changed."""
    slug = "groq"
    assert sync(sqlite_url, replay_server.url, [slug]).success
    inject_fault(replay_server, slug, price_multiplier="2")
    assert sync(sqlite_url, replay_server.url, [slug]).success
    log = sync_log(sqlite_url)[-1]
    assert log["catalog_change"] == "changed" and log["price_changes"] > 0
    snapshots = _snapshots(sqlite_url, slug)
    assert [s["applied"] for s in snapshots] == [True, True]
    assert snapshots[0]["payload_sha256"] != snapshots[1]["payload_sha256"]


def test_the_run_log_names_every_unchanged_provider_in_one_line_and_each_changed_one_in_its_own(
    replay_server, sqlite_url
):
    """In the UI's run log: a provider whose list changed gets its own line as it finishes; the
    unchanged ones (every one of them, with its listed count) share one line, so an unchanged
    sync of 32 providers stores one log event instead of 32."""
    slugs = ["cerebras", "nebius", "xai"]
    instance = dg.DagsterInstance.ephemeral()
    assert sync(sqlite_url, replay_server.url, slugs, instance=instance).success
    inject_fault(replay_server, "nebius", size=expected_live_count("nebius") + 2)
    second = sync(sqlite_url, replay_server.url, slugs, instance=instance)
    assert second.success

    lines = [entry.user_message for entry in instance.all_logs(second.run_id) if entry.dagster_event is None]
    provider_lines = [line for line in lines if line.split(" ", 1)[0] in slugs]
    assert [line.split()[:2] for line in provider_lines] == [["nebius", "ok"]]
    [folded] = [line for line in lines if "unchanged since their last sync" in line]
    assert folded.startswith("2 provider(s) unchanged")
    assert folded.endswith(f"cerebras {expected_live_count('cerebras')}, xai {expected_live_count('xai')}")


def test_a_provider_whose_stored_rows_were_changed_behind_the_pipelines_back_is_a_gap(replay_server, sqlite_url):
    """An unchanged list is compared with the stored ids by digest: an id deactivated by hand since the
    last write is still found (missing 1), so skipping the normalization cannot hide a gap."""
    slug = "groq"
    assert sync(sqlite_url, replay_server.url, [slug]).success
    engine = create_catalog_engine(sqlite_url)
    with engine.begin() as connection:
        victim = connection.execute(sa.select(sa.func.min(schema.models.c.id))).scalar_one()
        connection.execute(schema.models.update().where(schema.models.c.id == victim).values(is_active=False))
    engine.dispose()
    result = reconcile(sqlite_url, replay_server.url)
    gap = next(c for c in result.get_asset_check_evaluations() if c.check_name == UNEXPLAINED_GAP_CHECK)
    assert not gap.passed


def test_every_page_answering_304_is_not_modified_and_sends_no_body(replay_server):
    """The engine sends each page's stored ETag; when every page answers 304 the result is
    not_modified, carries no pages, and the server counted one 304 per page."""
    spec = get_provider("featherless")
    inject_fault(replay_server, spec.slug, size=2500)
    engine = CatalogHttpEngine({}, replay_url=replay_server.url)
    try:
        first = engine.fetch_pages(spec)
        assert (first.pages, first.count, first.not_modified) == (3, 2500, False)
        assert all(v.etag for v in first.validators)
        assert [v.cursor for v in first.validators] == ["1", "2", "3"]
        previous = PreviousFetch(first.endpoint, first.validators, first.payload_sha256)
        first.close()
        answered_304 = httpx.get(f"{replay_server.url}/_not_modified").json().get(spec.slug, 0)
        again = engine.fetch_pages(spec, previous)
        assert again.not_modified and again.same_as_previous and again.store is None
        assert again.pages == 3 and again.payload_sha256 == previous.payload_sha256
        assert httpx.get(f"{replay_server.url}/_not_modified").json().get(spec.slug) == answered_304 + 3

        inject_fault(replay_server, spec.slug, size=2600)  # featherless lists no prices: grow it instead
        changed = engine.fetch_pages(spec, previous)
        assert not changed.not_modified and not changed.same_as_previous
        assert sum(len(page) for page in changed.entry_pages(spec)) == 2600
        changed.close()
    finally:
        engine.close()


def test_a_page_that_changed_after_pages_that_did_not_starts_the_fetch_over():
    """Pages 1 and 2 answer 304, page 3 changed: the bodies of 1 and 2 were never sent, so the engine asks
    for all three again, unconditionally, and the result holds every entry of the new list."""
    spec = get_provider("cohere")  # PAGE_TOKEN paging: the next token comes from the body
    pages = {
        None: {"models": [{"name": "a"}], "next_page_token": "t2"},
        "t2": {"models": [{"name": "b"}], "next_page_token": "t3"},
        "t3": {"models": [{"name": "c2"}]},
    }
    etags = {None: '"1"', "t2": '"2"', "t3": '"3-new"'}
    seen: list[tuple[str | None, str | None]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get(spec.pagination.page_param)
        condition = request.headers.get("If-None-Match")
        seen.append((token, condition))
        if condition is not None and condition == etags[token]:
            return httpx.Response(304, headers={"ETag": etags[token]})
        return httpx.Response(200, json=pages[token], headers={"ETag": etags[token]})

    client = httpx.Client(transport=httpx.MockTransport(handler))
    engine = CatalogHttpEngine({"COHERE_API_KEY": "k"}, client=client)
    previous = PreviousFetch(
        "primary",
        (PageValidator(None, '"1"'), PageValidator("t2", '"2"'), PageValidator("t3", '"3-old"')),
        "an-older-digest",
    )
    fetched = engine.fetch_pages(spec, previous)
    try:
        assert [token for token, _ in seen] == [None, "t2", "t3", None, "t2", "t3"]
        assert [condition for _, condition in seen[3:]] == [None, None, None]
        assert not fetched.not_modified and not fetched.same_as_previous
        assert [entry["name"] for page in fetched.entry_pages(spec) for entry in page] == ["a", "b", "c2"]
    finally:
        fetched.close()
        engine.close()


def _fetched(entries: list[dict]) -> FetchResult:
    return FetchResult("groq", "https://api.groq.com/openai/v1/models", entries, 1, 10, 1.0, 200, 1)


def test_snapshot_history_is_bounded_by_the_retention_and_keeps_the_applied_one(database_url):
    """With a retention of 2, four changed lists leave the newest two; lists stored without being applied
    (a blocked write) push the old ones out, but never the snapshot the stored models came from."""
    spec = get_provider("groq")
    engine = create_catalog_engine(database_url)
    writer = CatalogWriter(engine, snapshot_retention=2)
    for version in range(4):
        entries = [{"id": f"model-{i}", "version": version} for i in range(3)]
        catalog = normalize.normalize_catalog(spec, entries)
        writer.write_provider(spec, _fetched(entries), catalog, snapshot=SnapshotToStore(_fetched(entries)))
    kept = _snapshots(database_url, "groq")
    assert len(kept) == 2 and all(s["applied"] for s in kept)
    applied = kept[-1]["id"]
    for version in range(3):
        writer.store_snapshot(spec, _fetched([{"id": "x", "blocked": version}]))
    kept = _snapshots(database_url, "groq")
    assert [s["applied"] for s in kept] == [True, False, False]
    assert kept[0]["id"] == applied
    assert writer.latest_snapshot(spec).id == applied
    engine.dispose()


def test_the_retention_is_bound_from_the_environment(monkeypatch):
    """CATALOG_SNAPSHOT_RETENTION reaches the catalog_database resource as an EnvVar, resolved at run time."""
    from catalog_pipeline.definitions import build_resources

    monkeypatch.setenv("CATALOG_SNAPSHOT_RETENTION", "3")
    retention = build_resources()["catalog_database"].snapshot_retention
    assert getattr(retention, "env_var_name", None) == "CATALOG_SNAPSHOT_RETENTION"  # an EnvVar.int, not a value


def test_concurrent_writes_are_bound_from_the_environment(monkeypatch):
    """CATALOG_CONCURRENT_WRITES reaches the catalog_database resource as an EnvVar; unset, it is 2."""
    from catalog_pipeline.definitions import build_resources

    monkeypatch.delenv("CATALOG_CONCURRENT_WRITES", raising=False)
    assert build_resources()["catalog_database"].concurrent_writes == 2
    monkeypatch.setenv("CATALOG_CONCURRENT_WRITES", "3")
    writes = build_resources()["catalog_database"].concurrent_writes
    assert getattr(writes, "env_var_name", None) == "CATALOG_CONCURRENT_WRITES"


def test_a_sync_holds_at_most_max_providers_in_flight(replay_server, sqlite_url, monkeypatch):
    """Fetches wait for a slot: never more than `max_providers_in_flight` providers fetched (or being
    fetched) and not yet written, however many fetch threads there are; and the slots are used."""
    lock = threading.Lock()
    state = {"in_flight": 0, "most": 0}
    real_fetch = CatalogHttpEngine.fetch_pages
    real_write = CatalogWriter.write_provider

    def fetch_pages(self, spec, previous=None):  # noqa: ANN001, ANN202
        with lock:
            state["in_flight"] += 1
            state["most"] = max(state["most"], state["in_flight"])
        time.sleep(0.05)  # slow enough that the fetch threads would overlap without the bound
        return real_fetch(self, spec, previous)

    def write_provider(self, *args, **kwargs):  # noqa: ANN001, ANN202 - the provider's last step (with its log)
        try:
            return real_write(self, *args, **kwargs)
        finally:
            with lock:
                state["in_flight"] -= 1

    monkeypatch.setattr(CatalogHttpEngine, "fetch_pages", fetch_pages)
    monkeypatch.setattr(CatalogWriter, "write_provider", write_provider)
    slugs = ["openrouter", "featherless", "deepinfra", "groq", "fireworks", "together", "cerebras", "nebius"]
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    http = CatalogHttpEngine({}, replay_url=replay_server.url)
    try:
        options = SyncOptions(max_workers=8, max_providers_in_flight=2)
        outcomes = list(sync_providers(slugs, http, writer, options))
    finally:
        http.close()
        engine.dispose()
    assert {o.status for o in outcomes} == {"success"}
    assert sum(o.counts.fetched for o in outcomes) == sum(expected_live_count(s) for s in slugs)
    assert state["most"] == 2, state


def _recording_writes(monkeypatch: pytest.MonkeyPatch, before_write=None) -> list[tuple[str, float]]:  # noqa: ANN001
    """Hooks the writer: each provider's write start (slug, monotonic time), in order."""
    started: list[tuple[str, float]] = []
    real_write = CatalogWriter.write_provider

    def write_provider(self, spec, *args, **kwargs):  # noqa: ANN001, ANN202
        started.append((spec.slug, time.monotonic()))
        if before_write is not None:
            before_write(spec.slug)
        return real_write(self, spec, *args, **kwargs)

    monkeypatch.setattr(CatalogWriter, "write_provider", write_provider)
    return started


def test_fetched_providers_are_written_while_the_consumer_of_the_outcomes_is_busy(
    replay_server, sqlite_url, monkeypatch
):
    """The asset stores a log event per outcome (a database round trip each): meanwhile the other fetched
    providers are written, rather than when the consumer next asks for an outcome."""
    started = _recording_writes(monkeypatch)
    slugs = ["groq", "cerebras", "xai", "anthropic"]
    engine = create_catalog_engine(sqlite_url)
    http = CatalogHttpEngine({}, replay_url=replay_server.url)
    try:
        outcomes = sync_providers(slugs, http, CatalogWriter(engine), SyncOptions())
        first = next(outcomes)
        busy_until = time.monotonic() + 1.5
        time.sleep(1.5)  # the consumer is busy: it does not ask for the next outcome before this
        rest = list(outcomes)
    finally:
        http.close()
        engine.dispose()
    assert sorted(o.provider for o in [first, *rest]) == sorted(slugs)
    assert {o.status for o in [first, *rest]} == {"success"}
    assert len(started) == len(slugs)
    late = [slug for slug, at in started if at >= busy_until]
    assert not late, f"written only after the consumer asked again: {late}"


@pytest.mark.timeout(60)
def test_an_error_outside_a_providers_own_failure_stops_the_sync_instead_of_hanging_it(
    replay_server, sqlite_url, monkeypatch
):
    """A provider's failures come back as its outcome; anything the fetch step did not foresee (here raised
    before any provider code runs) ends the sync with that error, as it would in a single thread."""
    real_obtain = sync_module._obtain

    def obtain(spec, *args):  # noqa: ANN001, ANN202
        if spec.slug == "cerebras":
            raise RuntimeError("the fetch step broke")
        return real_obtain(spec, *args)

    monkeypatch.setattr(sync_module, "_obtain", obtain)
    engine = create_catalog_engine(sqlite_url)
    http = CatalogHttpEngine({}, replay_url=replay_server.url)
    try:
        with pytest.raises(RuntimeError, match="the fetch step broke"):
            list(sync_providers(["groq", "cerebras", "xai"], http, CatalogWriter(engine), SyncOptions()))
    finally:
        http.close()
        engine.dispose()


@pytest.mark.timeout(120)
def test_writes_that_end_at_once_neither_lose_an_outcome_nor_lock_up_the_sync(sqlite_url):
    """Writes that take no time at all (here of the providers that need a key, outside replay mode and with no
    key set: each is skipped before its fetch) race the code that hands out the write lanes; 20 syncs of them
    must each end with one outcome per provider. A lane freed by a callback on the write's future once deadlocked here (in CI
    it held a test for its whole 300 s timeout)."""
    http = CatalogHttpEngine({})  # no replay URL and no keys
    slugs = [slug for slug in PROVIDER_SLUGS if http.missing_variables(get_provider(slug))]  # never fetched
    assert len(slugs) >= 10
    engine = create_catalog_engine(sqlite_url)
    try:
        for _ in range(20):
            outcomes = list(sync_providers(slugs, http, CatalogWriter(engine), SyncOptions(skip_unconfigured=True)))
            assert sorted(o.provider for o in outcomes) == sorted(slugs)
            assert {o.status for o in outcomes} == {"skipped"}
    finally:
        http.close()
        engine.dispose()


def test_of_the_providers_waiting_for_a_write_the_largest_list_goes_first(replay_server, sqlite_url, monkeypatch):
    """SQLite has one write lane. The first provider fetched holds it until every other fetch has returned;
    then the waiting ones are written largest first (by the replay catalogs' sizes), not in fetch order."""
    slugs = ["anthropic", "cerebras", "groq", "together"]
    fetched: list[str] = []
    real_fetch = CatalogHttpEngine.fetch_pages

    def fetch_pages(self, spec, previous=None):  # noqa: ANN001, ANN202
        try:
            return real_fetch(self, spec, previous)
        finally:
            fetched.append(spec.slug)

    def hold_the_first_write(slug: str) -> None:
        if len(started) == 1:
            deadline = time.monotonic() + 30
            while len(fetched) < len(slugs) and time.monotonic() < deadline:
                time.sleep(0.01)
            time.sleep(0.2)  # the last fetch's result reaches the queue

    monkeypatch.setattr(CatalogHttpEngine, "fetch_pages", fetch_pages)
    started = _recording_writes(monkeypatch, hold_the_first_write)
    engine = create_catalog_engine(sqlite_url)
    http = CatalogHttpEngine({}, replay_url=replay_server.url)
    try:
        outcomes = list(sync_providers(slugs, http, CatalogWriter(engine), SyncOptions(concurrent_writes=1)))
    finally:
        http.close()
        engine.dispose()
    assert {o.status for o in outcomes} == {"success"}
    order = [slug for slug, _ in started]
    assert len(order) == len(slugs) and len(fetched) == len(slugs)
    assert order[1:] == sorted(order[1:], key=expected_live_count, reverse=True), order


def test_a_provider_answered_304_frees_its_slot_before_it_is_written(replay_server, sqlite_url, monkeypatch):
    """A provider whose every page answered 304 holds nothing, so it does not keep the next fetch waiting:
    with one in-flight slot, every provider's conditional requests are made while the first provider's
    confirmation is still held up (SQLite: the one writer is waiting). A provider whose list changed keeps
    its slot until it is written (the test above)."""
    slugs = ["groq", "fireworks", "together", "cerebras", "nebius", "xai"]
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    http = CatalogHttpEngine({}, replay_url=replay_server.url)
    lock, fetched, waited = threading.Lock(), [], []
    others_fetched = threading.Event()
    real_fetch, real_confirm = CatalogHttpEngine.fetch_pages, CatalogWriter.confirm_unchanged

    def fetch_pages(self, spec, previous=None):  # noqa: ANN001, ANN202
        result = real_fetch(self, spec, previous)
        with lock:
            fetched.append(spec.slug)
            if len(fetched) == len(slugs):
                others_fetched.set()
        return result

    def confirm_unchanged(self, spec, *args, **kwargs):  # noqa: ANN001, ANN202
        if spec.slug == slugs[0]:
            # held up (a slow server, a lock): without the early release no other fetch can start meanwhile
            waited.append(others_fetched.wait(timeout=5))
        return real_confirm(self, spec, *args, **kwargs)

    try:
        assert {o.status for o in sync_providers(slugs, http, writer, SyncOptions())} == {"success"}
        monkeypatch.setattr(CatalogHttpEngine, "fetch_pages", fetch_pages)
        monkeypatch.setattr(CatalogWriter, "confirm_unchanged", confirm_unchanged)
        outcomes = list(sync_providers(slugs, http, writer, SyncOptions(max_providers_in_flight=1)))
    finally:
        http.close()
        engine.dispose()
    assert {o.status for o in outcomes} == {"success"}
    assert {o.counts.catalog_change for o in outcomes} == {"not_modified"}
    assert waited == [True], f"fetched while {slugs[0]} waited: {fetched}"
    assert sorted(fetched) == sorted(slugs)


def test_sqlite_writes_one_provider_at_a_time_whatever_concurrent_writes_says(replay_server, sqlite_url, monkeypatch):
    """SQLite has one writer: asked for four concurrent writes, a sync still writes providers one after
    another (a second write would only wait on the database lock), and every provider lands."""
    lock = threading.Lock()
    state = {"writing": 0, "most": 0}
    real_write = CatalogWriter.write_provider

    def write_provider(self, *args, **kwargs):  # noqa: ANN001, ANN202
        with lock:
            state["writing"] += 1
            state["most"] = max(state["most"], state["writing"])
        try:
            time.sleep(0.05)  # long enough for a second writer to overlap, were there one
            return real_write(self, *args, **kwargs)
        finally:
            with lock:
                state["writing"] -= 1

    monkeypatch.setattr(CatalogWriter, "write_provider", write_provider)
    slugs = ["groq", "fireworks", "together", "cerebras", "nebius", "xai"]
    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    http = CatalogHttpEngine({}, replay_url=replay_server.url)
    try:
        outcomes = list(sync_providers(slugs, http, writer, SyncOptions(concurrent_writes=4)))
    finally:
        http.close()
        engine.dispose()
    assert [o.status for o in outcomes] == ["success"] * len(slugs)
    assert state["most"] == 1, state


def test_objects_older_than_a_sync_are_frozen_while_it_runs_and_thawed_after(replay_server, sqlite_url):
    """The collector skips what existed before the sync while it runs (the process's long-lived objects),
    and the process is back to normal collection once the sync returned, or failed."""
    import gc

    engine = create_catalog_engine(sqlite_url)
    writer = CatalogWriter(engine)
    http = CatalogHttpEngine({}, replay_url=replay_server.url)
    try:
        during = [gc.get_freeze_count() for _ in sync_providers(["groq", "cerebras"], http, writer, SyncOptions())]
        after = gc.get_freeze_count()
        broken = sync_providers(["groq"], http, writer, SyncOptions())
        next(broken)
        broken.close()  # a consumer that stops early (a run interrupted between providers)
    finally:
        http.close()
        engine.dispose()
    assert len(during) == 2 and min(during) > 1000, during
    assert after == 0 and gc.get_freeze_count() == 0


def test_the_replay_server_answers_if_none_match_with_304_and_no_body(replay_server):
    """The replay server behaves as a provider with conditional requests: ETag on every page, 304 with an
    empty body for a matching If-None-Match, 200 for a stale one; the fault {"etag": false} turns it off."""
    url = f"{replay_server.url}/groq/openai/v1/models"
    first = httpx.get(url)
    etag = first.headers["ETag"]
    assert json.loads(first.content)["data"]
    again = httpx.get(url, headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b""
    assert httpx.get(url, headers={"If-None-Match": '"stale"'}).status_code == 200
    inject_fault(replay_server, "groq", etag=False)
    plain = httpx.get(url, headers={"If-None-Match": etag})
    assert plain.status_code == 200 and "ETag" not in plain.headers


def test_a_large_unpaged_list_is_read_entry_by_entry_and_stores_the_same_rows(replay_server, tmp_path, monkeypatch):
    """Above STREAM_PARSE_BYTES an unpaged list is counted and normalized from a stream of its stored bytes
    (never parsed whole): the rows, prices and rejections stored are exactly those of a whole parse."""
    from catalog_pipeline import http_engine

    slug = "openrouter"  # unpaged, prices as strings, a router's "-1" variable price
    inject_fault(replay_server, slug, duplicates=2)
    whole, streamed = f"sqlite:///{tmp_path / 'whole.db'}", f"sqlite:///{tmp_path / 'streamed.db'}"
    assert sync(whole, replay_server.url, [slug]).success
    monkeypatch.setattr(http_engine, "STREAM_PARSE_BYTES", 1024)
    monkeypatch.setattr(http_engine, "STREAMED_CHUNK_ENTRIES", 7)
    assert sync(streamed, replay_server.url, [slug]).success

    def stored(url: str) -> dict[str, list]:
        tables = provider_tables(url, slug)
        keep = ("provider_model_id", "name", "context_length", "input_price_per_million", "output_price_per_million")
        return {
            "models": [tuple(row[k] for k in keep) for row in tables["models"]],
            "prices": sorted((r["price_type"], r["amount"], r["state"]) for r in tables["model_pricing"]),
            "log": [(r["models_fetched"], r["models_inserted"], r["models_rejected"]) for r in sync_log(url)],
        }

    assert stored(streamed) == stored(whole)
    assert stored(whole)["log"][0][2] == 2
