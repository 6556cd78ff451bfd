"""`fairtune compress RUN_DIR [--bf16] [--int8] [--onnx] [--prune 0.3]`: build compressed variants of a
trained model into RUN_DIR/compress/<variant>/, measure each (size, latency, throughput, peak memory,
accuracy, ECE) and re-audit it through the `Classifier` interface, beside the parent (fp32).

Each variant folder gets `variant.json` (what it is), `metrics.json` (its numbers and how each audit metric
moved from the parent) and `audit/<name>.json`. `compress/summary.json` holds the table the report shows.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtune._io import atomic_write_json, read_json
from fairtune._rundir import RunDir
from fairtune._stages import register_stage, stage
from fairtune.config import FairtuneConfig
from fairtune.errors import COMPRESS_NOTHING, FairtuneError

if TYPE_CHECKING:
    from fairtune.compress import PruneSpec


def reaudited() -> list[str]:
    """Auditors that re-run on every variant (not explain: its gradient methods need the fp32 model)."""
    from fairtune.audits import auditors, classifier_auditors

    return [n for n in classifier_auditors() if auditors()[n].reaudit_variants]


def requested_variants(
    *, bf16: bool, int8: bool, onnx: bool, prune: PruneSpec | None, source: str | None = None
) -> list[str]:
    """Variant names in build order; built from variant `source` they are named `<source>+<name>`."""
    from fairtune.compress import ONNX_VARIANTS

    names = [n for n, on in (("bf16", bf16), ("int8", int8)) if on]
    if onnx:
        names += list(ONNX_VARIANTS)
    if prune is not None:
        names.append(prune.name)
    if not names:
        raise FairtuneError(COMPRESS_NOTHING)
    return [source_prefix(source) + n for n in names]


def source_prefix(source: str | None) -> str:
    return f"{source}+" if source else ""


def _source_dir(run: RunDir, source: str | None) -> Path:
    """The model folder variants are built from: the run's model, or a float32 PyTorch variant (a pruned
    one, say), so that compressions stack (prune, then quantize)."""
    from fairtune.compress import variant_dir

    if not source:
        return run.require_model()
    path = variant_dir(run.root, source, flag="--source")
    recipe = read_json(path / "variant.json")
    if recipe.get("kind") != "torch" or recipe.get("dtype") != "float32":
        raise FairtuneError(
            f"--source {source}: only a float32 PyTorch variant (a pruned-* one) can be compressed further; "
            f"{source} is {recipe.get('kind')} ({recipe.get('dtype')}). Build from the parent instead "
            "(leave out --source)."
        )
    return path


def _recovery(
    cfg: FairtuneConfig, task: Any, teacher_dir: Path, show_progress: bool
) -> Callable[[Any, Any, PruneSpec], dict[str, Any]]:
    """A short fine-tune of the pruned model with the run's own recipe (masks keep pruned weights at 0),
    distilling from the model in `teacher_dir` (the one that was pruned) with `spec.distill_weight`."""
    from fairtune.models import load_trained
    from fairtune.training import Trainer

    def recover(model: Any, tokenizer: Any, spec: PruneSpec) -> dict[str, Any]:
        tcfg = cfg.train.model_copy(
            update={
                "max_steps": spec.recover_steps,
                "epochs": max(cfg.train.epochs, 1.0),
                "save_every": spec.recover_steps + 1,
                "eval_every": None,
                "early_stopping": None,
                "canaries": None,
                "counterfactual": None,
                "adversarial": None,
                "privacy": None,
            }
        )
        teacher = load_trained(teacher_dir)[0].float() if spec.distill_weight > 0 else None
        with tempfile.TemporaryDirectory(prefix="fairtune-recover-") as td:
            trainer = Trainer(
                model,
                tokenizer,
                task,
                tcfg,
                run_dir=Path(td),
                seed=cfg.seed,
                max_length=cfg.data.max_length,
                show_progress=show_progress,
                teacher=teacher,
                distill_weight=spec.distill_weight,
            )
            res = trainer.fit()
        return {
            "steps": res.state.step,
            "lr": tcfg.lr,
            "distill_weight": spec.distill_weight,
            "distill_temperature": next(
                (o.info()["temperature"] for o in trainer.objectives if o.name == "distillation"), None
            ),
            "eval_accuracy_after": res.eval_metrics.get("accuracy"),
        }

    return recover


def reaudit(
    run: RunDir, cfg: FairtuneConfig, clf: Any, task: Any, out_root: Path, names: Sequence[str]
) -> dict[str, dict[str, float]]:
    """Run `names` auditors on `clf`; write out_root/audit/<name>.json; return their metrics."""
    from fairtune.audits import AuditContext, auditors, provenance

    ctx = AuditContext(clf, task.eval, cfg, train=task.train, run=run)
    out = {}
    for name in names:
        result = auditors()[name](ctx)
        result.provenance = provenance(name, cfg)  # a variant is audited under its run's settings
        result.write(out_root)
        out[name] = dict(result.metrics)
    return out


def moved(variant: dict[str, dict[str, float]], parent: dict[str, dict[str, float]]) -> dict[str, Any]:
    """{auditor: {metric: {parent, variant, delta, worse}}} for the compared metrics both sides have."""
    from fairtune.audits import auditors

    table: dict[str, Any] = {}
    for auditor in variant:
        rows = {}
        for metric, lower_better in auditors()[auditor].compared():
            metric = metric.removeprefix(f"{auditor}.")
            v, p = variant[auditor].get(metric), parent.get(auditor, {}).get(metric)
            if v is None or p is None:
                continue
            delta = float(v) - float(p)
            rows[metric] = {
                "parent": float(p),
                "variant": float(v),
                "delta": delta,
                "worse": bool(delta > 1e-9 if lower_better else delta < -1e-9),
            }
        table[auditor] = rows
    return table


def compress(
    run_dir: str | Path,
    variants: Sequence[str],
    *,
    prune: PruneSpec | None = None,
    source: str | None = None,
    audits: Sequence[str] | None = None,
    log: Callable[[str], None] = print,
    show_progress: bool = False,
) -> dict[str, Any]:
    """Build, measure and re-audit `variants` (names from `requested_variants`, with the same `source`);
    return compress/summary.json's content. Every variant is measured against the run's fp32 model, also
    when it is built from another variant."""
    from fairtune.audits import describe_stale, stale_audits
    from fairtune.compress import (
        ONNX_VARIANTS,
        build_bf16,
        build_int8,
        build_onnx,
        build_pruned,
        load_variant,
        measure_variant,
        size_mb,
    )
    from fairtune.data import load_task_data
    from fairtune.models import TorchClassifier
    from fairtune.report import variant_gates

    run = RunDir(Path(run_dir))
    model_dir = run.require_model()
    src_dir = _source_dir(run, source)
    prefix = source_prefix(source)
    cfg = run.load_config()
    if prune is not None and prune.recover_steps and cfg.train.privacy is not None:
        raise FairtuneError(
            f"--recover-steps {prune.recover_steps}: {run.root} was trained with DP-SGD, and a "
            "non-private recovery fine-tune on its training data would void the privacy guarantee. "
            "Pass --recover-steps 0."
        )
    allowed = reaudited()
    enabled = [n for n in allowed if getattr(cfg.audit, n).enabled]
    names_audit = list(enabled if audits is None else audits)
    bad = [a for a in names_audit if a not in allowed]
    if bad:
        raise FairtuneError(
            f"--audit: {bad[0]!r} cannot re-run on a variant. Choose from: {', '.join(allowed)}."
        )
    root = run.root / "compress"
    probe = TorchClassifier.from_dir(model_dir)
    task = load_task_data(cfg.data.model_copy(update={"label_names": probe.labels}), cfg.seed, cfg.encryption)
    del probe

    bases = {name: name.removeprefix(prefix) for name in variants}
    for name, base in bases.items():
        if base in ONNX_VARIANTS:
            continue
        log(f"compress: building {name}")
        if base == "bf16":
            build_bf16(src_dir, root / name)
        elif base == "int8":
            build_int8(src_dir, root / name)
        elif prune is not None and base == prune.name:
            build_pruned(src_dir, root / name, prune, recover=_recovery(cfg, task, src_dir, show_progress))
    onnx = [base for base in bases.values() if base in ONNX_VARIANTS]
    if onnx:
        log(f"compress: exporting ONNX and building {', '.join(prefix + n for n in onnx)}")
        calib = task.train.texts[:256]
        build_onnx(
            src_dir,
            root,
            max_length=cfg.data.max_length,
            calibration_texts=calib,
            names=onnx,
            prefix=prefix,
        )

    kw = {"batch_size": cfg.train.eval_batch_size, "max_length": cfg.data.max_length}
    texts, labels = task.eval.texts, task.eval.labels
    log("compress: measuring the parent (fp32)")
    parent_clf, parent_m = measure_variant(
        lambda: TorchClassifier.from_dir(model_dir, precision="fp32", **kw), texts, labels
    )
    parent_m["size_mb"] = size_mb(model_dir)
    del parent_clf
    stale = stale_audits(run.root, names_audit)
    if stale:  # the variants are compared with what today's auditors say of the parent, audited as usual
        log(f"compress: auditing the parent first ({describe_stale(stale)})")
        stage("audit")(run.root, only=list(stale), log=log)
    parent_audits = {n: read_json(run.root / "audit" / f"{n}.json").get("metrics", {}) for n in names_audit}
    summary: dict[str, Any] = {
        "schema": "fairtune/compress/v1",
        "parent": {"name": "fp32", **parent_m},
        "variants": {},
        "audits": names_audit,
    }
    previous = root / "summary.json"
    if previous.is_file():  # keep variants built by earlier calls
        summary["variants"].update(read_json(previous).get("variants", {}))
    for name in variants:
        vdir = root / name
        log(f"compress: measuring {name}")

        def load(vdir: Path = vdir) -> Any:
            return load_variant(vdir, precision=cfg.train.precision, **kw)

        clf, m = measure_variant(load, texts, labels)
        # fp32 PyTorch variants follow train.precision: auto runs them under bf16 autocast where the
        # CPU has native bf16, and their speed says so
        m["autocast_bf16"] = isinstance(clf, TorchClassifier) and clf.precision == "bf16"
        m["size_mb"] = size_mb(vdir)
        m["accuracy_delta"] = m["accuracy"] - parent_m["accuracy"]
        m["speedup"] = m["throughput"] / parent_m["throughput"]
        if names_audit:
            log(f"compress: re-auditing {name} ({', '.join(names_audit)})")
        v_audits = reaudit(run, cfg, clf, task, vdir, names_audit)
        doc = {
            **m,
            "variant": name,
            "recipe": read_json(vdir / "variant.json"),
            "audits": moved(v_audits, parent_audits),
        }
        doc["gates"] = variant_gates(cfg, run.root, name, doc)
        atomic_write_json(vdir / "metrics.json", doc)
        summary["variants"][name] = doc
        log(
            f"compress: {name}: {m['size_mb']:.1f} MB, p50 {m['latency_p50_ms']:.1f} ms, "
            f"{m['throughput']:.0f} texts/s ({m['speedup']:.2f}x), accuracy {m['accuracy']:.4f} "
            f"({m['accuracy_delta']:+.4f})"
            + (
                f"; fails gates the fp32 model passes: {', '.join(doc['gates']['regressions'])}"
                if doc["gates"]["regressions"]
                else ""
            )
        )
        del clf
    atomic_write_json(root / "summary.json", summary)
    return summary


register_stage("compress", compress)
