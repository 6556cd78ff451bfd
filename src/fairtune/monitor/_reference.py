"""The reference new texts are compared with: a seeded sample of the run's texts, profiled once and cached
in `<monitor dir>/reference.npz` (arrays only, never texts), keyed by the model's weights and the sample's
settings, so that a retrained model or another sample is profiled again."""

from __future__ import annotations

import hashlib
import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fairtune._io import atomic_write_bytes
from fairtune.errors import MONITOR_NO_REFERENCE, DataError, FairtuneError
from fairtune.monitor._profile import Profile, profile, vocabulary

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig

REFERENCE_FILE = "reference.npz"
SCHEMA = "fairtune/monitor-reference/v1"


@dataclass
class Reference:
    profile: Profile
    vocab: np.ndarray  # sorted word hashes of the training texts
    heldout: np.ndarray  # (n,) bool: the reference text is not a training text (an eval text)
    key: dict[str, Any]
    source: str
    cached: bool = False

    def oov_rate(self) -> float | None:
        """Share of the held-out reference texts' words never seen in training (None without any)."""
        words = int(self.profile.words[self.heldout].sum())
        return float(self.profile.oov[self.heldout].sum() / words) if words else None


def weights_hash(model_dir: str | Path) -> str:
    """sha256 over the model folder's safetensors files (their names and bytes)."""
    digest = hashlib.sha256()
    for path in sorted(Path(model_dir).glob("*.safetensors")):
        digest.update(path.name.encode())
        with path.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def reference_key(cfg: FairtuneConfig, model_dir: str | Path, precision: str) -> dict[str, Any]:
    """What the cached reference depends on: the weights, the sample and what is measured on it (and
    the precision it was computed in: bf16 embeddings are not fp32 ones)."""
    m, fair = cfg.monitor, cfg.audit.fairness
    data = cfg.data
    return {
        "schema": SCHEMA,
        "weights_sha256": weights_hash(model_dir),
        "reference": m.reference,
        "reference_size": m.reference_size,
        "seed": m.seed,
        "data": [data.train, data.eval, data.hf_dataset, data.max_train_rows, data.max_eval_rows, cfg.seed],
        "max_length": data.max_length,
        "precision": precision,
        "dimensions": list(fair.dimensions),
        "lexicon_dir": fair.lexicon_dir,
        "pronouns": fair.pronouns,
    }


def _sample(cfg: FairtuneConfig, cache: Path) -> tuple[list[str], np.ndarray, list[str], str]:
    """(reference texts, held-out flags, training texts, source): a seeded sample of monitor.reference."""
    from fairtune.data import load_task_data

    m = cfg.monitor
    try:
        task = load_task_data(cfg.data, cfg.seed, cfg.encryption)  # a redaction it caches is encrypted too
    except FairtuneError as exc:
        raise DataError(
            MONITOR_NO_REFERENCE.format(
                which=m.reference, cache=cache, detail="; ".join(exc.problems), config="config.yaml"
            )
        ) from None
    pools = {
        "train": [(t, False) for t in task.train.texts],
        "eval": [(t, True) for t in task.eval.texts],
    }
    pool = pools["train"] + pools["eval"] if m.reference == "both" else pools[m.reference]
    rng = np.random.default_rng(m.seed)
    idx = np.sort(rng.choice(len(pool), size=min(m.reference_size, len(pool)), replace=False))
    sources = {"train": task.train.source, "eval": task.eval.source}
    source = " + ".join(sources[s] for s in (("train", "eval") if m.reference == "both" else (m.reference,)))
    return [pool[i][0] for i in idx], np.array([pool[i][1] for i in idx]), task.train.texts, source


def _save(path: Path, ref: Reference) -> None:
    arrays = {
        "key": np.array(json.dumps(ref.key, sort_keys=True)),
        "source": np.array(ref.source),
        "vocab": ref.vocab,
        "heldout": ref.heldout,
        **ref.profile.arrays(),
    }
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)  # type: ignore[arg-type]
    atomic_write_bytes(path, buffer.getvalue())


def _load(path: Path, key: dict[str, Any]) -> Reference | None:
    """The cached reference if its key is `key`; None when missing, stale or unreadable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            if json.loads(str(z["key"])) != json.loads(json.dumps(key, sort_keys=True)):
                return None
            arrays = {f: z[f] for f in Profile.__dataclass_fields__}
            return Reference(Profile(**arrays), z["vocab"], z["heldout"], key, str(z["source"]), cached=True)
    except (OSError, ValueError, KeyError):
        return None


def cached_weights(cache: Path) -> str | None:
    """The weights' sha256 a cached reference was profiled with (None: no readable cache)."""
    try:
        with np.load(cache, allow_pickle=False) as z:
            return str(json.loads(str(z["key"])).get("weights_sha256"))
    except (OSError, ValueError, KeyError, AttributeError):
        return None


def _present(path: str) -> bool:
    if any(c in path for c in "*?["):
        import glob

        return bool(glob.glob(path))
    return Path(path).is_file()


def missing_reference_data(cfg: FairtuneConfig, model_dir: str | Path, cache: Path) -> list[str]:
    """Without torch: what stops a reference for the model in `model_dir` from being loaded, as
    "data.eval (path)" items; empty when `cache` holds one for these weights or the data files are there
    (a Hugging Face dataset is not looked up here)."""
    data = cfg.data
    if data.train is None and data.hf_dataset is not None:
        return []
    files = {"data.train": data.train, "data.eval": data.eval}
    missing = [f"{field} ({path})" for field, path in files.items() if path and not _present(path)]
    if data.train is None:
        missing.insert(0, "data.train (not set)")
    if missing and cache.is_file() and cached_weights(cache) == weights_hash(model_dir):
        return []
    return missing


def load_reference(
    cfg: FairtuneConfig, model_dir: str | Path, clf: Any, swappers: Any, cache: Path
) -> Reference:
    """The run's reference profile: from `cache` when its key matches, else sampled, profiled and cached."""
    key = reference_key(cfg, model_dir, clf.precision)
    hit = _load(cache, key)
    if hit is not None:
        return hit
    texts, heldout, train_texts, source = _sample(cfg, cache)
    vocab = vocabulary(train_texts)
    ref = Reference(profile(clf, texts, vocab=vocab, swappers=swappers), vocab, heldout, key, source)
    _save(cache, ref)
    return ref
