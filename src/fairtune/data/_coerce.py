"""Labelled data from whatever a caller holds: a file path, a pandas DataFrame, a `datasets.Dataset`, or
texts and labels as two lists. Validated like a config's data files, with the same messages."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from fairtune.config import DataConfig
from fairtune.data._load import LabelledData, _encode, _extract, _is_missing, _label_space
from fairtune.data._read import Table, read_table
from fairtune.errors import DATA_UNKNOWN_KIND, DataError


def _frame_table(frame: pd.DataFrame, what: str) -> Table:
    return Table(frame.reset_index(drop=True), Path(what), lambda i: f"row {i}")


def as_table(data: Any, text_column: str, label_column: str, field: str) -> Table:
    """`data` as a `Table`; two sequences (texts, labels) become the columns `text_column`, `label_column`."""
    if isinstance(data, str | os.PathLike):
        return read_table(data, "auto", field)
    if isinstance(data, pd.DataFrame):
        return _frame_table(data, "<DataFrame>")
    if hasattr(data, "to_pandas") and hasattr(data, "column_names"):  # a datasets.Dataset
        return _frame_table(
            data.to_pandas(), f"<Dataset {getattr(data, 'info', None) and data.info.dataset_name}>"
        )
    if isinstance(data, Mapping):
        return _frame_table(pd.DataFrame(dict(data)), "<dict>")
    if isinstance(data, Sequence) and not isinstance(data, str) and len(data) == 2:
        texts, labels = data
        if isinstance(texts, Sequence) and not isinstance(texts, str) and len(texts) == len(labels):
            return _frame_table(
                pd.DataFrame({text_column: list(texts), label_column: list(labels)}), "<lists>"
            )
    raise DataError(DATA_UNKNOWN_KIND.format(field=field, kind=type(data).__name__))


#: the config fields the shared data messages name -> what a caller of `labelled_data` sets instead
ARGUMENTS = {
    "data.text_column": "text_column (--text-column)",
    "data.label_column": "label_column (--label-column)",
    "data.label_names": "the model's labels",
}


def _as_arguments(problems: list[str]) -> list[str]:
    for field, argument in ARGUMENTS.items():
        problems = [p.replace(field, argument) for p in problems]
    return problems


def labelled_data(
    data: Any,
    label_names: list[str],
    *,
    text_column: str = "text",
    label_column: str = "label",
    group_column: str | None = None,
    field: str = "data",
) -> LabelledData:
    """`data` with its labels as ids into `label_names` (the model's labels): integer labels are ids,
    string labels are names (matched exactly, else ignoring case). Every problem is reported at once."""
    cfg = DataConfig.model_validate(
        {
            "text_column": text_column,
            "label_column": label_column,
            "group_column": group_column,
            "label_names": label_names,
        }
    )
    table = as_table(data, text_column, label_column, field)
    problems: list[str] = []
    raw = _extract(table, cfg, "eval", problems)
    if raw is None:
        raise DataError(_as_arguments(problems), header=f"{len(problems)} problem(s) in {field}:")
    names, mapping = _label_space(raw, cfg)
    given = [str(v).strip() for v in raw.labels if not _is_missing(v)]
    if not all(isinstance(k, int) for k in mapping) and not all(v in mapping for v in given):
        lower = {str(n).lower(): k for n, k in mapping.items()}
        if len(lower) == len(mapping):  # "positive" for a model's "POSITIVE"
            mapping = lower
            raw.labels = [v if _is_missing(v) else str(v).strip().lower() for v in raw.labels]
    ids = _encode(raw, names, mapping, cfg, False, problems)
    if problems:
        raise DataError(_as_arguments(problems), header=f"{len(problems)} problem(s) in {field}:")
    return LabelledData(raw.texts, ids, raw.groups, str(table.path))
