"""BENCHMARKS.md and bench/run_all.py cover every benchmark script in bench/."""

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = sorted(p.name for p in (ROOT / "bench").glob("*.py") if p.name != "run_all.py")


def _run_all():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("run_all", ROOT / "bench" / "run_all.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_benchmark_is_documented_and_run_by_run_all() -> None:
    doc = (ROOT / "BENCHMARKS.md").read_text("utf-8")
    run_all = _run_all()
    assert SCRIPTS, "no benchmark scripts found"
    for script in SCRIPTS:
        assert f"`bench/{script}" in doc, f"{script} is not in BENCHMARKS.md"
    assert sorted(bench.script for bench in run_all.BENCHES) == SCRIPTS
    assert run_all.BEGIN in doc and run_all.END in doc
    assert run_all.FULL_BEGIN in doc and run_all.FULL_END in doc
