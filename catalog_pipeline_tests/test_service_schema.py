"""Schemathesis against the running `catalog-pipeline serve`: requests generated from its own
/openapi.json (valid and invalid parameters) never get a server error, and every answer matches
the documented status codes, content types and response schemas.

Bounded (a few dozen examples per operation and generation mode, no deadline) so it takes well
under a minute against a catalog the real CLI synced from the replay server. The operations are
driven with Hypothesis directly: schemathesis' lazy pytest fixture loader reads a pytest-private
node attribute that pytest 9 no longer has.
"""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode

from catalog_pipeline_tests.service_helpers import serve
from catalog_pipeline_tests.test_cli_e2e import cli_environment, run_cli

pytestmark = pytest.mark.e2e
EXAMPLES_PER_OPERATION = 40
PROVIDERS = ["openrouter", "groq", "cerebras", "together", "anthropic"]


@pytest.fixture(scope="module")
def api_schema(tmp_path_factory, replay_server) -> schemathesis.BaseSchema:
    folder = tmp_path_factory.mktemp("schemathesis")
    database_url = f"sqlite:///{folder / 'catalog.db'}"
    environment = cli_environment(folder, database_url, replay_server.url)
    result = run_cli(["sync", *(f"--provider={slug}" for slug in PROVIDERS)], environment)
    assert result.returncode == 0, result.stdout + result.stderr
    with serve(database_url, folder / "serve.log") as base:
        yield schemathesis.openapi.from_url(f"{base}/openapi.json")


def operations(schema: schemathesis.BaseSchema) -> list:
    return [result.ok() for result in schema.get_all_operations()]


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_api_conforms_to_its_openapi_schema(api_schema, mode):
    """Every generated request gets a documented status, content type and body; none a 5xx."""
    found = operations(api_schema)
    assert {f"{o.method.upper()} {o.path}" for o in found} >= {
        "GET /v1/models",
        "GET /models",
        "GET /v1/models/{provider}/{model_id}",
        "GET /v1/changes",
        "GET /v1/changes.atom",
        "GET /v1/parity",
        "GET /readyz",
    }
    for operation in found:
        if mode == GenerationMode.NEGATIVE and not api_schema.raw_schema["paths"][operation.path]["get"].get(
            "parameters"
        ):
            continue  # nothing to get wrong

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def call(case) -> None:  # type: ignore[no-untyped-def]
            case.call_and_validate()

        call()
