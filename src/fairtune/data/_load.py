"""Turn the data section of a config into validated train/eval splits with integer labels."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from fairtune._crypto import KeySource
from fairtune.config import DataConfig
from fairtune.data._read import Table, decode_utf8, read_table
from fairtune.errors import (
    DATA_BINARY_TEXT,
    DATA_EMPTY_FILE,
    DATA_EMPTY_TEXT,
    DATA_FILE_MISSING,
    DATA_HF_FAILED,
    DATA_INT_LABEL_RANGE,
    DATA_LABEL_NOT_IN_NAMES,
    DATA_MISSING_COLUMN,
    DATA_MISSING_LABEL,
    DATA_NO_SOURCE,
    DATA_ONE_CLASS,
    DATA_UNSEEN_LABEL,
    EVAL_SPLIT_FAILED,
    EVAL_SPLIT_TOO_SMALL,
    PREDICT_COLUMN,
    DataError,
    FairtuneError,
)


@dataclass
class LabelledData:
    """One split: texts, integer label ids, optional group per row, and where it came from."""

    texts: list[str]
    labels: np.ndarray
    groups: list[str] | None = None
    source: str = ""

    def __len__(self) -> int:
        return len(self.texts)

    def subset(self, idx: np.ndarray | list[int]) -> LabelledData:
        idx = list(idx)
        return LabelledData(
            [self.texts[i] for i in idx],
            self.labels[idx],
            [self.groups[i] for i in idx] if self.groups is not None else None,
            self.source,
        )


@dataclass
class TaskData:
    train: LabelledData
    eval: LabelledData
    label_names: list[str]
    eval_is_split: bool = False
    notes: list[str] = field(default_factory=list)
    #: PII found and replaced per split ({"train": {TYPE: count}, ...}) when data.redact is on.
    redaction: dict[str, Any] | None = None


def _bytes_to_text(value: Any) -> Any:
    """A binary cell (e.g. a parquet binary column) holding UTF-8 text is that text; other bytes stay."""
    if isinstance(value, bytes | bytearray):
        try:
            return bytes(value).decode("utf-8")
        except UnicodeDecodeError:
            return value
    return value


def _looks_binary(value: Any) -> bool:
    """Bytes, a NUL, or at least 10% control characters (other than tab/newline) or U+FFFD."""
    if isinstance(value, bytes | bytearray | memoryview):
        return True
    text = str(value)
    if "\x00" in text:
        return True
    bad = sum(
        1 for ch in text if (ord(ch) < 32 and ch not in "\t\n\r") or ch == "\ufffd" or 127 <= ord(ch) < 160
    )
    return bad >= max(1, 0.1 * len(text))


def _is_missing(value: Any) -> bool:
    if value is None:
        return True
    if isinstance(value, float) and math.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, str):
        s = value.strip()
        if s.lstrip("-").isdigit():
            return int(s)
    return None


def _check_columns(table: Table, cfg: DataConfig, field_prefix: str, problems: list[str]) -> bool:
    cols = [str(c) for c in table.frame.columns]
    ok = True
    wanted = [("text_column", cfg.text_column), ("label_column", cfg.label_column)]
    if cfg.group_column:
        wanted.append(("group_column", cfg.group_column))
    for key, col in wanted:
        if col not in cols:
            problems.append(
                DATA_MISSING_COLUMN.format(
                    field=f"{field_prefix}.{key}", column=col, path=table.path, columns=", ".join(cols)
                )
            )
            ok = False
    return ok


@dataclass
class _RawSplit:
    texts: list[str]
    labels: list[Any]
    groups: list[str] | None
    table: Table


def _extract(table: Table, cfg: DataConfig, split: str, problems: list[str]) -> _RawSplit | None:
    if not _check_columns(table, cfg, "data", problems):
        return None
    frame = table.frame
    if len(frame) == 0:
        problems.append(DATA_EMPTY_FILE.format(path=table.path, split=split))
        return None
    texts_raw = [_bytes_to_text(t) for t in frame[cfg.text_column].tolist()]
    labels = frame[cfg.label_column].tolist()
    empty = [i for i, t in enumerate(texts_raw) if _is_missing(t)]
    if empty:
        problems.append(
            DATA_EMPTY_TEXT.format(
                path=table.path, n=len(empty), column=cfg.text_column, where=table.where(empty[0])
            )
        )
    binary = [i for i, t in enumerate(texts_raw) if not _is_missing(t) and _looks_binary(t)]
    if binary:
        problems.append(
            DATA_BINARY_TEXT.format(
                path=table.path,
                n=len(binary),
                column=cfg.text_column,
                where=table.where(binary[0]),
                preview=repr(texts_raw[binary[0]])[:60],
            )
        )
    missing = [i for i, v in enumerate(labels) if _is_missing(v)]
    if missing:
        problems.append(
            DATA_MISSING_LABEL.format(
                path=table.path, n=len(missing), column=cfg.label_column, where=table.where(missing[0])
            )
        )
    groups = [str(g) for g in frame[cfg.group_column].tolist()] if cfg.group_column else None
    return _RawSplit([str(t) for t in texts_raw], labels, groups, table)


def _label_space(train: _RawSplit, cfg: DataConfig) -> tuple[list[str], dict[Any, int]]:
    """Decide label names and the raw-value -> id map from the training labels."""
    values = [v for v in train.labels if not _is_missing(v)]
    ints = [_as_int(v) for v in values]
    all_int = bool(values) and all(i is not None for i in ints)
    if cfg.label_names is not None:
        names = list(cfg.label_names)
        if all_int:
            return names, {i: i for i in range(len(names))}
        return names, {n: k for k, n in enumerate(names)}
    if all_int:
        uniq = sorted({i for i in ints if i is not None})
        return [str(u) for u in uniq], {u: k for k, u in enumerate(uniq)}
    uniq_s = sorted({str(v).strip() for v in values})
    return uniq_s, {u: k for k, u in enumerate(uniq_s)}


def _encode(
    raw: _RawSplit,
    names: list[str],
    mapping: dict[Any, int],
    cfg: DataConfig,
    is_train: bool,
    problems: list[str],
) -> np.ndarray:
    int_keys = all(isinstance(k, int) for k in mapping)
    ids = np.full(len(raw.labels), -1, dtype=np.int64)
    unseen: dict[str, int] = {}
    for i, v in enumerate(raw.labels):
        if _is_missing(v):
            continue
        key: Any = _as_int(v) if int_keys else str(v).strip()
        if key in mapping:
            ids[i] = mapping[key]
        else:
            unseen.setdefault(str(v).strip(), i)
    if unseen:
        first_label, first_row = next(iter(unseen.items()))
        if cfg.label_names is not None and int_keys and _as_int(first_label) is not None:
            problems.append(
                DATA_INT_LABEL_RANGE.format(
                    path=raw.table.path,
                    label=first_label,
                    where=raw.table.where(first_row),
                    top=len(names) - 1,
                    names=names,
                )
            )
        elif cfg.label_names is not None:
            problems.append(
                DATA_LABEL_NOT_IN_NAMES.format(
                    path=raw.table.path, label=first_label, where=raw.table.where(first_row), names=names
                )
            )
        else:
            problems.append(
                DATA_UNSEEN_LABEL.format(path=raw.table.path, labels=sorted(unseen), train_labels=names)
            )
    if is_train and not unseen:
        present = set(ids[ids >= 0].tolist())
        if len(present) == 1:
            problems.append(DATA_ONE_CLASS.format(field="data.train", label=names[present.pop()]))
    return ids


def _load_hf(cfg: DataConfig, split: str) -> Table:
    import datasets  # heavy; only for the hub path

    try:
        ds = datasets.load_dataset(cfg.hf_dataset, cfg.hf_config, split=split)
    except Exception as exc:  # network, missing split, bad id: all become one actionable error
        raise DataError(
            DATA_HF_FAILED.format(name=cfg.hf_dataset, detail=f"{type(exc).__name__}: {exc}")
        ) from None
    frame = ds.to_pandas()
    assert isinstance(frame, pd.DataFrame)
    return Table(frame, Path(f"{cfg.hf_dataset}[{split}]"), lambda i: f"row {i}")


def _tables(cfg: DataConfig, problems: list[str]) -> tuple[Table | None, Table | None]:
    """Read the train and eval sources; collect read errors instead of stopping at the first."""

    def attempt(fn: Any, *args: Any) -> Table | None:
        try:
            return fn(*args)  # type: ignore[no-any-return]
        except FairtuneError as exc:
            problems.extend(exc.problems)
            return None

    if cfg.train:
        train = attempt(read_table, cfg.train, cfg.format, "data.train")
        ev = attempt(read_table, cfg.eval, cfg.format, "data.eval") if cfg.eval else None
        return train, ev
    if cfg.hf_dataset:
        train = attempt(_load_hf, cfg, cfg.hf_train_split)
        if cfg.eval:  # an eval file wins over the dataset's eval split, as it does over a split of train
            ev = attempt(read_table, cfg.eval, cfg.format, "data.eval")
        else:
            ev = attempt(_load_hf, cfg, cfg.hf_eval_split) if cfg.hf_eval_split else None
        return train, ev
    problems.append(DATA_NO_SOURCE)
    return None, None


def stratified_split(data: LabelledData, fraction: float, seed: int) -> tuple[LabelledData, LabelledData]:
    from sklearn.model_selection import train_test_split

    idx = np.arange(len(data))
    counts = np.bincount(data.labels)
    labels = int((counts > 0).sum())
    stratify = data.labels if counts[counts > 0].min() >= 2 else None
    n_eval = int(np.ceil(fraction * len(data)))  # as train_test_split counts a float test_size
    if stratify is not None and min(n_eval, len(data) - n_eval) < labels:
        least = min(0.5, float(np.ceil(100 * labels / len(data)) / 100))
        raise DataError(
            EVAL_SPLIT_TOO_SMALL.format(
                fraction=fraction, n=len(data), n_eval=n_eval, labels=labels, least=least
            )
        )
    try:
        tr, ev = train_test_split(idx, test_size=fraction, random_state=seed, stratify=stratify)
    except ValueError as exc:
        raise DataError(
            EVAL_SPLIT_FAILED.format(fraction=fraction, n=len(data), detail=str(exc).splitlines()[0])
        ) from None
    return data.subset(np.sort(tr)), data.subset(np.sort(ev))


def load_task_data(cfg: DataConfig, seed: int = 42, encryption: KeySource | None = None) -> TaskData:
    """Read, validate and encode the data section. Raises one `DataError` listing every problem.
    `encryption` (the run's `encryption:` section) encrypts what data.redact caches."""
    problems: list[str] = []
    train_t, eval_t = _tables(cfg, problems)
    if cfg.max_train_rows and train_t is not None:
        train_t.frame = train_t.frame.iloc[: cfg.max_train_rows]
    if cfg.max_eval_rows and eval_t is not None:
        eval_t.frame = eval_t.frame.iloc[: cfg.max_eval_rows]
    train_raw = _extract(train_t, cfg, "train", problems) if train_t is not None else None
    eval_raw = _extract(eval_t, cfg, "eval", problems) if eval_t is not None else None
    if train_raw is None:
        raise DataError(problems, header=f"{len(problems)} problem(s) in the data:")
    names, mapping = _label_space(train_raw, cfg)
    if problems:  # still check the eval labels, so that every problem is reported at once
        if eval_raw is not None:
            _encode(eval_raw, names, mapping, cfg, False, problems)
        raise DataError(problems, header=f"{len(problems)} problem(s) in the data:")
    train_ids = _encode(train_raw, names, mapping, cfg, True, problems)
    eval_ids = _encode(eval_raw, names, mapping, cfg, False, problems) if eval_raw is not None else None
    if problems:
        raise DataError(problems, header=f"{len(problems)} problem(s) in the data:")
    train = LabelledData(train_raw.texts, train_ids, train_raw.groups, str(train_raw.table.path))
    if eval_raw is not None and eval_ids is not None:
        ev = LabelledData(eval_raw.texts, eval_ids, eval_raw.groups, str(eval_raw.table.path))
        task = TaskData(train, ev, names)
    else:
        train, ev = stratified_split(train, cfg.eval_fraction, seed)
        ev.source = f"{train.source} (seeded stratified {cfg.eval_fraction:.0%} split)"
        task = TaskData(train, ev, names, eval_is_split=True)
    if cfg.extra_train:
        task.train = _append_extra(task.train, cfg, names)
    if cfg.redact:
        from fairtune.data._pii import redact_task

        redact_task(task, cfg, encryption)
    return task


def _append_extra(train: LabelledData, cfg: DataConfig, names: list[str]) -> LabelledData:
    """Rows of data.extra_train (text + label *name*) appended after the split, so eval never sees them."""
    assert cfg.extra_train is not None
    table = read_table(cfg.extra_train, "auto", "data.extra_train")
    cols = [str(c) for c in table.frame.columns]
    for key, col in (("text_column", cfg.text_column), ("label_column", cfg.label_column)):
        if col not in cols:
            raise DataError(
                DATA_MISSING_COLUMN.format(
                    field=f"data.{key}", column=col, path=table.path, columns=", ".join(cols)
                )
            )
    texts = [str(t) for t in table.frame[cfg.text_column].tolist()]
    labels = [str(v) for v in table.frame[cfg.label_column].tolist()]
    bad = [i for i, v in enumerate(labels) if v not in names]
    if bad:
        raise DataError(
            DATA_LABEL_NOT_IN_NAMES.format(
                path=table.path, label=labels[bad[0]], where=table.where(bad[0]), names=names
            )
        )
    ids = np.array([names.index(v) for v in labels], dtype=np.int64)
    groups = (train.groups + [""] * len(texts)) if train.groups is not None else None
    return LabelledData(
        train.texts + texts,
        np.concatenate([train.labels, ids]),
        groups,
        f"{train.source} + {len(texts)} rows of {table.path}",
    )


def read_texts(path: str | Path, column: str | None = None) -> list[str]:
    """Texts for prediction: a .txt file (one per line) or a column of a CSV/TSV/JSONL/Parquet file."""
    path = Path(path)
    if path.suffix.lower() in {".txt", ""}:
        if not path.is_file():
            raise DataError(DATA_FILE_MISSING.format(field="--file", path=path, cwd=Path.cwd()))
        return [line for line in decode_utf8(path).splitlines() if line.strip()]
    table = read_table(path, field="--file")
    col = column or "text"
    if col not in table.frame.columns:
        raise DataError(
            PREDICT_COLUMN.format(column=col, path=path, columns=", ".join(map(str, table.frame.columns)))
        )
    return [str(t) for t in table.frame[col].tolist()]
