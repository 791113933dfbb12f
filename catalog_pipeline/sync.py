"""Sync many providers in one process: fetch concurrently, write each provider in its own transaction.

On PostgreSQL two providers (`SyncOptions.concurrent_writes`) are written at the same time; SQLite has
one writer, so there providers are written one after another.

Each provider succeeds or fails on its own. A failure is logged to
`pricing_sync_log` with its cause and leaves that provider's stored rows as they
were; the other providers are unaffected.
"""

from __future__ import annotations

import contextlib
import gc
import heapq
import logging
import queue
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from functools import partial

from catalog_pipeline.http_engine import (
    CatalogHttpEngine,
    DeadlineExceeded,
    FetchResult,
    ProviderError,
    ProviderNotConfigured,
    mask_url,
)
from catalog_pipeline.masking import shorten
from catalog_pipeline.providers.drift import FieldObservation, FieldObserver
from catalog_pipeline.providers.normalize import CatalogStream, NormalizedCatalog
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline.providers.spec import ProviderSpec
from catalog_pipeline.reconciliation import KnownIds
from catalog_pipeline.storage.writer import (
    CHANGED,
    DEFAULT_MAX_PRICE_CHANGE_FACTOR,
    NOT_MODIFIED,
    SAME_PAYLOAD,
    WRITE_BATCH_MODELS,
    CatalogWriter,
    MassDeactivationBlocked,
    SnapshotToStore,
    StoredSnapshot,
    SyncCounts,
)

progress_log = logging.getLogger("catalog_pipeline.sync")

SUCCESS, FAILED, SKIPPED, BLOCKED = "success", "failed", "skipped", "blocked"


@dataclass
class ProviderOutcome:
    """How one provider's sync ended."""

    provider: str
    status: str
    fetched: FetchResult | None = None
    #: the normalized list (None when it was unchanged and not normalized at all)
    catalog: NormalizedCatalog | CatalogStream | None = None
    counts: SyncCounts | None = None
    error: str | None = None
    seconds: float = 0.0
    #: fields of the live payload the spec neither reads nor ignores, and read fields that vanished
    drift: list[FieldObservation] = field(default_factory=list)

    @property
    def unchanged(self) -> bool:
        """Synced, and its list was the one stored (not modified, or the same payload)."""
        return (
            self.status == SUCCESS
            and self.counts is not None
            and self.counts.catalog_change != CHANGED
            and not self.counts.held
        )

    def progress_line(self) -> str:
        """One line for the run log: what the provider's sync did, or why it did not."""
        return _progress_line(self)


def summary_line(outcomes: Sequence[ProviderOutcome]) -> str:
    """The run's last log line: providers by outcome and the models written."""
    by_status = {
        status: [o.provider for o in outcomes if o.status == status] for status in (SUCCESS, SKIPPED, BLOCKED, FAILED)
    }
    counts = [o.counts for o in outcomes if o.status == SUCCESS and o.counts]
    parts = [f"synced {len(by_status[SUCCESS])} of {len(outcomes)} provider(s)"]
    parts.append(
        f"{sum(c.fetched for c in counts)} listed, {sum(c.inserted for c in counts)} inserted, "
        f"{sum(c.updated for c in counts)} updated, {sum(c.deactivated for c in counts)} deactivated, "
        f"{sum(c.rejected for c in counts)} rejected"
    )
    for status in (SKIPPED, BLOCKED, FAILED):
        if by_status[status]:
            parts.append(f"{status}: {', '.join(by_status[status])}")
    return "; ".join(parts)


@dataclass(frozen=True)
class SyncOptions:
    """Knobs of one sync run.

    Attributes:
        fetch_live: fetch the live list (the `provider_catalog` step); otherwise
            re-normalize the stored snapshot.
        write_models: write `models` (the `models` step).
        skip_unconfigured: report unconfigured providers as skipped instead of failing them.
        max_deactivation_share: largest share of active models one sync may deactivate.
        allow_mass_deactivation: accept a larger shrink (an operator's override).
        max_price_change_factor: a price moving by more than this factor in one sync is held.
        accept_held_changes: apply changes beyond the limits instead of holding them.
        max_workers: concurrent fetches.
        deadline_grace_seconds: how long past the engine's deadline the sync still waits for a fetch.
        max_providers_in_flight: providers fetched or being fetched but not yet written, at most; a
            fetch waits for a slot, so memory does not grow with the number of providers. A provider
            whose every page answered 304 holds nothing and frees its slot as soon as it is fetched.
        skip_unchanged: a live list identical to the applied snapshot (every page 304, or the same
            digest) is neither normalized nor written, and is reported as unchanged.
        concurrent_writes: providers normalized and written at the same time, each in its own
            transaction, where the database allows it (PostgreSQL; SQLite has one writer). One
            provider's wait for the server then overlaps another's normalization. At most
            `max_providers_in_flight`, since a provider keeps its slot until it is written.
    """

    fetch_live: bool = True
    write_models: bool = True
    skip_unconfigured: bool = False
    max_deactivation_share: float = 0.5
    allow_mass_deactivation: bool = False
    max_price_change_factor: Decimal = DEFAULT_MAX_PRICE_CHANGE_FACTOR
    accept_held_changes: bool = False
    max_workers: int = 8
    deadline_grace_seconds: float = 10.0
    max_providers_in_flight: int = 4
    skip_unchanged: bool = True
    concurrent_writes: int = 2


def sync_providers(
    slugs: Sequence[str],
    http: CatalogHttpEngine,
    writer: CatalogWriter,
    options: SyncOptions,
    run_id: str | None = None,
) -> Iterator[ProviderOutcome]:
    """Sync `slugs`, yielding each provider's outcome as soon as it is written.

    A fetched provider goes to a write lane as soon as one is free, whatever the consumer of this
    iterator is doing (storing a log event, say); of those waiting, the largest list goes first, so a
    large provider fetched late does not end the sync alone.

    The engine holds every fetch to its deadline; should one still not return (a DNS
    lookup hanging below the engine's timeouts), the sync stops waiting for it
    `deadline_grace_seconds` after its deadline, fails it, and goes on.
    """
    specs = [get_provider(slug) for slug in slugs]
    started: dict[str, tuple[float, datetime]] = {}
    in_flight = max(1, options.max_providers_in_flight)
    slots = threading.BoundedSemaphore(in_flight)
    slot_of = {spec.slug: _Slot(slots) for spec in specs}
    fetching = ThreadPoolExecutor(max_workers=max(1, min(options.max_workers, len(specs))), thread_name_prefix="fetch")
    lanes = max(1, min(options.concurrent_writes, in_flight, len(specs))) if writer.supports_concurrent_writes else 1
    give_up_after = http.deadline_seconds + options.deadline_grace_seconds

    def write(spec: ProviderSpec, obtained: _Obtained) -> ProviderOutcome:
        started_at, fetched, problem, stored = obtained
        try:
            return _finish(spec, started_at, fetched, problem, stored, writer, options, run_id)
        finally:
            let_go(spec, obtained)

    def let_go(spec: ProviderSpec, obtained: _Obtained) -> None:
        if obtained[1] is not None:
            obtained[1].close()
        slot_of[spec.slug].release()

    lanes_queue = _WriteLanes(lanes, write, let_go)
    fetches: dict[Future[_Obtained], ProviderSpec] = {}
    for spec in specs:
        future = fetching.submit(_obtain, spec, http, writer, options, started, slot_of[spec.slug])
        fetches[future] = spec
        future.add_done_callback(partial(lanes_queue.fetched, spec))
    remaining = len(specs)

    # Everything alive now (Dagster, the definitions, the engines) outlives the sync: frozen, the collector
    # stops walking it on every full collection the sync's allocations trigger (0.5 s or more per 18k-model
    # sync here). The sync's own objects are collected as usual; the end of the sync unfreezes.
    gc.freeze()
    try:
        while remaining:
            for outcome in lanes_queue.outcomes(timeout=1.0):
                remaining -= 1
                yield _announce(outcome)
            now = time.monotonic()
            for future, spec in list(fetches.items()):
                if future.done():
                    del fetches[future]
                    continue
                if spec.slug not in started or now - started[spec.slug][0] <= give_up_after:
                    continue
                if not lanes_queue.give_up(spec.slug, future):
                    continue  # it returned just now: its write is on its way
                del fetches[future]
                slot_of[spec.slug].release()  # the stuck fetch holds no data the sync will read
                problem = DeadlineExceeded(
                    spec.slug,
                    mask_url(spec.list_url(http.environment)),
                    f"deadline exceeded: the fetch did not return within {http.deadline_seconds:g} s "
                    f"(+{options.deadline_grace_seconds:g} s grace); the sync went on without it",
                )
                remaining -= 1
                yield _announce(_finish(spec, started[spec.slug][1], None, problem, None, writer, options, run_id))
    finally:
        fetching.shutdown(wait=False, cancel_futures=True)
        # Left with writes under way (the run was stopped, or its consumer went away): the waiting ones never
        # start, the running ones have their statement cancelled until they end, so each rolls back now
        # (and logs why) instead of the stop waiting for it, on a lock perhaps.
        running = lanes_queue.close()
        while running:
            writer.cancel_writes()
            running = wait(running, timeout=0.5).not_done
        lanes_queue.shutdown()
        gc.unfreeze()


#: What `_obtain` hands to the write: when the provider's sync started, its fetch (or why there is none),
#: and the stored snapshot the fetch was compared with.
_Obtained = tuple[datetime, FetchResult | None, Exception | None, StoredSnapshot | None]


class _WriteLanes:
    """Fetched providers waiting for one of `lanes` write threads, the largest list first, and the outcomes
    of their writes. Fed by the fetch threads (a fetch's done-callback), drained by `sync_providers`."""

    def __init__(
        self,
        lanes: int,
        write: Callable[[ProviderSpec, _Obtained], ProviderOutcome],
        discard: Callable[[ProviderSpec, _Obtained], None],
    ) -> None:
        self._lanes, self._write, self._discard = lanes, write, discard
        self._pool = ThreadPoolExecutor(max_workers=lanes, thread_name_prefix="write")
        self._lock = threading.Lock()
        self._waiting: list[tuple[int, int, ProviderSpec, _Obtained]] = []  # a heap: (-bytes, arrival, ...)
        self._running: set[Future[None]] = set()  # every write started (a sync starts a few dozen)
        self._busy = 0  # lanes taken
        self._given_up: set[str] = set()
        self._closed = False
        self._arrivals = 0
        self._done: queue.SimpleQueue[ProviderOutcome | BaseException] = queue.SimpleQueue()

    def fetched(self, spec: ProviderSpec, future: Future[_Obtained]) -> None:
        """A fetch returned (the future's done-callback, in its fetch thread)."""
        if future.cancelled():
            return  # never started: it holds no slot and no data
        try:
            obtained = future.result()  # `_obtain` returns its failures; anything else stops the sync
        except BaseException as error:
            self._done.put(error)
            return
        with self._lock:
            keep = not self._closed and spec.slug not in self._given_up
            if keep:
                fetched = obtained[1]
                size = 0 if fetched is None or fetched.not_modified else fetched.bytes
                heapq.heappush(self._waiting, (-size, self._arrivals, spec, obtained))
                self._arrivals += 1
        if not keep:
            self._discard(spec, obtained)
            return
        self._start_writes()

    def give_up(self, slug: str, future: Future[_Obtained]) -> bool:
        """Stop waiting for `slug`'s fetch; False if it has returned meanwhile (its write then goes ahead)."""
        with self._lock:
            if future.done():
                return False
            self._given_up.add(slug)
            return True

    def outcomes(self, timeout: float) -> Iterator[ProviderOutcome]:
        """The outcomes of the writes ended since the last call, waiting up to `timeout` for the first."""
        try:
            item = self._done.get(timeout=timeout)
        except queue.Empty:
            return
        while True:
            if isinstance(item, BaseException):
                raise item
            yield item
            try:
                item = self._done.get_nowait()
            except queue.Empty:
                return

    def _start_writes(self) -> None:
        with self._lock:
            while not self._closed and self._waiting and self._busy < self._lanes:
                _, _, spec, obtained = heapq.heappop(self._waiting)
                self._busy += 1
                self._running.add(self._pool.submit(self._run, spec, obtained))

    def _run(self, spec: ProviderSpec, obtained: _Obtained) -> None:
        # No done-callback frees the lane: one added to a write that has already ended runs at once, in the
        # thread adding it, which would take the lock it holds.
        try:
            self._done.put(self._write(spec, obtained))
        except BaseException as error:  # a database that is gone: the sync stops with it, as it would in-thread
            self._done.put(error)
        finally:
            with self._lock:
                self._busy -= 1
            self._start_writes()

    def close(self) -> set[Future[None]]:
        """Start no more writes; forget the waiting ones (their data is let go). Returns the running writes."""
        with self._lock:
            self._closed = True
            waiting, self._waiting = self._waiting, []
            running = {future for future in self._running if not future.done()}
        for _, _, spec, obtained in waiting:
            self._discard(spec, obtained)
        return running

    def shutdown(self) -> None:
        self._pool.shutdown(wait=True)


def _announce(outcome: ProviderOutcome) -> ProviderOutcome:
    progress_log.info("%s", _progress_line(outcome))
    return outcome


class _Slot:
    """One provider's hold on one of the sync's in-flight slots: released once, however often it is let go
    (by the fetch, by the write, by the deadline)."""

    def __init__(self, slots: threading.BoundedSemaphore) -> None:
        self._slots, self._held, self._lock = slots, False, threading.Lock()

    def acquire(self) -> None:
        self._slots.acquire()
        with self._lock:
            self._held = True

    def release(self) -> None:
        with self._lock:
            held, self._held = self._held, False
        if held:
            self._slots.release()


def _obtain(
    spec: ProviderSpec,
    http: CatalogHttpEngine,
    writer: CatalogWriter,
    options: SyncOptions,
    started: dict[str, tuple[float, datetime]],
    slot: _Slot,
) -> _Obtained:
    """Runs in a worker thread: everything up to, not including, the database write.

    Holds one of the sync's in-flight slots from before the fetch until the provider is written
    (released by `sync_providers`), or only until the fetch returns when every page answered
    304: such a provider holds no data, and its write only confirms the stored snapshot."""
    slot.acquire()
    started_at = datetime.now(UTC)
    started[spec.slug] = (time.monotonic(), started_at)
    stored = None
    try:
        if options.fetch_live:
            stored = writer.latest_snapshot(spec) if options.skip_unchanged else None
            previous = stored.previous_fetch() if stored else None
            fetched = http.fetch_pages(spec, previous)
            if fetched.not_modified:
                slot.release()  # the next provider's fetch need not wait for this one's confirmation
            return started_at, fetched, None, stored
        snapshot = writer.load_snapshot(spec)
        if snapshot is None:
            raise ProviderError(spec.slug, spec.list_url({}), "no stored snapshot; materialize provider_catalog first")
        return started_at, snapshot, None, None
    except ProviderError as error:
        return started_at, None, error, stored
    except Exception as error:  # anything unforeseen fails this provider, never the whole run
        return started_at, None, _unexpected(spec, http, error), stored


def _unexpected(spec: ProviderSpec, http: CatalogHttpEngine, error: Exception) -> ProviderError:
    return ProviderError(
        spec.slug, mask_url(spec.list_url(http.environment)), f"unexpected {type(error).__name__}: {error}"
    )


def _finish(
    spec: ProviderSpec,
    started_at: datetime,
    fetched: FetchResult | None,
    problem: Exception | None,
    stored: StoredSnapshot | None,
    writer: CatalogWriter,
    options: SyncOptions,
    run_id: str | None,
) -> ProviderOutcome:
    def done(status: str, **kwargs: object) -> ProviderOutcome:
        # the outcome's error reaches the run's log and failure message: never with a secret in it
        if isinstance(kwargs.get("error"), str):
            kwargs["error"] = writer.scrub(kwargs["error"])  # type: ignore[arg-type]
        seconds = (datetime.now(UTC) - started_at).total_seconds()
        return ProviderOutcome(provider=spec.slug, status=status, seconds=round(seconds, 3), **kwargs)  # type: ignore[arg-type]

    if isinstance(problem, ProviderNotConfigured) and options.skip_unconfigured:
        writer.log_sync(spec.slug, started_at, SKIPPED, error_message=str(problem), run_id=run_id)
        return done(SKIPPED, error=str(problem))
    if problem is not None or fetched is None:
        writer.log_sync(spec.slug, started_at, FAILED, error_message=str(problem), run_id=run_id)
        return done(FAILED, error=str(problem))
    endpoint = fetched.endpoint
    if options.fetch_live and fetched.same_as_previous and stored is not None:
        return _finish_unchanged(spec, started_at, fetched, stored, writer, options, run_id, done)
    endpoint_spec = spec.variant(endpoint)
    observer = FieldObserver(endpoint_spec) if options.fetch_live else None
    catalog = CatalogStream(
        endpoint_spec, fetched.entry_pages(endpoint_spec), on_page=observer.add if observer is not None else None
    )
    drift: list[FieldObservation] = []
    try:
        if not options.write_models:
            for _batch in catalog.batches(WRITE_BATCH_MODELS):
                pass  # normalized for the counts and the rejections; nothing to write
            writer.store_snapshot(spec, fetched, run_id)
            drift = writer.record_field_observations(endpoint_spec, fetched, observer)
            return done(SUCCESS, fetched=fetched, catalog=catalog, drift=drift)
        snapshot = (
            SnapshotToStore(fetched=fetched, run_id=run_id)
            if options.fetch_live
            else SnapshotToStore(existing_id=fetched.snapshot_id)
        )
        counts = writer.write_provider(
            spec,
            fetched,
            catalog,
            run_id=run_id,
            max_deactivation_share=options.max_deactivation_share,
            allow_mass_deactivation=options.allow_mass_deactivation,
            snapshot=snapshot if (snapshot.fetched or snapshot.existing_id) else None,
            max_price_change_factor=options.max_price_change_factor,
            accept_held_changes=options.accept_held_changes,
            observer=observer,
            log_started_at=started_at,  # the write and its log row: one transaction
        )
    except MassDeactivationBlocked as blocked:
        drift = _keep_unapplied(spec, fetched, endpoint_spec, observer, writer, options, run_id)
        writer.log_sync(
            spec.slug, started_at, BLOCKED, blocked.counts, error_message=str(blocked), run_id=run_id, endpoint=endpoint
        )
        return done(BLOCKED, fetched=fetched, catalog=catalog, counts=blocked.counts, error=str(blocked), drift=drift)
    except Exception as error:  # a database (or normalizer) error fails this provider only; the write rolled back
        # masked before it is cut: a secret straddling the cut would not be recognised after
        message = (
            f"provider {spec.slug!r}: write failed: {type(error).__name__}: {shorten(writer.scrub(str(error)), 500)}"
        )
        read = SyncCounts(provider=spec.slug, fetched=fetched.count, rejected=len(catalog.rejections))
        with contextlib.suppress(Exception):  # the failure is logged below either way
            drift = _keep_unapplied(spec, fetched, endpoint_spec, None, writer, options, run_id)
        writer.log_sync(spec.slug, started_at, FAILED, read, error_message=message, run_id=run_id, endpoint=endpoint)
        return done(FAILED, fetched=fetched, catalog=catalog, error=message, drift=drift)
    return done(SUCCESS, fetched=fetched, catalog=catalog, counts=counts, drift=counts.drift)


def _keep_unapplied(
    spec: ProviderSpec,
    fetched: FetchResult,
    endpoint_spec: ProviderSpec,
    observer: FieldObserver | None,
    writer: CatalogWriter,
    options: SyncOptions,
    run_id: str | None,
) -> list[FieldObservation]:
    """A list whose write did not happen is still kept (not applied), so the UI can show what was live."""
    if not options.fetch_live:
        return []
    writer.store_snapshot(spec, fetched, run_id)
    if observer is None:
        return []
    return writer.record_field_observations(endpoint_spec, fetched, observer)


def _finish_unchanged(
    spec: ProviderSpec,
    started_at: datetime,
    fetched: FetchResult,
    stored: StoredSnapshot,
    writer: CatalogWriter,
    options: SyncOptions,
    run_id: str | None,
    done: Callable[..., ProviderOutcome],
) -> ProviderOutcome:
    """The live list is the applied snapshot: the stored rows already are this list, so nothing is
    normalized or written; the counts reported are the stored ones, which keeps live = stored + rejected."""
    change = NOT_MODIFIED if fetched.not_modified else SAME_PAYLOAD
    logged = started_at if options.write_models else None  # the confirmation and its log row: one transaction
    counts, drift = writer.confirm_unchanged(spec, stored, fetched, change, started_at=logged, run_id=run_id)
    return done(SUCCESS, fetched=fetched, counts=counts, drift=drift)


def _progress_line(outcome: ProviderOutcome) -> str:
    if outcome.status == SUCCESS and outcome.counts:
        c = outcome.counts
        return (
            f"{outcome.provider:<24} ok       {c.fetched:>6} listed  +{c.inserted} ~{c.updated} -{c.deactivated} "
            f"={c.unchanged} rejected {c.rejected}"
            + (f" held {c.models_held}" if c.held else "")
            + ("  unchanged" if c.catalog_change != "changed" else "")
            + f"  ({outcome.seconds:.1f}s)"
        )
    if outcome.status == SUCCESS and outcome.fetched:
        return f"{outcome.provider:<24} fetched  {outcome.fetched.count:>6} listed  ({outcome.seconds:.1f}s)"
    return f"{outcome.provider:<24} {outcome.status:<8} {outcome.error}"


@dataclass
class LiveCounts:
    """Fresh live list lengths, the ids that would be stored, and the providers that were skipped or failed."""

    live: dict[str, int | None]
    skipped: dict[str, str]
    errors: dict[str, str]
    model_ids: dict[str, set[str] | KnownIds] = field(default_factory=dict)


def _snapshot_ids(writer: CatalogWriter, spec: ProviderSpec) -> set[str]:
    """The ids the applied snapshot's list normalizes to (only needed when the stored ids no longer match it)."""
    stored = writer.latest_snapshot(spec)
    fetched = writer.load_snapshot(spec, stored.id) if stored else None
    if fetched is None:
        return set()
    try:
        endpoint_spec = spec.variant(fetched.endpoint)
        catalog = CatalogStream(endpoint_spec, fetched.entry_pages(endpoint_spec))
        return {model.provider_model_id for batch in catalog.batches(WRITE_BATCH_MODELS) for model in batch}
    finally:
        fetched.close()


def fetch_live_counts(
    slugs: Sequence[str],
    http: CatalogHttpEngine,
    max_workers: int = 8,
    not_refetched: Mapping[str, str] | None = None,
    writer: CatalogWriter | None = None,
) -> LiveCounts:
    """Fetch every provider's list concurrently and count its entries.

    Args:
        not_refetched: providers not to fetch at all, with the reason (one that just
            missed its deadline in a sync is not waited for again); reported as errors.
        writer: with it, a provider's list is asked for conditionally against its applied
            snapshot; a list found identical is counted from the snapshot and its ids are
            known by the digest stored with it (`KnownIds`), without normalizing it again.
    """
    result = LiveCounts(live={}, skipped={}, errors={})
    not_refetched = not_refetched or {}

    def count(slug: str) -> None:
        spec = get_provider(slug)
        if slug in not_refetched:
            result.live[slug], result.errors[slug] = None, not_refetched[slug]
            return
        try:
            stored = writer.latest_snapshot(spec) if writer is not None else None
            fetched = http.fetch_pages(spec, stored.previous_fetch() if stored else None)
            try:
                if fetched.same_as_previous and stored is not None and stored.model_ids_digest:
                    result.live[slug] = stored.live_count
                    result.model_ids[slug] = KnownIds(stored.model_ids_digest, partial(_snapshot_ids, writer, spec))
                    return
                endpoint_spec = spec.variant(fetched.endpoint)
                catalog = CatalogStream(endpoint_spec, fetched.entry_pages(endpoint_spec))
                ids = {model.provider_model_id for batch in catalog.batches(WRITE_BATCH_MODELS) for model in batch}
                result.live[slug] = catalog.live_count
                result.model_ids[slug] = ids
            finally:
                fetched.close()
        except ProviderNotConfigured as error:
            result.skipped[slug] = str(error)
        except ProviderError as error:
            result.live[slug] = None
            result.errors[slug] = str(error)
        except Exception as error:  # one odd provider must not cost every other provider its parity
            result.live[slug] = None
            result.errors[slug] = str(_unexpected(spec, http, error))

    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(slugs))), thread_name_prefix="count") as pool:
        list(pool.map(count, slugs))
    return result
