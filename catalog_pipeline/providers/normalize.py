"""Turn one provider's raw list entries into validated model rows, or explained rejections.

Every entry a provider lists ends up in exactly one of two places: a `ModelRecord`
(stored) or a `Rejection` with a reason code. That is what lets the reconciliation
say ``live = stored + rejected`` for every provider.
"""

from __future__ import annotations

import functools
import hashlib
import json
import re
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from decimal import Decimal, InvalidOperation
from typing import Any

from catalog_pipeline.providers.canonical import canonical_slug
from catalog_pipeline.providers.spec import PriceField, PriceUnit, ProviderSpec

MAX_ID_LENGTH = 512
MAX_NAME_LENGTH = 512
MAX_CONTEXT_LENGTH = 1_000_000_000
#: Largest accepted price in the stored unit; beyond it a value is a unit mix-up.
MAX_PRICE = Decimal(1_000_000)
#: Smallest non-zero price that survives the stored precision (12 decimal places).
MIN_PRICE = Decimal("1e-12")
#: Largest ``scale`` accepted in an ``{amount, scale}`` price.
MAX_PRICE_SCALE = 30
# `content_hash`'s encoder: `json.dumps(payload, default=str)` without building an encoder per model
_HASH_ENCODER = json.JSONEncoder(default=str)
_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
_SURROGATES = re.compile(r"[\ud800-\udfff]")


class RejectReason:
    """Reason codes stored in `rejected_models.reason`."""

    NOT_A_MODEL = "not_a_model"
    MISSING_ID = "missing_id"
    INVALID_ID = "invalid_id"
    DUPLICATE_ID = "duplicate_id"
    INVALID_PRICE = "invalid_price"
    INVALID_CONTEXT_LENGTH = "invalid_context_length"
    INVALID_DEPRECATION_DATE = "invalid_deprecation_date"
    #: a provider's normalize hook failed on the entry: a bug to fix, recorded instead of failing the sync
    UNREADABLE_ENTRY = "unreadable_entry"


class PriceState:
    """What a stored price means; an unknown price is never written as 0."""

    KNOWN = "known"
    FREE = "free"
    VARIABLE = "variable"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class Price:
    """One normalized price: an exact amount in `unit`, or a state saying why there is none."""

    amount: Decimal | None
    state: str
    unit: str
    #: a tier price applies to prompts above this many tokens (xAI's long_context_threshold)
    threshold_tokens: int | None = None


@dataclass(frozen=True, slots=True)
class ModelRecord:
    """One validated model as it is stored in `models` and `model_pricing`."""

    provider_model_id: str
    name: str | None
    canonical_slug: str
    context_length: int | None
    max_output_tokens: int | None
    input_modalities: str | None
    output_modalities: str | None
    prices: Mapping[str, Price] = field(default_factory=dict)
    #: when the provider stops serving the model (UTC), as it announces it
    deprecation_date: datetime | None = None
    #: the provider's own state flag, e.g. ``active``/``inactive`` (Groq), ``ready`` (Fireworks)
    provider_status: str | None = None

    @property
    def input_price(self) -> Price | None:
        return self.prices.get("input")

    @property
    def output_price(self) -> Price | None:
        return self.prices.get("output")

    @property
    def content_hash(self) -> str:
        """Digest of every stored field: equal hashes mean nothing to write."""
        payload = [
            self.provider_model_id,
            self.name,
            self.canonical_slug,
            self.context_length,
            self.max_output_tokens,
            self.input_modalities,
            self.output_modalities,
            sorted((kind, str(p.amount), p.state, p.unit, p.threshold_tokens) for kind, p in self.prices.items()),
            self.deprecation_date.isoformat() if self.deprecation_date else None,
            self.provider_status,
        ]
        return hashlib.sha256(_HASH_ENCODER.encode(payload).encode()).hexdigest()[:32]


@dataclass(frozen=True)
class Rejection:
    """A listed entry that is not stored, and why."""

    reason: str
    detail: str
    provider_model_id: str | None = None
    excerpt: str = ""


class RejectedEntry(Exception):
    """Raised by a normalize hook (or the generic path) to reject one entry."""

    def __init__(self, reason: str, detail: str, provider_model_id: str | None = None):
        super().__init__(detail)
        self.reason = reason
        self.detail = detail
        self.provider_model_id = provider_model_id


@dataclass
class NormalizedCatalog:
    """The outcome of normalizing one provider's list."""

    models: list[ModelRecord]
    rejections: list[Rejection]

    @property
    def live_count(self) -> int:
        return len(self.models) + len(self.rejections)

    def batches(self, size: int) -> Iterator[list[ModelRecord]]:
        for start in range(0, len(self.models), size):
            yield self.models[start : start + size]

    @property
    def model_count(self) -> int:
        return len(self.models)

    @property
    def preview(self) -> list[ModelRecord]:
        return self.models[:10]


class CatalogStream:
    """One provider's list normalized page by page, for a writer that takes it in batches.

    Only the batch being written is held: pages are read one at a time, and `on_page` (the
    snapshot's and the drift observer's hook) sees each page's raw entries before they are
    dropped. `rejections`, `model_count` and `preview` (the first models) are complete once
    the batches are consumed.
    """

    PREVIEW = 10

    def __init__(
        self,
        spec: ProviderSpec,
        pages: Iterable[list[Any]],
        on_page: Callable[[list[Any]], None] | None = None,
    ):
        self.spec = spec
        self._pages = pages
        self._on_page = on_page
        self.rejections: list[Rejection] = []
        self.model_count = 0
        self.preview: list[ModelRecord] = []
        self._seen: set[str] = set()

    def batches(self, size: int) -> Iterator[list[ModelRecord]]:
        batch: list[ModelRecord] = []
        for page in self._pages:
            if self._on_page is not None:
                self._on_page(page)
            for record in _normalized(self.spec, page, self._seen, self.rejections):
                batch.append(record)
                if len(batch) >= size:
                    yield from self._emit(batch)
                    batch = []
        if batch:
            yield from self._emit(batch)

    def _emit(self, batch: list[ModelRecord]) -> Iterator[list[ModelRecord]]:
        self.model_count += len(batch)
        if len(self.preview) < self.PREVIEW:
            self.preview.extend(batch[: self.PREVIEW - len(self.preview)])
        yield batch

    @property
    def live_count(self) -> int:
        return self.model_count + len(self.rejections)


@functools.lru_cache(maxsize=1024)
def _path_parts(path: str) -> tuple[str, ...]:
    return tuple(path.split("."))


def dig(entry: Mapping[str, Any] | Any, path: str | None) -> Any:
    """Read a dotted path from nested mappings; a missing step gives None, ``""`` the entry itself."""
    if path is None:
        return None
    if path == "":
        return entry
    value: Any = entry
    for part in _path_parts(path):
        # a parsed payload is made of plain dicts: test for them first, the ABC check is slow
        if type(value) is not dict and not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def normalize_catalog(spec: ProviderSpec, entries: Iterable[Any]) -> NormalizedCatalog:
    """Normalize every entry of one provider's list.

    The first occurrence of an id is kept; later ones are rejected as
    ``duplicate_id``, so a provider listing a model twice stores it once.
    """
    rejections: list[Rejection] = []
    models = list(_normalized(spec, entries, set(), rejections))
    return NormalizedCatalog(models=models, rejections=rejections)


def _normalized(
    spec: ProviderSpec, entries: Iterable[Any], seen: set[str], rejections: list[Rejection]
) -> Iterator[ModelRecord]:
    """`entries` as records; rejections appended to `rejections`, ids already in `seen` rejected as duplicates."""
    for entry in entries:
        try:
            record = normalize_entry(spec, entry)
        except RejectedEntry as rejected:
            rejections.append(
                Rejection(
                    reason=rejected.reason,
                    detail=rejected.detail,
                    provider_model_id=_storable_id(rejected.provider_model_id),
                    excerpt=_excerpt(entry),
                )
            )
            continue
        if record.provider_model_id in seen:
            rejections.append(
                Rejection(
                    reason=RejectReason.DUPLICATE_ID,
                    detail=f"{spec.slug}: id {record.provider_model_id!r} is listed more than once",
                    provider_model_id=record.provider_model_id,
                    excerpt=_excerpt(entry),
                )
            )
            continue
        seen.add(record.provider_model_id)
        yield record


def normalize_entry(spec: ProviderSpec, entry: Any) -> ModelRecord:
    """Validate and convert one raw entry.

    Raises:
        RejectedEntry: with a reason code and a message naming the provider and the id.
    """
    if not isinstance(entry, Mapping):
        raise RejectedEntry(
            RejectReason.NOT_A_MODEL, f"{spec.slug}: list entry is {type(entry).__name__}, not an object"
        )
    fields = _hook_fields(spec, entry) if spec.normalize else _fields_from_paths(spec, entry)
    model_id = _validated_id(spec, fields.get("id"))
    prices: dict[str, Price] = {}
    for kind, price_field in spec.prices.items():
        raw = fields["prices"].get(kind) if "prices" in fields else dig(entry, price_field.path)
        price = _price(spec, model_id, kind, raw, price_field)
        if price_field.threshold_path and price.amount is not None:
            threshold = _token_count(spec, model_id, f"{kind} threshold", dig(entry, price_field.threshold_path))
            price = Price(price.amount, price.state, price.unit, threshold)
        prices[kind] = price
    return ModelRecord(
        provider_model_id=model_id,
        name=_text(fields.get("name"), MAX_NAME_LENGTH),
        canonical_slug=(_text(fields.get("canonical_slug"), MAX_ID_LENGTH) or canonical_slug(model_id))[:MAX_ID_LENGTH],
        context_length=_token_count(spec, model_id, "context length", fields.get("context_length")),
        max_output_tokens=_token_count(spec, model_id, "max output tokens", fields.get("max_output_tokens")),
        input_modalities=_modalities(fields.get("input_modalities")),
        output_modalities=_modalities(fields.get("output_modalities")),
        prices=prices,
        deprecation_date=_deprecation_date(spec, model_id, fields.get("deprecation_date")),
        provider_status=_status(spec, fields.get("provider_status")),
    )


def _deprecation_date(spec: ProviderSpec, model_id: str, raw: Any) -> datetime | None:
    """A provider's shutdown date in any of the forms seen: ISO date or timestamp text, Unix seconds
    (or milliseconds), or Google's ``{year, month, day}``; naive times are UTC."""
    if raw is None or raw == "" or raw is False:
        return None
    try:
        if isinstance(raw, Mapping):
            value = datetime.combine(date(int(raw["year"]), int(raw["month"]), int(raw["day"])), time(), UTC)
        elif isinstance(raw, (int, Decimal)) and not isinstance(raw, bool):
            seconds = Decimal(raw)
            value = datetime.fromtimestamp(float(seconds / 1000 if seconds > 10**11 else seconds), UTC)
        elif isinstance(raw, str):
            text = raw.strip().replace("Z", "+00:00")
            value = (
                datetime.fromisoformat(text) if len(text) > 10 else datetime.combine(date.fromisoformat(text), time())
            )
            value = value if value.tzinfo else value.replace(tzinfo=UTC)
        else:
            raise ValueError
        if not 1990 <= value.year <= 2200:
            raise ValueError
    except (ValueError, TypeError, KeyError, OverflowError, ArithmeticError):
        raise RejectedEntry(
            RejectReason.INVALID_DEPRECATION_DATE,
            f"{spec.slug}: model {model_id!r} has an unreadable deprecation date {_shown(raw)[:80]}",
            model_id,
        ) from None
    return value.astimezone(UTC)


def _status(spec: ProviderSpec, raw: Any) -> str | None:
    if isinstance(raw, bool):
        return spec.status_labels[0] if raw else spec.status_labels[1]
    if isinstance(raw, str) and raw.strip():
        return _clean_text(raw.strip().lower())[:32]
    return None


def _hook_fields(spec: ProviderSpec, entry: Mapping[str, Any]) -> Mapping[str, Any]:
    assert spec.normalize is not None
    try:
        return spec.normalize(entry)
    except RejectedEntry:  # the hook rejected the entry itself, with its own reason
        raise
    except Exception as error:  # noqa: BLE001 - one odd entry must not fail the provider's whole sync
        raise RejectedEntry(
            RejectReason.UNREADABLE_ENTRY,
            f"{spec.slug}: normalize hook failed on this entry: {type(error).__name__}: {_shown(str(error))[:120]}",
        ) from None


def _fields_from_paths(spec: ProviderSpec, entry: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "id": dig(entry, spec.id_path),
        "name": dig(entry, spec.name_path),
        "context_length": dig(entry, spec.context_path),
        "max_output_tokens": dig(entry, spec.max_output_path),
        "input_modalities": dig(entry, spec.input_modalities_path),
        "output_modalities": dig(entry, spec.output_modalities_path),
        "deprecation_date": dig(entry, spec.deprecation_path),
        "provider_status": dig(entry, spec.status_path),
    }


def _validated_id(spec: ProviderSpec, raw: Any) -> str:
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        raise RejectedEntry(RejectReason.MISSING_ID, f"{spec.slug}: entry has no id ({spec.id_path!r})")
    if isinstance(raw, bool) or not isinstance(raw, (str, int)):
        raise RejectedEntry(
            RejectReason.INVALID_ID,
            f"{spec.slug}: id is {type(raw).__name__}, expected text",
            _storable_id(_shown(raw)),
        )
    try:
        model_id = str(raw).strip()
    except ValueError:  # an integer too long to print
        raise RejectedEntry(RejectReason.INVALID_ID, f"{spec.slug}: id is an integer of absurd length") from None
    if len(model_id) > MAX_ID_LENGTH:
        raise RejectedEntry(
            RejectReason.INVALID_ID,
            f"{spec.slug}: id is {len(model_id)} characters long (limit {MAX_ID_LENGTH})",
            _storable_id(model_id),
        )
    if _CONTROL_CHARACTERS.search(model_id):
        raise RejectedEntry(
            RejectReason.INVALID_ID, f"{spec.slug}: id {model_id!r} contains control characters", _storable_id(model_id)
        )
    if _SURROGATES.search(model_id):
        raise RejectedEntry(
            RejectReason.INVALID_ID, f"{spec.slug}: id {model_id!r} is not valid Unicode", _storable_id(model_id)
        )
    return model_id


def _price(spec: ProviderSpec, model_id: str, kind: str, raw: Any, price_field: PriceField) -> Price:
    unit = price_field.unit.stored_unit
    if price_field.unit is PriceUnit.SCALED_USD_PER_TOKEN and raw is not None:
        raw = _scaled_amount(spec, model_id, kind, raw)
    if raw is None or raw == "":
        return Price(None, PriceState.UNKNOWN, unit)
    if isinstance(raw, bool) or not isinstance(raw, (str, int, Decimal, float)):
        raise _invalid_price(spec, model_id, kind, raw)
    try:
        if isinstance(raw, str):
            value = Decimal(raw.strip())
        elif isinstance(raw, float):
            value = Decimal(repr(raw))
        else:
            value = Decimal(raw)
    except (InvalidOperation, ValueError):
        raise _invalid_price(spec, model_id, kind, raw) from None
    if not value.is_finite():
        raise _invalid_price(spec, model_id, kind, raw)
    if value < 0:
        if price_field.negative_means_variable:
            return Price(None, PriceState.VARIABLE, unit)
        raise _invalid_price(spec, model_id, kind, raw)
    if value == 0:
        return Price(Decimal(0), PriceState.FREE, unit)
    try:
        amount = (value * price_field.unit.factor).normalize()
    except ArithmeticError:  # an exponent beyond what any price can mean
        raise _invalid_price(spec, model_id, kind, raw) from None
    if amount > MAX_PRICE or amount < MIN_PRICE:
        raise _invalid_price(spec, model_id, kind, raw)
    return Price(amount, PriceState.KNOWN, unit)


def _scaled_amount(spec: ProviderSpec, model_id: str, kind: str, raw: Any) -> Decimal | None:
    """``{"amount": 850, "scale": 9, "currency": "USD"}`` as the exact number amount x 10^-scale."""
    if not isinstance(raw, Mapping):
        raise _invalid_price(spec, model_id, kind, raw)
    amount, scale = raw.get("amount"), raw.get("scale", 0)
    if amount is None:
        return None
    integers = all(isinstance(v, int) and not isinstance(v, bool) for v in (amount, scale))
    if not integers or not 0 <= scale <= MAX_PRICE_SCALE or raw.get("currency", "USD") != "USD":
        raise _invalid_price(spec, model_id, kind, raw)
    try:
        return Decimal(amount).scaleb(-scale)
    except ArithmeticError:
        raise _invalid_price(spec, model_id, kind, raw) from None


def _invalid_price(spec: ProviderSpec, model_id: str, kind: str, raw: Any) -> RejectedEntry:
    shown = _shown(raw)[:80]
    return RejectedEntry(
        RejectReason.INVALID_PRICE, f"{spec.slug}: model {model_id!r} has an unreadable {kind} price {shown}", model_id
    )


def _token_count(spec: ProviderSpec, model_id: str, what: str, raw: Any) -> int | None:
    if raw is None or raw == "":
        return None
    try:
        if isinstance(raw, bool) or not isinstance(raw, (str, int, float, Decimal)):
            raise ValueError
        value = Decimal(raw.strip()) if isinstance(raw, str) else Decimal(raw if isinstance(raw, int) else str(raw))
        if not value.is_finite() or value != value.to_integral_value():
            raise ValueError
    except (ValueError, InvalidOperation):
        raise RejectedEntry(
            RejectReason.INVALID_CONTEXT_LENGTH,
            f"{spec.slug}: model {model_id!r} has an unreadable {what} {_shown(raw)[:80]}",
            model_id,
        ) from None
    if value < 0 or value > MAX_CONTEXT_LENGTH:
        raise RejectedEntry(
            RejectReason.INVALID_CONTEXT_LENGTH,
            f"{spec.slug}: model {model_id!r} has an implausible {what} {_shown(raw)[:80]}",
            model_id,
        )
    return int(value) or None


#: Modality lists up to this many characters are remembered (`_modality_text`); longer ones, odd or
#: hostile, are read every time, so the cache stays small whatever a provider sends.
_CACHED_MODALITIES_CHARS = 256


def _modalities(raw: Any) -> str | None:
    if isinstance(raw, str):
        key: str | tuple[str, ...] = raw
        size = len(raw)
    elif isinstance(raw, (list, tuple)):
        key = tuple(item for item in raw if isinstance(item, str))
        size = sum(len(item) + 1 for item in key)
    else:
        return None
    return _modality_text(key) if size <= _CACHED_MODALITIES_CHARS else _modality_text.__wrapped__(key)


@functools.lru_cache(maxsize=1024)
def _modality_text(raw: str | tuple[str, ...]) -> str | None:
    # a catalog repeats a handful of modality lists thousands of times
    if isinstance(raw, str):
        return _joined_modalities(tuple(re.split(r"[,+]|->", raw)))
    return _joined_modalities(raw)


def _joined_modalities(raw: tuple[str, ...]) -> str | None:
    items = [item.strip() for item in raw]
    cleaned = sorted({_clean_text(item.lower()[:32]) for item in items if item})
    return ",".join(cleaned)[:256] or None


def _text(raw: Any, limit: int) -> str | None:
    if raw is None or isinstance(raw, (Mapping, list)):
        return None
    try:
        text = raw if isinstance(raw, str) else str(raw)
    except ValueError:  # an integer too long to print is no name
        return None
    return _clean_text(text).strip()[:limit] or None


def _clean_text(text: str) -> str:
    """`text` without control characters or lone surrogates, which databases refuse."""
    if text.isprintable():  # neither kind is printable: nothing to replace
        return text
    return _SURROGATES.sub("\ufffd", _CONTROL_CHARACTERS.sub(" ", text))


def _shown(value: Any) -> str:
    """`repr`-like text for any value, even an integer too long to print."""
    try:
        return repr(value)
    except (ValueError, RecursionError):
        return f"<{type(value).__name__}>"


def _storable_id(model_id: str | None) -> str | None:
    return None if model_id is None else _clean_text(model_id[:MAX_ID_LENGTH])


def _json_number(value: Any) -> Any:
    return float(value) if isinstance(value, Decimal) and value.is_finite() else str(value)


def _excerpt(entry: Any) -> str:
    try:
        text = json.dumps(entry, default=_json_number, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError, OverflowError):
        text = _shown(entry)
    return _clean_text(text[:500])
