"""No file from a run directory is unpickled: crafted checkpoint and int8 files cannot run code."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
import torch

from fairtune.errors import RunError

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "fairtune"


def test_the_package_never_unpickles() -> None:
    found = []
    for path in PACKAGE.rglob("*.py"):
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
            code = line.split("#", 1)[0]
            if (
                "weights_only=False" in code
                or re.search(r"\bpickle\.loads?\(", code)
                or re.search(r"(?<![\w.])eval\(", code)
                or ("torch.load(" in code and "weights_only=True" not in code)
            ):
                found.append(f"{path.relative_to(PACKAGE)}:{n}: {line.strip()}")
    assert found == []


class _Payload:
    """Pickles to a call that writes a marker file: what a crafted run directory would carry."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, ...]]:
        return (os.system, (f"touch {self.marker}",))


def _craft(path: Path, marker: Path) -> None:
    torch.save({"optimizer": _Payload(marker)}, path)


def test_a_crafted_optimizer_file_is_refused_on_resume(tiny_config: dict, tmp_path: Path) -> None:
    from fairtune.config import build_config
    from fairtune.training import latest_checkpoint
    from fairtune.workflows.train import train

    train(build_config(tiny_config), show_progress=False)
    ckpt = latest_checkpoint(Path(tiny_config["output_dir"]) / "tiny" / "checkpoints")
    assert ckpt is not None
    marker = tmp_path / "pwned"
    _craft(ckpt / "optimizer.pt", marker)
    with pytest.raises(RunError, match=r"optimizer\.pt: not a plain tensor file"):
        train(build_config(tiny_config), show_progress=False, resume=True)
    assert not marker.exists()


def test_a_crafted_int8_variant_is_refused(tiny_model_dir: Path, tmp_path: Path) -> None:
    from fairtune.compress._variants import INT8_WEIGHTS, build_int8, load_variant
    from fairtune.models import build_classifier
    from fairtune.models._build import save_model

    model_dir = tmp_path / "model"
    from fairtune.config import ModelConfig

    model, tok = build_classifier(ModelConfig(name=str(tiny_model_dir)), ["neg", "pos"])
    save_model(model, tok, model_dir)
    build_int8(model_dir, tmp_path / "int8")
    clf = load_variant(tmp_path / "int8", batch_size=4, max_length=16)  # the real file loads
    assert clf.predict_proba(["good film"]).shape == (1, 2)
    marker = tmp_path / "pwned"
    _craft(tmp_path / "int8" / INT8_WEIGHTS, marker)
    with pytest.raises(RunError, match="not a plain tensor file"):
        load_variant(tmp_path / "int8", batch_size=4, max_length=16)
    assert not marker.exists()
