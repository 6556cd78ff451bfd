"""An audit document records what wrote it (the auditor's code, the settings it read), and a document of
another version of the auditor, or of other settings, is told apart from a current one."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from fairtune._rundir import RunDir
from fairtune.audits import provenance, stale_reason


@pytest.fixture
def run_root(tmp_path: Path, tiny_config: dict) -> Path:
    root = tmp_path / "runs" / "tiny"
    (root / "audit").mkdir(parents=True)
    (root / "config.yaml").write_text(yaml.safe_dump(tiny_config))
    return root


def _write(root: Path, name: str, **extra: object) -> None:
    doc = {"schema": "fairtune/audit/v1", "auditor": name, "metrics": {"x": 1.0}, **extra}
    (root / "audit" / f"{name}.json").write_text(json.dumps(doc))


def _with(root: Path, **sections: object) -> RunDir:
    """The run with its config.yaml changed as `sections` says (section -> {key: value})."""
    raw = yaml.safe_load((root / "config.yaml").read_text())
    for section, values in sections.items():
        raw.setdefault(section, {}).update(values)
    (root / "config.yaml").write_text(yaml.safe_dump(raw))
    return RunDir(root)


def test_each_auditor_has_its_own_code_digest_and_reads_only_its_own_settings(run_root: Path) -> None:
    cfg = RunDir(run_root).load_config()
    fair, rob = provenance("fairness", cfg), provenance("robustness", cfg)
    assert fair["code"] != rob["code"] and len(fair["code"]) == 16
    assert provenance("fairness", cfg) == fair  # stable
    other_audit = _with(run_root, audit={"robustness": {"sample": 7}}).load_config()
    assert provenance("fairness", other_audit) == fair  # another auditor's settings: not this one's
    assert provenance("robustness", other_audit)["settings"] != rob["settings"]
    gates = _with(run_root, gates={"eval.accuracy": {"min": 0.1}}).load_config()
    assert provenance("robustness", gates)["settings"] != rob["settings"]  # still sample 7
    assert provenance("fairness", gates) == fair  # gates are read by the report, not by auditors
    trained = _with(run_root, train={"lr": 0.5}).load_config()
    assert provenance("fairness", trained)["settings"] != fair["settings"]  # another model


def test_a_document_is_current_only_when_code_and_settings_match(run_root: Path) -> None:
    cfg = RunDir(run_root).load_config()
    assert stale_reason(run_root, "fairness") == "none yet"
    _write(run_root, "fairness")
    assert "before audit documents recorded" in (stale_reason(run_root, "fairness") or "")
    _write(run_root, "fairness", provenance=provenance("fairness", cfg))
    assert stale_reason(run_root, "fairness") is None
    _write(
        run_root,
        "fairness",
        provenance={**provenance("fairness", cfg), "code": "0" * 16, "fairtune": "0.0.9"},
    )
    assert (
        stale_reason(run_root, "fairness")
        == "written by another version of the fairness auditor (fairtune 0.0.9)"
    )
    _write(run_root, "fairness", provenance=provenance("fairness", cfg))
    _with(run_root, audit={"fairness": {"bootstrap": 500}})
    assert stale_reason(run_root, "fairness") == "written under other settings"


def test_the_code_digest_covers_the_auditors_data_files_and_declared_inputs(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Word lists and templates are part of what an auditor is: editing one makes a new version."""
    import fairtune.audits._provenance as prov

    before = prov.code_digest("robustness")
    folder = Path(prov.__file__).parent / "robustness"
    assert any(p.suffix == ".tsv" for p in folder.rglob("*"))
    original = Path.read_bytes

    fairness = prov.code_digest("fairness")
    lexicon = Path(prov.__file__).parents[1] / "data" / "lexicons" / "religion.tsv"
    assert lexicon.is_file()  # outside the fairness package: declared as one of its inputs

    def edited(self: Path) -> bytes:
        data = original(self)
        return data + b"\n# edited" if self.name in ("names.tsv", "religion.tsv") else data

    prov.code_digest.cache_clear()
    monkeypatch.setattr(Path, "read_bytes", edited)
    try:
        assert prov.code_digest("robustness") != before and prov.code_digest("fairness") != fairness
    finally:
        monkeypatch.undo()
        prov.code_digest.cache_clear()
    assert prov.code_digest("robustness") == before and prov.code_digest("fairness") == fairness
