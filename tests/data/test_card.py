from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fairtune.config import DataCardConfig
from fairtune.data import LabelledData, TaskData, build_data_card, normalize


def _task() -> TaskData:
    train = ["a fine film", "A fine film!", "a fine film", "dull", "dull", "awful plot " * 30, "great", "ok"]
    labels = np.array([1, 1, 1, 0, 1, 0, 1, 1])
    ev = ["a fine film", "Great.", "something new", "brand new text"]
    return TaskData(
        LabelledData(train, labels, None, "tr.csv"),
        LabelledData(ev, np.array([1, 1, 0, 0]), None, "ev.csv"),
        ["neg", "pos"],
    )


def _count(texts: list[str]) -> list[int]:
    return [len(t.split()) + 2 for t in texts]


def test_normalize() -> None:
    assert normalize("A  fine, film!") == normalize("a fine film") == "a fine film"


def test_card_counts_duplicates_leakage_lengths_and_balance() -> None:
    card = build_data_card(_task(), _count, DataCardConfig(min_label_share=0.3), max_length=16)
    assert card["rows"] == {"train": 8, "eval": 4}
    dup = card["duplicates"]
    assert dup["exact_duplicates"] == 2  # one extra 'a fine film' and one extra 'dull'
    assert dup["near_duplicates"] == 1  # 'A fine film!' ~ 'a fine film'
    assert dup["conflicting_label_groups"] == 1  # 'dull' is labelled 0 and 1
    assert card["leakage"] == {"eval_in_train_exact": 1, "eval_in_train_near": 1, "eval_in_train_share": 0.5}
    assert card["lengths"]["train"]["over_limit"] == 1 and card["lengths"]["eval"]["over_limit"] == 0
    assert card["label_balance"]["train"]["neg"] == {"count": 2, "share": 0.25}
    by_check = {f["check"]: f for f in card["findings"]}
    assert by_check["leakage.train_eval_overlap"]["severity"] == "error"  # 50% of eval > 5%
    assert by_check["labels.balance"]["severity"] == "warning"  # neg 25% < 30%
    assert by_check["train.conflicting_labels"]["severity"] == "warning"
    assert by_check["texts.too_long"]["count"] == 1
    assert set(card["metrics"]) == {
        "train_eval_overlap",
        "train_exact_duplicates",
        "train_near_duplicates",
        "long_texts",
    }
    assert all(f["severity"] in {"info", "warning", "error"} for f in card["findings"])


def test_clean_data_has_only_info_findings() -> None:
    train = LabelledData(["good one", "bad one", "fine day", "sad day"], np.array([1, 0, 1, 0]))
    ev = LabelledData(["new good", "new bad"], np.array([1, 0]))
    card = build_data_card(TaskData(train, ev, ["neg", "pos"]), _count, DataCardConfig(), max_length=16)
    assert {f["severity"] for f in card["findings"]} == {"info"}


@pytest.mark.integration
def test_one_huge_line_is_counted_in_bounded_time_and_memory(tmp_path: Path, tiny_model_dir: Path) -> None:
    """A 50 MB text: its tokens are counted up to a cap, never materialised whole (it once took 154 s
    and 7.3 GB). Measured as the extra peak memory of `fairtune data` over the same command on small data."""
    import json
    import subprocess
    import sys

    import yaml

    from fairtune.testing import tiny_sentiment_rows, write_csv

    def peak_mb(rows: list[tuple[str, str]], name: str) -> float:
        folder = tmp_path / name
        folder.mkdir()
        cfg = {
            "name": name,
            "output_dir": str(folder / "runs"),
            "data": {"train": str(write_csv(folder / "train.csv", rows)), "max_length": 16},
            "model": {"name": str(tiny_model_dir)},
        }
        (folder / "cfg.yaml").write_text(yaml.safe_dump(cfg))
        code = (
            "import resource, sys; from fairtune.cli import main; rc = main(['data', sys.argv[1]]); "
            "print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss); sys.exit(rc)"
        )
        out = subprocess.run(
            [sys.executable, "-c", code, str(folder / "cfg.yaml")],
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert out.returncode == 0, out.stderr[-2000:]
        card = json.loads((folder / "runs" / name / "data" / "card.json").read_text())
        assert card["lengths"]["tokens_counted_up_to"] == 1024
        return int(out.stdout.strip().splitlines()[-1]) / 1024

    rows = tiny_sentiment_rows(40, seed=1)
    small = peak_mb(rows, "small")
    huge = peak_mb([("good " * 10_000_000, "positive"), *rows], "huge")  # one 50 MB line
    assert huge - small < 500


def test_normalize_in_pieces_equals_normalize_at_once() -> None:
    import random

    from fairtune.data._card import _NON_WORD

    rng = random.Random(0)
    text = "".join(rng.choice("ab ,.-_!?ÉßΣ\t") for _ in range(2_500_000))  # pieces of 1 MiB
    assert normalize(text) == _NON_WORD.sub(" ", text.lower()).strip()
