"""Real captured list responses, read through the spec (or endpoint variant) of the endpoint they came from.

The captures live in ``../shared/provider_snapshots/`` with a ``manifest.json`` that names, per file,
the provider, the endpoint (``GET <url>``), where the list and the ids are (``list_path``, ``id_field``)
and how many entries and distinct ids the file holds, all counted independently of this project. Each
file is served at its endpoint's real URL and fetched through the real HTTP engine; the ids stored must
be exactly the ids the manifest's own paths find, the counts exactly the manifest's. A file whose
endpoint no spec knows, or that reads as empty, fails: it never passes by comparing nothing with nothing.

Without the folder these tests skip with the reason; ``CATALOG_REQUIRE_SHARED=1`` (CI) makes that a failure.
"""

from __future__ import annotations

import copy
import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest

from catalog_pipeline.http_engine import CatalogHttpEngine, FetchResult
from catalog_pipeline.providers.drift import UNKNOWN, observe_fields
from catalog_pipeline.providers.normalize import NormalizedCatalog, normalize_catalog
from catalog_pipeline.providers.registry import PROVIDERS
from catalog_pipeline.providers.spec import ProviderSpec
from catalog_pipeline_tests.conftest import SHARED_SNAPSHOTS

MANIFEST = SHARED_SNAPSHOTS / "manifest.json"
#: Values for the variables a live request needs, so the engine builds the real URL.
FAKE_ENVIRONMENT = {"CLOUDFLARE_ACCOUNT_ID": "ACCOUNT", "GOOGLE_VERTEX_LOCATION": "us-central1"}


def manifest_files() -> list[dict[str, Any]]:
    if not MANIFEST.is_file():
        return []
    return json.loads(MANIFEST.read_text())["files"]


def _file_ids() -> list[str]:
    # one placeholder when the folder is absent, so the test runs and skips (or fails in CI) with the reason
    return [entry["file"] for entry in manifest_files()] or ["<no manifest>"]


def _manifest_entry(name: str, shared: Path) -> dict[str, Any]:
    for entry in manifest_files():
        if entry["file"] == name:
            return entry
    pytest.fail(f"{shared / 'manifest.json'} lists no files")


def raw_list(body: Any, list_path: str) -> list[Any]:
    """The list at the manifest's `list_path` ("" for a bare array), read without the project's code."""
    value = body
    for part in filter(None, list_path.split(".")):
        value = value.get(part) if isinstance(value, dict) else None
    assert isinstance(value, list), f"no list at {list_path!r}"
    return value


def endpoint_for(provider: str, endpoint: str) -> ProviderSpec:
    """The spec (or variant) whose URL is the manifest's `endpoint`: same host and path; a ``{VARIABLE}``
    segment of the spec's URL matches any value, the query is not compared."""
    method, _, url = endpoint.partition(" ")
    assert method == "GET", endpoint
    wanted = urlsplit(url)
    spec = PROVIDERS.get(provider)
    if spec is None:
        pytest.fail(f"manifest provider {provider!r} is no provider of ours")
    for name in spec.endpoint_names:
        candidate = spec.variant(name)
        template = urlsplit(candidate.base_url.rstrip("/") + candidate.list_path)
        if template.hostname == wanted.hostname and _same_path(template.path, wanted.path):
            return candidate
    pytest.fail(f"{provider}: no endpoint of its spec is {endpoint} (known: {', '.join(spec.endpoint_names)})")


def _same_path(template: str, path: str) -> bool:
    parts, wanted = template.strip("/").split("/"), path.strip("/").split("/")
    return len(parts) == len(wanted) and all(
        a == b or (a.startswith("{") and a.endswith("}")) for a, b in zip(parts, wanted, strict=True)
    )


def _last_page(body: Any, spec: ProviderSpec) -> Any:
    """A page shaped like `body` with no entries and no cursor: what a paged provider answers after its last page."""
    if not spec.records_path:
        return []
    empty = copy.deepcopy(body)
    target = empty
    *parents, last = spec.records_path.split(".")
    for part in parents:
        target = target[part]
    target[last] = []
    for path in (spec.pagination.cursor_path, spec.pagination.has_more_path):
        if path and path in empty:
            empty[path] = None if path == spec.pagination.cursor_path else False
    return empty


def fetch_capture(spec: ProviderSpec, raw: bytes) -> tuple[FetchResult, list[httpx.Request]]:
    """`raw` served at `spec`'s real URL and fetched like a live sync; a following page request gets an empty page."""
    requests: list[httpx.Request] = []
    body = json.loads(raw)

    def answer(request: httpx.Request) -> httpx.Response:
        requests.append(request)
        content = raw if len(requests) == 1 else json.dumps(_last_page(body, spec)).encode()
        return httpx.Response(200, content=content, headers={"Content-Type": "application/json"})

    environment = {spec.key_env: "test-key", **FAKE_ENVIRONMENT}
    engine = CatalogHttpEngine(environment, client=httpx.Client(transport=httpx.MockTransport(answer)))
    return engine.fetch(spec), requests


def read_capture(name: str, shared: Path) -> tuple[dict[str, Any], ProviderSpec, FetchResult, NormalizedCatalog]:
    entry = _manifest_entry(name, shared)
    spec = endpoint_for(entry["provider"], entry["endpoint"])
    fetched, requests = fetch_capture(spec, (shared / name).read_bytes())
    assert urlsplit(str(requests[0].url)).path == urlsplit(entry["endpoint"].split(" ", 1)[1]).path.replace(
        "ACCOUNT", FAKE_ENVIRONMENT["CLOUDFLARE_ACCOUNT_ID"]
    )
    return entry, spec, fetched, normalize_catalog(spec, fetched.entries)


@pytest.mark.parametrize("name", _file_ids())
def test_capture_is_read_in_full_through_the_endpoint_it_came_from(name, shared_snapshots):
    """Every manifest file: stored ids are exactly the ids at its list_path/id_field, and the entry and
    distinct-id counts are the manifest's; only repeated ids are rejected, and nothing reads as empty."""
    entry, spec, fetched, catalog = read_capture(name, shared_snapshots)
    entries = raw_list(json.loads((shared_snapshots / name).read_bytes()), entry["list_path"])
    ids = [item.get(entry["id_field"]) for item in entries]
    expected_ids = {value.strip() for value in ids if isinstance(value, str) and value.strip()}

    assert entry["entries"] > 0 and len(entries) == entry["entries"], "the manifest and the file disagree"
    assert len(expected_ids) == entry["distinct_ids"], "the manifest and the file disagree"
    assert len(fetched.entries) == entry["entries"]
    assert fetched.endpoint == spec.endpoint_label
    stored = {model.provider_model_id for model in catalog.models}
    assert stored == expected_ids
    assert len(catalog.models) == entry["distinct_ids"]
    assert [r.reason for r in catalog.rejections] == ["duplicate_id"] * (entry["entries"] - entry["distinct_ids"])


@pytest.mark.parametrize("name", _file_ids())
def test_capture_has_no_field_the_spec_neither_reads_nor_ignores(name, shared_snapshots):
    """Nothing a provider publishes is dropped silently: every field of every real entry is read by the
    endpoint's spec or listed in its ignored_fields with a reason."""
    _, spec, fetched, _ = read_capture(name, shared_snapshots)
    unknown = {o.path: o.sample for o in observe_fields(spec, fetched.entries) if o.status == UNKNOWN}
    assert unknown == {}, f"{spec.slug} ({spec.endpoint_label}): fields neither read nor ignored: {unknown}"


def test_every_file_in_the_folder_is_in_the_manifest_and_every_manifest_file_exists(shared_snapshots):
    """With CATALOG_REQUIRE_SHARED=1 every capture is exercised: none lies in the folder unlisted."""
    listed = {entry["file"] for entry in manifest_files()}
    present = {path.name for path in shared_snapshots.iterdir() if path.suffix == ".json"} - {"manifest.json"}
    assert listed, "manifest.json lists no files"
    assert present == listed


def test_a_capture_that_reads_as_empty_fails(shared_snapshots, tmp_path):
    """The comparison cannot pass on 0 == 0: a capture whose list the spec cannot find is an error, and one
    with an empty list disagrees with the manifest's count."""
    from catalog_pipeline.http_engine import ProviderError

    entry = _manifest_entry("openai.2026-08-17.json", shared_snapshots)
    spec = endpoint_for(entry["provider"], entry["endpoint"])
    with pytest.raises(ProviderError, match="expected a list"):
        fetch_capture(spec, json.dumps({"object": "list", "models": []}).encode())
    fetched, _ = fetch_capture(spec, json.dumps({"object": "list", "data": []}).encode())
    assert len(fetched.entries) != entry["entries"]


def test_an_endpoint_no_spec_knows_fails():
    """A capture from an endpoint none of the provider's specs names is a failure, never a skip or a pass."""
    with pytest.raises(pytest.fail.Exception, match="no endpoint of its spec"):
        endpoint_for("groq", "GET https://api.groq.com/openai/v2/catalog")
    assert endpoint_for("groq", "GET https://api.groq.com/openai/v1/models").endpoint_label == "primary"


# --- values, read off the captures by hand ---------------------------------------------------------------

D = Decimal


def _models(name: str, shared: Path) -> dict[str, Any]:
    return {model.provider_model_id: model for model in read_capture(name, shared)[3].models}


def test_groq_prices_from_its_2026_list(shared_snapshots):
    """Groq's pricing.prompt/completion/input_cache_read are USD per token strings (0.00000015 = $0.15 per M)."""
    models = _models("groq.2026-08.json", shared_snapshots)
    gpt = models["openai/gpt-oss-120b"]
    assert (gpt.prices["input"].amount, gpt.prices["output"].amount) == (D("0.15"), D("0.6"))
    assert gpt.prices["cache_read"].amount == D("0.075")
    assert gpt.name == "OpenAI GPT-OSS 120B" or gpt.name  # the capture names it; the exact text is Groq's
    assert gpt.provider_status == "active"
    orpheus = models["canopylabs/orpheus-v1-english"]  # a speech model: input price only
    assert orpheus.prices["input"].amount == D("22")
    assert orpheus.prices["output"].state == "unknown"
    assert orpheus.output_modalities == "speech"
    priced = [m for m in models.values() if m.prices["input"].amount is not None]
    assert len(priced) == 9


def test_near_openai_compatible_prices(shared_snapshots):
    """NEAR's /v1/models: pricing.prompt "0.00000017" USD per token = $0.17 per M, exact (not the float 0.35000000000000003)."""
    models = _models("near.openai-v1-models.2026-07-25.json", shared_snapshots)
    flash = models["deepseek-ai/DeepSeek-V4-Flash"]
    assert (flash.prices["input"].amount, flash.prices["output"].amount) == (D("0.17"), D("0.35"))
    assert flash.prices["cache_read"].amount == D("0.035")
    assert flash.context_length == 1048576 and flash.max_output_tokens == 8192
    assert flash.provider_status == "ready"
    assert models["deepseek/deepseek-v3.2"].provider_status == "not_ready"


def test_xai_prices_and_long_context_tier(shared_snapshots):
    """xAI's integers are US cents per 100M tokens: 12500 = $1.25 per M; the *_long_context prices apply
    above long_context_threshold (200000 tokens) and are rows of their own."""
    for name in ("xai.2026-07-25.json", "xai.language-models.2026-07-25.json"):
        model = _models(name, shared_snapshots)["grok-4.20-0309-non-reasoning"]
        assert model.prices["input"].amount == D("1.25")
        assert model.prices["output"].amount == D("2.5")
        assert model.prices["cache_read"].amount == D("0.2")
        tier = model.prices["input_long_context"]
        assert (tier.amount, tier.threshold_tokens) == (D("2.5"), 200000)
        assert model.prices["output_long_context"].amount == D("5")
        assert model.prices["cache_read_long_context"].amount == D("0.4")
        assert model.prices["input"].threshold_tokens is None
    assert _models("xai.2026-07-25.json", shared_snapshots)["grok-4.20-0309-non-reasoning"].context_length == 1000000


def test_xai_image_price_per_image(shared_snapshots):
    """/v1/models' image_price for image models is cents per 100M images: 200000000 = $0.02 per image."""
    models = _models("xai.2026-07-25.json", shared_snapshots)
    priced = {m.provider_model_id: m.prices["image"] for m in models.values() if m.prices["image"].amount is not None}
    assert {model_id: price.amount for model_id, price in priced.items()} == {
        "grok-imagine-image": D("0.02"),
        "grok-imagine-image-quality": D("0.05"),
    }
    assert {price.unit for price in priced.values()} == {"usd_per_image"}


def test_deepinfra_openai_list_prices_and_context(shared_snapshots):
    """DeepInfra's /v1/openai/models: metadata.pricing in USD per million tokens, metadata.context_length."""
    models = _models("deepinfra.openai-v1-models.2026-04-17.json", shared_snapshots)
    qwen = models["Qwen/Qwen3.5-27B"]
    assert (qwen.prices["input"].amount, qwen.context_length) == (D("0.26"), 262144)
    assert qwen.prices["output"].amount == D("2.5999999999999996")  # as published: a float DeepInfra rounded badly
    minimax = models["MiniMaxAI/MiniMax-M2.5"]
    assert minimax.prices["cache_read"].amount == D("0.029999999700000002")
    assert models["intfloat/multilingual-e5-large-instruct"].prices["input"].state == "unknown"
    assert sum(1 for m in models.values() if m.prices["input"].amount is not None) == 88


def test_gemini_api_limits(shared_snapshots):
    """Gemini API: inputTokenLimit is the context, outputTokenLimit the output limit, displayName the name."""
    model = _models("google-vertex.gemini-api.2026-08-05.json", shared_snapshots)["models/gemini-2.5-flash"]
    assert (model.context_length, model.max_output_tokens, model.name) == (1048576, 65536, "Gemini 2.5 Flash")


def test_openai_shutdown_dates_are_deprecation_dates(shared_snapshots):
    """Every OpenAI model with a shutdown_date stores it as deprecation_date (UTC midnight of that day)."""
    name = "openai.2026-08-17.json"
    raw = {e["id"]: e["shutdown_date"] for e in raw_list(json.loads((shared_snapshots / name).read_text()), "data")}
    models = _models(name, shared_snapshots)
    with_date = {model_id: date for model_id, date in raw.items() if date}
    assert len(with_date) >= 8
    for model_id, date in with_date.items():
        assert models[model_id].deprecation_date is not None
        assert models[model_id].deprecation_date.date().isoformat() == date
    assert all(models[m].deprecation_date is None for m in raw if not raw[m])


def test_together_legacy_list_is_read_through_its_variant(shared_snapshots):
    """Together's legacy /api/models keys models by name; 75 legacy units = $0.30 per M (a 13B model in 2024)."""
    models = _models("together.legacy-api-models.2024-02-01.json", shared_snapshots)
    hermes = models["Austism/chronos-hermes-13b"]
    assert (hermes.prices["input"].amount, hermes.context_length) == (D("0.3"), 2048)
    assert models["mistralai/Mixtral-8x7B-Instruct-v0.1"].prices["input"].amount == D("0.6")


def test_cloudflare_docs_list_marks_its_duplicate(shared_snapshots):
    """The rebuilt Cloudflare list carries one model twice (qwen.json and qwen1.5-0.5b-chat.json): stored once."""
    _, _, _, catalog = read_capture("cloudflare-workers-ai.docs-models.2026-10.json", shared_snapshots)
    assert [r.provider_model_id for r in catalog.rejections] == ["@cf/qwen/qwen1.5-0.5b-chat"]


def test_readme_provider_table_says_which_providers_are_proven_on_a_real_capture(shared_snapshots):
    """Each README row names its real captures (file and endpoint) or says "fixture only"."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split("\n## Providers\n", 1)[1].split("\n## ", 1)[0]
    rows = {line.split("|")[1].strip(): line for line in section.splitlines() if line.startswith("| ")}
    captured: dict[str, list[str]] = {}
    for entry in manifest_files():
        captured.setdefault(entry["provider"], []).append(entry["file"])
    assert captured
    for slug, row in rows.items():
        if slug == "slug":
            continue
        if slug in captured:
            assert "real capture" in row and all(name in row for name in captured[slug]), slug
        else:
            assert "fixture only" in row, slug
