"""`catalog-pipeline serve` as a subprocess on loopback, over a catalog the real CLI synced
from the replay server, on SQLite and on PostgreSQL (there through the README's read-only role).

Pins the issue's "Done when": the gateway list has exactly the active-model count (in
total and per provider), /v1/models pages through every model exactly once, a price
change between two syncs is one event in /v1/changes and one history entry, and ?at=
before it answers the old price; ETag/304 and gzip on every list; bad parameters 400
naming the parameter; unknown ids 404; /v1/parity equals `status --json`; /readyz says
why it is not ready; and the server writes nothing.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from urllib.parse import quote
from xml.etree import ElementTree

import httpx
import pytest
import sqlalchemy as sa

from catalog_pipeline.providers.registry import PROVIDER_SLUGS
from catalog_pipeline.storage import schema
from catalog_pipeline_tests.conftest import heal, inject_fault
from catalog_pipeline_tests.postgres_server import create_database
from catalog_pipeline_tests.service_helpers import create_reader_role, free_port, serve
from catalog_pipeline_tests.test_cli_e2e import cli_environment, run_cli

pytestmark = pytest.mark.e2e
#: together's 800 demo models shrink to 600 after the first sync (25%, under the guard's 50%).
TOGETHER_AFTER = 600
ATOM = "{http://www.w3.org/2005/Atom}"


@dataclass
class ServedCatalog:
    database_url: str  # the owner's: the sync writes with it, the tests read the truth with it
    base: str  # the API, started on the reader's URL
    environment: dict[str, str]
    folder: Path

    def scalar(self, statement: sa.Select) -> object:
        engine = sa.create_engine(self.database_url)
        with engine.connect() as connection:
            value = connection.execute(statement).scalar()
        engine.dispose()
        return value


def _stored_files(folder: Path) -> dict[str, str]:
    """Digests of the SQLite database and its write-ahead log (the -shm index is readers' shared memory)."""
    return {
        path.name: hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.glob("catalog.db*"))
        if not path.name.endswith("-shm")
    }


@pytest.fixture(scope="module", params=["sqlite", "postgres"])
def served(request, tmp_path_factory, replay_server) -> Iterator[ServedCatalog]:
    """All 32 providers synced by the real CLI, then the API started on a read-only connection."""
    folder = tmp_path_factory.mktemp(f"served-{request.param}")
    if request.param == "sqlite":
        database_url = f"sqlite:///{folder / 'catalog.db'}"
    else:
        database_url = create_database(request.getfixturevalue("postgres_server_url"))
    environment = cli_environment(folder, database_url, replay_server.url)
    result = run_cli(["sync"], environment)
    assert result.returncode == 0, result.stdout + result.stderr
    # together then lists 200 fewer models: they stay stored, inactive, so active < stored.
    inject_fault(replay_server, "together", size=TOGETHER_AFTER)
    shrunk = run_cli(["sync", "--provider", "together"], environment)
    heal(replay_server, "together")
    assert shrunk.returncode == 0, shrunk.stdout + shrunk.stderr
    reader_url = (
        database_url
        if request.param == "sqlite"
        else create_reader_role(database_url, f"catalog_reader_{uuid.uuid4().hex[:8]}")
    )
    before = _stored_files(folder) if request.param == "sqlite" else None
    with serve(reader_url, folder / "serve.log") as base:
        yield ServedCatalog(database_url, base, environment, folder)
    if before is not None:
        assert _stored_files(folder) == before, "the API changed the SQLite catalog"


def get(catalog: ServedCatalog, path: str, **options: object) -> httpx.Response:
    return httpx.get(catalog.base + path, timeout=60, **options)


def active_count(catalog: ServedCatalog, slug: str | None = None) -> int:
    models, providers = schema.models, schema.providers
    statement = sa.select(sa.func.count()).select_from(models).where(models.c.is_active)
    if slug is not None:
        statement = statement.join(providers, providers.c.id == models.c.provider_id).where(providers.c.slug == slug)
    return int(catalog.scalar(statement))


def test_gateway_all_lists_exactly_the_active_models(served):
    """`curl "$API_URL/models?gateway=all&limit=30000" | jq '.data | length'` equals
    SELECT COUNT(*) FROM models WHERE is_active, in the gateway's envelope, prices per token."""
    response = get(served, "/models?gateway=all&limit=30000")
    assert response.status_code == 200
    document = response.json()
    expected = active_count(served)
    assert expected == 18_000 - 200
    assert len(document["data"]) == document["total"] == document["returned"] == expected
    assert (document["has_more"], document["next_offset"], document["gateway"]) == (False, None, "all")
    assert len({(m["provider_slug"], m["id"]) for m in document["data"]}) == expected
    cerebras = next(m for m in document["data"] if m["provider_slug"] == "cerebras" and "prompt" in m["pricing"])
    detail = get(served, f"/v1/models/cerebras/{quote(cerebras['id'], safe='/')}").json()
    per_million = Decimal(detail["pricing"]["input"]["amount"])
    assert Decimal(cerebras["pricing"]["prompt"]) == per_million / 1_000_000


def test_gateway_slug_matches_each_providers_stored_active_count(served):
    """For every provider, `gateway=<slug>` lists its stored active models, and paging with offset
    walks the same list."""
    for slug in PROVIDER_SLUGS:
        document = get(served, f"/models?gateway={slug}&limit=30000").json()
        assert len(document["data"]) == document["total"] == active_count(served, slug), slug
        assert {m["provider_slug"] for m in document["data"]} <= {slug}
    whole = get(served, "/models?gateway=groq&limit=30000").json()["data"]
    first = get(served, "/models?gateway=groq&limit=7").json()
    assert first["has_more"] and first["next_offset"] == 7
    rest = get(served, f"/models?gateway=groq&limit=30000&offset={first['next_offset']}").json()
    assert first["data"] + rest["data"] == whole


def test_v1_models_pages_through_every_model_exactly_once(served):
    """Following next_cursor from the first page lists every stored model exactly once, in a
    stable order; the filters narrow it as documented."""
    seen: list[tuple[str, str]] = []
    after: str | None = None
    pages = 0
    while True:
        params = {"limit": 997} | ({"after": after} if after else {})
        document = get(served, "/v1/models", params=params).json()
        assert document["object"] == "list"
        seen += [(m["provider"], m["id"]) for m in document["data"]]
        pages += 1
        if not document["has_more"]:
            assert document["next_cursor"] is None
            break
        after = document["next_cursor"]
    total = int(served.scalar(sa.select(sa.func.count()).select_from(schema.models)))
    assert len(seen) == len(set(seen)) == total
    assert pages == -(-total // 997)
    assert seen == sorted(seen) or served.database_url.startswith("postgresql")  # PostgreSQL collates by locale
    assert get(served, "/v1/models", params={"limit": 997}).json()["data"][0]["id"] == seen[0][1]
    everything = get(served, "/v1/models").json()  # OpenAI's SDK asks without parameters and reads one page
    assert [(m["provider"], m["id"]) for m in everything["data"]] == seen and not everything["has_more"]

    groq = get(served, "/v1/models", params={"provider": "groq", "active": "true"}).json()["data"]
    assert len(groq) == active_count(served, "groq") and {m["owned_by"] for m in groq} == {"groq"}
    entry = groq[0]
    assert entry["object"] == "model" and isinstance(entry["created"], int) and entry["is_active"] is True
    delisted = get(served, "/v1/models", params={"active": "false"}).json()["data"]
    assert len(delisted) == 200 and {(m["provider"], m["is_active"]) for m in delisted} == {("together", False)}
    assert all(m["deactivated_at"] for m in delisted)
    same_model = get(served, "/v1/models", params={"canonical_slug": entry["canonical_slug"]}).json()["data"]
    assert (entry["provider"], entry["id"]) in {(m["provider"], m["id"]) for m in same_model}
    texts = get(served, "/v1/models", params={"modality": "text", "limit": 50000}).json()["data"]
    models = schema.models
    with_text = served.scalar(
        sa.select(sa.func.count()).where(
            sa.or_(models.c.input_modalities.contains("text"), models.c.output_modalities.contains("text"))
        )
    )
    assert len(texts) == with_text > 0
    assert all("text" in m["input_modalities"] + m["output_modalities"] for m in texts)
    assert get(served, "/v1/models", params={"modality": "tex"}).json()["data"] == []  # whole names only


def test_one_model_with_prices_history_and_changes_and_unknown_ids_404(served):
    """A model id with slashes is one path; the document carries current prices, the history
    (first listing: no old state) and its `added` event; unknown providers and models get 404."""
    model = next(
        m
        for m in get(served, "/v1/models", params={"provider": "openrouter"}).json()["data"]
        if "/" in m["id"] and m["pricing"]
    )
    response = get(served, f"/v1/models/openrouter/{quote(model['id'], safe='/')}")
    assert response.status_code == 200
    detail = response.json()
    assert (detail["id"], detail["pricing"], detail["at"]) == (model["id"], model["pricing"], None)
    assert {h["price_type"] for h in detail["price_history"]} == set(model["pricing"])
    assert all(h["old"] is None for h in detail["price_history"])
    assert [c["kind"] for c in detail["changes"]] == ["added"]

    for path in ("/v1/models/openrouter/no-such/model", "/v1/models/no-such-provider/x", "/v1/nothing-here"):
        missing = get(served, path)
        assert missing.status_code == 404, path
        assert missing.json()["error"]["type"] == "not_found"


def test_every_list_has_an_etag_answers_304_and_is_gzipped(served):
    """Every list answers If-None-Match with 304 and no body, sends gzip when asked, and the
    same ETag for the gzip and identity forms (weak)."""
    for path in (
        "/v1/models?limit=50",
        "/models?gateway=all&limit=30000",
        "/v1/changes",
        "/v1/changes.atom",
        "/v1/parity",
        f"/v1/models/groq/{quote(get(served, '/models?gateway=groq').json()['data'][0]['id'], safe='/')}",
    ):
        first = get(served, path, headers={"Accept-Encoding": "gzip"})
        assert first.status_code == 200, path
        etag = first.headers["ETag"]
        assert etag.startswith('W/"'), path
        identity = get(served, path, headers={"Accept-Encoding": "identity"})
        if len(identity.content) >= 1024:  # smaller bodies go out as they are
            assert first.headers["Content-Encoding"] == "gzip", path
        assert "Content-Encoding" not in identity.headers and identity.headers["ETag"] == etag, path
        assert identity.content == first.content  # httpx decoded the gzip form
        again = get(served, path, headers={"If-None-Match": etag})
        assert (again.status_code, again.content, again.headers["ETag"]) == (304, b"", etag), path
        assert get(served, path, headers={"If-None-Match": 'W/"other", ' + etag}).status_code == 304
        assert get(served, path, headers={"If-None-Match": 'W/"other"'}).status_code == 200
    raw = httpx.get(served.base + "/v1/changes", headers={"Accept-Encoding": "gzip"}).headers
    assert "Accept-Encoding" in raw["Vary"]
    frontend = httpx.get(served.base + "/models?gateway=groq", headers={"Origin": "https://gateway.example"})
    assert frontend.headers["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in frontend.headers["Access-Control-Expose-Headers"]
    with httpx.stream("GET", served.base + "/models?gateway=all&limit=30000", headers={"Accept-Encoding": "gzip"}) as r:
        body = b"".join(r.iter_raw())
    assert len(body) < len(gzip.decompress(body)) / 4


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/v1/models?limit=0", "limit"),
        ("/v1/models?limit=abc", "limit"),
        ("/v1/models?limit=50001", "limit"),
        ("/v1/models?provider=no-such-provider", "provider"),
        ("/v1/models?active=perhaps", "active"),
        ("/v1/models?modality=Image!", "modality"),
        ("/v1/models?after=no-slash", "after"),
        ("/models?gateway=nowhere", "gateway"),
        ("/models?gateway=all&offset=-1", "offset"),
        ("/v1/changes?since=-1", "since"),
        ("/v1/changes?kind=renamed", "kind"),
        ("/v1/changes.atom?limit=100000", "limit"),
        ("/v1/models/groq/x?at=yesterday", "at"),
    ],
)
def test_bad_parameters_get_400_naming_the_parameter(served, path, parameter):
    """A bad parameter is a 400 whose JSON error names it, never a 422 or a 500."""
    response = get(served, path)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert (error["type"], error["parameter"]) == ("invalid_parameter", parameter)
    assert parameter in error["message"]


def test_parity_is_what_status_json_says(served):
    """/v1/parity is the document `catalog-pipeline status --json` prints, number for number."""
    status = run_cli(["status", "--json"], served.environment)
    assert status.returncode == 0, status.stdout + status.stderr
    assert get(served, "/v1/parity").json() == json.loads(status.stdout)


def test_change_feed_after_the_first_sync_and_its_atom_form(served):
    """After a first sync the feed holds one `added` per model, ids increasing; `since` pages on
    without overlap; the Atom feed has the newest events with stable ids and links to the models."""
    total = int(served.scalar(sa.select(sa.func.count()).select_from(schema.models)))
    first = get(served, "/v1/changes?limit=1000").json()
    assert len(first["data"]) == 1000 and first["has_more"]
    ids = [e["id"] for e in first["data"]]
    assert ids == sorted(ids) and first["next_since"] == ids[-1]
    following = get(served, f"/v1/changes?limit=1000&since={first['next_since']}").json()["data"]
    assert following[0]["id"] > ids[-1]
    gone = get(served, "/v1/changes?kind=deactivated&limit=1000").json()["data"]
    assert len(gone) == 200 and {e["provider"] for e in gone} == {"together"}
    assert {e["model"] for e in gone} == {
        m["id"] for m in get(served, "/v1/models", params={"active": "false"}).json()["data"]
    }
    cerebras = get(served, "/v1/changes?provider=cerebras&kind=added&limit=1000").json()
    assert len(cerebras["data"]) == active_count(served, "cerebras")
    assert {e["kind"] for e in cerebras["data"]} == {"added"} and {e["provider"] for e in cerebras["data"]} == {
        "cerebras"
    }
    newest_id = int(served.scalar(sa.select(sa.func.max(schema.model_changes.c.id))))
    assert newest_id >= total

    feed = ElementTree.fromstring(get(served, "/v1/changes.atom?limit=5").content)
    entries = feed.findall(f"{ATOM}entry")
    assert len(entries) == 5
    assert entries[0].findtext(f"{ATOM}id") == f"urn:catalog-pipeline:changes:{newest_id}"
    link = entries[0].find(f"{ATOM}link").get("href")
    assert link.startswith(served.base + "/v1/models/")
    assert httpx.get(link, timeout=30).status_code == 200


def test_readyz_is_ready_after_the_sync(served):
    """/readyz: database reachable, schema at head, last successful sync just now."""
    response = get(served, "/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "ready"
    assert get(served, "/healthz").json() == {"status": "ok"}


def test_the_reader_role_cannot_write(served):
    """The README's role may read every table and write none (a check of the role the server runs as)."""
    if not served.database_url.startswith("postgresql"):
        pytest.skip("PostgreSQL roles only")
    reader = create_reader_role(served.database_url, f"catalog_reader_{uuid.uuid4().hex[:8]}")
    engine = sa.create_engine(reader)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(schema.models)).scalar() > 0
        with pytest.raises(sa.exc.ProgrammingError, match="permission denied"):
            connection.execute(schema.providers.update().values(name="x"))
    engine.dispose()


# ---------------------------------------------------------------- a price change between two syncs


SLUG = "cerebras"


def test_a_price_change_between_two_syncs_is_one_event_and_one_history_entry(tmp_path, replay_server, database_url):
    """Prices x1.5 between two CLI syncs, while the server runs: each changed price appears once in
    /v1/changes (old, new, +50%, the run) and once more in the model's history; ?at= between the
    syncs answers the old price, now the new one; the lists' ETags move and their content follows."""
    environment = cli_environment(tmp_path, database_url, replay_server.url)
    assert run_cli(["sync", "--provider", SLUG], environment).returncode == 0
    with serve(database_url, tmp_path / "serve.log") as base:
        gateway_before = httpx.get(f"{base}/models?gateway={SLUG}&limit=1000", timeout=30)
        models = gateway_before.json()["data"]
        model = next(m for m in models if "prompt" in m["pricing"])
        path = f"{base}/v1/models/{SLUG}/{quote(model['id'], safe='/')}"
        old_input = httpx.get(path, timeout=30).json()["pricing"]["input"]["amount"]
        since = httpx.get(f"{base}/v1/changes?limit=1000", timeout=30).json()["next_since"]
        between = datetime.now(UTC)

        inject_fault(replay_server, SLUG, price_multiplier="1.5")
        second = run_cli(["sync", "--provider", SLUG], environment)
        assert second.returncode == 0, second.stdout + second.stderr

        changes = httpx.get(f"{base}/v1/changes", params={"since": since, "limit": 1000}, timeout=30).json()["data"]
        mine = [c for c in changes if c["model"] == model["id"] and c["details"]["price_type"] == "input"]
        assert len(mine) == 1
        [event] = mine
        assert event["kind"] == "price_changed" and event["provider"] == SLUG
        assert event["details"]["old"]["amount"] == old_input
        assert Decimal(event["details"]["new"]["amount"]) == Decimal(old_input) * Decimal("1.5")
        assert event["details"]["percent"] == 50.0 and event["dagster_run_id"]
        assert all(c["kind"] == "price_changed" for c in changes)

        detail = httpx.get(path, timeout=30).json()
        inputs = [h for h in detail["price_history"] if h["price_type"] == "input"]
        assert [(h["old"] and h["old"]["amount"], h["new"]["amount"]) for h in inputs] == [
            (None, old_input),
            (old_input, event["details"]["new"]["amount"]),
        ]
        assert detail["pricing"]["input"]["amount"] == event["details"]["new"]["amount"]
        assert [c["id"] for c in detail["changes"] if c["kind"] == "price_changed"] == [
            c["id"] for c in changes if c["model"] == model["id"]
        ]
        at_between = httpx.get(path, params={"at": between.isoformat()}, timeout=30).json()
        assert at_between["pricing"]["input"]["amount"] == old_input
        assert at_between["at"].startswith(between.strftime("%Y-%m-%dT%H:%M:%S"))
        before_any = httpx.get(path, params={"at": (between - timedelta(days=1)).isoformat()}, timeout=30).json()
        assert before_any["pricing"] == {}
        now = httpx.get(path, params={"at": datetime.now(UTC).isoformat()}, timeout=30).json()
        assert now["pricing"]["input"]["amount"] == event["details"]["new"]["amount"]

        gateway_after = httpx.get(
            f"{base}/models?gateway={SLUG}&limit=1000",
            headers={"If-None-Match": gateway_before.headers["ETag"]},
            timeout=30,
        )
        assert gateway_after.status_code == 200 and gateway_after.headers["ETag"] != gateway_before.headers["ETag"]
        repriced = next(m for m in gateway_after.json()["data"] if m["id"] == model["id"])
        assert Decimal(repriced["pricing"]["prompt"]) == Decimal(model["pricing"]["prompt"]) * Decimal("1.5")

        third = run_cli(["sync", "--provider", SLUG], environment)  # unchanged: no new event
        assert third.returncode == 0
        assert httpx.get(f"{base}/v1/changes", params={"since": changes[-1]["id"]}, timeout=30).json()["data"] == []


# ---------------------------------------------------------------- readiness


def test_readyz_says_why_it_is_not_ready(tmp_path, database_url):
    """503 with the reason: no sync yet; last success older than twice the interval; then ready."""
    environment = cli_environment(tmp_path, database_url, None)
    assert run_cli(["db", "upgrade"], environment).returncode == 0
    with serve(database_url, tmp_path / "serve.log", {"PRICING_SYNC_INTERVAL_HOURS": "3"}) as base:
        never = httpx.get(f"{base}/readyz", timeout=30)
        assert never.status_code == 503 and never.json()["reason"] == "no successful sync recorded yet"

        engine = sa.create_engine(database_url)
        log = schema.pricing_sync_log

        def logged(hours_ago: float) -> None:
            finished = datetime.now(UTC) - timedelta(hours=hours_ago)
            with engine.begin() as connection:
                connection.execute(
                    log.insert().values(
                        provider_slug="groq",
                        sync_started_at=finished,
                        sync_finished_at=finished,
                        status="success",
                        models_fetched=1,
                        models_updated=1,
                        models_inserted=1,
                        models_deactivated=0,
                        models_unchanged=0,
                        models_rejected=0,
                        price_changes=0,
                    )
                )

        logged(hours_ago=7)
        stale = httpx.get(f"{base}/readyz", timeout=30)
        assert stale.status_code == 503
        assert "more than 6 h (twice PRICING_SYNC_INTERVAL_HOURS=3) ago" in stale.json()["reason"]
        logged(hours_ago=5)
        assert httpx.get(f"{base}/readyz", timeout=30).status_code == 200
        engine.dispose()


def test_readyz_and_lists_answer_503_without_a_reachable_database(tmp_path):
    """No server at the URL: /readyz is 503 naming the cause, lists are 503 JSON, and neither says the password."""
    url = f"postgresql+psycopg://reader:sekret-pw-41@127.0.0.1:{free_port()}/catalog"
    with serve(url, tmp_path / "serve.log") as base:
        ready = httpx.get(f"{base}/readyz", timeout=30)
        assert ready.status_code == 503
        assert ready.json()["reason"] == "the catalog database cannot be reached (OperationalError)"
        listing = httpx.get(f"{base}/v1/models", timeout=30)
        assert listing.status_code == 503 and listing.json()["error"]["type"] == "database_unavailable"
        for response in (ready, listing):
            assert "sekret" not in response.text
    assert "sekret" not in (tmp_path / "serve.log").read_text()
