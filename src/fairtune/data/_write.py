"""Write labelled rows back out as JSONL, in a run's own columns, encrypted like the run's other data."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_text
from fairtune.data._load import LabelledData


def write_jsonl(
    path: Path, data: LabelledData, labels: list[str], text_column: str, label_column: str, encryption: Any
) -> Path:
    """`data` as JSONL rows `{text_column: text, label_column: label name}`, written atomically and
    encrypted under `encryption` (a run's `encryption:` section, or None); returns `path`."""
    rows = (
        json.dumps({text_column: text, label_column: labels[int(k)]}, ensure_ascii=False)
        for text, k in zip(data.texts, data.labels, strict=True)
    )
    atomic_write_text(path, "".join(r + "\n" for r in rows), encryption)
    return path
