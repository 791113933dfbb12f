"""The one HTTP engine every provider goes through.

It owns timeouts, retries (429 and 5xx, honouring ``Retry-After``), pagination,
the ``CATALOG_REPLAY_URL`` rewrite and secret hygiene: keys travel only in headers,
and every error message is scrubbed of key values before it leaves this module.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import httpx
import tenacity

from catalog_pipeline.providers.normalize import dig
from catalog_pipeline.providers.spec import AuthStyle, PaginationStyle, ProviderSpec

USER_AGENT = "catalog-pipeline/0.1 (+model catalog sync)"
RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_SECRET_QUERY_NAMES = frozenset({"key", "api_key", "apikey", "token", "access_token", "signature"})


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


@dataclass(frozen=True)
class FetchResult:
    """One provider's complete live list and how fetching it went."""

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


class _RetryableResponse(Exception):
    def __init__(self, status: int, retry_after: float | None):
        super().__init__(f"HTTP {status}")
        self.status = status
        self.retry_after = retry_after


def mask_url(url: str) -> str:
    """The URL with credentials and secret-looking query values replaced by ``***``."""
    parts = urlsplit(url)
    netloc = parts.netloc.rsplit("@", 1)[-1]
    query = [
        (k, "***" if k.lower() in _SECRET_QUERY_NAMES else v) for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit((parts.scheme, netloc, parts.path, urlencode(query, safe="{}*"), ""))


def replay_rewrite(url: str, slug: str, replay_url: str) -> str:
    """``https://host/path?q`` becomes ``{replay_url}/{slug}/path?q``."""
    parts = urlsplit(url)
    target = f"{replay_url.rstrip('/')}/{slug}{parts.path}"
    return target + (f"?{parts.query}" if parts.query else "")


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


class CatalogHttpEngine:
    """Fetches providers' list-models endpoints.

    Args:
        environment: variables to read keys and extra ids from (the process environment
            in production, a plain dict in tests).
        replay_url: when set, every request goes to this local server instead.
        timeout_seconds: connect/read timeout per request.
        max_attempts: attempts per request, the first included.
        max_retry_wait_seconds: the longest ``Retry-After`` honoured; longer waits are capped.
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
        client: httpx.Client | None = None,
    ):
        self.environment = environment
        self.replay_url = replay_url or None
        self.max_attempts = max_attempts
        self.max_retry_wait_seconds = max_retry_wait_seconds
        self.backoff_seconds = backoff_seconds
        self._client = client or httpx.Client(
            timeout=httpx.Timeout(timeout_seconds),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
            follow_redirects=True,
            limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        )

    def close(self) -> None:
        self._client.close()

    def missing_variables(self, spec: ProviderSpec) -> list[str]:
        """Variables a live sync of `spec` (its first endpoint to try) still needs; none in replay mode."""
        if self.replay_url:
            return []
        try:
            first = spec.endpoints(self.environment)[0]
        except ValueError:
            return []  # an invalid endpoint selector is reported by fetch, naming the variable
        return [name for name in first.required_env if not self.environment.get(name)]

    def is_configured(self, spec: ProviderSpec) -> bool:
        return not self.missing_variables(spec)

    def fetch(self, spec: ProviderSpec) -> FetchResult:
        """Fetch every page of `spec`'s list, from the first of its endpoints that exists.

        The endpoints are tried in the order `ProviderSpec.endpoints` gives: the primary,
        then each fallback variant, moving on only when an endpoint answers 404 or 410
        (gone or moved). Any other failure (401/403, 429 or 5xx after retries, a body that
        is not the list) ends the fetch there: it says nothing about where the list moved.

        Raises:
            ProviderNotConfigured: a needed variable is not set.
            ProviderError: every endpoint tried failed, or one answered something that is
                not the expected list.
        """
        try:
            endpoints = spec.endpoints(self.environment)
        except ValueError as error:
            raise ProviderError(spec.slug, mask_url(spec.list_url(self.environment)), str(error)) from None
        gone: list[str] = []
        for position, endpoint in enumerate(endpoints):
            if position and self.missing_variables(endpoint):
                gone.append(f"{endpoint.endpoint_label} not configured")
                continue
            try:
                return self._fetch_endpoint(endpoint)
            except ProviderNotConfigured:
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

    def _fetch_endpoint(self, spec: ProviderSpec) -> FetchResult:
        real_url = spec.list_url(self.environment)
        shown_url = mask_url(real_url)
        missing = self.missing_variables(spec)
        if missing:
            raise ProviderNotConfigured(spec.slug, shown_url, missing)
        url = replay_rewrite(real_url, spec.slug, self.replay_url) if self.replay_url else real_url
        headers = self._auth_headers(spec)
        pagination = spec.pagination
        params: dict[str, Any] = dict(spec.query)
        if pagination.size_param:
            params[pagination.size_param] = pagination.page_size
        if pagination.style is PaginationStyle.PAGE_NUMBER and pagination.page_param:
            params[pagination.page_param] = pagination.first_page

        entries: list[Any] = []
        pages = total_bytes = attempts = 0
        status = 0
        seen_cursors: set[str] = set()
        started = time.perf_counter()
        try:
            while True:
                response, used = self._get(spec, url, shown_url, params, headers)
                attempts += used
                pages += 1
                total_bytes += len(response.content)
                status = response.status_code
                body = self._json(spec, shown_url, response)
                page_entries = self._records(spec, shown_url, body)
                entries.extend(page_entries)
                cursor = self._next_cursor(spec, shown_url, body, page_entries, params, len(entries))
                if cursor is None:
                    break
                if str(cursor) in seen_cursors:
                    raise ProviderError(spec.slug, shown_url, f"pagination repeats cursor {str(cursor)[:40]!r}")
                seen_cursors.add(str(cursor))
                params[pagination.page_param] = cursor
                if pages >= pagination.max_pages:
                    raise ProviderError(spec.slug, shown_url, f"more than {pagination.max_pages} pages; stopped")
        except ProviderError as error:
            raise self._scrubbed(error) from None
        return FetchResult(
            provider=spec.slug,
            url=shown_url,
            entries=entries,
            pages=pages,
            bytes=total_bytes,
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            http_status=status,
            attempts=attempts,
            endpoint=spec.endpoint_label,
        )

    def _auth_headers(self, spec: ProviderSpec) -> dict[str, str]:
        headers = dict(spec.extra_headers)
        key = self.environment.get(spec.key_env)
        if not key or spec.auth is AuthStyle.NONE:
            return headers
        if spec.auth is AuthStyle.BEARER:
            headers["Authorization"] = f"Bearer {key}"
        elif spec.auth is AuthStyle.KEY:
            headers["Authorization"] = f"Key {key}"
        elif spec.auth is AuthStyle.X_API_KEY:
            headers["x-api-key"] = key
        elif spec.auth is AuthStyle.X_GOOG_API_KEY:
            headers["x-goog-api-key"] = key
        return headers

    def _get(
        self, spec: ProviderSpec, url: str, shown_url: str, params: Mapping[str, Any], headers: Mapping[str, str]
    ) -> tuple[httpx.Response, int]:
        retrying = tenacity.Retrying(
            stop=tenacity.stop_after_attempt(self.max_attempts),
            wait=self._wait,
            retry=tenacity.retry_if_exception_type((_RetryableResponse, httpx.TransportError)),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    response = self._client.get(url, params=params, headers=headers)
                    if response.status_code in RETRY_STATUSES:
                        raise _RetryableResponse(
                            response.status_code, _retry_after_seconds(response.headers.get("Retry-After"))
                        )
                    if response.status_code >= 400:
                        raise ProviderError(
                            spec.slug,
                            shown_url,
                            f"HTTP {response.status_code} {_short_body(response)}",
                            response.status_code,
                        )
                    return response, attempt.retry_state.attempt_number
        except _RetryableResponse as error:
            raise ProviderError(
                spec.slug, shown_url, f"HTTP {error.status} after {self.max_attempts} attempts", error.status
            ) from None
        except httpx.TransportError as error:
            raise ProviderError(
                spec.slug, shown_url, f"{type(error).__name__} after {self.max_attempts} attempts: {error}"
            ) from None
        except httpx.HTTPError as error:  # not retried: a corrupt compressed body, a redirect loop
            raise ProviderError(spec.slug, shown_url, f"{type(error).__name__}: {error}") from None
        raise AssertionError("unreachable")  # pragma: no cover

    def _wait(self, retry_state: tenacity.RetryCallState) -> float:
        error = retry_state.outcome.exception() if retry_state.outcome else None
        if isinstance(error, _RetryableResponse) and error.retry_after is not None:
            return min(error.retry_after, self.max_retry_wait_seconds)
        return min(self.backoff_seconds * 2 ** (retry_state.attempt_number - 1), self.max_retry_wait_seconds)

    @staticmethod
    def _json(spec: ProviderSpec, shown_url: str, response: httpx.Response) -> Any:
        try:
            return json.loads(response.content, parse_float=Decimal, parse_int=_parse_int)
        except (ValueError, UnicodeDecodeError) as error:
            raise ProviderError(
                spec.slug,
                shown_url,
                f"response is not valid JSON ({error}); {len(response.content)} bytes received",
                response.status_code,
            ) from None

    @staticmethod
    def _records(spec: ProviderSpec, shown_url: str, body: Any) -> list[Any]:
        records = dig(body, spec.records_path) if spec.records_path else body
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

    def _scrubbed(self, error: ProviderError) -> ProviderError:
        message = scrub_secrets(error.cause, self.environment)
        if message == error.cause:
            return error
        return ProviderError(error.provider, error.url, message, error.status)


SECRET_SUFFIXES = ("_API_KEY", "_TOKEN", "_SECRET", "_PASSWORD")


def scrub_secrets(message: str, environment: Mapping[str, str], extra: Sequence[str | None] = ()) -> str:
    """`message` with the value of every secret-named variable (and any `extra` secret) as ``***``."""
    secrets = [value for name, value in environment.items() if name.endswith(SECRET_SUFFIXES)] + list(extra)
    for secret in secrets:
        if secret and len(secret) >= 4:
            message = message.replace(str(secret), "***")
    return message


def _parse_int(text: str) -> int | Decimal:
    # Python refuses to build ints of more than 4,300 digits; one absurd number in one entry
    # must not make the whole list unreadable, so it stays a Decimal for the normalizer to reject.
    return int(text) if len(text) <= 4000 else Decimal(text)


def _short_body(response: httpx.Response) -> str:
    text = response.text.strip().replace("\n", " ")
    return f"({text[:200]})" if text else ""
