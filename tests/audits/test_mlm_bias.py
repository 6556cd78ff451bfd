"""The CrowS-Pairs metric on a masked LM built in code whose stereotype is known, and the audit verb's
refusal on a model without an MLM head."""

from __future__ import annotations

import csv
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch

from fairtune.audits.mlm_bias import audit_mlm_bias, shared_positions
from fairtune.cli import main

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "men", "women", "are", "good", "bad", "at", "work"]
IDX = {w: i for i, w in enumerate(VOCAB)}


class PlantedMLM(torch.nn.Module):
    """Predicts every masked token with high confidence when "men" is in the sentence, and spreads
    its probability evenly otherwise: it prefers any sentence about men over the same about women."""

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> SimpleNamespace:
        logits = torch.zeros(*input_ids.shape, len(VOCAB))
        has_men = (input_ids == IDX["men"]).any(dim=1)
        for row in range(input_ids.shape[0]):
            if has_men[row]:
                # confident about the words around it (the shared tokens get high probability)
                for w in ("are", "good", "bad", "at", "work"):
                    logits[row, :, IDX[w]] = 3.0
        return SimpleNamespace(logits=logits)


class Tok:
    mask_token_id = IDX["[MASK]"]

    def __call__(self, text: str, **kw: object) -> dict[str, list[int]]:
        return {"input_ids": [IDX["[CLS]"], *(IDX.get(w, 1) for w in text.lower().split()), IDX["[SEP]"]]}


def pairs(rows: list[tuple[str, str, str, str]]) -> object:
    import pandas as pd

    return pd.DataFrame(rows, columns=["sent_more", "sent_less", "stereo_antistereo", "bias_type"])


def test_shared_positions_skip_the_edit_and_the_special_tokens() -> None:
    a = [2, 5, 7, 8, 3]  # [CLS] men are good [SEP]
    b = [2, 6, 7, 8, 3]  # [CLS] women are good [SEP]
    assert shared_positions(a, b) == ([2, 3], [2, 3])
    a2 = [2, 5, 7, 10, 11, 3]  # insertion shifts positions on one side only
    b2 = [2, 7, 10, 11, 3]
    assert shared_positions(a2, b2) == ([2, 3, 4], [1, 2, 3])


def test_the_planted_preference_is_measured() -> None:
    data = pairs(
        [
            ("men are good", "women are good", "stereo", "gender"),
            ("men are good at work", "women are good at work", "stereo", "gender"),
            ("men are bad", "women are bad", "antistereo", "gender"),
            ("women are good", "men are good", "stereo", "age"),  # the model prefers sent_less here
        ]
    )
    result = audit_mlm_bias(PlantedMLM(), Tok(), data, model_name="planted", bootstrap=200)
    assert result.metrics["stereotype_score"] == pytest.approx(0.75)
    assert result.metrics["stereotype_score_gender"] == 1.0
    assert result.metrics["stereotype_score_age"] == 0.0
    d = result.details
    assert d["pairs"] == 4 and d["ties"] == 0
    lo, hi = d["bias_types"]["gender"]["ci95"]
    assert lo == hi == 1.0
    assert d["by_direction"] == {"antistereo": 1.0, "stereo": pytest.approx(2 / 3)}


def test_refuses_a_model_without_an_mlm_head(
    tiny_model_dir: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    crows = tmp_path / "crows.csv"
    with crows.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["", "sent_more", "sent_less", "stereo_antistereo", "bias_type"])
        w.writerow([0, "men are good", "women are good", "stereo", "gender"])
    assert main(["audit", str(tiny_model_dir), "--only", "mlm_bias", "--crows", str(crows)]) == 2
    assert "no trained masked-LM head" in capsys.readouterr().err
    assert main(["audit", str(tiny_model_dir), "--only", "mlm_bias"]) == 2
    assert "--crows" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("a,b\n1,2\n")
    assert (
        main(["audit", str(tiny_model_dir), "--only", "mlm_bias", "--crows", str(tmp_path / "bad.csv")]) == 2
    )
    assert "missing column(s) sent_more" in capsys.readouterr().err


@pytest.mark.integration
def test_runs_on_a_pretrained_run(tmp_path: Path, tiny_model_dir: Path) -> None:
    import yaml

    from fairtune.testing import tiny_sentiment_rows

    (tmp_path / "u.txt").write_text("\n".join(t for t, _ in tiny_sentiment_rows(40, seed=1)))
    cfg = {
        "name": "mlm",
        "output_dir": str(tmp_path / "runs"),
        "model": {"name": str(tiny_model_dir)},
        "pretrain": {"data": str(tmp_path / "u.txt"), "max_length": 16, "batch_size": 8, "max_steps": 2},
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["pretrain", str(tmp_path / "c.yaml"), "--no-progress"]) == 0
    crows = tmp_path / "crows.csv"
    with crows.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["", "sent_more", "sent_less", "stereo_antistereo", "bias_type"])
        w.writerow([0, "men are good", "women are good", "stereo", "gender"])
        w.writerow([1, "the muslims movie was bad", "the christians movie was bad", "stereo", "religion"])
    run = tmp_path / "runs" / "mlm"
    assert main(["audit", str(run), "--only", "mlm_bias", "--crows", str(crows)]) == 0
    doc = json.loads((run / "audit" / "mlm_bias.json").read_text())
    assert doc["details"]["pairs"] == 2 and 0 <= doc["metrics"]["stereotype_score"] <= 1
