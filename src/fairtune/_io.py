"""Atomic file writes and guarded reads. Every JSON and model file goes through here.

The writers take `encryption`: a run's `EncryptionConfig` encrypts what they write (`fairtune._crypto`),
None writes plaintext. `read_json` decrypts an encrypted file by itself."""

from __future__ import annotations

import json
import math
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fairtune._crypto import KeySource, read_bytes, seal
from fairtune.errors import CORRUPT_JSON, RunError


def _clean(obj: Any) -> Any:
    """Make numpy scalars/arrays and non-finite floats JSON-safe (NaN -> null)."""
    if isinstance(obj, dict):
        return {str(k): _clean(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_clean(v) for v in obj]
    if hasattr(obj, "tolist"):
        return _clean(obj.tolist())
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    return obj


def _umask() -> int:
    """The process's umask, read without changing it where Linux allows (`os.umask` sets it to read it,
    which for a moment would give other threads' new files the wrong mode)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _usual_modes(root: Path) -> None:
    """Give `root` (and, for a folder, all below it) the modes a plain write would: temp files and
    folders are private (0600, 0700), so a run folder shared with a serving account would not be
    readable by it."""
    mask = _umask()
    if root.is_dir():
        for folder, _, files in os.walk(root):
            os.chmod(folder, 0o777 & ~mask)
            for name in files:
                os.chmod(os.path.join(folder, name), 0o666 & ~mask)
    else:
        os.chmod(root, 0o666 & ~mask)


def atomic_write_text(path: str | os.PathLike[str], text: str, encryption: KeySource | None = None) -> None:
    """Write `text` to `path` so that a crash leaves the old file or the new one, never half of one."""
    atomic_write_bytes(path, text.encode("utf-8"), encryption)


def atomic_write_bytes(
    path: str | os.PathLike[str], data: bytes, encryption: KeySource | None = None
) -> None:
    """Write `data` to `path` so that a crash leaves the old file or the new one, never half of one;
    encrypted (in memory, before any byte reaches the disk) when `encryption` is given."""
    data = seal(data, encryption)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        _usual_modes(Path(tmp))
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def atomic_write_json(path: str | os.PathLike[str], data: Any, encryption: KeySource | None = None) -> None:
    """Write `data` as indented JSON, atomically (and encrypted when `encryption` is given)."""
    text = json.dumps(_clean(data), indent=2, ensure_ascii=False, allow_nan=False) + "\n"
    atomic_write_text(path, text, encryption)


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a JSON file written by a stage, decrypting it if it is encrypted; a damaged file is a clear
    `RunError` (an undecryptable one an `EncryptionError`), not a traceback."""
    path = Path(path)
    try:
        return json.loads(read_bytes(path).decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise RunError(CORRUPT_JSON.format(path=path, detail=exc)) from None


def clean_leftovers(folder: str | os.PathLike[str]) -> list[str]:
    """Undo what a killed `atomic_write_dir` left in `folder`: half-written `.NAME.*.tmp` folders are
    removed, and a `.NAME.old` whose NAME is gone (killed between the two renames) is put back. Returns
    what was done, for the log."""
    folder = Path(folder)
    done: list[str] = []
    if not folder.is_dir():
        return done
    for entry in sorted(folder.iterdir()):
        if not (entry.name.startswith(".") and entry.is_dir()):
            continue
        if entry.name.endswith(".tmp"):
            shutil.rmtree(entry, ignore_errors=True)
            done.append(f"removed the unfinished {entry.name}")
        elif entry.name.endswith(".old"):
            live = folder / entry.name[1:-4]
            if live.exists():
                shutil.rmtree(entry, ignore_errors=True)
                done.append(f"removed {entry.name}")
            else:
                os.replace(entry, live)
                done.append(f"restored {live.name} from {entry.name}")
    return done


def atomic_write_dir(path: str | os.PathLike[str], write: Callable[[Path], None]) -> None:
    """Fill a fresh temp folder with `write(tmp)`, then swap it in for `path` (model folders)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp"))
    try:
        write(tmp)
        _usual_modes(tmp)
        old = path.with_name(f".{path.name}.old")
        if old.exists():
            shutil.rmtree(old)
        if path.exists():
            os.replace(path, old)
        os.replace(tmp, path)
        if old.exists():
            shutil.rmtree(old)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
