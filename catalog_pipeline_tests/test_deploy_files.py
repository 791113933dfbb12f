"""deploy/: the docker-compose topology and the Helm values name the pieces the process test runs
(PostgreSQL storage, a gRPC code server for catalog_pipeline.definitions, webserver, daemon,
K8sRunLauncher, event writes batched per asset), and the workspace points the webserver and daemon
at the code server."""

from __future__ import annotations

import yaml

from catalog_pipeline_tests.conftest import PROJECT_ROOT

DEPLOY = PROJECT_ROOT / "deploy"


def test_compose_runs_postgres_a_grpc_code_server_the_webserver_and_the_daemon():
    compose = yaml.safe_load((DEPLOY / "docker-compose.yaml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "migrate", "code", "webserver", "daemon"}
    # the catalog is migrated once per deploy, before the code server (and so any run) starts
    assert services["migrate"]["command"] == ["catalog-pipeline", "db", "upgrade"]
    assert services["code"]["depends_on"]["migrate"] == {"condition": "service_completed_successfully"}
    assert (
        services["migrate"]["environment"]["CATALOG_DATABASE_URL"]
        == services["code"]["environment"]["CATALOG_DATABASE_URL"]
    )
    code = services["code"]["command"]
    assert code[:3] == ["dagster", "code-server", "start"] and "catalog_pipeline.definitions" in code
    assert code[code.index("-p") + 1] == "4000"
    assert services["webserver"]["command"][0] == "dagster-webserver"
    assert services["daemon"]["command"][:2] == ["dagster-daemon", "run"]
    for name in ("code", "webserver", "daemon"):
        environment = services[name]["environment"]
        assert environment["DAGSTER_PG_HOST"] == "postgres", name
        # a run's per-partition materializations stored in one batch per asset (dagster-postgres)
        assert int(environment["DAGSTER_EVENT_BATCH_SIZE"]) >= 32, name
    assert services["code"]["environment"]["CATALOG_DATABASE_URL"].startswith("postgresql+psycopg://")
    workspace = yaml.safe_load((DEPLOY / "workspace.yaml").read_text())
    assert workspace["load_from"] == [
        {"grpc_server": {"host": "code", "port": 4000, "location_name": "catalog_pipeline"}}
    ]
    dagster_yaml = yaml.safe_load((DEPLOY / "dagster.yaml").read_text())
    storage = dagster_yaml["storage"]["custom"]
    assert (storage["module"], storage["class"]) == ("catalog_pipeline.dagster_storage", "PooledPostgresStorage")
    assert set(storage["config"]["postgres_db"]) >= {"hostname", "port", "username", "password", "db_name"}


def test_helm_values_serve_the_code_location_and_launch_runs_as_kubernetes_jobs():
    values = yaml.safe_load((DEPLOY / "helm" / "values.yaml").read_text())
    [deployment] = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["-m", "catalog_pipeline.definitions"]
    # the catalog's migrations run before the code server, with the same settings (the secret)
    [migrate] = deployment["initContainers"]
    assert migrate["command"] == ["catalog-pipeline", "db", "upgrade"]
    assert migrate["image"].startswith(deployment["image"]["repository"] + ":")
    assert {"secretRef": {"name": deployment["envSecrets"][0]["name"]}} in migrate["envFrom"]
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    # launched runs get the deployment's env: materializations of all 32 partitions in one batch per asset
    batch_size = {item["name"]: item["value"] for item in deployment["env"]}["DAGSTER_EVENT_BATCH_SIZE"]
    assert int(batch_size) >= 32
    assert values["dagsterDaemon"]["enabled"] is True
