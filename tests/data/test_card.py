from __future__ import annotations

import numpy as np

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
