"""`catalog_pipeline.providers` is the lowest layer: specs, normalization and drift import nothing above them
(no replay server, storage, Dagster definitions or engine), so a provider can be read without the rest."""

from __future__ import annotations

import ast
from pathlib import Path

import catalog_pipeline.providers

PROVIDERS_PACKAGE = Path(catalog_pipeline.providers.__file__).parent


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_providers_import_nothing_above_them():
    modules = sorted(PROVIDERS_PACKAGE.glob("*.py"))
    assert len(modules) >= 5
    above = {
        f"{path.name}: {name}"
        for path in modules
        for name in _imports(path)
        if name.startswith("catalog_pipeline.") and not name.startswith("catalog_pipeline.providers")
    }
    assert above == set()
