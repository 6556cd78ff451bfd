"""The README and the documentation site: the site builds with no warning, the README stays short and
its links, commands and flags exist, and its quickstart runs as printed (on a tiny model)."""

from __future__ import annotations

import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_the_docs_site_builds_offline_with_no_warning(tmp_path: Path) -> None:
    pytest.importorskip("mkdocs")
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(tmp_path / "site")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={"NO_MKDOCS_2_WARNING": "1", "PATH": "/usr/bin:/bin"},
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert "WARNING" not in out.stderr
    reference = (tmp_path / "site" / "reference" / "config" / "index.html").read_text()
    assert "train.identity_balance.per_phrase" in reference  # generated from the schema
    assert "fairtune mitigate" in (tmp_path / "site" / "reference" / "cli" / "index.html").read_text()


def test_the_reference_pages_match_the_code() -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("reference", ROOT / "docs" / "reference.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path, text in module.pages().items():
        assert path.is_file() and path.read_text() == text, f"{path}: run docs/reference.py"


def test_the_readme_is_short_and_its_links_exist() -> None:
    assert len(README.splitlines()) <= 400
    for target in re.findall(r"\]\(([^)#]+?)(?:#[^)]*)?\)", README):
        if "://" not in target:
            assert (ROOT / target).exists(), target
    assert not re.search(r"\bsessions?\b|\bissues?\b", README, re.IGNORECASE)


def _parser_choices() -> dict:
    from fairtune.cli import build_parser

    return build_parser()._subparsers._group_actions[0].choices  # type: ignore[union-attr,no-any-return]


def test_the_command_table_matches_the_parser() -> None:
    rows = [
        line
        for line in README.split("## Commands", 1)[1].split("\n## ", 1)[0].splitlines()
        if line.startswith("| `fairtune ")
    ]
    verbs = _parser_choices()
    listed = {re.match(r"\| `fairtune (\w+)", row).group(1) for row in rows}  # type: ignore[union-attr]
    assert listed == set(verbs)
    for row in rows:
        verb = re.match(r"\| `fairtune (\w+)", row).group(1)  # type: ignore[union-attr]
        usage = row.split("|")[1]
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]*", usage):
            assert flag in verbs[verb]._option_string_actions, (verb, flag)


def _quickstart() -> list[list[str]]:
    block = README.split("## Quickstart", 1)[1].split("```bash", 1)[1].split("```", 1)[0]
    return [shlex.split(line) for line in block.strip().splitlines()]


@pytest.mark.integration
def test_the_quickstart_runs_as_printed(
    tmp_path: Path, tiny_model_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Each quickstart line, with the SST-2 config swapped for a tiny one (same gates)."""
    from fairtune.cli import main
    from fairtune.testing import tiny_biased_rows, write_csv

    shipped = yaml.safe_load((ROOT / "configs" / "sst2-minilm.yaml").read_text())
    cfg = {
        "seed": 7,
        "data": {
            "train": str(write_csv(tmp_path / "train.csv", tiny_biased_rows(160, seed=1))),
            "eval": str(write_csv(tmp_path / "eval.csv", tiny_biased_rows(48, seed=2))),
            "max_length": 16,
        },
        "model": {"name": str(tiny_model_dir)},
        "train": {"epochs": 3, "batch_size": 16, "lr": 5e-3, "precision": "fp32"},
        "audit": {"fairness": {"permutations": 200, "bootstrap": 200}},
        "gates": shipped["gates"],
    }
    (tmp_path / "tiny.yaml").write_text(yaml.safe_dump(cfg))
    monkeypatch.chdir(tmp_path)
    codes = []
    for argv in _quickstart():
        assert argv[0] == "fairtune"
        args = ["tiny.yaml" if a == "configs/sst2-minilm.yaml" else a for a in argv[1:]]
        if args[0] in ("train", "mitigate"):
            args.append("--no-progress")
        codes.append(main(args))
    assert set(codes) <= {0, 3}, codes  # 3: a measured gate failed, which the quickstart expects
    child = tmp_path / "runs" / "quick" / "mitigate" / "fairness-all-tp16"
    assert (child / "mitigation.json").is_file() and (child / "report.html").is_file()
    assert (tmp_path / "runs" / "quick" / "gates.json").is_file()
    assert "fairness mitigation 'all'" in capsys.readouterr().out
