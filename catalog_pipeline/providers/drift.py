"""Wire-format drift: which fields of a live list a spec reads, ignores on purpose, or has never heard of.

A spec names the entry fields it reads (its field and price paths, `read_fields`) and the ones it
ignores on purpose (`ignored_fields`, each with a reason). Any other field in a live payload is news:
a provider started publishing something (Groq's prices did exactly that) that we drop until the spec
says what to do with it. A read field that was seen before and is now absent from every entry is
news too: the provider renamed or removed it, and the column it fed silently turns empty.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from catalog_pipeline.providers.spec import ProviderSpec

READ, IGNORED, UNKNOWN, VANISHED = "read", "ignored", "unknown", "vanished"
#: Nested objects are looked into this deep (``pricing.prompt``), deeper where a spec path leads.
DEFAULT_DEPTH = 2
_SAMPLE_LENGTH = 80


@dataclass(frozen=True)
class FieldObservation:
    """One field path seen in (or, when vanished, missing from) a provider's live entries."""

    path: str
    status: str
    entries: int
    sample: str | None = None


def observe_fields(
    spec: ProviderSpec, entries: Iterable[Any], previously_seen: Iterable[str] = ()
) -> list[FieldObservation]:
    """Every field path of `entries` with its status, plus the read paths that vanished.

    Args:
        spec: the endpoint's spec (`ProviderSpec.variant` of the endpoint that answered).
        entries: the raw list entries.
        previously_seen: read paths stored from earlier syncs; one of them absent from
            every entry now is reported as vanished.
    """
    observer = FieldObserver(spec)
    observer.add(entries)
    return observer.observations(previously_seen)


class FieldObserver:
    """`observe_fields`, fed one page at a time (a streamed sync never holds the whole list)."""

    def __init__(self, spec: ProviderSpec):
        self.spec = spec
        self._read, self._ignored = set(spec.read_paths), set(spec.ignored_fields)
        self._guides = self._read | self._ignored
        self._counts: dict[str, int] = {}
        self._samples: dict[str, str] = {}
        # Per (prefix, depth), each key's path and whether an object under it is looked into: the same
        # for every entry, so worked out once (entries of one list share their keys).
        self._levels: dict[tuple[str, int], dict[Any, tuple[str, bool]]] = {}

    def add(self, entries: Iterable[Any]) -> None:
        for entry in entries:
            if isinstance(entry, Mapping):
                self._count(entry, "", 1)

    def _count(self, entry: Mapping[str, Any], prefix: str, depth: int) -> None:
        counts, samples = self._counts, self._samples
        level = self._levels.get((prefix, depth))
        if level is None:
            level = self._levels[prefix, depth] = {}
        for key, value in entry.items():
            known = level.get(key)
            if known is None:
                known = level[key] = self._path(prefix, key, depth)
            path, descends = known
            if descends and value and isinstance(value, Mapping):
                self._count(value, path + ".", depth + 1)
                continue
            counts[path] = counts.get(path, 0) + 1
            if value is not None and path not in samples:
                samples[path] = _sample(value)

    def _path(self, prefix: str, key: Any, depth: int) -> tuple[str, bool]:
        """A key's path, and whether a non-empty object there is looked into: not when the path is itself
        read or ignored, else when a read or ignored path lies below it or the depth allows."""
        path = f"{prefix}{key}"
        if path in self._guides:
            return path, False
        below = any(guide.startswith(path + ".") for guide in self._guides)
        return path, below or depth < DEFAULT_DEPTH

    def observations(self, previously_seen: Iterable[str] = ()) -> list[FieldObservation]:
        read, ignored = self._read, self._ignored
        observations = [
            FieldObservation(path, _status(path, read, ignored), count, self._samples.get(path))
            for path, count in sorted(self._counts.items())
        ]
        seen_now = {o.path for o in observations}
        for path in sorted(set(previously_seen) & read):
            if not any(_covers(path, seen) or _covers(seen, path) for seen in seen_now):
                observations.append(FieldObservation(path, VANISHED, 0))
        return observations


def news(observations: Sequence[FieldObservation]) -> list[FieldObservation]:
    """The observations a person should look at: unknown fields and vanished read fields."""
    return [o for o in observations if o.status in (UNKNOWN, VANISHED)]


def _covers(ancestor: str, path: str) -> bool:
    return path == ancestor or path.startswith(ancestor + ".")


def _status(path: str, read: set[str], ignored: set[str]) -> str:
    # an empty or null container of read fields (DeepInfra's ``metadata: null``) counts as read
    if any(_covers(known, path) or known.startswith(path + ".") for known in read):
        return READ
    if any(_covers(known, path) for known in ignored):
        return IGNORED
    return UNKNOWN


def _sample(value: Any) -> str:
    try:
        text = json.dumps(value, default=str, ensure_ascii=False)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    return text[:_SAMPLE_LENGTH]
