"""The one HTTP engine every provider goes through.

It owns timeouts, retries (429 and 5xx, honouring ``Retry-After``), pagination,
the ``CATALOG_REPLAY_URL`` rewrite and the limits that keep one provider from
hurting the others or leaking a key:

- **Credentials stay with their host.** Keys travel only in headers, and only to the
  hosts the spec names (the replay server in replay mode). Redirects are followed by
  hand: a few hops within the same origin; a redirect to another origin fails the
  provider instead of carrying its headers elsewhere.
- **Bounded memory.** The body is read as a stream and decompressed here, in slices, so
  a response (or a gzip bomb) larger than the limit fails at the limit, not after.
- **Bounded time.** Every request, retry wait and page of one provider's fetch shares
  one deadline; permanent errors (4xx, an invalid URL, TLS or DNS failure) are not retried.
- **Masked errors.** Every message is masked (`catalog_pipeline.masking`) before it is
  cut or raised.
"""

from __future__ import annotations

import functools
import json
import re
import socket
import ssl
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import ijson

from catalog_pipeline.masking import SECRET_QUERY_NAMES, configured_secrets, mask_secrets, shorten
from catalog_pipeline.pages import PageStore
from catalog_pipeline.providers.normalize import dig
from catalog_pipeline.providers.spec import AuthStyle, PaginationStyle, ProviderSpec

USER_AGENT = "catalog-pipeline/0.1 (+model catalog sync)"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Same-origin redirects followed per request before giving up.
MAX_REDIRECTS = 5
#: Largest decompressed response accepted per request, unless the spec or CATALOG_MAX_RESPONSE_MB says
#: otherwise. The largest real catalog captured (../shared/provider_snapshots: OpenRouter, 0.5 MB) fits
#: about 120 times, Featherless's whole unpaged catalog (about 8 MB) 8 times.
DEFAULT_MAX_RESPONSE_MB = 64
#: Wall-clock budget of one provider's fetch: connecting, every attempt and page, every retry wait.
DEFAULT_DEADLINE_SECONDS = 90.0
#: An unpaged list larger than this is read entry by entry (ijson) instead of parsed whole, so its
#: memory does not grow with the catalog; smaller ones are parsed at once, which is faster.
STREAM_PARSE_BYTES = 16 * 1024 * 1024
STREAMED_CHUNK_ENTRIES = 5000
#: An unpaged list up to this size is parsed once, by the fetch, and its entries kept for the normalizer.
KEEP_PARSED_BYTES = 2 * 1024 * 1024
#: How much of an error response is read for its message.
ERROR_BODY_BYTES = 64 * 1024
#: Decompressed bytes produced per step, so one compressed chunk cannot expand without bound.
_DECODE_SLICE = 256 * 1024
_MIB = 1024 * 1024
#: Headers that carry credentials, whatever the auth style.
CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "x-goog-api-key", "api-key", "proxy-authorization"})
#: The header each auth style puts the key in, and what precedes the key in its value (no entry: no key sent).
KEY_HEADER_FORMS: dict[AuthStyle, tuple[str, str]] = {
    AuthStyle.BEARER: ("Authorization", "Bearer "),
    AuthStyle.KEY: ("Authorization", "Key "),
    AuthStyle.X_API_KEY: ("x-api-key", ""),
    AuthStyle.X_GOOG_API_KEY: ("x-goog-api-key", ""),
}
#: The one method the engine sends.
_METHOD = "GET"
#: Header names the engine reads or sets, spelled once (HTTP header names are case-insensitive).
_LOCATION, _RETRY_AFTER, _CONTENT_LENGTH, _CONTENT_ENCODING, _ACCEPT_ENCODING = (
    "Location",
    "Retry-After",
    "Content-Length",
    "Content-Encoding",
    "Accept-Encoding",
)
#: The default client: who is asking, for what, and its connection pool (the timeout is set per request).
_CLIENT_OPTIONS: dict[str, Any] = {
    "headers": {"User-Agent": USER_AGENT, "Accept": "application/json"},
    "limits": httpx.Limits(max_connections=64, max_keepalive_connections=32),
}


def missing_variables(spec: ProviderSpec, environment: Mapping[str, str], replay_url: str | None) -> list[str]:
    """Variables a live sync of `spec` (its first endpoint to try) still needs in `environment`; none when
    `replay_url` serves every provider."""
    if replay_url:
        return []
    try:
        first = spec.endpoints(environment)[0]
    except ValueError:
        return []  # an invalid endpoint selector is reported by fetch, naming the variable
    return [name for name in first.required_env if not environment.get(name)]


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """The TLS context of every client of the process: the trusted certificates httpx loads (certifi, or
    SSL_CERT_FILE / SSL_CERT_DIR), read once. Building one costs 20-40 ms here, and a sync run makes an
    engine for its fetch, another for its freshness check, and the CLI a third to reconcile."""
    return httpx.create_ssl_context()


#: Characters `mask_url` leaves unescaped in a query: placeholders and the mask.
_KEPT_IN_QUERY = "{}*"
#: zlib's window bits for a gzip wrapper (RFC 1952): the largest window, plus 16.
_GZIP_WBITS = zlib.MAX_WBITS | 16


class ProviderError(Exception):
    """A provider's list could not be fetched or read; names provider, URL and cause, never a key."""

    def __init__(self, provider: str, url: str, cause: str, status: int | None = None):
        self.provider = provider
        self.url = url
        self.cause = cause
        self.status = status
        super().__init__(f"provider {provider!r}: GET {url}: {cause}")


class ProviderNotConfigured(ProviderError):
    """A provider whose key or extra variables are not set."""

    def __init__(self, provider: str, url: str, missing: list[str]):
        self.missing = missing
        super().__init__(provider, url, "not configured: set " + ", ".join(missing))


class DeadlineExceeded(ProviderError):
    """A provider's fetch ran out of its wall-clock budget."""


@dataclass(frozen=True)
class PageValidator:
    """What a page was requested with and the validators it was served with, for a conditional request next time.

    Attributes:
        cursor: the page (or cursor) parameter sent for the page; None for the first page.
        etag: the page's ``ETag``.
        last_modified: the page's ``Last-Modified``.
    """

    cursor: str | None
    etag: str | None = None
    last_modified: str | None = None

    def as_json(self) -> dict[str, str | None]:
        return {"cursor": self.cursor, "etag": self.etag, "last_modified": self.last_modified}

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PageValidator:
        return cls(data.get("cursor"), data.get("etag"), data.get("last_modified"))


@dataclass(frozen=True)
class PreviousFetch:
    """What the last stored snapshot of a provider says about its list, for conditional requests."""

    endpoint: str
    validators: tuple[PageValidator, ...] = ()
    #: digest of the stored pages (`PageStore.sha256`)
    payload_sha256: str | None = None


@dataclass(frozen=True)
class FetchResult:
    """One provider's live list and how fetching it went.

    The entries are either in `entries` (small lists, tests, `CatalogHttpEngine.fetch`) or, for a
    streamed fetch, in `store`: the raw pages, read back one page at a time by `entry_pages`.
    """

    provider: str
    url: str
    entries: list[Any]
    pages: int
    bytes: int
    latency_ms: float
    http_status: int
    attempts: int
    #: the endpoint that answered: the spec's primary name or a variant's (`ProviderSpec.endpoint_names`)
    endpoint: str = "primary"
    #: entries listed; None means ``len(entries)``
    live_count: int | None = None
    #: digest of the raw pages (`PageStore.sha256`); None for lists built in memory
    payload_sha256: str | None = None
    #: every page answered 304 Not Modified: the list is the stored snapshot, and no page was sent
    not_modified: bool = False
    #: the pages are byte for byte the stored snapshot's (same `payload_sha256`); the count is the snapshot's
    same_as_previous: bool = False
    validators: tuple[PageValidator, ...] = ()
    store: PageStore | None = field(default=None, compare=False, repr=False)
    #: the stored snapshot this list was read from (`CatalogWriter.load_snapshot`)
    snapshot_id: int | None = None
    #: a small unpaged list's entries, already parsed exactly by the fetch (read once by `entry_pages`)
    parsed: list[Any] | None = field(default=None, compare=False, repr=False)

    @property
    def count(self) -> int:
        return self.live_count if self.live_count is not None else len(self.entries)

    def entry_pages(self, spec: ProviderSpec, stream_large: bool = True) -> Iterator[list[Any]]:
        """The entries, one page at a time (parsed exactly: decimals stay decimals).

        Args:
            stream_large: read a large unpaged list entry by entry, in chunks, rather than parse it whole
                (a caller that keeps every entry anyway parses it whole: sharing repeated values is smaller).
        """
        if self.store is None:
            yield self.entries
            return
        if self.parsed is not None:
            yield self.parsed
            return
        sizes = self.store.sizes
        for index, stream in enumerate(self.store.streams()):
            unpaged = spec.pagination.style is PaginationStyle.NONE
            if stream_large and unpaged and (index >= len(sizes) or sizes[index] > STREAM_PARSE_BYTES):
                # a whole list too large to parse at once: entries stream out of the stored bytes
                chunk: list[Any] = []
                for entry in _streamed_records(spec, self.url, self.http_status, stream):
                    chunk.append(entry)
                    if len(chunk) >= STREAMED_CHUNK_ENTRIES:
                        yield chunk
                        chunk = []
                if chunk:
                    yield chunk
                continue
            # Sharing repeated values saves a third of the memory of a large unpaged list; for a page of a
            # paged list, or a small list, it only costs time.
            share = unpaged and (index >= len(sizes) or sizes[index] > KEEP_PARSED_BYTES)
            parsed = CatalogHttpEngine._json(spec, self.url, self.http_status, bytearray(stream.read()), share)
            yield CatalogHttpEngine._records(spec, self.url, parsed)

    def materialized(self, spec: ProviderSpec) -> FetchResult:
        """This result with every entry in `entries` (for callers that want the whole list at once)."""
        if self.store is None:
            return self
        entries = [entry for page in self.entry_pages(spec, stream_large=False) for entry in page]
        self.store.close()
        return replace(self, entries=entries, store=None, live_count=len(entries), parsed=None)

    def close(self) -> None:
        if self.store is not None:
            self.store.close()


class _Transient(Exception):
    """One attempt failed in a way the next attempt may not (a 429, a 5xx, a reset)."""

    def __init__(self, cause: str, status: int | None = None, retry_after: float | None = None):
        # not mutated: the engine reads .cause; str() of a _Transient is never shown
        super().__init__(cause)  # pragma: no mutate
        self.cause = cause
        self.status = status
        self.retry_after = retry_after


def mask_url(url: str) -> str:
    """The URL with credentials and secret-looking query values replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = [
        (k, "***" if k.lower() in SECRET_QUERY_NAMES else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe=_KEPT_IN_QUERY), ""))


def replay_rewrite(url: str, slug: str, replay_url: str) -> str:
    """``https://host/path?q`` becomes ``{replay_url}/{slug}/path?q``."""
    parts = urlsplit(url)
    target = f"{replay_url.rstrip('/')}/{slug}{parts.path}"
    return target + (f"?{parts.query}" if parts.query else "")


def credential_hosts(spec: ProviderSpec, environment: Mapping[str, str], replay_url: str | None) -> frozenset[str]:
    """The hosts `spec`'s key may be sent to: those of its primary and every variant, or the replay server's."""
    if replay_url:
        host = urlsplit(replay_url).hostname
        return frozenset({host.lower()}) if host else frozenset()
    return frozenset(host.lower() for host in spec.credential_hosts(environment))


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    # httpx normalizes both: the host to lower case, the scheme's default port to None
    return url.scheme, url.host, url.port


def _retry_after_seconds(value: str | None) -> float | None:
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


class _Deadline:
    """The wall-clock budget of one provider's fetch."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.ends = time.monotonic() + seconds

    def remaining(self) -> float:
        return self.ends - time.monotonic()

    def exceeded(self) -> bool:
        # a timeout set to the remaining time may fire a hair early
        return self.remaining() <= 0.01


class CatalogHttpEngine:
    """Fetches providers' list-models endpoints.

    Args:
        environment: variables to read keys and extra ids from (the process environment
            in production, a plain dict in tests).
        replay_url: when set, every request goes to this local server instead.
        timeout_seconds: connect/read timeout per request (never beyond the deadline).
        max_attempts: attempts per request, the first included.
        max_retry_wait_seconds: the longest ``Retry-After`` honoured; longer waits are capped.
        backoff_seconds: first wait between attempts when the server names none; doubles each time.
        deadline_seconds: wall-clock budget of one provider's whole fetch (``CATALOG_PROVIDER_DEADLINE_S``).
        max_response_mb: largest decompressed response, for every provider (``CATALOG_MAX_RESPONSE_MB``);
            None: the spec's `max_response_mb`, else `DEFAULT_MAX_RESPONSE_MB`.
        client: an httpx client to reuse (tests inject one with a transport).
    """

    def __init__(
        self,
        environment: Mapping[str, str],
        replay_url: str | None = None,
        timeout_seconds: float = 30.0,
        max_attempts: int = 4,
        max_retry_wait_seconds: float = 30.0,
        backoff_seconds: float = 0.5,
        deadline_seconds: float = DEFAULT_DEADLINE_SECONDS,
        max_response_mb: float | None = None,
        client: httpx.Client | None = None,
    ):
        self.environment = environment
        self.replay_url = replay_url or None
        self.timeout_seconds = timeout_seconds
        self.max_attempts = max(1, max_attempts)
        self.max_retry_wait_seconds = max_retry_wait_seconds
        self.backoff_seconds = backoff_seconds
        self.deadline_seconds = deadline_seconds
        self.max_response_mb = max_response_mb
        self._client = client or httpx.Client(**_CLIENT_OPTIONS, verify=_tls_context())

    def close(self) -> None:
        self._client.close()

    def missing_variables(self, spec: ProviderSpec) -> list[str]:
        """Variables a live sync of `spec` (its first endpoint to try) still needs; none in replay mode."""
        return missing_variables(spec, self.environment, self.replay_url)

    def response_limit_mb(self, spec: ProviderSpec) -> float:
        """The largest decompressed response accepted from `spec`: CATALOG_MAX_RESPONSE_MB, else the spec's, else the default."""
        if self.max_response_mb is not None:
            return self.max_response_mb
        return spec.max_response_mb or DEFAULT_MAX_RESPONSE_MB

    def fetch(self, spec: ProviderSpec) -> FetchResult:
        """Fetch every page of `spec`'s list, from the first of its endpoints that exists, within the deadline.

        The endpoints are tried in the order `ProviderSpec.endpoints` gives: the primary,
        then each fallback variant, moving on only when an endpoint answers 404 or 410
        (gone or moved). Any other failure (401/403, 429 or 5xx after retries, a body that
        is not the list) ends the fetch there: it says nothing about where the list moved.
        All endpoints share the provider's one deadline.

        Raises:
            ProviderNotConfigured: a needed variable is not set.
            DeadlineExceeded: the fetch took longer than `deadline_seconds`.
            ProviderError: every endpoint tried failed (after retries where retrying can
                help), redirected to another origin, sent more than the response limit, or
                answered something that is not the expected list.
        """
        fetched = self.fetch_pages(spec)
        return fetched.materialized(spec.variant(fetched.endpoint))

    def fetch_pages(self, spec: ProviderSpec, previous: PreviousFetch | None = None) -> FetchResult:
        """`fetch`, keeping the raw pages in a `PageStore` instead of a list of entries (bounded memory).

        Args:
            previous: the stored snapshot's endpoint and page validators. Each page is then asked
                for conditionally (``If-None-Match``, ``If-Modified-Since``); when every page answers
                304 the result is `not_modified` and carries no pages. A page that changed after
                pages that did not starts the fetch over unconditionally (the unchanged pages'
                bodies were not sent).
        """
        try:
            return self._fetch_provider(spec, _Deadline(self.deadline_seconds), previous)
        except ProviderError as error:
            raise self._masked(error) from None

    def _fetch_provider(self, spec: ProviderSpec, deadline: _Deadline, previous: PreviousFetch | None) -> FetchResult:
        try:
            endpoints = spec.endpoints(self.environment)
        except ValueError as error:
            raise ProviderError(spec.slug, mask_url(spec.list_url(self.environment)), str(error)) from None
        allowed_hosts = credential_hosts(spec, self.environment, self.replay_url)
        gone: list[str] = []
        for position, endpoint in enumerate(endpoints):
            if position and self.missing_variables(endpoint):
                gone.append(f"{endpoint.endpoint_label} not configured")
                continue
            try:
                same = previous if previous and previous.endpoint == endpoint.endpoint_label else None
                return self._fetch_endpoint(endpoint, allowed_hosts, deadline, same)
            except (ProviderNotConfigured, DeadlineExceeded):
                raise
            except ProviderError as error:
                if error.status not in (404, 410) or position == len(endpoints) - 1:
                    if gone:
                        raise ProviderError(
                            error.provider, error.url, f"{error.cause} (tried before: {'; '.join(gone)})", error.status
                        ) from None
                    raise
                gone.append(f"{endpoint.endpoint_label} ({error.url}) answered HTTP {error.status}")
        raise ProviderError(
            spec.slug, mask_url(spec.list_url(self.environment)), "no endpoint left: " + "; ".join(gone)
        )

    def _fetch_endpoint(
        self,
        spec: ProviderSpec,
        allowed_hosts: frozenset[str],
        deadline: _Deadline,
        previous: PreviousFetch | None = None,
    ) -> FetchResult:
        real_url = spec.list_url(self.environment)
        shown_url = mask_url(real_url)
        missing = self.missing_variables(spec)
        if missing:
            raise ProviderNotConfigured(spec.slug, shown_url, missing)
        _check_url_variables(spec, self.environment, shown_url)
        url = replay_rewrite(real_url, spec.slug, self.replay_url) if self.replay_url else real_url
        headers = self._auth_headers(spec)
        pagination = spec.pagination
        params: dict[str, Any] = dict(spec.query)
        if pagination.size_param:
            params[pagination.size_param] = pagination.page_size
        if pagination.style is PaginationStyle.PAGE_NUMBER and pagination.page_param:
            params[pagination.page_param] = pagination.first_page

        conditional = previous.validators if previous else ()
        store = PageStore()
        kept: list[Any] | None = None
        validators: list[PageValidator] = []
        live_count = pages = total_bytes = attempts = not_modified = 0
        status = 0
        seen_cursors: set[str] = set()
        started = time.perf_counter()
        try:
            while True:
                sent = params.get(pagination.page_param) if pagination.page_param else None
                cursor_sent = None if sent is None else str(sent)
                condition = conditional[pages] if pages < len(conditional) else None
                if condition is not None and condition.cursor != cursor_sent:
                    condition = None
                status, _, used, validator = self._get(
                    spec, url, shown_url, params, headers, allowed_hosts, deadline, condition, cursor_sent, store
                )
                attempts += used
                pages += 1
                if status == 304:
                    not_modified += 1
                    validators.append(validator)
                    if pages < len(conditional):
                        cursor = conditional[pages].cursor
                        if cursor is None or pagination.page_param is None:
                            raise ProviderError(spec.slug, shown_url, "stored page validators are inconsistent")
                        params[pagination.page_param] = cursor
                        continue
                    break
                if not_modified:
                    # This page changed after pages that did not; their bodies were not sent: start over.
                    store.close()
                    return self._fetch_endpoint(spec, allowed_hosts, deadline)
                conditional = ()  # once one page changed, every later page is fetched whole
                size = store.sizes[-1]
                total_bytes += size
                validators.append(validator)
                if pagination.style is PaginationStyle.NONE and previous and store.sha256 == previous.payload_sha256:
                    live_count = -1  # the stored snapshot's list, byte for byte: no need to parse it
                    break
                if pagination.style is PaginationStyle.NONE and size > STREAM_PARSE_BYTES:
                    live_count = sum(1 for _ in _streamed_records(spec, shown_url, status, store.page_stream(-1)))
                    break
                parsed = self._probe_json(spec, shown_url, status, store.page_bytes(-1))
                page_entries = self._records(spec, shown_url, parsed)
                live_count += len(page_entries)
                cursor = self._next_cursor(spec, shown_url, parsed, page_entries, params, live_count)
                if pagination.style is PaginationStyle.NONE and size <= KEEP_PARSED_BYTES:
                    kept = page_entries  # parsed exactly already, and small: not parsed a second time
                del parsed, page_entries
                if cursor is None:
                    break
                if str(cursor) in seen_cursors:
                    raise ProviderError(spec.slug, shown_url, f"pagination repeats cursor {str(cursor)[:40]!r}")
                seen_cursors.add(str(cursor))
                params[pagination.page_param] = cursor
                if pages >= pagination.max_pages:
                    raise ProviderError(spec.slug, shown_url, f"more than {pagination.max_pages} pages; stopped")
        except BaseException:
            store.close()
            raise
        all_not_modified = bool(not_modified) and not_modified == pages
        same = all_not_modified or bool(previous and previous.payload_sha256 == store.sha256)
        if all_not_modified:
            store.close()
        else:
            store.seal()
        return FetchResult(
            provider=spec.slug,
            url=shown_url,
            entries=[],
            pages=pages,
            bytes=total_bytes,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            http_status=status,
            attempts=attempts,
            endpoint=spec.endpoint_label,
            live_count=None if same or live_count < 0 else live_count,
            payload_sha256=previous.payload_sha256 if all_not_modified and previous else store.sha256,
            not_modified=all_not_modified,
            same_as_previous=same,
            validators=tuple(validators),
            store=None if all_not_modified else store,
            parsed=kept,
        )

    def _probe_json(self, spec: ProviderSpec, shown_url: str, status: int, body: bytearray) -> Any:
        """Parse a page only to count it and find the next cursor (the normalizer parses it again, exactly,
        from the store: `FetchResult.entry_pages`). A page of a paged list is small: the fast parser,
        the exact one deciding when it refuses. A whole unpaged list: the exact parser, which frees the
        bytes before it builds objects."""
        if spec.pagination.style is not PaginationStyle.NONE:
            try:
                return json.loads(body)
            except (ValueError, RecursionError):
                pass
        return self._json(spec, shown_url, status, body, share_values=len(body) > KEEP_PARSED_BYTES)

    def _auth_headers(self, spec: ProviderSpec) -> dict[str, str]:
        headers = dict(spec.extra_headers)
        key = self.environment.get(spec.key_env)
        form = KEY_HEADER_FORMS.get(spec.auth)
        if key and form:
            name, prefix = form
            headers[name] = prefix + key
        return headers

    def _credential_free(self, headers: Mapping[str, str]) -> dict[str, str]:
        """`headers` without any that carries a credential (by name, or by holding a configured secret)."""
        secrets = [secret for secret in configured_secrets(self.environment) if len(secret) >= 4]
        return {
            name: value
            for name, value in headers.items()
            if name.lower() not in CREDENTIAL_HEADERS and not any(secret in value for secret in secrets)
        }

    def _credential_free_url(self, url: httpx.URL) -> httpx.URL:
        """`url` without user info and without query parameters that carry a credential."""
        secrets = {secret for secret in configured_secrets(self.environment) if len(secret) >= 4}
        for name, value in url.params.multi_items():
            if name.lower() in SECRET_QUERY_NAMES or value in secrets:
                url = url.copy_remove_param(name)
        # not mutated: httpx drops the whole user info when either part is set to None
        return url.copy_with(username=None, password=None) if url.userinfo else url  # pragma: no mutate

    def _get(
        self,
        spec: ProviderSpec,
        url: str,
        shown_url: str,
        params: Mapping[str, Any],
        headers: Mapping[str, str],
        allowed_hosts: frozenset[str],
        deadline: _Deadline,
        condition: PageValidator | None = None,
        cursor_sent: str | None = None,
        sink: PageStore | None = None,
    ) -> tuple[int, bytearray, int, PageValidator]:
        """One page: (HTTP status, decompressed body, attempts used, its validators), retrying transient
        failures. With `condition`, a 304 answer comes back as status 304 and an empty body."""
        attempt = 0
        while True:
            attempt += 1
            if deadline.exceeded():
                raise self._deadline_error(spec, shown_url, deadline, attempt - 1)
            try:
                status, body, validator = self._attempt(
                    spec, url, shown_url, params, headers, allowed_hosts, deadline, condition, cursor_sent, sink
                )
            except _Transient as failure:
                if deadline.exceeded():
                    raise self._deadline_error(spec, shown_url, deadline, attempt, failure.cause) from None
                if attempt >= self.max_attempts:
                    raise ProviderError(
                        spec.slug, shown_url, f"{failure.cause} after {attempt} attempts", failure.status
                    ) from None
                wait = self._wait_seconds(attempt, failure.retry_after)
                if wait >= deadline.remaining():
                    raise self._deadline_error(
                        spec, shown_url, deadline, attempt, f"{failure.cause}, next attempt due in {wait:.1f} s"
                    ) from None
                time.sleep(wait)
                continue
            return status, body, attempt, validator

    def _deadline_error(
        self, spec: ProviderSpec, shown_url: str, deadline: _Deadline, attempts: int, last: str | None = None
    ) -> DeadlineExceeded:
        cause = f"deadline exceeded: no complete answer within {deadline.seconds:g} s ({attempts} attempt(s)"
        cause += f"; last: {last})" if last else ")"
        return DeadlineExceeded(spec.slug, shown_url, cause)

    def _wait_seconds(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_retry_wait_seconds)
        return min(self.backoff_seconds * 2 ** (attempt - 1), self.max_retry_wait_seconds)

    def _attempt(
        self,
        spec: ProviderSpec,
        url: str,
        shown_url: str,
        params: Mapping[str, Any],
        headers: Mapping[str, str],
        allowed_hosts: frozenset[str],
        deadline: _Deadline,
        condition: PageValidator | None = None,
        cursor_sent: str | None = None,
        sink: PageStore | None = None,
    ) -> tuple[int, bytearray, PageValidator]:
        """One request, following same-origin redirects by hand; returns the status, the whole body and
        the page's validators (a 304 keeps `condition`'s).

        Raises:
            _Transient: a retryable status or a network failure that may pass.
            ProviderError: a permanent failure (4xx, cross-origin redirect, invalid URL, TLS, DNS, too large).
        """
        try:
            request_url = self._client.build_request(_METHOD, url, params=params).url
        except (httpx.InvalidURL, httpx.UnsupportedProtocol, ValueError) as error:
            raise ProviderError(spec.slug, shown_url, f"invalid URL: {error} (not retried)") from None
        problem = _url_problem(request_url)
        if problem:
            raise ProviderError(spec.slug, shown_url, f"invalid URL: {problem} (not retried)")
        for _hop in range(MAX_REDIRECTS + 1):
            response = self._send(
                spec, shown_url, request_url, {**headers, **_conditional_headers(condition)}, allowed_hosts, deadline
            )
            try:
                status = response.status_code
                location = response.headers.get(_LOCATION)
                if status in REDIRECT_STATUSES and location:
                    request_url = self._redirect_target(spec, shown_url, request_url, location)
                    continue
                if status == 304 and condition is not None:
                    return status, bytearray(), condition
                if status in RETRY_STATUSES:
                    raise _Transient(f"HTTP {status}", status, _retry_after_seconds(response.headers.get(_RETRY_AFTER)))
                if status >= 400:
                    text = self._error_text(spec, shown_url, response, deadline)
                    raise ProviderError(spec.slug, shown_url, f"HTTP {status}{text}", status)
                limit_mb = self.response_limit_mb(spec)
                if sink is not None:
                    sink.begin_page()
                try:
                    body = self._read_body(spec, shown_url, response, int(limit_mb * _MIB), limit_mb, deadline, sink)
                except BaseException:
                    if sink is not None:
                        sink.abort_page()
                    raise
                if sink is not None:
                    sink.end_page()
                validator = PageValidator(
                    cursor_sent, response.headers.get("ETag"), response.headers.get("Last-Modified")
                )
                return status, body, validator
            except httpx.TransportError as error:
                raise self._transport_failure(spec, shown_url, error, deadline) from None
            finally:
                response.close()
        raise ProviderError(spec.slug, shown_url, f"more than {MAX_REDIRECTS} redirects; stopped")

    def _send(
        self,
        spec: ProviderSpec,
        shown_url: str,
        url: httpx.URL,
        headers: Mapping[str, str],
        allowed_hosts: frozenset[str],
        deadline: _Deadline,
    ) -> httpx.Response:
        # A host the spec does not name never sees a credential, whatever led the engine there.
        if url.host.lower() not in allowed_hosts:
            headers, url = self._credential_free(headers), self._credential_free_url(url)
        timeout = max(0.05, min(self.timeout_seconds, deadline.remaining()))
        request = self._client.build_request(
            _METHOD, url, headers={**headers, _ACCEPT_ENCODING: "gzip, deflate"}, timeout=httpx.Timeout(timeout)
        )
        try:
            # not mutated: follow_redirects None and False both mean "do not follow" to httpx
            return self._client.send(request, stream=True, follow_redirects=False)  # pragma: no mutate
        except httpx.TransportError as error:
            raise self._transport_failure(spec, shown_url, error, deadline) from None
        except httpx.HTTPError as error:  # not retried: a body httpx could not decode
            raise ProviderError(spec.slug, shown_url, f"{type(error).__name__}: {error}") from None

    def _redirect_target(self, spec: ProviderSpec, shown_url: str, current: httpx.URL, location: str) -> httpx.URL:
        try:
            target = current.join(location)
        except (httpx.InvalidURL, ValueError) as error:
            raise ProviderError(spec.slug, shown_url, f"redirect to an invalid URL: {error}") from None
        if _origin(target) != _origin(current):
            raise ProviderError(
                spec.slug,
                shown_url,
                f"redirected to another origin, {mask_url(str(target))}; not followed "
                f"(credentials are only sent to {current.host})",
            )
        return target

    def _transport_failure(
        self, spec: ProviderSpec, shown_url: str, error: httpx.TransportError, deadline: _Deadline
    ) -> Exception:
        """A network failure as a retryable `_Transient` or, when retrying cannot help, a `ProviderError`."""
        described = f"{type(error).__name__}: {error}" if str(error) else type(error).__name__
        if isinstance(error, httpx.TimeoutException) and deadline.exceeded():
            return _Transient(described)  # the caller reports the deadline
        permanent = _permanent_cause(error)
        if permanent:
            return ProviderError(spec.slug, shown_url, f"{permanent}: {described} (not retried)")
        return _Transient(described)

    def _error_text(self, spec: ProviderSpec, shown_url: str, response: httpx.Response, deadline: _Deadline) -> str:
        """The start of an error response's body, masked before it is cut."""
        try:
            raw = self._read_body(spec, shown_url, response, ERROR_BODY_BYTES, None, deadline)
        except (ProviderError, httpx.HTTPError):
            return ""
        text = mask_secrets(raw.decode(errors="replace"), self.environment).strip().replace("\n", " ")
        return f" ({shorten(text, 200)})" if text else ""

    @staticmethod
    def _read_body(
        spec: ProviderSpec,
        shown_url: str,
        response: httpx.Response,
        limit_bytes: int,
        limit_mb: float | None,
        deadline: _Deadline,
        sink: PageStore | None = None,
    ) -> bytearray:
        """The decompressed body, read and decoded in slices.

        With `limit_mb`, a body beyond `limit_bytes` fails the provider as soon as it gets
        there; without, the body is cut at `limit_bytes` (error bodies). With `sink`, every
        slice goes to the page being written there instead, and nothing is returned: the
        body is never whole in memory.
        """

        def too_large() -> ProviderError:
            return ProviderError(spec.slug, shown_url, f"response exceeds {limit_mb:g} MiB; not read further")

        # not mutated: any default that is not digits is the same
        declared = response.headers.get(_CONTENT_LENGTH, "")  # pragma: no mutate
        encoding = response.headers.get(_CONTENT_ENCODING, "identity")
        if limit_mb is not None and declared.isdigit() and encoding in ("", "identity") and int(declared) > limit_bytes:
            raise too_large()
        if response.is_stream_consumed:  # built in memory (a test transport): httpx has decoded it already
            encoding, chunks = "", iter([response.content])
        else:
            chunks = response.iter_raw()
        decoder = _Decoder(spec, shown_url, encoding)

        def pieces() -> Iterator[bytes]:
            for chunk in chunks:
                yield from decoder.feed(chunk)
                if deadline.exceeded():
                    raise _Transient(f"body still arriving after {deadline.seconds:g} s")
            yield from decoder.finish()

        body = bytearray()
        size = 0
        for piece in pieces():
            size += len(piece)
            if sink is not None:
                sink.write(piece)
            else:
                body += piece
            if size > limit_bytes:
                if limit_mb is None:
                    return body[:limit_bytes]
                raise too_large()
        return body

    @staticmethod
    def _json(spec: ProviderSpec, shown_url: str, status: int, body: bytearray, share_values: bool = True) -> Any:
        """Parse `body`, releasing the bytes before the objects are built, so the peak is text + objects,
        and sharing repeated short values between entries (see `_SharedValues`)."""
        size = len(body)
        try:
            text = body.decode(json.detect_encoding(body), "surrogatepass")
        except (UnicodeDecodeError, LookupError) as error:
            raise ProviderError(
                spec.slug, shown_url, f"response is not valid JSON ({error}); {size} bytes received", status
            ) from None
        finally:
            body.clear()
        try:
            hook = _SharedValues() if share_values else None
            return json.loads(text, parse_float=Decimal, parse_int=_parse_int, object_pairs_hook=hook)
        except ValueError as error:
            raise ProviderError(
                spec.slug, shown_url, f"response is not valid JSON ({error}); {size} bytes received", status
            ) from None

    @staticmethod
    def _records(spec: ProviderSpec, shown_url: str, body: Any) -> list[Any]:
        records = dig(body, spec.records_path)  # an empty path is the body itself
        if not isinstance(records, list):
            where = f"field {spec.records_path!r}" if spec.records_path else "the body"
            found = type(records).__name__ if records is not None else "nothing"
            raise ProviderError(spec.slug, shown_url, f"expected a list in {where}, found {found}")
        return records

    @staticmethod
    def _next_cursor(
        spec: ProviderSpec,
        shown_url: str,
        body: Any,
        page_entries: list[Any],
        params: Mapping[str, Any],
        fetched_so_far: int,
    ) -> Any:
        pagination = spec.pagination
        if pagination.style is PaginationStyle.NONE:
            return None
        if pagination.style is PaginationStyle.PAGE_NUMBER:
            if not page_entries:
                return None
            page = int(params[pagination.page_param])
            reported = {fact: dig(body, path) for path, fact in pagination.page_info.items()}
            total_pages, total_count = reported.get("total_pages"), reported.get("total_count")
            # Reported totals win over page length: a server that caps per_page below what we
            # asked for sends short pages that are not the last one.
            if isinstance(total_pages, int) and not isinstance(total_pages, bool):
                return None if page - pagination.first_page + 1 >= total_pages else page + 1
            if isinstance(total_count, int) and not isinstance(total_count, bool):
                return None if fetched_so_far >= total_count else page + 1
            return None if len(page_entries) < pagination.page_size else page + 1
        if pagination.style is PaginationStyle.AFTER_ID:
            if not dig(body, pagination.has_more_path):
                return None
            cursor = dig(body, pagination.cursor_path)
            if not cursor:
                raise ProviderError(spec.slug, shown_url, f"has_more is true but {pagination.cursor_path!r} is empty")
            return cursor
        if pagination.has_more_path and not dig(body, pagination.has_more_path):
            return None
        token = dig(body, pagination.cursor_path)
        if not token and pagination.has_more_path:
            raise ProviderError(spec.slug, shown_url, f"has_more is true but {pagination.cursor_path!r} is empty")
        return token or None

    def _masked(self, error: ProviderError) -> ProviderError:
        message = mask_secrets(error.cause, self.environment)
        if message == error.cause:
            return error
        masked = type(error).__new__(type(error))
        ProviderError.__init__(masked, error.provider, error.url, message, error.status)
        if isinstance(error, ProviderNotConfigured):
            masked.missing = error.missing
        return masked


class _SharedValues:
    """``object_pairs_hook`` that stores each repeated short value once.

    A catalog repeats the same short strings and numbers in every entry (a price of
    "0", "text", a context length, a tokenizer name); parsed naively each is its own
    object, which made the parsed list about three times the size of the body. Values
    are immutable, so sharing them is safe; lists and dicts are never shared.
    """

    __slots__ = ("memo",)
    MAX_LENGTH = 64

    def __init__(self) -> None:
        self.memo: dict[tuple[type, Any], Any] = {}

    def share(self, value: Any) -> Any:
        kind = type(value)
        if kind is str:
            return self.memo.setdefault((kind, value), value) if len(value) <= self.MAX_LENGTH else value
        if kind is int or kind is Decimal:
            # keyed by text: Decimal("0.50") == Decimal("0.5"), yet each must keep its own digits
            return self.memo.setdefault((kind, str(value)), value)
        if kind is list:
            return [self.share(item) for item in value] if len(value) <= 32 else value
        return value

    def __call__(self, pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        return {key: self.share(value) for key, value in pairs}


class _Decoder:
    """Content-Encoding decoding in bounded slices (gzip, deflate, identity; a list is decoded in reverse)."""

    def __init__(self, spec: ProviderSpec, shown_url: str, content_encoding: str):
        self.spec, self.shown_url = spec, shown_url
        codings = [c.strip().lower() for c in content_encoding.split(",") if c.strip().lower() not in ("", "identity")]
        self.stages: list[Any] = []
        for coding in reversed(codings):
            if coding in ("gzip", "x-gzip"):
                self.stages.append(zlib.decompressobj(_GZIP_WBITS))
            elif coding == "deflate":
                self.stages.append(_DeflateStage())
            else:
                raise ProviderError(spec.slug, shown_url, f"unsupported Content-Encoding {coding!r}")

    def feed(self, data: bytes) -> Iterator[bytes]:
        yield from self._through(0, data)

    def _through(self, index: int, data: bytes) -> Iterator[bytes]:
        if index == len(self.stages):
            if data:
                yield data
            return
        stage = self.stages[index]
        try:
            while data and not stage.eof:  # bytes after the end of a stream are not part of the body
                piece = stage.decompress(data, _DECODE_SLICE)
                data = stage.unconsumed_tail
                yield from self._through(index + 1, piece)
        except zlib.error as error:
            raise ProviderError(
                self.spec.slug, self.shown_url, f"corrupt compressed body (DecodingError: {error})"
            ) from None

    def finish(self) -> Iterator[bytes]:
        for index, stage in enumerate(self.stages):
            if not stage.eof:
                raise ProviderError(self.spec.slug, self.shown_url, "compressed body ends early (truncated)")
            yield from self._through(index + 1, stage.flush())


class _DeflateStage:
    """``deflate`` as servers send it: zlib-wrapped as the RFC says, or raw as some do."""

    def __init__(self) -> None:
        self._inner = zlib.decompressobj()
        self._started = False

    def decompress(self, data: bytes, max_length: int) -> bytes:
        if not self._started:
            self._started = True
            try:
                return self._inner.decompress(data, max_length)
            except zlib.error:
                self._inner = zlib.decompressobj(-zlib.MAX_WBITS)
        return self._inner.decompress(data, max_length)

    @property
    def unconsumed_tail(self) -> bytes:
        return self._inner.unconsumed_tail

    @property
    def eof(self) -> bool:
        return self._inner.eof

    def flush(self) -> bytes:
        return self._inner.flush()


def _url_problem(url: httpx.URL) -> str | None:
    # httpx gives a URL without a host no scheme either: "scheme 'missing'" covers both
    if url.scheme not in ("http", "https"):
        return f"scheme {url.scheme or 'missing'!r}, not http or https"
    if url.port is not None and not 0 < url.port < 65536:
        return f"port {url.port} out of range"
    return None


def _streamed_records(spec: ProviderSpec, shown_url: str, status: int, stream: Any) -> Iterator[Any]:
    """The entries of the list at `spec.records_path`, read from `stream` one at a time (decimals stay exact)."""
    path = spec.records_path or ""
    try:
        events = ijson.parse(stream, use_float=False)
        for prefix, event, _value in events:
            if prefix == path and event not in ("map_key", "end_map"):
                if event != "start_array":
                    found = "nothing" if event == "null" else event.replace("start_", "")
                    where = f"field {spec.records_path!r}" if spec.records_path else "the body"
                    raise ProviderError(spec.slug, shown_url, f"expected a list in {where}, found {found}")
                break
        else:
            where = f"field {spec.records_path!r}" if spec.records_path else "the body"
            raise ProviderError(spec.slug, shown_url, f"expected a list in {where}, found nothing")
        yield from ijson.items(events, f"{path}.item" if path else "item", use_float=False)
    except ijson.JSONError as error:
        raise ProviderError(spec.slug, shown_url, f"response is not valid JSON ({error})", status) from None


def _conditional_headers(condition: PageValidator | None) -> dict[str, str]:
    if condition is None:
        return {}
    headers = {}
    if condition.etag:
        headers["If-None-Match"] = condition.etag
    if condition.last_modified:
        headers["If-Modified-Since"] = condition.last_modified
    return headers


def _check_url_variables(spec: ProviderSpec, environment: Mapping[str, str], shown_url: str) -> None:
    """Extra variables are pasted into the URL: one that could change its host or path is refused."""
    for name in spec.extra_env:
        value = environment.get(name)
        if value and not _URL_VARIABLE.fullmatch(value):
            raise ProviderError(
                spec.slug, shown_url, f"{name} may hold only letters, digits, '-', '_' and '.' (not retried)"
            )


_URL_VARIABLE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.\-]*")


def _permanent_cause(error: httpx.TransportError) -> str | None:
    """Why retrying `error` cannot help (an invalid URL, TLS or DNS failure), or None when it might."""
    if isinstance(error, httpx.UnsupportedProtocol | httpx.LocalProtocolError):
        return "invalid request"
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, httpx.InvalidURL):  # a Location httpx could not parse, for one
            return "invalid URL"
        if isinstance(cause, ssl.SSLError | ssl.CertificateError):
            return "TLS failure"
        if isinstance(cause, socket.gaierror):
            return None if cause.errno == socket.EAI_AGAIN else "DNS failure"
        cause = cause.__cause__ or cause.__context__
    text = str(error)
    if "Name or service not known" in text or "nodename nor servname" in text:
        return "DNS failure"
    if "CERTIFICATE_VERIFY_FAILED" in text or "SSL" in text:
        return "TLS failure"
    return None


def _parse_int(text: str) -> int | Decimal:
    # Python refuses to build ints of more than 4,300 digits; one absurd number in one entry
    # must not make the whole list unreadable, so it stays a Decimal for the normalizer to reject.
    return int(text) if len(text) <= 4000 else Decimal(text)
