"""The engine's streamed reads and conditional requests (issue 11), pinned fast through `fetch_pages` and an
`httpx.MockTransport`, with no Dagster run:

- the pages kept in a `PageStore` read back by `FetchResult.entry_pages` one page at a time and exactly
  (decimals stay decimals, "0.10" keeps its digits), from a fresh fetch and from a stored snapshot;
- a large unpaged list (more than ``STREAM_PARSE_BYTES``) read entry by entry in chunks of
  ``STREAMED_CHUNK_ENTRIES``, giving the entries a whole parse gives; a small one parsed once, by the fetch;
- repeated values shared only in a large unpaged list parsed whole (README "Bounded memory");
- `materialized`: every entry at once, and the pages' store closed;
- conditional requests (RFC 9110 13.1.2 If-None-Match, 13.1.3 If-Modified-Since, 15.4.5 304 Not Modified):
  each page asked for with the validators it was last served with, every page 304 -> ``not_modified``
  with no body kept, a page that changed after pages that did not -> the fetch starts over unconditionally;
- the payload digest: the same bytes as the stored snapshot -> ``same_as_previous``.

The thresholds are set small with monkeypatch so the lists stay a few hundred bytes; every expected
value is written out by hand. Providers: Groq (unpaged, list under ``data``), Together (unpaged, the body
is the list), Cohere (``page_token`` -> ``next_page_token`` paging, list under ``models``).
"""

from __future__ import annotations

import dataclasses
import gzip
import json
from decimal import Decimal

import httpx
import pytest

from catalog_pipeline import http_engine
from catalog_pipeline.http_engine import (
    CatalogHttpEngine,
    FetchResult,
    PageValidator,
    PreviousFetch,
    ProviderError,
)
from catalog_pipeline.pages import PageStore
from catalog_pipeline.providers.registry import get_provider
from catalog_pipeline_tests.test_http_transport import GROQ_URL, KEY, LIST, Recorder, Stream, chunks_of

ENVIRONMENT = {"GROQ_API_KEY": KEY, "COHERE_API_KEY": KEY, "TOGETHER_API_KEY": KEY}
COHERE_URL = "https://api.cohere.com/v1/models"
GROQ, COHERE, TOGETHER = get_provider("groq"), get_provider("cohere"), get_provider("together")
LM1, LM2, LM3 = "Mon, 30 Nov 2026 10:00:00 GMT", "Mon, 30 Nov 2026 11:00:00 GMT", "Mon, 30 Nov 2026 12:00:00 GMT"


def fetch_pages(answers, spec=GROQ, previous: PreviousFetch | None = None) -> tuple[FetchResult, list[httpx.Request]]:  # type: ignore[no-untyped-def]
    """`CatalogHttpEngine.fetch_pages` against `answers` (see `Recorder`); the result's store stays open."""
    recorder = answers if isinstance(answers, Recorder) else Recorder(answers)
    engine = CatalogHttpEngine(
        ENVIRONMENT, client=httpx.Client(transport=httpx.MockTransport(recorder)), backoff_seconds=0
    )
    try:
        return engine.fetch_pages(spec, previous), recorder.requests
    finally:
        engine.close()


def previous_of(result: FetchResult) -> PreviousFetch:
    """What the stored snapshot of `result` tells the next fetch (`StoredSnapshot.previous_fetch`)."""
    return PreviousFetch(result.endpoint, result.validators, result.payload_sha256)


def from_snapshot(result: FetchResult) -> FetchResult:
    """`result` as `CatalogWriter.load_snapshot` reads it back: a sealed store over the stored gzip payload."""
    return dataclasses.replace(result, store=PageStore.from_gzip(result.store.gzip_bytes()), parsed=None)


def groq_list(entries: list[str], length: int | None = None) -> bytes:
    """A Groq list of the given entries (JSON texts), padded with trailing spaces to `length` bytes."""
    body = ('{"object": "list", "data": [' + ", ".join(entries) + "]}").encode()
    if length is not None:
        assert len(body) <= length
        body += b" " * (length - len(body))
    return body


#: Five Groq models; the owner and the price repeat, so a parse that shares values shows it.
FIVE = [f'{{"id": "m{i}", "owned_by": "Meta Platforms", "price": 0.10, "context_window": 131072}}' for i in range(5)]
FIVE_PARSED = [
    {"id": f"m{i}", "owned_by": "Meta Platforms", "price": Decimal("0.10"), "context_window": 131072} for i in range(5)
]


@pytest.fixture
def small_thresholds(monkeypatch: pytest.MonkeyPatch) -> None:
    """Lists above 400 bytes count as large (streamed), above 100 bytes as not kept parsed, 2 entries a chunk."""
    monkeypatch.setattr(http_engine, "STREAM_PARSE_BYTES", 400)
    monkeypatch.setattr(http_engine, "KEEP_PARSED_BYTES", 100)
    monkeypatch.setattr(http_engine, "STREAMED_CHUNK_ENTRIES", 2)


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The size of every body the engine parses whole (through `CatalogHttpEngine._json`)."""
    sizes: list[int] = []
    real = CatalogHttpEngine._json

    def counting(spec, shown_url, status, body, share_values=True):  # type: ignore[no-untyped-def]
        sizes.append(len(body))
        return real(spec, shown_url, status, body, share_values)

    monkeypatch.setattr(CatalogHttpEngine, "_json", staticmethod(counting))
    return sizes


def cohere_pages(etags: dict | None = None, last_modified: dict | None = None) -> Recorder:
    """Cohere's list over three pages (a, b / c / d), each served with its ETag and Last-Modified when given;
    a request whose If-None-Match or If-Modified-Since matches the page's answers 304 with no body (and
    without Last-Modified, which RFC 9110 15.4.5 does not ask a 304 to repeat)."""
    pages = {
        None: b'{"models": [{"name": "a", "price": 0.10}, {"name": "b", "price": 1e-7}], "next_page_token": "t2"}',
        "t2": b'{"models": [{"name": "c", "context_length": 128000}], "next_page_token": "t3"}',
        "t3": b'{"models": [{"name": "d"}]}',
    }

    def answer(request: httpx.Request) -> httpx.Response:
        token = request.url.params.get("page_token")
        headers = {}
        if etags:
            headers["ETag"] = etags[token]
        if last_modified:
            headers["Last-Modified"] = last_modified[token]
        if (etags and request.headers.get("If-None-Match") == etags[token]) or (
            last_modified and request.headers.get("If-Modified-Since") == last_modified[token]
        ):
            # RFC 9110 15.4.5: a 304 repeats the ETag; Last-Modified it need not send
            return httpx.Response(304, headers={"ETag": etags[token]} if etags else {})
        return httpx.Response(200, content=pages[token], headers=headers)

    return Recorder([answer])


COHERE_ENTRIES = [
    [{"name": "a", "price": Decimal("0.10")}, {"name": "b", "price": Decimal("1E-7")}],
    [{"name": "c", "context_length": 128000}],
    [{"name": "d"}],
]


# --- entry_pages: the stored pages read back ---------------------------------------------------------------


def test_each_page_of_a_paged_list_is_read_back_as_one_list_exactly_fresh_or_from_the_snapshot():
    """Cohere's three pages come back as three lists, in order; 0.10 stays Decimal("0.10") with its digits,
    1e-7 a Decimal, integers ints; a stored snapshot of them reads back the same."""
    result, requests = fetch_pages(cohere_pages(), COHERE)
    assert [r.url.params.get("page_token") for r in requests] == [None, "t2", "t3"]
    assert (result.pages, result.count) == (3, 4)
    fresh = list(result.entry_pages(COHERE))
    assert fresh == COHERE_ENTRIES
    assert str(fresh[0][0]["price"]) == "0.10" and type(fresh[1][0]["context_length"]) is int
    assert list(from_snapshot(result).entry_pages(COHERE)) == COHERE_ENTRIES
    result.close()


def test_a_page_of_a_paged_list_is_never_streamed_however_large(small_thresholds):
    """Only an unpaged list is read entry by entry: a page over the streaming size is followed to the next
    page and read back whole, one list per page, fresh or from the snapshot (chunks of 2 would split page 1)."""
    page_one = {"models": [{"name": n, "description": "d" * 200} for n in ("a", "b", "c")], "next_page_token": "t2"}
    assert len(json.dumps(page_one)) > 400
    later_pages = cohere_pages().answers[0]
    result, requests = fetch_pages([httpx.Response(200, json=page_one), later_pages], COHERE)
    assert [r.url.params.get("page_token") for r in requests] == [None, "t2", "t3"]
    expected = [page_one["models"], COHERE_ENTRIES[1], COHERE_ENTRIES[2]]
    assert list(result.entry_pages(COHERE)) == expected
    assert list(from_snapshot(result).entry_pages(COHERE)) == expected
    result.close()


def test_a_large_unpaged_list_is_read_in_chunks_that_hold_the_entries_of_a_whole_parse(small_thresholds):
    """Over STREAM_PARSE_BYTES (400 here), Groq's five models are counted while fetched and read back in
    chunks of STREAMED_CHUNK_ENTRIES (2): [m0, m1], [m2, m3], [m4], exact; fresh and from the snapshot."""
    body = groq_list(FIVE)
    assert len(body) > 400
    result, _ = fetch_pages([httpx.Response(200, content=body)])
    assert (result.count, result.pages, result.bytes) == (5, 1, len(body))
    chunks = [FIVE_PARSED[0:2], FIVE_PARSED[2:4], FIVE_PARSED[4:5]]
    assert list(result.entry_pages(GROQ)) == chunks
    assert str(next(result.entry_pages(GROQ))[0]["price"]) == "0.10"
    assert list(from_snapshot(result).entry_pages(GROQ)) == chunks
    whole = [entry for page in result.entry_pages(GROQ, stream_large=False) for entry in page]
    assert whole == FIVE_PARSED
    result.close()


def test_a_list_of_exactly_the_streaming_size_is_parsed_whole_and_one_byte_more_is_streamed(small_thresholds):
    """ "An unpaged list larger than" STREAM_PARSE_BYTES is streamed: 400 bytes come back as one list, 401 in chunks."""
    at_limit, _ = fetch_pages([httpx.Response(200, content=groq_list(FIVE[:3], 400))])
    above, _ = fetch_pages([httpx.Response(200, content=groq_list(FIVE[:3], 401))])
    assert list(at_limit.entry_pages(GROQ)) == [FIVE_PARSED[:3]]
    assert list(above.entry_pages(GROQ)) == [FIVE_PARSED[:2], FIVE_PARSED[2:3]]
    assert (at_limit.count, above.count) == (3, 3)
    at_limit.close()
    above.close()


def test_the_body_itself_can_be_the_streamed_list(small_thresholds):
    """Together answers a bare list: streamed, its entries come from the body itself."""
    body = json.dumps([{"id": f"together/t-{i}", "display_name": "x" * 80} for i in range(4)]).encode()
    assert len(body) > 400
    result, _ = fetch_pages([httpx.Response(200, content=body)], TOGETHER)
    assert result.count == 4
    ids = [[entry["id"] for entry in chunk] for chunk in result.entry_pages(TOGETHER)]
    assert ids == [["together/t-0", "together/t-1"], ["together/t-2", "together/t-3"]]
    result.close()


def test_a_small_unpaged_list_is_parsed_once_by_the_fetch_and_yielded_once(monkeypatch, parses):
    """Up to KEEP_PARSED_BYTES (100 here) the fetch's parse is kept: reading the entries parses nothing more,
    and they come as one list, once. One byte more and the entries are parsed again from the store."""
    monkeypatch.setattr(http_engine, "KEEP_PARSED_BYTES", 100)
    small = groq_list(['{"id": "a", "p": 0.10}', '{"id": "b"}'], 100)
    result, _ = fetch_pages([httpx.Response(200, content=small)])
    assert list(result.entry_pages(GROQ)) == [[{"id": "a", "p": Decimal("0.10")}, {"id": "b"}]]
    assert parses == [100]
    assert result.count == 2
    result.close()

    parses.clear()
    larger, _ = fetch_pages([httpx.Response(200, content=groq_list(['{"id": "a", "p": 0.10}', '{"id": "b"}'], 101))])
    assert list(larger.entry_pages(GROQ)) == [[{"id": "a", "p": Decimal("0.10")}, {"id": "b"}]]
    assert parses == [101, 101]
    larger.close()


def test_repeated_values_are_shared_only_in_a_large_unpaged_list_parsed_whole(small_thresholds):
    """README "Bounded memory": a large unpaged list parsed whole (`materialized`, fresh or from the snapshot)
    holds a repeated owner, price and context length once; a page of a paged list holds its own copies."""
    body = groq_list(FIVE)
    result, _ = fetch_pages([httpx.Response(200, content=body)])
    snapshot = from_snapshot(result)
    for whole in (result.materialized(GROQ), snapshot.materialized(GROQ)):
        first, second = whole.entries[0], whole.entries[1]
        assert whole.entries == FIVE_PARSED
        assert first["owned_by"] is second["owned_by"] and first["price"] is second["price"]
        assert first["context_window"] is second["context_window"]

    page = b'{"models": [{"name": "a", "owner": "Cohere Inc.", "p": 0.25}, {"name": "b", "owner": "Cohere Inc.", "p": 0.25}]}'
    paged, _ = fetch_pages([httpx.Response(200, content=page)], COHERE)
    for read in (paged, from_snapshot(paged)):
        [[first, second]] = list(read.entry_pages(COHERE))
        assert first["owner"] == second["owner"] and first["owner"] is not second["owner"]
        assert first["p"] == second["p"] and first["p"] is not second["p"]
    paged.close()


def test_materialized_gives_every_entry_at_once_and_closes_the_pages():
    """`materialized` reads every page into `entries` (4 of them), counts them, and closes the store it read;
    the result it gives reads its entries back without a store. A result without a store is itself."""
    result, _ = fetch_pages(cohere_pages(), COHERE)
    whole = result.materialized(COHERE)
    assert whole.entries == [entry for page in COHERE_ENTRIES for entry in page]
    assert (whole.count, whole.pages, whole.store) == (4, 3, None)
    assert list(whole.entry_pages(COHERE)) == [whole.entries]
    with pytest.raises(ValueError):  # I/O on a closed file
        result.store.gzip_bytes()
    assert whole.materialized(COHERE) is whole


def test_fetch_results_without_pages_read_back_their_entries():
    """A list built in memory (tests, `fetch`) is its one page; closing it is harmless."""
    built = FetchResult("groq", GROQ_URL, [{"id": "a"}], 1, 10, 1.0, 200, 1)
    assert list(built.entry_pages(GROQ)) == [[{"id": "a"}]]
    built.close()


def test_a_fetched_store_is_closed_by_close():
    result, _ = fetch_pages([httpx.Response(200, content=LIST)])
    result.close()
    with pytest.raises(ValueError):
        result.store.gzip_bytes()


# --- unreadable stored pages: a ProviderError naming provider, URL and status ----------------------------


@pytest.mark.parametrize(
    ("slug", "stream_large", "body", "cause"),
    [
        ("groq", True, b'{"object": "list", "data": [{"id": "a"}, {"id": ', "response is not valid JSON ("),
        ("groq", False, b'{"object": "list", "data": [{"id": "a"}, {"id": ', "response is not valid JSON ("),
        ("cohere", True, b'{"models": [{"name": "a"}', "response is not valid JSON ("),
        ("groq", True, b'{"object": "list", "data": {"id": "a"}}', "expected a list in field 'data', found map"),
        ("groq", False, b'{"object": "list", "data": {"id": "a"}}', "expected a list in field 'data', found dict"),
        ("cohere", True, b'{"models": "none"}', "expected a list in field 'models', found str"),
    ],
    ids=["streamed-json", "whole-json", "page-json", "streamed-not-list", "whole-not-list", "page-not-list"],
)
def test_a_stored_payload_that_is_not_the_list_fails_reading_naming_provider_url_and_status(
    slug, stream_large, body, cause
):
    """A stored snapshot whose payload is not the list (damaged, or written by an older version) fails reading
    with a ProviderError for that provider and URL, keeping the status it was fetched with for JSON errors."""
    spec = get_provider(slug)
    url = GROQ_URL if slug == "groq" else COHERE_URL
    stored = FetchResult(slug, url, [], 1, len(body), 1.0, 200, 1, store=PageStore.from_gzip(gzip.compress(body)))
    with pytest.raises(ProviderError) as raised:
        list(stored.entry_pages(spec, stream_large=stream_large))
    error = raised.value
    assert (error.provider, error.url) == (slug, url)
    assert error.cause.startswith(cause)
    assert error.status == (200 if "JSON" in cause else None)


def test_a_large_unpaged_list_that_is_not_json_fails_the_fetch_naming_provider_url_and_status(small_thresholds):
    """Counted while fetched, a streamed list cut off mid-entry fails there: HTTP 200, the masked URL."""
    body = groq_list(FIVE)[:-30]
    with pytest.raises(ProviderError) as raised:
        fetch_pages([httpx.Response(200, content=body)])
    error = raised.value
    assert (error.provider, error.url, error.status) == ("groq", GROQ_URL, 200)
    assert error.cause.startswith("response is not valid JSON (")


def test_a_streamed_list_that_is_not_json_names_the_url():
    """`_streamed_records` itself: the error names provider, URL and status."""
    import io

    from catalog_pipeline.http_engine import _streamed_records

    with pytest.raises(ProviderError) as raised:
        list(_streamed_records(GROQ, "https://shown.example/models", 200, io.BytesIO(b'{"data": [{"id": ')))
    assert (raised.value.provider, raised.value.url, raised.value.status) == (
        "groq",
        "https://shown.example/models",
        200,
    )


# --- conditional requests ------------------------------------------------------------------------------------


def test_each_page_keeps_the_validators_it_was_served_with_and_its_cursor():
    """RFC 9110 8.8: ETag and Last-Modified of every page, with the page token that asked for it."""
    etags = {None: '"p1"', "t2": 'W/"p2"', "t3": '"p3"'}
    modified = {None: LM1, "t2": LM2, "t3": LM3}
    result, requests = fetch_pages(cohere_pages(etags, modified), COHERE)
    assert result.validators == (
        PageValidator(None, '"p1"', LM1),
        PageValidator("t2", 'W/"p2"', LM2),
        PageValidator("t3", '"p3"', LM3),
    )
    assert [r.headers.get("If-None-Match") for r in requests] == [None, None, None]
    assert [r.headers.get("If-Modified-Since") for r in requests] == [None, None, None]
    assert (result.not_modified, result.same_as_previous) == (False, False)
    result.close()


@pytest.mark.parametrize("validator", ["etag", "last_modified"])
def test_every_page_answering_304_is_not_modified_and_keeps_no_body(validator):
    """Each page is asked for with its stored validator (If-None-Match for an ETag, If-Modified-Since for a
    Last-Modified) and its stored page token; all three answer 304: the list is the stored snapshot's,
    `not_modified` and `same_as_previous`, no store and no entries, the stored digest and validators kept
    (a 304 without Last-Modified keeps the stored one, so the next fetch is conditional too)."""
    etags = {None: '"p1"', "t2": '"p2"', "t3": '"p3"'} if validator == "etag" else None
    modified = {None: LM1, "t2": LM2, "t3": LM3} if validator == "last_modified" else None
    first, _ = fetch_pages(cohere_pages(etags, modified), COHERE)
    previous = previous_of(first)
    first.close()

    again, requests = fetch_pages(cohere_pages(etags, modified), COHERE, previous)
    header = "If-None-Match" if validator == "etag" else "If-Modified-Since"
    sent = [(r.url.params.get("page_token"), r.headers.get(header)) for r in requests]
    stored = etags or modified
    assert sent == [(None, stored[None]), ("t2", stored["t2"]), ("t3", stored["t3"])]
    assert (again.not_modified, again.same_as_previous, again.store, again.entries) == (True, True, None, [])
    assert (again.pages, again.bytes, again.http_status, again.live_count) == (3, 0, 304, None)
    assert again.payload_sha256 == previous.payload_sha256
    assert again.validators == previous.validators
    assert list(again.entry_pages(COHERE)) == [[]]


def test_a_changed_unpaged_list_answers_200_with_its_new_validators():
    """A stale If-None-Match gets the new list: 200, not modified neither, the new ETag recorded."""
    first, _ = fetch_pages([httpx.Response(200, content=LIST, headers={"ETag": '"v1"'})])
    previous = previous_of(first)
    first.close()
    changed = b'{"object": "list", "data": [{"id": "llama-3.3-70b-versatile"}]}'

    def answer(request: httpx.Request) -> httpx.Response:
        assert request.headers["If-None-Match"] == '"v1"'
        return httpx.Response(200, content=changed, headers={"ETag": '"v2"'})

    again, requests = fetch_pages([answer], GROQ, previous)
    assert len(requests) == 1
    assert (again.not_modified, again.same_as_previous, again.count) == (False, False, 1)
    assert again.validators == (PageValidator(None, '"v2"'),)
    assert again.payload_sha256 not in (None, previous.payload_sha256)
    assert list(again.entry_pages(GROQ)) == [[{"id": "llama-3.3-70b-versatile"}]]
    again.close()


def test_a_page_changed_after_pages_that_did_not_starts_the_fetch_over_without_conditions():
    """Pages 1 and 2 answer 304, page 3 changed: their bodies were not sent, so all three are asked for again
    with no condition; the result is the new list whole, with the validators it was served with now."""
    etags = {None: '"p1"', "t2": '"p2"', "t3": '"p3-new"'}
    previous = PreviousFetch(
        "primary",
        (PageValidator(None, '"p1"'), PageValidator("t2", '"p2"'), PageValidator("t3", '"p3-old"')),
        "digest-of-the-old-list",
    )
    result, requests = fetch_pages(cohere_pages(etags), COHERE, previous)
    sent = [(r.url.params.get("page_token"), r.headers.get("If-None-Match")) for r in requests]
    assert sent == [(None, '"p1"'), ("t2", '"p2"'), ("t3", '"p3-old"'), (None, None), ("t2", None), ("t3", None)]
    assert (result.not_modified, result.same_as_previous, result.pages, result.count) == (False, False, 3, 4)
    assert result.validators == (
        PageValidator(None, '"p1"'),
        PageValidator("t2", '"p2"'),
        PageValidator("t3", '"p3-new"'),
    )
    assert list(result.entry_pages(COHERE)) == COHERE_ENTRIES
    result.close()


def test_a_stored_validator_is_sent_only_for_the_page_it_was_served_for():
    """The snapshot's first validator was for page token "t9": Groq's first page (no token) is asked for
    without a condition, and its 200 is the list."""
    previous = PreviousFetch("primary", (PageValidator("t9", '"v1"', LM1),), "old")
    result, [request] = fetch_pages([httpx.Response(200, content=LIST, headers={"ETag": '"v1"'})], GROQ, previous)
    assert ("If-None-Match" not in request.headers, "If-Modified-Since" not in request.headers) == (True, True)
    assert (result.not_modified, result.count) == (False, 2)
    result.close()


@pytest.mark.parametrize(
    ("spec", "validators"),
    [
        (COHERE, (PageValidator(None, '"p1"'), PageValidator(None, '"p2"'))),  # a second page without its token
        (GROQ, (PageValidator(None, '"v1"'), PageValidator("2", '"v2"'))),  # an unpaged list with a second page
    ],
    ids=["paged-without-token", "unpaged-with-two-pages"],
)
def test_stored_validators_that_cannot_be_followed_fail_the_fetch_naming_provider_and_url(spec, validators):
    """After a 304, the next stored page must name the token to ask for it with: otherwise the stored
    validators do not describe this list, and the fetch fails with a clear error instead of guessing."""
    previous = PreviousFetch("primary", validators, "old")

    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(304 if request.headers.get("If-None-Match") else 200, content=b"")

    with pytest.raises(ProviderError) as raised:
        fetch_pages([answer], spec, previous)
    url = COHERE_URL if spec is COHERE else GROQ_URL
    assert (raised.value.provider, raised.value.url, raised.value.cause) == (
        spec.slug,
        url,
        "stored page validators are inconsistent",
    )


# --- the payload digest: the same bytes as the stored snapshot ------------------------------------------------


def test_an_unpaged_list_with_the_stored_digest_is_the_same_and_not_parsed(parses):
    """No validators, same bytes: `same_as_previous`, not `not_modified` (a 200 was sent), the count left to
    the snapshot, and the body not even parsed; its pages are still there to read."""
    first, _ = fetch_pages([httpx.Response(200, content=LIST)])
    assert (first.count, first.same_as_previous, first.not_modified) == (2, False, False)
    previous = previous_of(first)
    first.close()
    parses.clear()

    again, _ = fetch_pages([httpx.Response(200, content=LIST)], GROQ, previous)
    assert parses == []
    assert (again.same_as_previous, again.not_modified, again.live_count) == (True, False, None)
    assert (again.http_status, again.bytes, again.payload_sha256) == (200, len(LIST), previous.payload_sha256)
    assert again.validators == (PageValidator(None),)
    assert list(again.entry_pages(GROQ)) == [[{"id": "llama-3.3-70b-versatile"}, {"id": "whisper-large-v3"}]]
    again.close()


def test_a_paged_list_with_the_stored_digest_is_the_same():
    """Every page fetched (no validators), the same bytes: `same_as_previous`, the count left to the snapshot."""
    first, _ = fetch_pages(cohere_pages(), COHERE)
    previous = previous_of(first)
    first.close()
    again, requests = fetch_pages(cohere_pages(), COHERE, previous)
    assert len(requests) == 3
    assert (again.same_as_previous, again.not_modified, again.live_count) == (True, False, None)
    assert again.payload_sha256 == previous.payload_sha256
    again.close()


def test_a_changed_list_gets_its_own_digest_and_its_count():
    """One model more: a new digest (the digest of the new bytes, as a first fetch of them gives), count 3."""
    first, _ = fetch_pages([httpx.Response(200, content=LIST)])
    previous = previous_of(first)
    first.close()
    changed = groq_list(['{"id": "a"}', '{"id": "b"}', '{"id": "c"}'])
    fresh, _ = fetch_pages([httpx.Response(200, content=changed)])
    again, _ = fetch_pages([httpx.Response(200, content=changed)], GROQ, previous)
    assert (again.same_as_previous, again.count) == (False, 3)
    assert again.payload_sha256 == fresh.payload_sha256 != previous.payload_sha256
    fresh.close()
    again.close()


def test_a_list_fetched_after_a_failed_attempt_has_the_digest_of_a_clean_fetch():
    """A connection reset halfway through the body, then a whole answer: the pages kept are those of the
    answer alone, so the list is `same_as_previous` as the one fetched cleanly before."""
    clean, _ = fetch_pages([httpx.Response(200, content=LIST)])
    previous = previous_of(clean)
    clean.close()

    def reset_on_third_chunk(count: int) -> None:
        if count == 3:
            raise httpx.ReadError("connection reset by peer")

    broken = httpx.Response(200, stream=Stream(chunks_of(LIST, 30), on_chunk=reset_on_third_chunk))
    again, requests = fetch_pages([broken, httpx.Response(200, content=LIST)], GROQ, previous)
    assert (len(requests), again.attempts, again.pages) == (2, 2, 1)
    assert again.same_as_previous and again.payload_sha256 == previous.payload_sha256
    assert list(again.entry_pages(GROQ)) == [[{"id": "llama-3.3-70b-versatile"}, {"id": "whisper-large-v3"}]]
    again.close()
