"""Mutation testing of the modules whose behaviour the suite must pin, with mutmut and the fast test subset.

    python scripts/mutation.py                      # every listed module, one after another (make mutation)
    python scripts/mutation.py reconciliation       # one module
    python scripts/mutation.py --sample             # the fixed CI sample: the functions behind issue 13's findings
    python scripts/mutation.py --changed-since REF  # the listed modules a change touched since REF

mutmut copies the package to ``mutants/``, runs the fast subset once to learn which tests reach which
function, then runs, for every mutant, only those tests. The test subset and the modules are configured
under ``[tool.mutmut]`` in pyproject.toml. One PostgreSQL server is started for the whole run (the
writer tests run on SQLite and PostgreSQL), instead of one per mutant.

Prints the score per module (killed / mutants tested; a timeout counts as killed) and every surviving
mutant as the line it changes. Exits 1 when a module scores below ``--fail-under``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

#: module name -> (source file(s), mutmut name pattern)
MODULES: dict[str, tuple[str, str]] = {
    "providers": ("catalog_pipeline/providers", "catalog_pipeline.providers.*"),
    "http_engine": ("catalog_pipeline/http_engine.py", "catalog_pipeline.http_engine.*"),
    "reconciliation": ("catalog_pipeline/reconciliation.py", "catalog_pipeline.reconciliation.*"),
    "writer": ("catalog_pipeline/storage/writer.py", "catalog_pipeline.storage.writer.*"),
    "checks": ("catalog_pipeline/defs/checks.py", "catalog_pipeline.defs.checks.*"),
}

#: The CI sample: the functions behind the eight mutations of issue 13 (the reconciliation's
#: arithmetic, the guard, the Retry-After wait, the key headers, paging), small enough for CI's budget.
SAMPLE: dict[str, list[str]] = {
    "reconciliation": [
        "catalog_pipeline.reconciliation.x_build_report*",
        "catalog_pipeline.reconciliation.x_parity_pct*",
        "catalog_pipeline.reconciliation.xǁParityThresholdsǁclassify*",
    ],
    "writer": ["catalog_pipeline.storage.writer.xǁCatalogWriterǁ_guard*"],
    "http_engine": [
        "catalog_pipeline.http_engine.xǁCatalogHttpEngineǁ_wait*",
        "catalog_pipeline.http_engine.xǁCatalogHttpEngineǁ_auth_headers*",
        "catalog_pipeline.http_engine.x_retry_after_seconds*",
    ],
}

KILLED = {1, 3, 36, -24, 24, 152, 255}  # 3: pytest's internal error on the mutant; the rest are timeouts
NOT_TESTED = {None, 2, 34, 37}


def _source_of(mutant: str) -> str:
    return mutant.split(".x_")[0].split(".xǁ")[0]


def _results() -> dict[str, int | None]:
    exit_codes: dict[str, int | None] = {}
    for meta in (ROOT / "mutants").rglob("*.meta"):
        exit_codes.update(json.loads(meta.read_text()).get("exit_code_by_key", {}))
    return exit_codes


def _belongs(mutant: str, module: str) -> bool:
    pattern = MODULES[module][1].rstrip("*")
    return mutant.startswith(pattern)


def _changed_line(mutant: str) -> str:
    shown = subprocess.run(
        [sys.executable, "-m", "mutmut", "show", mutant], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout
    changes = [line for line in shown.splitlines() if line[:1] in "-+" and line[:3] not in ("---", "+++")]
    return " | ".join(line.strip() for line in changes)[:220]


def run_mutmut(patterns: list[str], max_children: int) -> int:
    command = [sys.executable, "-m", "mutmut", "run", "--max-children", str(max_children), *patterns]
    print("$", " ".join(command), flush=True)
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if completed.returncode != 0:
        print(completed.stdout[-3000:], completed.stderr[-3000:], sep="\n")
    return completed.returncode


SPEC_MUTATION_TESTS = [
    "catalog_pipeline_tests/test_provider_requests.py",
    "catalog_pipeline_tests/test_provider_conformance.py",
    "catalog_pipeline_tests/test_real_payloads.py",
]


#: The providers whose specs the CI sample mutates: the three findings in registry data (Anthropic's paging,
#: OpenAI's auth, Chutes' output price) and the provider with the most prices.
SAMPLE_SPECS = "anthropic,openai,chutes,openrouter"


def run_spec_mutation(fail_under: float, only: str = "") -> tuple[int, str]:
    """The registry's data, which mutmut cannot mutate (it is not code in a function): see
    `catalog_pipeline_tests.spec_mutation`. Returns the exit code and its report."""
    command = [
        sys.executable,
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "-p",
        "catalog_pipeline_tests.spec_mutation",
        "--spec-mutation",
        f"--spec-mutation-fail-under={fail_under}",
        f"--spec-mutation-only={only}",
        *SPEC_MUTATION_TESTS,
    ]
    print("$", " ".join(command[2:]), flush=True)
    completed = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    lines = [
        line for line in completed.stdout.splitlines() if line.startswith(("spec mutants", "  survived", "FAILED"))
    ]
    return completed.returncode, "\n".join(lines) or completed.stdout[-2000:]


def sampled_names(module: str, size: int, max_children: int) -> list[str]:
    """`size` mutants of `module`, spread evenly over its sorted mutant names.

    mutmut names its mutants when it generates them; a run whose pattern matches nothing generates
    them (and collects the test stats) without testing any.
    """
    run_mutmut([MODULES[module][1] + "__no_such_mutant__"], max_children)
    names = sorted(name for name in _results() if _belongs(name, module))
    if len(names) <= size:
        return names
    step = len(names) / size
    return [names[int(index * step)] for index in range(size)]


def report(modules: list[str], patterns: dict[str, list[str]] | None, fail_under: float, show: bool) -> int:
    exit_codes = _results()
    worst = 100.0
    print(f"\n{'module':<16}{'mutants':>9}{'killed':>8}{'survived':>10}{'score':>9}")
    survivors: dict[str, list[str]] = {}
    for module in modules:
        wanted = patterns.get(module) if patterns else None
        mine = {
            name: code
            for name, code in exit_codes.items()
            if _belongs(name, module) and (wanted is None or any(_matches(name, p) for p in wanted))
        }
        tested = {name: code for name, code in mine.items() if code not in NOT_TESTED}
        killed = sum(1 for code in tested.values() if code in KILLED)
        score = 100.0 * killed / len(tested) if tested else 100.0
        worst = min(worst, score)
        survivors[module] = sorted(name for name, code in tested.items() if code not in KILLED)
        print(f"{module:<16}{len(tested):>9}{killed:>8}{len(survivors[module]):>10}{score:>8.1f}%")
    for module, names in survivors.items():
        if not names:
            continue
        by_function = Counter(name.rsplit("__mutmut_", 1)[0] for name in names)
        print(f"\nsurviving mutants of {module} ({len(names)}; per function: {dict(by_function)}):")
        for name in names:
            print(f"  {name}" + (f"\n      {_changed_line(name)}" if show else ""))
    if worst < fail_under:
        print(f"\nFAILED: a module scores {worst:.1f}% < {fail_under}%")
        return 1
    print(f"\nevery module scores at least {fail_under}%")
    return 0


def _matches(name: str, pattern: str) -> bool:
    import fnmatch

    return fnmatch.fnmatchcase(name, pattern)


def changed_modules(since: str) -> list[str]:
    diff = subprocess.run(
        ["git", "diff", "--name-only", since, "--"], cwd=ROOT, capture_output=True, text=True, check=False
    ).stdout.split()
    return [module for module, (path, _) in MODULES.items() if any(changed.startswith(path) for changed in diff)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("modules", nargs="*", help=f"modules to mutate, of {', '.join(MODULES)} (default: all)")
    parser.add_argument("--sample", action="store_true", help="the fixed CI sample of functions only")
    parser.add_argument("--changed-since", metavar="REF", help="only the listed modules changed since REF")
    parser.add_argument("--fail-under", type=float, default=85.0)
    parser.add_argument("--max-children", type=int, default=2)
    parser.add_argument("--report-only", action="store_true", help="report the last run without running")
    parser.add_argument("--no-diff", action="store_true", help="list surviving mutants by name only")
    parser.add_argument(
        "--sample-size",
        type=int,
        default=0,
        metavar="N",
        help="test N mutants per module, spread evenly over its mutants (an estimate of the score, faster)",
    )
    parser.add_argument(
        "--incremental",
        action="store_true",
        help="keep mutants/ from the last run (mutmut then skips functions it already judged, even if tests changed)",
    )
    args = parser.parse_args()

    unknown = set(args.modules) - set(MODULES)
    if unknown:
        parser.error(f"unknown module(s) {', '.join(sorted(unknown))}; choose from {', '.join(MODULES)}")
    if args.sample:
        modules, patterns = list(SAMPLE), SAMPLE
    else:
        modules = args.modules or list(MODULES)
        if args.changed_since:
            modules = [m for m in modules if m in changed_modules(args.changed_since)]
            if not modules:
                print(f"no listed module changed since {args.changed_since}: nothing to mutate")
                return 0
        patterns = None
    spec_status, spec_report = 0, ""
    if not args.report_only and ("providers" in modules or args.sample):
        spec_status, spec_report = run_spec_mutation(args.fail_under, SAMPLE_SPECS if args.sample else "")
    if not args.report_only:
        from catalog_pipeline_tests.postgres_server import postgres_server

        if not args.incremental:
            shutil.rmtree(ROOT / "mutants", ignore_errors=True)

        # mutmut runs a copy of the tests in mutants/, whose ../shared is not the project's
        os.environ.setdefault("CATALOG_SHARED_SNAPSHOTS", str(ROOT.parent / "shared" / "provider_snapshots"))
        with postgres_server() as url:
            os.environ["CATALOG_TEST_POSTGRES_URL"] = url
            # one module at a time: mutation runs are CPU-heavy and the machine is shared
            for module in modules:
                chosen = patterns[module] if patterns else [MODULES[module][1]]
                if args.sample_size:
                    chosen = sampled_names(module, args.sample_size, args.max_children)
                    patterns = {**(patterns or {}), module: chosen}
                if run_mutmut(chosen, args.max_children) != 0:
                    print(f"mutmut failed on {module}")
                    return 2
    status = report(modules, patterns, args.fail_under, show=not args.no_diff)
    if spec_report:
        print("\nproviders/registry.py (the specs' data, mutated by catalog_pipeline_tests/spec_mutation.py):")
        print(spec_report)
    return status or (1 if spec_status else 0)


if __name__ == "__main__":
    sys.exit(main())
