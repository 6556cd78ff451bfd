from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from fairtune.config import DataConfig
from fairtune.data import load_task_data, read_table, read_texts
from fairtune.errors import (
    DATA_EMPTY_TEXT,
    DATA_FILE_MISSING,
    DATA_MISSING_COLUMN,
    DATA_MISSING_LABEL,
    DATA_NOT_UTF8,
    DATA_UNSEEN_LABEL,
    DATA_UNSUPPORTED_TYPE,
    DataError,
)
from fairtune.testing import tiny_sentiment_rows, write_csv


def _cfg(train: Path, ev: Path | None = None, **kw) -> DataConfig:
    return DataConfig(train=str(train), eval=str(ev) if ev else None, **kw)


def _problems(cfg: DataConfig) -> list[str]:
    with pytest.raises(DataError) as info:
        load_task_data(cfg)
    return info.value.problems


def test_csv_string_labels_sorted_and_encoded(tiny_data: tuple[Path, Path]) -> None:
    train, ev = tiny_data
    task = load_task_data(_cfg(train, ev))
    assert task.label_names == ["negative", "positive"]
    assert len(task.train) == 96 and len(task.eval) == 32
    assert task.train.labels.dtype == np.int64
    assert task.train.texts[0] == tiny_sentiment_rows(96, seed=1)[0][0]
    assert task.train.labels[0] == 1  # row 0 is positive


def test_tsv_is_read_unquoted_like_glue(tmp_path: Path) -> None:
    p = tmp_path / "t.tsv"
    p.write_text('sentence\tlabel\nit \'s a "great" film \t1\n" bad\t0\n', encoding="utf-8")
    task = load_task_data(_cfg(p, p, text_column="sentence", label_names=["negative", "positive"]))
    assert task.train.texts == ['it \'s a "great" film ', '" bad']
    assert task.train.labels.tolist() == [1, 0]


def test_jsonl_and_parquet_with_int_labels_and_groups(tmp_path: Path) -> None:
    rows = [{"review": f"text {i}", "y": i % 2, "domain": "ab"[i % 2]} for i in range(10)]
    jl = tmp_path / "d.jsonl"
    jl.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    pq = tmp_path / "d.parquet"
    pd.DataFrame(rows).to_parquet(pq)
    for path in (jl, pq):
        task = load_task_data(_cfg(path, path, text_column="review", label_column="y", group_column="domain"))
        assert task.label_names == ["0", "1"]
        assert task.train.labels.tolist() == [0, 1] * 5
        assert task.train.groups == ["a", "b"] * 5


def test_int_labels_index_label_names(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "a.csv", [("x", 2), ("y", 0), ("z", 1)])
    task = load_task_data(_cfg(p, p, label_names=["neg", "neu", "pos"]))
    assert task.train.labels.tolist() == [2, 0, 1]


def test_seeded_stratified_split_when_no_eval(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "a.csv", tiny_sentiment_rows(100))
    a = load_task_data(_cfg(p, eval_fraction=0.2), seed=3)
    b = load_task_data(_cfg(p, eval_fraction=0.2), seed=3)
    c = load_task_data(_cfg(p, eval_fraction=0.2), seed=4)
    assert a.eval_is_split and len(a.eval) == 20 and len(a.train) == 80
    assert a.eval.texts == b.eval.texts and a.eval.texts != c.eval.texts
    assert np.bincount(a.eval.labels).tolist() == [10, 10]  # stratified
    assert not set(a.eval.texts) & set(a.train.texts) - set(a.eval.texts)


def test_hf_datasets_path_with_a_local_dataset_folder(tmp_path: Path) -> None:
    folder = tmp_path / "myds"
    folder.mkdir()
    write_csv(folder / "train.csv", tiny_sentiment_rows(20, seed=1))
    write_csv(folder / "validation.csv", tiny_sentiment_rows(6, seed=2))
    task = load_task_data(DataConfig(hf_dataset=str(folder)))
    assert len(task.train) == 20 and len(task.eval) == 6
    assert task.label_names == ["negative", "positive"]
    # an eval file wins over the dataset's eval split (it used to be ignored without a word)
    other = write_csv(tmp_path / "other.csv", tiny_sentiment_rows(9, seed=3))
    task = load_task_data(DataConfig(hf_dataset=str(folder), eval=str(other)))
    assert len(task.train) == 20 and len(task.eval) == 9 and task.eval.source == str(other)


# --- bad input: each gives a clear error naming the file/field and the fix -----------------------
def test_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "nope.csv"
    problems = _problems(_cfg(missing))
    assert problems == [DATA_FILE_MISSING.format(field="data.train", path=missing, cwd=Path.cwd())]


def test_missing_column_lists_the_columns(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "a.csv", [("x", "pos")], header=("review", "stars"))
    problems = _problems(_cfg(p, p))
    assert (
        DATA_MISSING_COLUMN.format(field="data.text_column", column="text", path=p, columns="review, stars")
        in problems
    )
    assert any("data.label_column: column 'label'" in m for m in problems)


def test_empty_text_names_the_line(tmp_path: Path) -> None:
    p = write_csv(tmp_path / "a.csv", [("fine", "pos"), ("  ", "neg"), ("", "neg")])
    problems = _problems(_cfg(p, p))
    assert DATA_EMPTY_TEXT.format(path=p, n=2, column="text", where="line 3") in problems


@pytest.mark.parametrize("kind", ["csv", "jsonl"])
def test_missing_or_nan_label(tmp_path: Path, kind: str) -> None:
    if kind == "csv":
        p = write_csv(tmp_path / "a.csv", [("fine", "pos"), ("meh", ""), ("bad", "neg")])
        where = "line 3"
    else:
        p = tmp_path / "a.jsonl"
        p.write_text(
            '{"text": "fine", "label": 1}\n{"text": "meh", "label": NaN}\n{"text": "x", "label": 0}\n'
        )
        where = "line 2"
    problems = _problems(_cfg(p, p))
    assert DATA_MISSING_LABEL.format(path=p, n=1, column="label", where=where) in problems


def test_eval_label_never_seen_in_training(tmp_path: Path) -> None:
    tr = write_csv(tmp_path / "tr.csv", [("a", "pos"), ("b", "neg")])
    ev = write_csv(tmp_path / "ev.csv", [("a", "pos"), ("c", "neutral")])
    problems = _problems(_cfg(tr, ev))
    assert problems == [DATA_UNSEEN_LABEL.format(path=ev, labels=["neutral"], train_labels=["neg", "pos"])]


def test_unsupported_file_type(tmp_path: Path) -> None:
    p = tmp_path / "data.xlsx"
    p.write_bytes(b"PK")
    problems = _problems(_cfg(p))
    assert problems == [DATA_UNSUPPORTED_TYPE.format(field="data.train", suffix=".xlsx", path=p)]


def test_non_utf8_bytes_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_bytes(b"text,label\ngood,pos\ncaf\xe9 ok,neg\n")
    problems = _problems(_cfg(p))
    assert problems == [DATA_NOT_UTF8.format(path=p, line=3, byte="0xe9", col=4)]


def test_non_utf8_bytes_past_the_first_megabyte_name_the_line(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    head = b"text,label\n" + b"good text,pos\n" * 74_000
    pad = b"x" * (
        (1 << 20) - 1 - len(head)
    )  # the check reads 1 MiB pieces: "\xc3\xa9" straddles the first cut
    body = head + pad + b"\xc3\xa9 fine,pos\n" + b"good,pos\n" + b"ok \xe9 no,neg\n"
    p.write_bytes(body)
    problems = _problems(_cfg(p))
    assert problems == [DATA_NOT_UTF8.format(path=p, line=74_004, byte="0xe9", col=4)]


def test_all_problems_reported_at_once(tmp_path: Path) -> None:
    tr = write_csv(tmp_path / "tr.csv", [("", "pos"), ("b", "")])
    ev = tmp_path / "missing.csv"
    problems = _problems(_cfg(tr, ev))
    assert len(problems) == 3  # missing eval file, empty text, missing label


def test_read_texts_txt_and_csv_column(tmp_path: Path) -> None:
    txt = tmp_path / "t.txt"
    txt.write_text("one\n\ntwo\n")
    assert read_texts(txt) == ["one", "two"]
    csvp = write_csv(tmp_path / "c.csv", [("a", "1")], header=("body", "x"))
    assert read_texts(csvp, "body") == ["a"]
    with pytest.raises(DataError, match="column 'text' not in"):
        read_texts(csvp)


def test_read_table_reports_locations(tmp_path: Path) -> None:
    p = tmp_path / "a.jsonl"
    p.write_text('{"text": "a"}\n\n{"text": "b"}\n')
    table = read_table(p)
    assert table.where(1) == "line 3"


@pytest.mark.parametrize("kind", ["jsonl", "parquet"])
def test_binary_junk_in_the_text_column_is_named(tmp_path: Path, kind: str) -> None:
    junk = "\x00\x01\x02PK\x03\x04\x14\x00\x06\x00"
    rows = [
        {"text": "a fine film", "label": "pos"},
        {"text": junk if kind == "jsonl" else b"\x89PNG\r\n\x1a\n\x00\x00", "label": "neg"},
        {"text": "fine text with one \x07 bell and many ordinary words", "label": "neg"},
    ]
    path = tmp_path / f"d.{kind}"
    if kind == "jsonl":
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    else:
        pd.DataFrame(rows).to_parquet(path)
    problems = _problems(_cfg(path, path))
    msg = next(p for p in problems if "look like binary data" in p)
    assert msg.startswith(f"{path}: 1 text(s) in column 'text' look like binary data, not text (first at ")
    assert "Decode those values to text or remove the rows." in msg


@pytest.mark.parametrize(("rows", "labels"), [(60, 15), (40, 20)])
def test_an_eval_split_too_small_for_the_labels_names_the_field(
    tmp_path: Path, rows: int, labels: int, capsys: pytest.CaptureFixture[str]
) -> None:
    import yaml

    from fairtune.cli import main
    from fairtune.testing import write_csv

    train = write_csv(tmp_path / "train.csv", [(f"text {i}", f"label{i % labels}") for i in range(rows)])
    cfg = {"data": {"train": str(train)}, "output_dir": str(tmp_path / "runs")}
    (tmp_path / "cfg.yaml").write_text(yaml.safe_dump(cfg))
    assert main(["validate", str(tmp_path / "cfg.yaml")]) == 2
    err = capsys.readouterr().err
    assert "data.eval_fraction: 0.1 of" in err and f"the {labels} labels" in err and "Traceback" not in err
    assert "data.eval" in err
