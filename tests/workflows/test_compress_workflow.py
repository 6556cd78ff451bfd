"""`fairtune compress` on a tiny trained run: every variant is built, loads back through the `Classifier`
interface, agrees with the parent, is measured and re-audited; bad input gets exit 2 and a fix."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml

from fairtune.cli import main

pytestmark = pytest.mark.integration
VARIANTS = ("bf16", "int8", "onnx", "onnx-int8", "onnx-int8-static", "pruned-magnitude-30")


@pytest.fixture(scope="module")
def compressed(tmp_path_factory: pytest.TempPathFactory, tiny_model_dir: Path) -> Path:
    from fairtune.testing import tiny_biased_rows, write_csv

    root = tmp_path_factory.mktemp("compress")
    write_csv(root / "train.csv", tiny_biased_rows(96, seed=1))
    write_csv(root / "eval.csv", tiny_biased_rows(48, seed=2))
    cfg = {
        "name": "tiny",
        "output_dir": str(root / "runs"),
        "seed": 7,
        "data": {"train": str(root / "train.csv"), "eval": str(root / "eval.csv"), "max_length": 16},
        "model": {"name": str(tiny_model_dir)},
        "train": {"epochs": 6, "batch_size": 8, "lr": 3e-3, "precision": "fp32"},
        "audit": {"fairness": {"permutations": 100, "bootstrap": 100}},
    }
    (root / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["train", str(root / "cfg.yaml"), "--no-progress"]) == 0
    run = root / "runs" / "tiny"
    argv = ["compress", str(run), "--bf16", "--int8", "--onnx", "--prune", "0.3", "--recover-steps", "4"]
    assert main([*argv, "--audit", "fairness"]) == 0
    return run


def test_every_variant_is_built_measured_and_reaudited(compressed: Path) -> None:
    summary = json.loads((compressed / "compress" / "summary.json").read_text())
    assert set(summary["variants"]) == set(VARIANTS)
    # the parent, trained but never audited, was audited first as `fairtune audit` does, provenance included
    own = json.loads((compressed / "audit" / "fairness.json").read_text())
    assert own["provenance"]["code"] and "flip_rate" in own["metrics"]
    parent = summary["parent"]
    assert parent["size_mb"] > 0 and parent["throughput"] > 0
    for name, m in summary["variants"].items():
        vdir = compressed / "compress" / name
        assert json.loads((vdir / "metrics.json").read_text())["variant"] == name
        assert (vdir / "audit" / "fairness.json").is_file()
        for key in ("size_mb", "latency_p50_ms", "latency_p95_ms", "throughput", "accuracy", "ece"):
            assert m[key] >= 0, (name, key)
        assert m["latency_p95_ms"] >= m["latency_p50_ms"]
        assert m["peak_memory_mb"] is None or m["peak_memory_mb"] >= 0
        # Each compared fairness metric carries the parent's value, the variant's and the move.
        rows = m["audits"]["fairness"]
        assert "flip_rate" in rows
        r = rows["flip_rate"]
        assert r["delta"] == pytest.approx(r["variant"] - r["parent"])
    v = summary["variants"]
    assert v["bf16"]["size_mb"] == pytest.approx(parent["size_mb"] / 2, rel=0.1)
    assert v["onnx-int8"]["size_mb"] < v["onnx"]["size_mb"]
    assert v["pruned-magnitude-30"]["recipe"]["pruning"]["zeroed"] > 0
    assert v["pruned-magnitude-30"]["recipe"]["recovery"]["steps"] == 4
    assert v["pruned-magnitude-30"]["recipe"]["recovery"]["distill_weight"] == 0.0
    # Exported with eager attention, so ONNX Runtime fuses one attention node per layer.
    layers = json.loads((compressed / "model" / "config.json").read_text())["num_hidden_layers"]
    assert v["onnx"]["recipe"]["fused_ops"]["Attention"] == layers
    assert v["onnx-int8"]["recipe"]["fused_ops"]["QAttention"] == layers


def test_variants_predict_like_the_parent(compressed: Path) -> None:
    from fairtune.compress import load_variant
    from fairtune.models import TorchClassifier

    texts = [f"the film was {w} and {v}" for w in ("good", "bad", "fine") for v in ("long", "short")]
    parent = TorchClassifier.from_dir(compressed / "model", precision="fp32").predict_proba(texts)
    for name in ("bf16", "int8", "onnx", "onnx-int8", "onnx-int8-static"):
        clf = load_variant(compressed / "compress" / name, batch_size=4, max_length=16)
        probs = clf.predict_proba(texts)
        assert probs.shape == parent.shape
        assert np.allclose(probs.sum(axis=1), 1.0, atol=1e-4)
        tol = 1e-4 if name == "onnx" else 0.1  # ONNX fp32 matches eager; the rest are approximations
        assert np.abs(probs - parent).max() < tol, name


def test_pruned_weights_stay_zero_after_recovery(compressed: Path) -> None:
    from safetensors.torch import load_file

    weights = load_file(str(compressed / "compress" / "pruned-magnitude-30" / "model.safetensors"))
    enc = [w for k, w in weights.items() if ".encoder." in k and k.endswith("weight") and w.ndim == 2]
    zero = sum(int((w == 0).sum()) for w in enc) / sum(w.numel() for w in enc)
    assert 0.25 <= zero <= 0.35


def test_structured_pruning_removes_whole_heads_and_neurons(tiny_model_dir: Path) -> None:
    from transformers import AutoModelForSequenceClassification

    from fairtune.compress import PruneSpec, apply_pruning, remove_pruning

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    info = apply_pruning(model, PruneSpec(0.5, "heads"))
    remove_pruning(model)
    heads = model.config.num_attention_heads
    d = model.config.hidden_size // heads
    for li, h in info["pruned_heads"]:
        w = model.bert.encoder.layer[li].attention.output.dense.weight
        assert (w[:, h * d : (h + 1) * d] == 0).all()
    assert len(info["pruned_heads"]) == round(0.5 * info["heads"])

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2)
    apply_pruning(model, PruneSpec(0.25, "ffn"))
    remove_pruning(model)
    for layer in model.bert.encoder.layer:
        cols = (layer.output.dense.weight == 0).all(dim=0)
        assert int(cols.sum()) == round(0.25 * cols.numel())


def test_ffn_pruning_removes_the_neurons_exactly(tiny_model_dir: Path, tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    from fairtune.compress import PruneSpec, apply_pruning, shrink_ffn

    model = AutoModelForSequenceClassification.from_pretrained(tiny_model_dir, num_labels=2).eval()
    width = model.config.intermediate_size
    apply_pruning(model, PruneSpec(0.5, "ffn"))
    batch = {
        "input_ids": torch.randint(5, model.config.vocab_size, (3, 9)),
        "attention_mask": torch.ones(3, 9, dtype=torch.long),
    }
    with torch.no_grad():
        masked = model(**batch).logits
    info = shrink_ffn(model)
    assert info == {"intermediate_size_before": width, "intermediate_size": width - round(0.5 * width)}
    for layer in model.bert.encoder.layer:
        assert layer.intermediate.dense.weight.shape[0] == info["intermediate_size"]
        assert layer.output.dense.weight.shape[1] == info["intermediate_size"]
    with torch.no_grad():
        assert torch.allclose(model(**batch).logits, masked, atol=1e-5)
    # A plain, smaller Hugging Face model: it loads back with from_pretrained alone.
    model.save_pretrained(tmp_path / "small")
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path / "small").eval()
    assert again.config.intermediate_size == info["intermediate_size"]
    with torch.no_grad():
        assert torch.allclose(again(**batch).logits, masked, atol=1e-5)


def test_layer_pruning_keeps_the_bottom_layers_unchanged(tmp_path: Path) -> None:
    import torch
    from transformers import AutoModelForSequenceClassification

    from fairtune.compress import PruneSpec, apply_pruning
    from fairtune.errors import FairtuneError
    from fairtune.testing import make_tiny_bert

    deep = make_tiny_bert(tmp_path / "deep", layers=4)
    model = AutoModelForSequenceClassification.from_pretrained(deep, num_labels=2).eval()
    batch = {
        "input_ids": torch.randint(5, model.config.vocab_size, (3, 9)),
        "attention_mask": torch.ones(3, 9, dtype=torch.long),
    }
    with torch.no_grad():
        states = model(**batch, output_hidden_states=True).hidden_states
    info = apply_pruning(model, PruneSpec(0.5, "layers"))
    assert info == {"layers_before": 4, "layers": 2, "dropped_layers": [2, 3]}
    model.save_pretrained(tmp_path / "shallow")
    again = AutoModelForSequenceClassification.from_pretrained(tmp_path / "shallow").eval()
    assert again.config.num_hidden_layers == len(again.bert.encoder.layer) == 2
    with torch.no_grad():
        out = again(**batch, output_hidden_states=True).hidden_states
    assert len(out) == 3 and torch.allclose(out[-1], states[2], atol=1e-5)
    # At least one layer goes and one stays, whatever the share.
    assert apply_pruning(again, PruneSpec(0.1, "layers"))["layers"] == 1
    with pytest.raises(FairtuneError, match="none to drop"):
        apply_pruning(again, PruneSpec(0.5, "layers"))


def test_compressions_stack_from_a_pruned_variant(
    compressed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import shutil

    from fairtune.compress import load_variant

    run = tmp_path / "tiny"
    shutil.copytree(compressed, run)
    ffn = ["--prune", "0.5", "--prune-method", "ffn", "--recover-steps", "2", "--distill-weight", "0.5"]
    ffn.append("--no-audit")
    assert main(["compress", str(run), *ffn]) == 0
    pruned = run / "compress" / "pruned-ffn-50"
    recipe = json.loads((pruned / "variant.json").read_text())
    assert recipe["pruning"]["intermediate_size"] < recipe["pruning"]["intermediate_size_before"]
    assert recipe["recovery"]["distill_weight"] == 0.5 and recipe["recovery"]["distill_temperature"] == 2.0
    assert main(["compress", str(run), "--onnx", "--int8", "--source", "pruned-ffn-50", "--no-audit"]) == 0
    summary = json.loads((run / "compress" / "summary.json").read_text())
    stacked = ("int8", "onnx", "onnx-int8", "onnx-int8-static")
    for name in stacked:
        v = summary["variants"][f"pruned-ffn-50+{name}"]
        assert v["recipe"]["source"] == str(pruned)
        assert v["size_mb"] < summary["variants"][name]["size_mb"]  # smaller than the unpruned one
    texts = ["the film was good", "a dull and long film", "fine"]
    ref = load_variant(pruned, batch_size=4, max_length=16, precision="fp32").predict_proba(texts)
    onnx = load_variant(run / "compress" / "pruned-ffn-50+onnx", batch_size=4, max_length=16)
    assert np.abs(onnx.predict_proba(texts) - ref).max() < 1e-4
    capsys.readouterr()
    # Only float32 PyTorch variants can be a source; an unknown one lists those that exist.
    assert main(["compress", str(run), "--int8", "--source", "onnx-int8"]) == 2
    assert "--source onnx-int8: only a float32 PyTorch variant" in capsys.readouterr().err
    assert main(["compress", str(run), "--int8", "--source", "nope"]) == 2
    err = capsys.readouterr().err
    assert "--source: no compressed variant 'nope'" in err and "pruned-ffn-50" in err


def test_bad_input(compressed: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from fairtune.compress import PruneSpec
    from fairtune.errors import FairtuneError

    assert main(["compress", str(compressed)]) == 2
    assert "--int8" in capsys.readouterr().err
    assert main(["compress", str(compressed), "--prune", "1.5"]) == 2
    assert "1.5" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert main(["compress", str(tmp_path / "empty"), "--int8"]) == 2
    assert "Train it first" in capsys.readouterr().err
    with pytest.raises(FairtuneError, match="--prune-method"):
        PruneSpec(0.3, "rows")
    assert main(["compress", str(compressed), "--prune", "0.3", "--distill-weight", "1.5"]) == 2
    assert "--distill-weight: 1.5 is outside [0, 1]" in capsys.readouterr().err


def test_onnx_export_failure_names_the_operator(
    compressed: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import torch

    from fairtune.compress import export_onnx
    from fairtune.errors import FairtuneError
    from fairtune.models import load_trained

    def fail(*args: object, **kwargs: object) -> None:
        raise RuntimeError(
            "Exporting the operator 'aten::fancy_attention' to ONNX opset version 17 is not supported."
        )

    monkeypatch.setattr(torch.onnx, "export", fail)
    model, tok = load_trained(compressed / "model")
    with pytest.raises(FairtuneError) as err:
        export_onnx(model, tok, tmp_path / "m.onnx", max_length=16)
    assert "aten::fancy_attention" in str(err.value) and "--int8" in str(err.value)


def test_onnx_threads_sleep_when_idle_under_a_passive_wait_policy(
    compressed: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from fairtune.compress._onnx import session

    key = "session.intra_op.allow_spinning"
    monkeypatch.setenv("OMP_WAIT_POLICY", "passive")
    opts = session(compressed / "compress" / "onnx" / "model.onnx").get_session_options()
    assert opts.get_session_config_entry(key) == "0"
    monkeypatch.delenv("OMP_WAIT_POLICY")
    opts = session(compressed / "compress" / "onnx" / "model.onnx").get_session_options()
    with pytest.raises(Exception, match="does not have configuration"):  # ONNX Runtime's default: spin
        opts.get_session_config_entry(key)


def test_report_shows_the_variants_and_their_audits(compressed: Path) -> None:
    assert main(["report", str(compressed)]) == 0
    html = (compressed / "report.html").read_text()
    assert "Compressed variants" in html and "onnx-int8-static" in html
    assert "onnx-int8: audit metrics against the parent" in html and "fairness.flip_rate" in html
    assert "Compression: speed against accuracy" in html
    md = (compressed / "report.md").read_text()
    assert "## Compressed variants" in md and "| pruned-magnitude-30 |" in md


def test_a_variant_that_fails_a_gate_the_fp32_model_passes_is_not_served(
    compressed: Path, tmp_path: Path
) -> None:
    import shutil

    from fairtune._rundir import RunDir
    from fairtune.errors import FairtuneError
    from fairtune.report import variant_gates
    from fairtune.workflows.serve import check_variant_gates

    summary = json.loads((compressed / "compress" / "summary.json").read_text())
    assert summary["variants"]["onnx-int8"]["gates"]["regressions"] == []  # the run has no gates
    run = RunDir(tmp_path / "run")  # a copy of the run with a variant that lost 10 points of accuracy
    shutil.copytree(compressed, run.root, ignore=shutil.ignore_patterns("checkpoints"))
    worse = run.root / "compress" / "onnx-int8"
    doc = json.loads((worse / "metrics.json").read_text())
    fp32 = json.loads((run.root / "metrics.json").read_text())["eval"]["accuracy"]
    (worse / "metrics.json").write_text(json.dumps({**doc, "accuracy": fp32 - 0.1}))
    flip = json.loads((worse / "audit" / "fairness.json").read_text())["metrics"]["flip_rate"]
    raw = {
        "eval.accuracy": {"min": fp32 - 0.05},
        "eval.ece": {"max": -1.0},
        "fairness.flip_rate": {"max": 2.0},
    }
    cfg = run.load_config().model_copy(update={"gates": _gates(raw)})
    gates = variant_gates(cfg, run.root, "onnx-int8")
    assert [g["value"] for g in gates["gates"]] == pytest.approx([fp32 - 0.1, doc["ece"], flip])  # its own
    assert gates["regressions"] == ["eval.accuracy"]  # ece fails for both: the model's, not the variant's
    with pytest.raises(FairtuneError, match="--variant onnx-int8: it fails gates that the fp32 model"):
        check_variant_gates(run, cfg, "onnx-int8")
    check_variant_gates(run, cfg, "onnx")  # the other variants keep the fp32 model's accuracy here


def _gates(raw: dict) -> dict:
    from fairtune.config import build_config

    return build_config({"name": "g", "gates": raw}).gates
