"""The docs' results pages are built from the benchmark JSON files: a page that differs from what its
files give fails here (run `bench/results_pages.py` to rebuild it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_results_pages_match_the_benchmark_files() -> None:
    spec = importlib.util.spec_from_file_location("results_pages", ROOT / "bench" / "results_pages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path, text in module.pages().items():
        assert path.is_file(), f"{path} is missing: run bench/results_pages.py"
        assert path.read_text() == text, f"{path} is out of date: run bench/results_pages.py"
