"""`fairtune monitor RUN_DIR --data FILE [--labels]`: how far new texts have drifted from the run's data.

Reads the new texts and checks them (and the settings and gates) before the model loads; profiles the
run's reference sample once (cached in the monitor folder's reference.npz, keyed by the weights) and the
new texts with the run's own model; compares them; writes `<monitor dir>/<UTC time>.json`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json
from fairtune._rundir import RunDir
from fairtune._stages import register_stage
from fairtune.config import FairtuneConfig

SCHEMA = "fairtune/monitor/v1"


def monitor_config(
    run: RunDir, overrides: Sequence[str] = (), gates: Any = None, gates_from: str = "gates"
) -> FairtuneConfig:
    """The run's config with `monitor.*` overrides applied for this call only (config.yaml is not
    rewritten), and its gates narrowed to the `drift.*` ones plus `gates`, all validated."""
    from fairtune.config import build_config, merge_raw, parse_overrides, read_yaml
    from fairtune.errors import MONITOR_GATES, MONITOR_OVERRIDE, ConfigError

    for text in overrides:
        if not text.partition("=")[0].startswith("monitor."):
            raise ConfigError(MONITOR_OVERRIDE.format(text=text))
    run.require()
    raw = merge_raw(read_yaml(run.config), parse_overrides(list(overrides)))
    if gates is not None and not isinstance(gates, Mapping):
        raise ConfigError(MONITOR_GATES.format(where=gates_from, problem=f"got a {type(gates).__name__}"))
    extra = dict(gates or {})
    other = [k for k in extra if not str(k).startswith("drift.")]
    if other:
        raise ConfigError(MONITOR_GATES.format(where=gates_from, problem=f"{other[0]!r} is not one"))
    raw["gates"] = {k: v for k, v in (raw.get("gates") or {}).items() if str(k).startswith("drift.")} | extra
    return build_config(raw, installed=False)


def _stamp(folder: Path) -> Path:
    """A new file named by the UTC time to the microsecond, so that the names sort as the runs ran."""
    while True:
        path = folder / (datetime.now(UTC).strftime("%Y-%m-%dT%H%M%S.%fZ") + ".json")
        if not path.exists():
            return path


def monitor(
    run_dir: str | Path,
    data: str | Path,
    *,
    labels: bool = False,
    text_column: str | None = None,
    label_column: str | None = None,
    out: str | Path | None = None,
    overrides: Sequence[str] = (),
    gates: Mapping[str, Any] | None = None,
    gates_from: str = "gates",
    log: Callable[[str], None] = lambda message: None,
) -> dict[str, Any]:
    """Compare the texts of `data` with run `run_dir`'s reference and write the drift document to
    `out` (default RUN_DIR/monitor), which also holds the cached reference. Returns the document, with
    `path` set to where it was written."""
    start = time.perf_counter()
    run = RunDir(Path(run_dir))
    run.require_model()
    model_dir = run.current_model  # the model served now: a promoted update's (current.json), else model/
    cfg = monitor_config(run, overrides, gates, gates_from)
    settings = cfg.monitor

    from fairtune.monitor import (
        REFERENCE_FILE,
        compare,
        identity_swappers,
        load_reference,
        model_labels,
        profile,
        read_window,
        run_classifier,
    )

    names = model_labels(model_dir)
    window = read_window(
        data,
        text_column=text_column or cfg.data.text_column,
        label_column=(label_column or cfg.data.label_column) if labels else None,
        label_names=names,
        min_window=settings.min_window,
    )
    folder = Path(out) if out is not None else run.root / "monitor"
    swappers = identity_swappers(cfg)
    clf = run_classifier(cfg, model_dir)
    loaded = time.perf_counter()
    ref = load_reference(cfg, model_dir, clf, swappers, folder / REFERENCE_FILE)
    log(
        f"monitor: reference of {len(ref.profile)} texts ({ref.source}) "
        + ("reused from" if ref.cached else "profiled and cached in")
        + f" {folder / REFERENCE_FILE}"
    )
    referenced = time.perf_counter()
    new = profile(clf, window.texts, vocab=ref.vocab, swappers=swappers)
    profiled = time.perf_counter()
    body = compare(
        ref.profile,
        new,
        label_names=names,
        dimensions=[sw.lexicon.dimension for sw in swappers],
        alpha=settings.alpha,
        permutations=settings.permutations,
        seed=settings.seed,
        reference_oov=ref.oov_rate(),
        labels=window.labels,
        eval_metrics=run.read_metrics().get("eval"),
    )
    from fairtune.report import check_gates

    values = {f"drift.{k}": float(v) for k, v in body["metrics"].items()}
    done = time.perf_counter()
    doc: dict[str, Any] = {
        "schema": SCHEMA,
        "run": str(run.root),
        "data": window.source,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "n": len(window.texts),
        "skipped_blank": window.skipped_blank,
        "labels": names,
        "settings": settings.model_dump(),
        "reference": {
            "source": ref.source,
            "n": len(ref.profile),
            "cached": ref.cached,
            "file": str(folder / REFERENCE_FILE),
            "weights_sha256": ref.key["weights_sha256"],
        },
        **body,
        "gates": check_gates(cfg, values),
        "seconds": {
            "load": round(loaded - start, 3),
            "reference": round(referenced - loaded, 3),
            "profile": round(profiled - referenced, 3),
            "tests": round(done - profiled, 3),
            "total": round(done - start, 3),
        },
    }
    path = _stamp(folder)
    atomic_write_json(path, doc)
    doc["path"] = str(path)
    return doc


register_stage("monitor", monitor)
