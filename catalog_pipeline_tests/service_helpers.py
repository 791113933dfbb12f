"""`catalog-pipeline serve` as a real subprocess on a loopback port, for the tests and the benchmark."""

from __future__ import annotations

import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa

PROJECT_ROOT = Path(__file__).resolve().parent.parent
READER_ROLE_SQL = re.compile(r"```sql\n(-- read-only role for catalog-pipeline serve\n.*?)```", re.DOTALL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextmanager
def serve(
    database_url: str, log_path: Path, environment: Mapping[str, str] | None = None, timeout: float = 60
) -> Iterator[str]:
    """Run `catalog-pipeline serve` against `database_url` until the block ends; yields its base URL.

    Output goes to `log_path` (a pipe nobody reads would stall the server once full).
    """
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CATALOG_")}
    env.update(environment or {})
    env["CATALOG_DATABASE_URL"] = database_url
    with open(log_path, "ab") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "catalog_pipeline.cli", "serve", "--port", str(port), "--no-access-log"],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited with {process.returncode}: {log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"serve did not answer within {timeout} s: {log_path.read_text()[-2000:]}")
            time.sleep(0.1)
        yield base
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def create_reader_role(database_url: str, role: str) -> str:
    """Apply the README's read-only role to `database_url` (as its owner); returns the reader's URL."""
    readme = (PROJECT_ROOT / "README.md").read_text()
    match = READER_ROLE_SQL.search(readme)
    assert match, "README lacks the read-only role SQL block"
    url = sa.make_url(database_url)
    owner = url.username or "postgres"
    sql = (
        match.group(1)
        .replace("catalog_reader", role)
        .replace("DATABASE catalog ", f'DATABASE "{url.database}" ')
        .replace("ROLE catalog_owner", f'ROLE "{owner}"')
        .replace("'change-me'", "'reader-password'")
    )
    engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for statement in (part.strip() for part in sql.split(";")):
            if statement and not all(line.startswith("--") for line in statement.splitlines()):
                connection.exec_driver_sql(statement)
    engine.dispose()
    return url.set(username=role, password="reader-password").render_as_string(hide_password=False)
