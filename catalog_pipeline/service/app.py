"""The read-only catalog API behind ``catalog-pipeline serve``.

Model lists (OpenAI's ``/v1/models`` shape and the replaced gateway's
``/models?gateway=``), one model with its price history, the change feed (JSON and
Atom), parity and health, straight from the catalog database that the sync keeps in
line with the providers. The server opens the database read-only and never migrates it.
"""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from alembic.runtime.migration import MigrationContext
from fastapi import FastAPI, Path, Query, Request, Response
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.middleware.gzip import GZipMiddleware
from starlette.exceptions import HTTPException as StarletteHTTPException

from catalog_pipeline import settings
from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.service import documents, reads
from catalog_pipeline.service.atom import render_atom
from catalog_pipeline.service.http import (
    GZIP_MINIMUM_BYTES,
    ListWarmer,
    Rendered,
    RenderedCache,
    json_bytes,
    send,
)
from catalog_pipeline.storage import schema
from catalog_pipeline.storage.changes import ChangeKind, decimal_text
from catalog_pipeline.storage.database import create_readonly_engine, head_revision
from catalog_pipeline.sync import SUCCESS

ProviderSlug = Literal[*PROVIDER_SLUGS]  # type: ignore[valid-type]
GatewaySlug = Literal["all", *PROVIDER_SLUGS]  # type: ignore[valid-type]
ChangeKindName = Literal[*ChangeKind.ALL]  # type: ignore[valid-type]
MAX_PAGE = 50_000
MAX_GATEWAY_LIMIT = 100_000
MAX_CHANGES_PAGE = 1000
#: The gateway's names for our price types; per-token prices are sent in USD per token, as it did.
GATEWAY_PRICE_NAMES = {
    "input": "prompt",
    "output": "completion",
    "cache_read": "input_cache_read",
    "cache_write": "input_cache_write",
    "image_input": "image",
}
_PER_MILLION_TOKENS = "usd_per_million_tokens"
_ERRORS = {
    400: {"model": documents.ErrorDocument, "description": "a bad parameter, named in `error.parameter`"},
    503: {"model": documents.ErrorDocument, "description": "the catalog database cannot be read"},
}
_NOT_FOUND = {404: {"model": documents.ErrorDocument, "description": "no such provider or model"}}
_NOT_MODIFIED = {304: {"description": "the client's copy (If-None-Match) is current"}}


class ApiError(Exception):
    def __init__(self, status_code: int, kind: str, message: str, parameter: str | None = None):
        super().__init__(message)
        self.status_code, self.kind, self.message, self.parameter = status_code, kind, message, parameter


def _error_response(status_code: int, kind: str, message: str, parameter: str | None = None) -> Response:
    error: dict[str, Any] = {"type": kind, "message": message}
    if parameter is not None:
        error["parameter"] = parameter
    return Response(json_bytes({"error": error}), status_code=status_code, media_type="application/json")


def _price_entry(price: dict[str, Any]) -> dict[str, Any]:
    return {"threshold_tokens": None, **price}


def model_entry(row: Any, prices: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """One model in the OpenAI list shape, with the catalog's own fields beside OpenAI's four."""
    return {
        "id": row.provider_model_id,
        "object": "model",
        "created": reads.unix_seconds(row.first_seen_at),
        "owned_by": row.provider,
        "provider": row.provider,
        "canonical_slug": row.canonical_slug,
        "name": row.name,
        "context_length": row.context_length,
        "max_output_tokens": row.max_output_tokens,
        "input_modalities": reads.modality_list(row.input_modalities),
        "output_modalities": reads.modality_list(row.output_modalities),
        "pricing": {price_type: _price_entry(price) for price_type, price in prices.items()},
        "price_status": row.price_status,
        "deprecation_date": reads.iso(row.deprecation_date),
        "provider_status": row.provider_status,
        "is_active": row.is_active,
        "first_seen_at": reads.iso(row.first_seen_at),
        "updated_at": reads.iso(row.updated_at),
        "deactivated_at": reads.iso(row.deactivated_at),
    }


def gateway_entry(row: Any, prices: Mapping[str, dict[str, Any]]) -> dict[str, Any]:
    """One model as the replaced gateway's ``/models`` listed it (OpenRouter-shaped, prices per token)."""
    inputs, outputs = reads.modality_list(row.input_modalities), reads.modality_list(row.output_modalities)
    return {
        "id": row.provider_model_id,
        "canonical_slug": row.canonical_slug,
        "name": row.name or row.provider_model_id,
        "created": reads.unix_seconds(row.first_seen_at),
        "context_length": row.context_length,
        "architecture": {
            "modality": f"{'+'.join(inputs)}->{'+'.join(outputs)}" if inputs or outputs else None,
            "input_modalities": inputs,
            "output_modalities": outputs,
        },
        "pricing": gateway_pricing(prices),
        "top_provider": {"context_length": row.context_length, "max_completion_tokens": row.max_output_tokens},
        "provider_slug": row.provider,
        "source_gateway": row.provider,
        "is_active": row.is_active,
    }


def gateway_pricing(prices: Mapping[str, dict[str, Any]]) -> dict[str, str]:
    result = {}
    for price_type, price in prices.items():
        text = _gateway_price(price["state"], price["amount"], price["unit"])
        if text is not None:
            result[GATEWAY_PRICE_NAMES.get(price_type, price_type)] = text
    return result


@functools.lru_cache(maxsize=65536)
def _gateway_price(state: str, amount: str | None, unit: str) -> str | None:
    """OpenRouter's convention: USD per token as text, '-1' for a variable price, nothing when unknown."""
    if state == "variable":
        return "-1"
    if state == "free":
        return "0"
    if amount is None:
        return None
    value = Decimal(amount)
    if unit == _PER_MILLION_TOKENS:
        value = value.scaleb(-6)
    return decimal_text(value) or "0"


def _after_key(after: str | None) -> tuple[str, str] | None:
    if after is None:
        return None
    provider, _, model_id = after.partition("/")
    if not provider or not model_id:
        raise ApiError(400, "invalid_parameter", "after: expected <provider>/<model id>, as in next_cursor", "after")
    return provider, model_id


def _utc_parameter(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def create_app(database_url: str, environment: Mapping[str, str] = os.environ) -> FastAPI:
    """The API over the catalog at `database_url`, configured from `environment` (interval, thresholds)."""
    engine = create_readonly_engine(database_url)
    sync_interval_hours = settings.env_int(
        settings.SYNC_INTERVAL_HOURS, settings.DEFAULT_SYNC_INTERVAL_HOURS, environment
    )
    cache = RenderedCache()
    warmer = ListWarmer(cache, reads.data_version, engine.connect)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        warmer.start()
        try:
            yield
        finally:
            warmer.stop()
            engine.dispose()

    app = FastAPI(
        lifespan=lifespan,
        title="catalog_pipeline API",
        version="1",
        summary="Read-only model lists, prices, price history and a change feed from the synced catalog database.",
        docs_url="/docs",
        redoc_url=None,
    )
    app.add_middleware(GZipMiddleware, minimum_size=GZIP_MINIMUM_BYTES, compresslevel=6)
    # A browser frontend on another origin (the gateway's) reads the lists; nothing here needs credentials.
    origins = [o.strip() for o in environment.get(settings.API_CORS_ORIGINS, "*").split(",") if o.strip()]
    app.add_middleware(
        CORSMiddleware,
        allow_origins=origins,
        allow_methods=["GET"],
        allow_headers=["If-None-Match"],
        expose_headers=["ETag"],
    )
    app.state.engine = engine
    app.state.cache = cache

    @app.exception_handler(RequestValidationError)
    def _bad_parameter(_request: Request, error: RequestValidationError) -> Response:
        first = error.errors()[0]
        location = [str(part) for part in first.get("loc", ())]
        name = location[-1] if location else "request"
        return _error_response(400, "invalid_parameter", f"{name}: {first.get('msg', 'invalid')}", name)

    @app.exception_handler(ApiError)
    def _api_error(_request: Request, error: ApiError) -> Response:
        return _error_response(error.status_code, error.kind, error.message, error.parameter)

    @app.exception_handler(StarletteHTTPException)
    def _http_error(_request: Request, error: StarletteHTTPException) -> Response:
        kind = "not_found" if error.status_code == 404 else "http_error"
        return _error_response(error.status_code, kind, str(error.detail))

    @app.exception_handler(sa.exc.SQLAlchemyError)
    def _database_error(_request: Request, error: sa.exc.SQLAlchemyError) -> Response:
        # The type only: a driver message can name the host, the user or worse.
        cause = type(getattr(error, "orig", None) or error).__name__
        return _error_response(503, "database_unavailable", f"the catalog database cannot be read ({cause})")

    def rendered_list(key: tuple, render: Any) -> Rendered:
        def rendered(connection: sa.Connection) -> Rendered:
            return Rendered(json_bytes(render(connection)))

        warmer.remember(key, rendered)
        with engine.connect() as connection:
            return cache.get_or_render(key, reads.data_version(connection), lambda: rendered(connection))

    @app.get(
        "/v1/models",
        response_model=documents.ModelList,
        responses={**_ERRORS, **_NOT_MODIFIED},
        tags=["models"],
        summary="Every model, OpenAI-compatible, with prices and lifecycle",
    )
    def list_models(
        request: Request,
        provider: Annotated[ProviderSlug | None, Query(description="only this provider's models")] = None,
        canonical_slug: Annotated[str | None, Query(max_length=512)] = None,
        active: Annotated[bool | None, Query(description="true: listed now; false: delisted; unset: both")] = None,
        modality: Annotated[
            str | None, Query(pattern=r"^[a-z0-9_-]{1,32}$", description="input or output modality, e.g. image")
        ] = None,
        limit: Annotated[
            int, Query(ge=1, le=MAX_PAGE, description="default: everything, in one page, as OpenAI's list does")
        ] = MAX_PAGE,
        after: Annotated[
            str | None,
            Query(
                max_length=1100,
                pattern=r"^[^/]+/.+$",
                description="`next_cursor` of the previous page: <provider>/<model id>",
            ),
        ] = None,
    ) -> Response:
        model_filter = reads.ModelFilter(provider, canonical_slug, active, modality)
        after_key = _after_key(after)

        def render(connection: sa.Connection) -> dict[str, Any]:
            rows, has_more = reads.model_page(connection, model_filter, limit, after_key)
            prices = reads.prices_of(connection, (row.id for row in rows))
            last = rows[-1] if rows else None
            return {
                "object": "list",
                "data": [model_entry(row, prices.get(row.id, {})) for row in rows],
                "has_more": has_more,
                "next_cursor": f"{last.provider}/{last.provider_model_id}" if has_more and last else None,
            }

        return send(request, rendered_list(("v1/models", model_filter, limit, after_key), render))

    @app.get(
        "/models",
        response_model=documents.GatewayList,
        responses={**_ERRORS, **_NOT_MODIFIED},
        tags=["models"],
        summary="The replaced gateway's model list: active models of one provider, or of all",
    )
    def gateway_models(
        request: Request,
        gateway: Annotated[GatewaySlug, Query(description="a provider slug, or all")] = "openrouter",
        limit: Annotated[int, Query(ge=1, le=MAX_GATEWAY_LIMIT)] = 100,
        offset: Annotated[int, Query(ge=0, le=10_000_000)] = 0,
    ) -> Response:
        model_filter = reads.ModelFilter(provider=None if gateway == "all" else gateway, active=True)

        def render(connection: sa.Connection) -> dict[str, Any]:
            rows, total = reads.model_slice(connection, model_filter, offset, limit)
            prices = reads.prices_of(connection, (row.id for row in rows))
            has_more = offset + len(rows) < total
            return {
                "data": [gateway_entry(row, prices.get(row.id, {})) for row in rows],
                "total": total,
                "returned": len(rows),
                "offset": offset,
                "limit": limit,
                "has_more": has_more,
                "next_offset": offset + len(rows) if has_more else None,
                "gateway": gateway,
                "timestamp": reads.iso(reads.latest_sync(connection)),
            }

        return send(request, rendered_list(("models", gateway, limit, offset), render))

    @app.get(
        "/v1/models/{provider}/{model_id:path}",
        response_model=documents.ModelDetail,
        responses={**_ERRORS, **_NOT_FOUND, **_NOT_MODIFIED},
        tags=["models"],
        summary="One model: current prices (or those in force at ?at=), full price history and its changes",
    )
    def get_model(
        request: Request,
        provider: Annotated[str, Path(max_length=64)],
        model_id: Annotated[str, Path(max_length=512, description="the provider's model id; may contain slashes")],
        at: Annotated[datetime | None, Query(description="a time (ISO 8601; UTC when no offset is given)")] = None,
    ) -> Response:
        with engine.connect() as connection:
            row = reads.one_model(connection, provider, model_id)
            if row is None:
                if not reads.provider_exists(connection, provider):
                    raise ApiError(404, "not_found", f"no provider {provider!r} in the catalog")
                raise ApiError(404, "not_found", f"provider {provider!r} has no model {model_id!r}")
            history = reads.price_history_of(connection, row.id)
            document = model_entry(row, reads.prices_of(connection, [row.id]).get(row.id, {}))
            document["at"] = None
            if at is not None:
                when = _utc_parameter(at)
                document["at"] = reads.iso(when)
                document["pricing"] = {k: _price_entry(v) for k, v in reads.prices_at(history, when).items()}
            document["price_history"] = history
            document["changes"] = reads.changes_of_model(connection, row.id)
        return send(request, Rendered(json_bytes(document)))

    @app.get(
        "/v1/changes",
        response_model=documents.ChangeList,
        responses={**_ERRORS, **_NOT_MODIFIED},
        tags=["changes"],
        summary="The change feed, oldest first: added, deactivated, reactivated, price and limit changes, ...",
    )
    def list_changes(
        request: Request,
        since: Annotated[int, Query(ge=0, le=2**62, description="read events after this id (next_since)")] = 0,
        provider: Annotated[ProviderSlug | None, Query()] = None,
        kind: Annotated[ChangeKindName | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_CHANGES_PAGE)] = 100,
    ) -> Response:
        with engine.connect() as connection:
            events, has_more = reads.change_page(connection, since, limit, provider, kind)
        document = {
            "object": "list",
            "data": events,
            "has_more": has_more,
            "next_since": events[-1]["id"] if events else since,
        }
        return send(request, Rendered(json_bytes(document)))

    @app.get(
        "/v1/changes.atom",
        responses={
            200: {"content": {"application/atom+xml": {}}, "description": "an Atom feed, newest first"},
            **_ERRORS,
            **_NOT_MODIFIED,
        },
        response_class=Response,
        tags=["changes"],
        summary="The change feed as Atom: the newest events, newest first",
    )
    def changes_atom(
        request: Request,
        since: Annotated[int, Query(ge=0, le=2**62)] = 0,
        provider: Annotated[ProviderSlug | None, Query()] = None,
        kind: Annotated[ChangeKindName | None, Query()] = None,
        limit: Annotated[int, Query(ge=1, le=MAX_CHANGES_PAGE)] = 100,
    ) -> Response:
        with engine.connect() as connection:
            events = reads.newest_changes(connection, since, limit, provider, kind)
            updated = reads.latest_sync(connection)
        base = str(request.base_url).rstrip("/")
        body = render_atom(events, base, str(request.url), updated)
        return send(request, Rendered(body, media_type="application/atom+xml"))

    @app.get(
        "/v1/parity",
        response_model=documents.ParityDocument,
        responses={**_ERRORS, **_NOT_MODIFIED},
        tags=["health"],
        summary="The latest reconciliation, per provider and in total: the numbers of `status --json`",
    )
    def parity(request: Request) -> Response:
        from catalog_pipeline.status import report_from_engine

        report, problem = report_from_engine(engine, live=False, environment=environment)
        document = report.as_json() if report is not None else {"status": "unknown", "error": problem}
        return send(request, Rendered(json_bytes(document)))

    @app.get("/healthz", response_model=documents.Health, tags=["health"], summary="The process is up")
    def healthz() -> Response:
        return Response(json_bytes({"status": "ok"}), media_type="application/json")

    @app.get(
        "/readyz",
        response_model=documents.Readiness,
        responses={503: {"model": documents.Readiness, "description": "not ready, and why"}},
        tags=["health"],
        summary="Database reachable, schema current, and a successful sync within twice the sync interval",
    )
    def readyz() -> Response:
        document, ready = readiness(engine, sync_interval_hours)
        return Response(json_bytes(document), status_code=200 if ready else 503, media_type="application/json")

    _tidy_openapi(app)
    return app


def readiness(engine: sa.Engine, sync_interval_hours: int) -> tuple[dict[str, Any], bool]:
    """The /readyz document, and whether the server is ready."""
    max_age = timedelta(hours=2 * sync_interval_hours)
    document: dict[str, Any] = {"status": "unavailable", "max_sync_age_hours": 2 * sync_interval_hours}
    log = schema.pricing_sync_log
    try:
        with engine.connect() as connection:
            revision = MigrationContext.configure(connection).get_current_revision()
            document["schema_revision"] = revision
            if revision != head_revision():
                document["reason"] = (
                    f"catalog schema is at revision {revision}, this server reads {head_revision()}: "
                    "run `catalog-pipeline db upgrade` (or let a sync do it)"
                )
                return document, False
            last = reads.utc(
                connection.execute(
                    sa.select(sa.func.max(log.c.sync_finished_at)).where(log.c.status == SUCCESS)
                ).scalar()
            )
    except sa.exc.SQLAlchemyError as error:
        cause = type(getattr(error, "orig", None) or error).__name__
        document["reason"] = f"the catalog database cannot be reached ({cause})"
        return document, False
    document["last_successful_sync"] = reads.iso(last)
    if last is None:
        document["reason"] = "no successful sync recorded yet"
        return document, False
    if datetime.now(UTC) - last > max_age:
        document["reason"] = (
            f"the last successful sync finished at {reads.iso(last)}, more than {2 * sync_interval_hours} h "
            f"(twice PRICING_SYNC_INTERVAL_HOURS={sync_interval_hours}) ago"
        )
        return document, False
    return {**document, "status": "ready"}, True


def _tidy_openapi(app: FastAPI) -> None:
    """Drop FastAPI's default 422 responses: a bad parameter gets 400 here."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = generate()
            for path in document.get("paths", {}).values():
                for operation in path.values():
                    operation.get("responses", {}).pop("422", None)
            for name in ("HTTPValidationError", "ValidationError"):
                document.get("components", {}).get("schemas", {}).pop(name, None)
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app_from_environment() -> FastAPI:
    """The app for uvicorn's ``--factory``: the catalog database from ``CATALOG_DATABASE_URL``."""
    return create_app(database_url_from_environment(os.environ))


def database_url_from_environment(environment: Mapping[str, str]) -> str:
    """``CATALOG_DATABASE_URL``, or the SQLite file a sync without it writes (never created here)."""
    url = environment.get(settings.DATABASE_URL)
    if url:
        return url
    # The same file `catalog-pipeline sync` writes: $DAGSTER_HOME, else ./.catalog/dagster_home.
    folder = os.path.abspath(environment.get("DAGSTER_HOME") or os.path.join(".catalog", "dagster_home"))
    return f"sqlite:///{os.path.join(folder, 'catalog.db')}"
