"""The benchmark results and the pages built from them: every results file says where it comes from (a
machine block, in the folder of its host class), every benchmark writes through the one helper that adds
that block, and a page that differs from what its files give fails here (run `bench/results_pages.py` to
rebuild it)."""

from __future__ import annotations

import importlib.util
import json
import re
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
MACHINE_KEYS = {"host_class", "cpu", "cores", "isa", "torch", "torch_threads", "gpu", "date"}
ISA_KEYS = {"avx2", "avx512f", "avx512_vnni", "avx512_bf16", "amx_tile"}
HOST_CLASS = re.compile(r"^(amx|avx512-bf16|avx512|avx2|other|unknown|gpu-[a-z0-9._-]+)$")
#: the mitigation benchmarks' newest results also sit at a fixed top-level path that reviewers' scripts read
TOP_LEVEL = ("fairness.json", "robustness.json")
RESULT_FILES = sorted(p for p in RESULTS.rglob("*.json") if p.parent != RESULTS)


def _module(name: str) -> ModuleType:
    """bench/NAME.py, loaded under its own name (bench/ is no package)."""
    key = f"bench_{name.lstrip('_')}"
    if key not in sys.modules:
        spec = importlib.util.spec_from_file_location(key, ROOT / "bench" / f"{name}.py")
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[key] = module  # dataclasses look their module up there
        spec.loader.exec_module(module)
    return sys.modules[key]


def test_results_pages_match_the_benchmark_files() -> None:
    for path, text in _module("results_pages").pages().items():
        assert path.is_file(), f"{path} is missing: run bench/results_pages.py"
        assert path.read_text() == text, f"{path} is out of date: run bench/results_pages.py"


def test_the_pages_mark_their_generated_tables() -> None:
    """Every results page but the generated one has a header block, and the README its results block."""
    pages = _module("results_pages")
    for page in sorted((ROOT / "docs" / "results").glob("*.md")):
        if page.name in ("mitigations.md", "compressed-variants.md"):
            continue  # generated whole; measured from run folders only
        text = page.read_text()
        assert "<!-- results: header -->" in text or page.name == "index.md", page.name
        assert any(pages.MARKER.match(line) for line in text.splitlines()), page.name
    assert "<!-- results: readme -->" in (ROOT / "README.md").read_text()


def test_there_are_results_files() -> None:
    assert len(RESULT_FILES) >= 20


@pytest.mark.parametrize("path", RESULT_FILES, ids=lambda p: str(p.relative_to(RESULTS)))
def test_every_results_file_has_a_machine_block_and_lives_in_its_host_class_folder(path: Path) -> None:
    doc = json.loads(path.read_text())
    machine = doc.get("machine")
    assert isinstance(machine, dict), f"{path.name}: no machine block"
    assert set(machine) >= MACHINE_KEYS, f"{path.name}: missing {MACHINE_KEYS - set(machine)}"
    assert set(machine["isa"]) == ISA_KEYS
    assert HOST_CLASS.match(machine["host_class"]), machine["host_class"]
    assert path.parent.parent == RESULTS, f"{path}: not directly in a host-class folder"
    assert path.parent.name == machine["host_class"], (
        f"{path}: its machine block says {machine['host_class']}"
    )
    if machine["host_class"] == "unknown" or machine.get("reconstructed"):
        assert machine.get("reconstructed"), f"{path.name}: a reconstructed block says how"


def test_top_level_files_are_only_the_mitigation_results_and_copy_their_host_class_file() -> None:
    for path in sorted(RESULTS.glob("*.json")):
        assert path.name in TOP_LEVEL, f"{path}: results live in bench/results/<host-class>/"
        doc = json.loads(path.read_text())
        twin = RESULTS / doc["machine"]["host_class"] / path.name
        assert twin.is_file() and json.loads(twin.read_text()) == doc, f"{path} differs from {twin}"


def test_reconstructed_and_measured_machine_blocks_have_the_same_keys() -> None:
    common = _module("_common")
    block = common.machine(reconstructed={"host_class": "avx2", "date": "2026-11-28", "evidence": "a test"})
    assert set(block) - {"reconstructed"} >= MACHINE_KEYS
    assert block["isa"] == {"avx2": True, "avx512f": False, "avx512_vnni": False, "avx512_bf16": False,
                            "amx_tile": False}  # fmt: skip
    assert block["cpu"] is None and block["reconstructed"] == "a test"
    measured = common.machine()
    assert set(measured) == set(block) - {"reconstructed"}


def test_write_results_writes_into_the_host_class_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    common = _module("_common")
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    path = common.write_results("example", {"value": 1, "machine": "an old ad-hoc field"})
    doc = json.loads(path.read_text())
    assert path == tmp_path / doc["machine"]["host_class"] / "example.json"
    assert doc["value"] == 1 and set(doc["machine"]) >= MACHINE_KEYS
    other = common.write_results("example", {"value": 2}, path=tmp_path / "elsewhere.json")
    assert json.loads(other.read_text())["machine"]["host_class"] == doc["machine"]["host_class"]


BENCH_SCRIPTS = sorted(
    p for p in (ROOT / "bench").glob("*.py") if p.name not in ("_common.py", "results_pages.py")
)


@pytest.mark.parametrize("script", BENCH_SCRIPTS, ids=lambda p: p.name)
def test_every_benchmark_writes_its_results_through_write_results(script: Path) -> None:
    source = script.read_text()
    assert "write_results(" in source or "run_arms(" in source, f"{script.name} writes no results"
    assert "atomic_write_json" not in source, f"{script.name}: results go through _common.write_results"
    assert not re.search(r'"results"\s*/\s*"[\w.-]+\.json"', source), f"{script.name}: a flat results path"
    assert not re.search(r"bench/results/[\w.-]+\.json", source), f"{script.name}: a flat results path"


def test_run_arms_writes_through_write_results() -> None:
    source = (ROOT / "bench" / "_common.py").read_text()
    body = source.split("def run_arms(", 1)[1]
    assert "write_results(" in body


def test_no_page_names_a_results_file_outside_a_host_class_folder() -> None:
    texts = [ROOT / "README.md", *sorted((ROOT / "docs").rglob("*.md"))]
    for path in texts:
        flat = re.findall(r"bench/results/[\w.-]+\.json", path.read_text())
        assert not flat, f"{path.relative_to(ROOT)}: {flat}"


def test_a_mitigation_bench_run_for_one_arm_keeps_the_other_arms_with_their_seeds(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """More seeds for one arm: the arms not run again stay, each saying how many seeds it has, and the
    page names every arm's seeds where they differ."""
    common, pages = _module("_common"), _module("results_pages")
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    assert common.earlier_arms("example", ["a"]) == {} and common.earlier_parent("example") == (0, {})
    common.write_results("example", {"arms": {"a": {"x": 1}}})  # the older single-seed format: nothing kept
    assert common.earlier_arms("example", ["b"]) == {} and common.earlier_parent("example") == (0, {})
    common.write_results(
        "example", {"seeds": 3, "parent": {"x": 0}, "arms": {"a": {"x": 1}, "b": {"x": 2, "seeds": 2}}}
    )
    assert common.earlier_parent("example") == (3, {"x": 0})
    kept = common.earlier_arms("example", ["a"])
    assert kept == {"b": {"x": 2, "seeds": 2}}
    assert common.earlier_arms("example", ["c"])["a"] == {"x": 1, "seeds": 3}  # written before arms had seeds
    doc = {"seeds": 5, "arms": {"a": {"seeds": 5}, **kept}}
    assert pages._seeds_line(doc).startswith("seeds: the parent 5; `a` 5, `b` 2 (")
    assert pages._seeds_line({"seeds": 3, "arms": {"a": {}, "b": {"seeds": 3}}}) == "3 seeds per arm"


def test_an_arm_compared_with_another_parent_mean_than_the_columns_says_which() -> None:
    """An earlier arm keeps the parent it was compared with (its first seeds); its cell names that mean
    where the page's parent column shows another."""
    common, pages = _module("_common"), _module("results_pages")
    parent = {"x": {"mean": 2.0, "ci95": [0, 4], "values": [1.0, 2.0, 3.0]}, "note": "not a metric"}
    own = common.first_seeds(parent, 2)
    assert set(own) == {"x"} and own["x"]["mean"] == 1.5 and own["x"]["values"] == [1.0, 2.0]
    doc = {"parent": parent, "arms": {"a": {"parent": own}, "b": {"parent": parent}, "c": {}}}
    assert pages._own_parent(doc, "a", "x") == ", against the parent's 1.5000"
    assert pages._own_parent(doc, "b", "x") == pages._own_parent(doc, "c", "x") == ""


def test_the_time_target_reads_the_side_by_side_cost_table_where_it_has_the_arm() -> None:
    common, pages = _module("_common"), _module("results_pages")
    arm = {
        "diff": {"x": {"relative": -0.6, "ci95": [-2, -1]}, "dev_accuracy": {"mean": 0.0}},
        "train_seconds_ratio": 3.4,  # seed runs on a shared machine
    }
    seeds = common.judge_arm(arm, {"x": 0.5}, ("x",), 0.5)
    assert seeds["time_from"] == "seed runs" and not seeds["time_within_3x"] and not seeds["all_met"]
    timed = common.judge_arm(arm, {"x": 0.5}, ("x",), 0.5, {"ratio_vs_parent": 2.9, "within_3x": True})
    assert timed["time_from"] == "bench/mitigation_cost.py" and timed["time_ratio"] == 2.9
    assert timed["time_within_3x"] and timed["all_met"]
    page = pages._targets(Path("nowhere"), {"arms": {"a": {"targets": timed}}}, "a")
    assert page["timed_side_by_side"] and page["all_met"]


def test_a_cost_run_for_some_arms_keeps_the_others_with_the_run_that_timed_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each ratio is to the parent of its own run: a later run for one arm keeps the others, saying when
    they were timed, and the page prints that date."""
    common, cost, pages = _module("_common"), _module("mitigation_cost"), _module("results_pages")
    monkeypatch.setattr(common, "RESULTS_DIR", tmp_path)
    monkeypatch.setattr(cost, "read_results", common.read_results)
    assert cost.with_earlier({"parent": {"ratio_vs_parent": 1.0}}) == {"parent": {"ratio_vs_parent": 1.0}}
    earlier = {
        "steps_timed": 60,
        "repeats": 2,
        "arms": {"parent": {"x": 1}, "pgd": {"x": 3}, "a2t": {"x": 2}},
    }
    path = common.write_results("mitigation_cost", earlier)
    date = json.loads(path.read_text())["machine"]["date"]
    new = cost.stamped({"parent": {"x": 9}, "a2t": {"x": 8}}, 30, 1)
    assert new["a2t"]["run"]["steps_timed"] == 30 and new["a2t"]["run"]["date"] >= date
    merged = cost.with_earlier(new)
    assert list(merged) == ["parent", "pgd", "a2t"]  # the benchmark's own order
    assert merged["parent"] == new["parent"] and merged["a2t"] == new["a2t"]  # timed now
    assert merged["pgd"] == {"x": 3, "run": {"date": date, "steps_timed": 60, "repeats": 2}}
    assert pages._timed(merged["pgd"]["run"]) == date[:16].replace("T", " ")


def test_a_swept_arm_finds_the_child_named_after_the_chosen_value(tmp_path: Path) -> None:
    common = _module("_common")
    for name in ("fairness-all-tp16-clp0.5", "fairness-all-tp16"):
        (tmp_path / "mitigate" / name).mkdir(parents=True)
        (tmp_path / "mitigate" / name / "mitigation.json").write_text("{}")
    found = common.child_document(tmp_path, "fairness-all-tp16-clp*")
    assert found.parent.name == "fairness-all-tp16-clp0.5"
    assert common.child_document(tmp_path, "fairness-all-tp16").parent.name == "fairness-all-tp16"
    with pytest.raises(SystemExit, match=r"no mitigation\.json"):
        common.child_document(tmp_path, "robustness-both")


def test_the_cost_benchmark_times_the_arms_of_the_seeded_benchmarks_under_their_child_names() -> None:
    """bench/mitigation_cost.py reads its arms from the tables of bench/fairness.py and bench/robustness.py
    through `fairtune mitigate`'s own parser; each arm's options name the child folder its table reads."""
    from fairtune.workflows.mitigate import child_name

    cost = _module("mitigation_cost")
    tables = {**_module("fairness").ARMS, **_module("robustness").ARMS}
    assert set(cost.ARMS) == {"parent", *tables} - set(cost.NOT_TIMED)
    for arm, (kind, method, options) in cost.ARMS.items():
        if arm != "parent":
            assert child_name(kind, method, options) == tables[arm][1], arm
