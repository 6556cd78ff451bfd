"""Atomic writes: an interrupted write leaves the old file or none, never half a file."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from fairtune._io import atomic_write_dir, atomic_write_json, read_json
from fairtune.errors import CORRUPT_JSON, RunError


class Boom(Exception):
    pass


def test_interrupted_json_write_keeps_the_old_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "metrics.json"
    atomic_write_json(target, {"accuracy": 0.5})
    real_fsync = os.fsync

    def crash(fd: int) -> None:  # the new bytes are written but the process "dies" before the rename
        raise Boom

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(Boom):
        atomic_write_json(target, {"accuracy": 0.9, "big": list(range(10000))})
    monkeypatch.setattr(os, "fsync", real_fsync)
    assert json.loads(target.read_text()) == {"accuracy": 0.5}
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]  # no temp file left behind


def test_interrupted_first_write_leaves_no_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(os, "replace", lambda *a: (_ for _ in ()).throw(Boom()))
    with pytest.raises(Boom):
        atomic_write_json(tmp_path / "gates.json", {"passed": True})
    assert list(tmp_path.iterdir()) == []


def test_killed_writer_process_never_leaves_half_a_file(tmp_path: Path) -> None:
    """A child process SIGKILLed while rewriting a large JSON file in a loop."""
    import signal
    import subprocess
    import sys
    import time

    target = tmp_path / "big.json"
    code = (
        "import sys; from fairtune._io import atomic_write_json\n"
        "i = 0\n"
        "while True:\n"
        "    atomic_write_json(sys.argv[1], {'i': i, 'data': list(range(200000))}); i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(target)])
    deadline = time.time() + 60
    while not target.exists() and time.time() < deadline:
        time.sleep(0.05)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    doc = json.loads(target.read_text())  # parses: complete, old or new
    assert len(doc["data"]) == 200000


def test_atomic_dir_swap_keeps_old_folder_on_failure(tmp_path: Path) -> None:
    model = tmp_path / "model"
    atomic_write_dir(model, lambda d: (d / "config.json").write_text("{}"))

    def half(d: Path) -> None:
        (d / "config.json").write_text('{"new": 1}')
        raise Boom

    with pytest.raises(Boom):
        atomic_write_dir(model, half)
    assert (model / "config.json").read_text() == "{}"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["model"]


def test_read_json_names_a_damaged_file(tmp_path: Path) -> None:
    p = tmp_path / "metrics.json"
    p.write_text('{"eval": ')
    with pytest.raises(RunError) as info:
        read_json(p)
    assert info.value.render().startswith(CORRUPT_JSON.split("(")[0].format(path=p))


def test_nan_is_written_as_null(tmp_path: Path) -> None:
    atomic_write_json(tmp_path / "a.json", {"x": float("nan"), "y": [1.0, float("inf")]})
    assert read_json(tmp_path / "a.json") == {"x": None, "y": [1.0, None]}


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_written_files_get_the_modes_a_plain_write_would(tmp_path: Path, mask: int) -> None:
    import stat
    import tempfile

    def write(d: Path) -> None:
        fd, name = tempfile.mkstemp(dir=d)  # private, as temp-file writers (safetensors, ours) leave them
        os.close(fd)
        os.replace(name, d / "weights.bin")
        (d / "sub").mkdir(mode=0o700)

    old = os.umask(mask)
    try:
        atomic_write_json(tmp_path / "m.json", {"a": 1})
        atomic_write_dir(tmp_path / "model", write)
    finally:
        os.umask(old)
    mode = {
        p.name: stat.S_IMODE(p.stat().st_mode)
        for p in [tmp_path / "m.json", tmp_path / "model", *(tmp_path / "model").rglob("*")]
    }
    assert mode == {
        "m.json": 0o666 & ~mask,
        "model": 0o777 & ~mask,
        "weights.bin": 0o666 & ~mask,
        "sub": 0o777 & ~mask,
    }
