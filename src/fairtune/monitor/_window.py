"""The window of new texts to monitor: read, checked and (with labels) encoded before any model loads."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from fairtune._io import read_json
from fairtune.errors import (
    DATA_FILE_MISSING,
    MONITOR_LABEL_COLUMN,
    MONITOR_MISSING_LABELS,
    MONITOR_NO_TEXTS,
    MONITOR_TEXT_COLUMN,
    MONITOR_TXT_LABELS,
    MONITOR_UNKNOWN_LABELS,
    MONITOR_WINDOW_SMALL,
    DataError,
)


@dataclass
class Window:
    """New texts, their labels as ids into the model's labels (None without --labels), and the file."""

    texts: list[str]
    labels: np.ndarray | None
    source: str
    skipped_blank: int = 0


def model_labels(model_dir: str | Path) -> list[str]:
    """The model's labels in output order, from its config.json (no torch needed)."""
    doc = read_json(Path(model_dir) / "config.json")
    id2label = doc.get("id2label") or {}
    return [str(id2label.get(str(i), id2label.get(i, f"LABEL_{i}"))) for i in range(len(id2label))]


def _blank(value: Any) -> bool:
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return True
    return isinstance(value, str) and not value.strip()


def _label_ids(values: list[Any], names: list[str], path: Path, column: str, where: Any) -> np.ndarray:
    """Each label as an id into `names`: a name (exact, else ignoring case) or an integer id."""
    missing = [i for i, v in enumerate(values) if _blank(v)]
    if missing:
        raise DataError(
            MONITOR_MISSING_LABELS.format(path=path, n=len(missing), column=column, where=where(missing[0]))
        )
    exact = {n: i for i, n in enumerate(names)}
    folded = {n.lower(): i for i, n in enumerate(names)}
    ids, bad = [], []
    for v in values:
        text = str(v).strip()
        if isinstance(v, float) and v.is_integer():
            text = str(int(v))
        hit = exact.get(text, folded.get(text.lower()))
        if hit is None and text.lstrip("-").isdigit() and 0 <= int(text) < len(names):
            hit = int(text)
        if hit is None and text not in bad:
            bad.append(text)
        ids.append(-1 if hit is None else hit)
    if bad:
        shown = ", ".join(repr(b) for b in bad[:8]) + (f" and {len(bad) - 8} more" if len(bad) > 8 else "")
        raise DataError(
            MONITOR_UNKNOWN_LABELS.format(
                path=path, bad=shown, column=column, labels=names, top=len(names) - 1
            )
        )
    return np.asarray(ids, dtype=np.int64)


def read_window(
    path: str | Path,
    *,
    text_column: str,
    label_column: str | None,
    label_names: list[str],
    min_window: int,
) -> Window:
    """The new texts of `path` (blank ones left out and counted), checked against `min_window`; with
    `label_column`, their labels as ids into `label_names`. Every refusal names the file and the fix."""
    from fairtune.data import read_table

    path = Path(path)
    if not path.is_file():
        raise DataError(DATA_FILE_MISSING.format(field="--data", path=path, cwd=Path.cwd()))
    labels: np.ndarray | None = None
    if path.suffix.lower() in {".txt", ""}:
        if label_column is not None:
            raise DataError(MONITOR_TXT_LABELS.format(path=path))
        from fairtune.data import read_texts

        raw: list[Any] = list(read_texts(path))
        column = "(one text per line)"
    else:
        table = read_table(path, field="--data")
        columns = ", ".join(map(str, table.frame.columns))
        if text_column not in table.frame.columns:
            raise DataError(MONITOR_TEXT_COLUMN.format(column=text_column, path=path, columns=columns))
        if label_column is not None and label_column not in table.frame.columns:
            raise DataError(MONITOR_LABEL_COLUMN.format(column=label_column, path=path, columns=columns))
        raw = table.frame[text_column].tolist()
        column = text_column
    keep = [i for i, t in enumerate(raw) if not _blank(t)]
    if not keep:
        blank = f" ({len(raw)} blank)" if raw else ""
        raise DataError(MONITOR_NO_TEXTS.format(path=path, column=column, blank=blank, min_window=min_window))
    if len(keep) < min_window:
        raise DataError(MONITOR_WINDOW_SMALL.format(path=path, n=len(keep), min_window=min_window))
    if label_column is not None:
        values = table.frame[label_column].tolist()
        labels = _label_ids(
            [values[i] for i in keep], label_names, path, label_column, lambda i: table.where(keep[i])
        )
    return Window([str(raw[i]) for i in keep], labels, str(path), len(raw) - len(keep))
