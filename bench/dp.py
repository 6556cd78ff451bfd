"""DP-SGD on GLUE SST-2: dev accuracy at ε = 8, training throughput against non-private training of the
same model on the same data (side by side, in this one run), and what the privacy audit measures on
the private model against the non-private one.

Run from the project root, with nothing else running:

    .venv/bin/python bench/dp.py

1. The private run, `configs/sst2-minilm-dp-public-bitfit-c10-b2048.yaml` (ε = 8, canaries; BitFit from
   the public warm start of `configs/amazon-minilm-public.yaml`, clipping norm 10, 264 steps of ~2048
   texts): trained with `fairtune train` if its run has no model yet (about 30 minutes on the AVX-512
   host, after the warm start's), then audited with `fairtune audit --only privacy` (a reference model is
   trained on ../shared/data/sst2_sentences/test.tsv). Earlier defaults, with their results: the top
   layer, `bench/configs/sst2-minilm-dp.yaml` (`bench/results/avx2/dp_toplayer.json`), and the same
   BitFit recipe with steps of ~1024 texts, `bench/configs/sst2-minilm-dp-public-bitfit-c10.yaml`
   (`bench/results/avx512-bf16/dp_bitfit_b1024.json`).
2. The non-private reference, runs/sst2-minilm (`configs/sst2-minilm.yaml`, full fine-tuning): trained if
   missing; its privacy audit is recomputed here with the same reference data (the run is not changed),
   into bench/results/<host-class>/dp_nonprivate_privacy_audit.json.
3. Throughput, side by side: the private config's model and data, `--steps` optimizer steps of
   `--batch` texts each: non-private training of all weights, DP as configured (the top layer trained on
   cached frozen states; the cache build is timed apart), the same without the cache, and DP of all
   weights.
   Non-private training keeps its length-grouped batches; DP training samples Poisson batches and cuts
   each into pieces of similar length.

A public warm start (`--warm-start configs/amazon-minilm-public.yaml`, the default for the default
`--config`, and needed by the other `*-public*` configs): that config is trained first if missing (no
DP: its data is public), and its model's dev accuracy before any private training is recorded beside
the DP result, so that what the private data added is plain.

Results: bench/results/<host-class>/dp.json. `--config configs/OTHER-DP.yaml --out
bench/results/<host-class>/OTHER.json` does the same for another private recipe (the top layer:
`bench/configs/sst2-minilm-dp.yaml`; LoRA: `bench/configs/sst2-minilm-dp-lora.yaml`; the whole encoder:
`bench/configs/sst2-minilm-dp-encoder.yaml`, about 2 hours to train here).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, fairtune, results_path, trained_run, write_results

#: The non-private run's privacy audit with the reference model (not written into that run), in
#: bench/results/<host-class>/: an audit from another CPU (fp32 against bf16) is never reused.
NONPRIVATE_AUDIT = "dp_nonprivate_privacy_audit"
DP_CONFIG = ROOT / "configs" / "sst2-minilm-dp-public-bitfit-c10-b2048.yaml"
#: the public warm start of DP_CONFIG, used when --config is left at its default
WARM_START = ROOT / "configs" / "amazon-minilm-public.yaml"
NONPRIVATE_CONFIG = ROOT / "configs" / "sst2-minilm.yaml"


def _ensure_trained(config: Path) -> Path:
    return trained_run(config, "train", "--overwrite")


def _nonprivate_audit(run: Path, reference_data: str) -> dict[str, Any]:
    """The privacy audit of the non-private run with the private run's reference data, not written
    into the run (its own config has no reference data)."""
    import fairtune.workflows  # noqa: F401 - registers the train stage the reference model is trained by
    from fairtune._rundir import RunDir
    from fairtune.audits import AuditContext, auditors
    from fairtune.data import load_task_data
    from fairtune.models import load_run_classifier

    rd, cfg, clf = load_run_classifier(run)
    cfg = cfg.model_copy(deep=True)
    cfg.audit.privacy.reference_data = reference_data
    task = load_task_data(cfg.data.model_copy(update={"label_names": clf.labels}), cfg.seed)
    with tempfile.TemporaryDirectory() as tmp:
        # the reference model goes to a scratch copy of the run's layout
        scratch = RunDir(Path(tmp) / rd.root.name)
        scratch.root.mkdir(parents=True)
        shutil.copy(rd.metrics, scratch.metrics)
        ctx = AuditContext(clf, task.eval, cfg, train=task.train, run=scratch)
        return auditors()["privacy"](ctx).to_json()


def _warm_start(config: Path, dp_cfg: Any) -> dict[str, Any]:
    """Train the public warm start if missing; its accuracy on the private config's eval split before
    any private training."""
    from fairtune._io import read_json
    from fairtune.config import load_config
    from fairtune.data import load_task_data
    from fairtune.models import load_trained
    from fairtune.training import evaluate_model

    run = _ensure_trained(config)
    model, tok = load_trained(run / "model")
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    # the eval file alone (read as train too, for the label space): the private train set is not needed
    data = dp_cfg.data.model_copy(update={"train": dp_cfg.data.eval, "label_names": labels})
    ev = load_task_data(data, dp_cfg.seed).eval
    m = evaluate_model(
        model,
        tok,
        ev.texts,
        ev.labels,
        labels,
        batch_size=128,
        max_length=dp_cfg.data.max_length,
        precision=dp_cfg.train.precision,
    )
    public = load_config(config)
    return {
        "config": str(config.resolve().relative_to(ROOT)),
        "model": str((run / "model").relative_to(ROOT)),
        "public_data": public.data.train or public.data.hf_dataset,
        "public_rows": read_json(run / "metrics.json")["train"].get("n_train"),
        "dev_accuracy_before_dp": m["accuracy"],
        "dev_ece_before_dp": m["ece"],
    }


def _throughput(steps: int, batch: int, config: Path) -> dict[str, Any]:
    """Samples per second, one way after the other in this process: non-private training of all
    weights (what a user runs without DP), DP as configured, and DP of all weights (the same trainable
    set as the non-private run, so the ratio is the cost of clipping and noise alone).

    DP as configured trains the top layer on cached frozen states: its one-off cache build over every
    training text is reported apart (`frozen_cache_seconds`), and `samples_per_second` is the steps'
    rate, so a short test does not charge the whole cache to a few steps. `dp_no_cache` is the same
    recipe recomputing the frozen layers at every step. For a LoRA config the non-private way is still
    full fine-tuning, and the two cache ways are left out."""
    from fairtune.config import config_to_dict, load_config
    from fairtune.config._load import build_config
    from fairtune.workflows.train import train

    out: dict[str, Any] = {}
    ways = ["nonprivate", "dp", "dp_all_weights"]
    if load_config(config).train.privacy.trainable_layers is not None:  # type: ignore[union-attr]
        ways.insert(2, "dp_no_cache")
    with tempfile.TemporaryDirectory() as tmp:
        for way in ways:
            raw = config_to_dict(load_config(config))
            raw.update(name=f"speed-{way}", output_dir=tmp)
            raw["train"].update(
                max_steps=steps, batch_size=batch, eval_every=None, save_every=10_000, canaries=None
            )
            if way == "nonprivate":
                raw["train"]["privacy"] = None
                raw["model"]["lora"] = None
            elif way == "dp_all_weights":
                raw["train"]["privacy"].update(
                    trainable_layers=None, freeze_embeddings=False, bias_only=None, clipping="ghost"
                )
                raw["model"]["lora"] = None
            elif way == "dp_no_cache":
                raw["train"]["privacy"].update(cache_frozen=False)
            print(f"throughput: {way}, {steps} steps of {batch} texts", flush=True)
            m = train(build_config(raw), show_progress=False)
            cache = (m["train"].get("privacy") or {}).get("frozen_cache") or {}
            seconds = m["train"]["train_seconds"] - cache.get("seconds", 0.0)
            out[way] = {
                "samples_per_second": m["train"]["samples"] / seconds,
                "samples": m["train"]["samples"],
                "train_seconds": seconds,
            }
            if cache.get("used"):
                out[way]["frozen_cache_seconds"] = cache["seconds"]
    base = out["nonprivate"]["samples_per_second"]
    out["ratio"] = out["dp"]["samples_per_second"] / base
    out["ratio_all_weights"] = out["dp_all_weights"]["samples_per_second"] / base
    if "dp_no_cache" in out:
        out["ratio_no_cache"] = out["dp_no_cache"]["samples_per_second"] / base
    out["steps"], out["batch"] = steps, batch
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument(
        "--config", type=Path, default=DP_CONFIG, help="the private config (default: %(default)s)"
    )
    ap.add_argument("--out", type=Path, help="results file (default: bench/results/<host-class>/dp.json)")
    ap.add_argument(
        "--warm-start",
        type=Path,
        help="the public config whose model the private config starts from (trained first if missing; "
        "default: configs/amazon-minilm-public.yaml for the default --config, else none)",
    )
    ap.add_argument("--steps", type=int, default=6, help="optimizer steps per way in the throughput test")
    ap.add_argument("--batch", type=int, default=256, help="texts per step in the throughput test")
    ap.add_argument(
        "--skip-throughput",
        action="store_true",
        help="keep the throughput from the last results (none if there are none)",
    )
    ap.add_argument(
        "--reuse-audit",
        action="store_true",
        help="read the private run's audit/privacy.json if it exists instead of auditing again",
    )
    ap.add_argument(
        "--throughput-only",
        action="store_true",
        help="only rerun the throughput test, replacing that part (and the ratios) in the last results",
    )
    ap.add_argument(
        "--nonprivate-only",
        action="store_true",
        help=f"only (re)compute the non-private run's privacy audit (<host-class>/{NONPRIVATE_AUDIT}.json)",
    )
    ap.add_argument(
        "--reuse-nonprivate",
        action="store_true",
        help=f"read the non-private audit from <host-class>/{NONPRIVATE_AUDIT}.json (made if missing)",
    )
    args = ap.parse_args()
    args.out = args.out or results_path("dp")
    nonprivate_audit = results_path(NONPRIVATE_AUDIT)
    args.config = args.config.resolve()
    if args.warm_start is None and args.config == DP_CONFIG.resolve():
        args.warm_start = WARM_START
    args.warm_start = args.warm_start.resolve() if args.warm_start else None
    from fairtune._io import read_json
    from fairtune.config import load_config

    if args.throughput_only:
        result = read_json(args.out)
        speed = _throughput(args.steps, args.batch, args.config)
        result.update(
            throughput=speed,
            throughput_ratio=speed["ratio"],
            throughput_ratio_all_weights=speed["ratio_all_weights"],
            throughput_timestamp=datetime.now(UTC).isoformat(timespec="seconds"),
        )
        write_results("dp", result, path=args.out)
        print(f"throughput ratio {speed['ratio']:.2f} -> {args.out}")
        return
    dp_cfg = load_config(args.config)
    reference = dp_cfg.audit.privacy.reference_data
    assert reference
    if args.nonprivate_only or not (args.reuse_nonprivate and nonprivate_audit.is_file()):
        audit = _nonprivate_audit(_ensure_trained(NONPRIVATE_CONFIG), reference)
        write_results(NONPRIVATE_AUDIT, audit, path=nonprivate_audit)
        if args.nonprivate_only:
            return
    np_audit = read_json(nonprivate_audit)
    warm = _warm_start(args.warm_start, dp_cfg) if args.warm_start else None
    dp_run = _ensure_trained(args.config)
    if not (args.reuse_audit and (dp_run / "audit" / "privacy.json").is_file()):
        fairtune("audit", str(dp_run.relative_to(ROOT)), "--only", "privacy")
    dp_metrics = read_json(dp_run / "metrics.json")
    dp_audit = read_json(dp_run / "audit" / "privacy.json")
    np_metrics = read_json(_ensure_trained(NONPRIVATE_CONFIG) / "metrics.json")
    if args.skip_throughput:  # the last run's, or none
        speed = read_json(args.out).get("throughput") if args.out.is_file() else None
    else:
        speed = _throughput(args.steps, args.batch, args.config)

    dp = dp_metrics["train"]["privacy"]
    m, nm = dp_audit["metrics"], np_audit["metrics"]
    result = {
        "epsilon": dp["epsilon_spent"],
        "delta": dp["delta"],
        "dev_accuracy": dp_metrics["eval"]["accuracy"],
        "nonprivate_dev_accuracy": np_metrics["eval"]["accuracy"],
        "throughput_ratio": speed["ratio"] if speed else None,
        "throughput_ratio_all_weights": speed["ratio_all_weights"] if speed else None,
        "mia_auc": m["mia_auc"],
        "mia_tpr_at_1pct_fpr": m["mia_tpr_at_1pct_fpr"],
        "nonprivate_mia_auc": nm["mia_auc"],
        "nonprivate_mia_tpr_at_1pct_fpr": nm["mia_tpr_at_1pct_fpr"],
        "mia_calibrated_auc": m.get("mia_calibrated_auc"),
        "mia_calibrated_tpr_at_1pct_fpr": m.get("mia_calibrated_tpr_at_1pct_fpr"),
        "nonprivate_mia_calibrated_auc": nm.get("mia_calibrated_auc"),
        "nonprivate_mia_calibrated_tpr_at_1pct_fpr": nm.get("mia_calibrated_tpr_at_1pct_fpr"),
        # 95% bootstrap intervals (members and non-members resampled apart), by attack: [lo, hi]
        "ci95": {
            name: {
                attack: audit["details"].get(attack, {}).get("ci95")
                for attack in ("membership", "calibrated")
            }
            for name, audit in (("dp", dp_audit), ("nonprivate", np_audit))
        },
        "canaries": dp_audit["details"].get("canaries"),
        "dp": dp,
        "dp_train_minutes": dp_metrics["train"]["train_seconds"] / 60,
        "nonprivate_model": "full fine-tuning (configs/sst2-minilm.yaml)",
        "dp_model": f"{dp_cfg.trained_weights()} ({args.config.resolve().relative_to(ROOT)})",
        "throughput": speed,
        "warm_start": warm,
        "targets": {
            "dev_accuracy": 0.85,
            "throughput_ratio": 0.40,
            "mia_auc": 0.55,
            "mia_tpr_at_1pct_fpr": 0.02,
        },
    }
    write_results("dp", result, path=args.out)
    print(json.dumps({k: v for k, v in result.items() if not isinstance(v, dict)}, indent=2))


if __name__ == "__main__":
    main()
