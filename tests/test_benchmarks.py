"""The benchmarks (benchmarks/, run by hand, never by the test suite) still import, and each one runs
under `pytest --benchmark-disable`: there the fixture runs the code once and keeps no timings
(`benchmark.stats` is None), so a benchmark that reports figures from the timings must skip that part
when `benchmark.disabled`."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# The cheapest benchmark that reports from its timings: one simulated 5 ms cycle of the virtual bus.
CHEAPEST_WITH_FIGURES = "test_simulated_control_tick"


def _unguarded_stats(source: str) -> list[str]:
    """Functions that read `benchmark.stats` without looking at `benchmark.disabled`."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if not isinstance(node, ast.FunctionDef):
            continue
        reads = {
            sub.attr
            for sub in ast.walk(node)
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and sub.value.id == "benchmark"
        }
        if "stats" in reads and "disabled" not in reads:
            found.append(node.name)
    return found


@pytest.mark.parametrize("path", sorted((REPO / "benchmarks").glob("*.py")), ids=lambda p: p.name)
def test_figures_from_timings_are_skipped_when_disabled(path: Path) -> None:
    assert _unguarded_stats(path.read_text()) == []


def test_the_rule_catches_a_missing_guard() -> None:
    source = (
        "def test_fast(benchmark):\n"
        "    benchmark(len, 'x')\n"
        "    print(benchmark.stats.stats.median)\n"
        "def test_guarded(benchmark):\n"
        "    benchmark(len, 'x')\n"
        "    if benchmark.disabled:\n"
        "        return\n"
        "    print(benchmark.stats.stats.median)\n"
    )
    assert _unguarded_stats(source) == ["test_fast"]


def test_every_benchmark_imports_and_the_cheapest_runs_disabled() -> None:
    """Collects every benchmark module (an import or fixture error fails here) and runs only the
    cheapest one that reports figures, once, as `--benchmark-disable` does."""
    files = sorted(str(p.relative_to(REPO)) for p in (REPO / "benchmarks").glob("bench_*.py"))
    command = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "--benchmark-disable"]
    result = subprocess.run(
        [*command, "-k", CHEAPEST_WITH_FIGURES, *files],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=240,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert "1 passed" in result.stdout, result.stdout[-3000:]
