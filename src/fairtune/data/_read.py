"""Read tabular text data from CSV/TSV/JSONL/Parquet with errors that name the file and line."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from fairtune._crypto import is_sealed_file, read_bytes
from fairtune.errors import (
    DATA_FILE_MISSING,
    DATA_GLOB_EMPTY,
    DATA_GLOB_FILE_COLUMN,
    DATA_NOT_UTF8,
    DATA_UNREADABLE,
    DATA_UNSUPPORTED_TYPE,
    DataError,
)

SUFFIX_FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "jsonl", ".parquet": "parquet"}


@dataclass
class Table:
    """A parsed file plus a function that turns a 0-based row index into 'line N' for messages."""

    frame: pd.DataFrame
    path: Path
    where: Callable[[int], str]


def detect_format(path: Path, fmt: str, field: str) -> str:
    if fmt != "auto":
        return fmt
    found = SUFFIX_FORMATS.get(path.suffix.lower())
    if found is None:
        raise DataError(DATA_UNSUPPORTED_TYPE.format(field=field, suffix=path.suffix or "(none)", path=path))
    return found


def check_utf8(path: Path, chunk: int = 1 << 20) -> None:
    """Refuse a file that is not valid UTF-8, naming the line and column, without holding its text."""
    import codecs

    decoder = codecs.getincrementaldecoder("utf-8")()
    line, line_start, offset = 1, 0, 0
    with path.open("rb") as fh:
        while True:
            block = fh.read(chunk)
            try:
                decoder.decode(block, final=not block)
            except UnicodeDecodeError as exc:
                bad = offset + exc.start - len(decoder.getstate()[0])
                head = block[: max(0, bad - offset)]
                line += head.count(b"\n")
                last = head.rfind(b"\n")
                col = (bad - (offset + last + 1) if last >= 0 else bad - line_start) + 1
                byte = block[bad - offset] if 0 <= bad - offset < len(block) else exc.object[exc.start]
                raise DataError(
                    DATA_NOT_UTF8.format(path=path, line=line, byte=f"0x{byte:02x}", col=col)
                ) from None
            if not block:
                return
            nl = block.rfind(b"\n")
            if nl >= 0:
                line += block.count(b"\n")
                line_start = offset + nl + 1
            offset += len(block)


def decode_utf8(path: Path, raw: bytes | None = None) -> str:
    """The text of `path` (or of its bytes `raw`, already read); invalid UTF-8 names the line."""
    raw = path.read_bytes() if raw is None else raw
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        col = exc.start - (raw.rfind(b"\n", 0, exc.start) + 1) + 1
        raise DataError(
            DATA_NOT_UTF8.format(path=path, line=line, byte=f"0x{raw[exc.start]:02x}", col=col)
        ) from None


def _read_jsonl(path: Path, text: str) -> Table:
    stripped = text.lstrip()
    if stripped.startswith("["):  # a JSON array of records
        try:
            records = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(DATA_UNREADABLE.format(path=path, fmt="JSON", detail=exc)) from None
        return Table(pd.DataFrame.from_records(records), path, lambda i: f"record {i + 1}")
    records, lines = [], []
    for lineno, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DataError(
                DATA_UNREADABLE.format(path=path, fmt="JSONL", detail=f"line {lineno}: {exc}")
            ) from None
        if not isinstance(obj, dict):
            raise DataError(
                DATA_UNREADABLE.format(path=path, fmt="JSONL", detail=f"line {lineno} is not a JSON object")
            )
        records.append(obj)
        lines.append(lineno)
    return Table(pd.DataFrame.from_records(records), path, lambda i: f"line {lines[i]}")


def _read_delimited(path: Path, fmt: str, text: str | None = None) -> Table:
    """Parse from the file itself (checked as UTF-8 first): no copy of its whole text is held, so one huge
    line costs about its own size, not several times it. `text`: the file's text, already decrypted."""
    # TSV files in the wild (GLUE) are unquoted and contain bare '"'; CSV follows RFC 4180 quoting.
    sep = "\t" if fmt == "tsv" else ","
    quoting: Literal[0, 1, 2, 3] = csv.QUOTE_NONE if fmt == "tsv" else csv.QUOTE_MINIMAL
    if text is None:
        check_utf8(path)
    try:
        frame = pd.read_csv(
            path if text is None else io.StringIO(text),
            sep=sep,
            quoting=quoting,
            dtype=str,
            keep_default_na=False,
            na_filter=False,
            encoding="utf-8-sig",
        )
    except (pd.errors.ParserError, pd.errors.EmptyDataError, csv.Error) as exc:
        raise DataError(DATA_UNREADABLE.format(path=path, fmt=fmt.upper(), detail=exc)) from None
    frame.columns = [str(c).strip() for c in frame.columns]
    return Table(frame, path, lambda i: f"line {i + 2}")


#: The column a glob read adds: each row's file name without its suffix (e.g. the domain).
FILE_COLUMN = "file"


def _read_glob(pattern: str, fmt: str, field: str) -> Table:
    """Several files matched by a glob, concatenated, with a `file` column naming each row's file."""
    import glob

    paths = sorted(Path(p) for p in glob.glob(pattern))
    if not paths:
        raise DataError(DATA_GLOB_EMPTY.format(field=field, pattern=pattern, cwd=Path.cwd()))
    tables = [read_table(p, fmt, field) for p in paths]
    for t in tables:
        if FILE_COLUMN in t.frame.columns:
            raise DataError(DATA_GLOB_FILE_COLUMN.format(path=t.path, column=FILE_COLUMN))
    frame = pd.concat(
        [t.frame.assign(**{FILE_COLUMN: t.path.stem}) for t in tables], ignore_index=True, sort=False
    )
    starts = np.cumsum([0] + [len(t.frame) for t in tables])

    def where(i: int) -> str:
        k = int(np.searchsorted(starts, i, side="right") - 1)
        return f"{tables[k].path}: {tables[k].where(i - int(starts[k]))}"

    return Table(frame, Path(pattern), where)


def read_table(path: str | os.PathLike[str], fmt: str = "auto", field: str = "data.train") -> Table:
    """Read a data file into a DataFrame of strings (CSV/TSV) or native JSON/Parquet values.

    A glob pattern (`data/*.jsonl`) reads every matching file and adds a `file` column (the file
    name without suffix), e.g. to use one file per domain as the group column.
    """
    if any(ch in str(path) for ch in "*?[") and not Path(path).is_file():
        return _read_glob(str(path), fmt, field)
    path = Path(path)
    if not path.is_file():
        raise DataError(DATA_FILE_MISSING.format(field=field, path=path, cwd=Path.cwd()))
    fmt = detect_format(path, fmt, field)
    if is_sealed_file(path):
        return _read_encrypted(path, fmt)
    if fmt == "parquet":
        return _read_parquet(path, path)
    if fmt == "jsonl":
        return _read_jsonl(path, decode_utf8(path))
    return _read_delimited(path, fmt)


def _read_parquet(path: Path, source: Path | io.BytesIO) -> Table:
    try:
        frame = pd.read_parquet(source)
    except Exception as exc:  # pyarrow raises several types for a bad file
        raise DataError(DATA_UNREADABLE.format(path=path, fmt="Parquet", detail=exc)) from None
    return Table(frame, path, lambda i: f"row {i + 1}")


def _read_encrypted(path: Path, fmt: str) -> Table:
    """A file fairtune encrypted (`encryption:`; e.g. augmentation and update data), decrypted in memory."""
    raw = read_bytes(path)
    if fmt == "parquet":
        return _read_parquet(path, io.BytesIO(raw))
    text = decode_utf8(path, raw)
    return _read_jsonl(path, text) if fmt == "jsonl" else _read_delimited(path, fmt, text)
