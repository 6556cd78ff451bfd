"""Resumable checkpoints: weights (safetensors), optimizer/scheduler/RNG state, loop position.

With `encryption.checkpoints` every file of a checkpoint is written encrypted (`fairtune._crypto`); the
loaders decrypt any encrypted file by themselves."""

from __future__ import annotations

import io
import random
import re
import shutil
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fairtune._crypto import KeySource, read_bytes
from fairtune._io import atomic_write_bytes, atomic_write_dir, atomic_write_json, read_json

STEP_DIR = re.compile(r"^step-(\d+)$")


@dataclass
class TrainState:
    """Where the loop is. Saved with every checkpoint; restoring it resumes exactly."""

    step: int = 0
    epoch: int = 0
    batch_in_epoch: int = 0
    samples: int = 0
    train_seconds: float = 0.0
    best_metric: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    last_eval_step: int = -1
    history: list[dict[str, Any]] = field(default_factory=list)
    evals: list[dict[str, Any]] = field(default_factory=list)


def rng_state() -> dict[str, Any]:
    """The three generators' states as tensors and plain values only, so the file loads with
    `torch.load(weights_only=True)` (no pickled objects, which could run code)."""
    kind, key, pos, has_gauss, cached = np.random.get_state()  # type: ignore[misc]
    version, internal, gauss_next = random.getstate()
    return {
        "torch": torch.get_rng_state(),
        "numpy": {
            "kind": str(kind),
            "key": torch.from_numpy(np.asarray(key, dtype=np.int64)),
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached),
        },
        "python": {"version": version, "state": list(internal), "gauss_next": gauss_next},
    }


def set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    n = state["numpy"]
    key = n["key"].numpy().astype(np.uint32)
    np.random.set_state((n["kind"], key, n["pos"], n["has_gauss"], n["cached_gaussian"]))
    p = state["python"]
    random.setstate((p["version"], tuple(p["state"]), p["gauss_next"]))


def load_tensors(path: Path) -> Any:
    """`torch.load` with weights_only=True: tensors and plain values, never code. A file that holds
    anything else is refused, naming it."""
    import pickle

    from fairtune.errors import UNSAFE_PICKLE, RunError

    try:
        return torch.load(io.BytesIO(read_bytes(path)), weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError) as exc:
        raise RunError(UNSAFE_PICKLE.format(path=path, detail=str(exc).splitlines()[0][:200])) from exc


def _trainable_state(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().contiguous().clone() for k, v in model.state_dict().items()}


def save_weights(model: Any, path: Path, encryption: KeySource | None = None) -> None:
    from safetensors.torch import save

    atomic_write_bytes(path, save(_trainable_state(model)), encryption)


def load_weights(model: Any, path: Path) -> None:
    from safetensors.torch import load

    model.load_state_dict(load(read_bytes(path)))


def save_tensors(obj: Any, path: Path, encryption: KeySource | None = None) -> None:
    """`torch.save` of tensors and plain values (what `load_tensors` reads back), atomically."""
    buffer = io.BytesIO()
    torch.save(obj, buffer)
    atomic_write_bytes(path, buffer.getvalue(), encryption)


def save_checkpoint(
    ckpt_root: Path,
    model: Any,
    optimizer: Any,
    scheduler: Any,
    state: TrainState,
    keep: int = 2,
    encryption: KeySource | None = None,
) -> Path:
    """Write checkpoints/step-N/ atomically (each file encrypted with `encryption`, if given) and keep
    only the newest `keep` of them."""
    target = ckpt_root / f"step-{state.step:07d}"

    def write(tmp: Path) -> None:
        save_weights(model, tmp / "model.safetensors", encryption)
        blob = {"optimizer": optimizer.state_dict(), "scheduler": scheduler.state_dict(), "rng": rng_state()}
        save_tensors(blob, tmp / "optimizer.pt", encryption)
        atomic_write_json(tmp / "trainer_state.json", asdict(state), encryption)

    atomic_write_dir(target, write)
    steps = sorted(p for p in ckpt_root.iterdir() if STEP_DIR.match(p.name))
    for old in steps[:-keep]:
        shutil.rmtree(old, ignore_errors=True)
    return target


def latest_checkpoint(ckpt_root: Path) -> Path | None:
    if not ckpt_root.is_dir():
        return None
    steps = sorted(
        p for p in ckpt_root.iterdir() if STEP_DIR.match(p.name) and (p / "trainer_state.json").is_file()
    )
    return steps[-1] if steps else None


def load_checkpoint(path: Path, model: Any, optimizer: Any, scheduler: Any) -> TrainState:
    load_weights(model, path / "model.safetensors")
    blob = load_tensors(path / "optimizer.pt")
    optimizer.load_state_dict(blob["optimizer"])
    scheduler.load_state_dict(blob["scheduler"])
    set_rng_state(blob["rng"])
    raw = read_json(path / "trainer_state.json")
    return TrainState(**raw)
