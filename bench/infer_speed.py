"""Inference speed of the fine-tuned SST-2 model, side by side in one run: fp32 eager (the baseline), bf16
autocast, PyTorch dynamic int8, ONNX fp32, ONNX int8 (dynamic and static) as fairtune builds them, and the
recipe a user would follow with ONNX Runtime's defaults (export, then `quantize_dynamic` with default
settings, no graph fusion: what Optimum's dynamic quantization does on CPU), and stacked compression:
FFN pruning (`--ffn-prune` shares of each layer's FFN neurons removed) and layer dropping (`--layer-prune`
shares of the encoder layers, the top ones), each followed by `--recover-steps` steps of fine-tuning,
distilled from the unpruned model with `--distill-weight`, alone (in fp32, and under bf16 autocast) and
followed by ONNX int8. Without native bf16 (AVX512-BF16 or AMX), bf16 rows are only probed on 16 texts.

Run from the project root, with nothing else running:

    .venv/bin/python bench/infer_speed.py

It needs runs/sst2-minilm (`fairtune run configs/sst2-minilm.yaml`; trained here if missing). Every variant
is built from that model into a temporary folder, then measured on the full SST-2 dev set (872 sentences):
accuracy, throughput at batch 32 (`--repeats` passes over `--n-throughput` texts; the best pass is kept),
and p50/p95 latency at batch 1 over `--n-latency` texts. Results:
bench/results/<host-class>/infer_speed.json.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, trained_run, write_results

CONFIG = ROOT / "configs" / "sst2-minilm.yaml"


def user_recipe(model_dir: Path, out: Path) -> None:
    """What a user does by hand: torch.onnx.export, then ONNX Runtime's quantize_dynamic, all defaults."""
    import onnx
    from onnxruntime.quantization import quantize_dynamic

    from fairtune.compress import export_onnx
    from fairtune.models import load_trained

    model, tok = load_trained(model_dir)
    out.mkdir(parents=True)
    raw = out / "raw.onnx"
    export_onnx(model, tok, raw, max_length=66)
    quantize_dynamic(str(raw), str(out / "model.onnx"))
    raw.unlink()
    onnx.checker.check_model(str(out / "model.onnx"))
    model.config.save_pretrained(out)
    tok.save_pretrained(out)
    (out / "variant.json").write_text(json.dumps({"kind": "onnx", "recipe": "user default"}))


def measure(clf: Any, texts: list[str], labels: Any, args: argparse.Namespace) -> dict[str, Any]:
    import numpy as np

    from fairtune.compress._measure import latency_ms, throughput

    probs = clf.predict_proba(texts)
    acc = float((probs.argmax(1) == labels).mean())
    tput = max(throughput(clf, texts[: args.n_throughput], batch_size=32) for _ in range(args.repeats))
    lat = latency_ms(clf, texts[: args.n_latency])
    return {
        "accuracy": acc,
        "throughput": tput,
        "p50_ms": lat["p50_ms"],
        "p95_ms": lat["p95_ms"],
        "probs": np.asarray(probs),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--n-throughput", type=int, default=512)
    ap.add_argument("--n-latency", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--ffn-prune", default="0.5", help="comma-separated FFN pruning shares ('' for none)")
    ap.add_argument(
        "--layer-prune",
        default="",
        help="comma-separated shares of encoder layers dropped, top ones first ('' for none; 0.34: 2 of 6)",
    )
    ap.add_argument("--recover-steps", type=int, default=300, help="recovery steps after pruning")
    ap.add_argument("--distill-weight", type=float, default=0.0, help="recovery's distillation weight")
    ap.add_argument("--results", type=Path, help="default: bench/results/<host-class>/infer_speed.json")
    args = ap.parse_args()

    import numpy as np

    from fairtune.compress import PruneSpec, build_int8, build_onnx, build_pruned, load_variant, size_mb
    from fairtune.compress._variants import build_bf16
    from fairtune.config import load_config
    from fairtune.data import load_task_data
    from fairtune.models import TorchClassifier
    from fairtune.training import cpu_has_native_bf16
    from fairtune.workflows.compress import _recovery

    cfg = load_config(CONFIG)
    run = trained_run(CONFIG)
    model_dir = run / "model"
    task = load_task_data(cfg.data, cfg.seed)
    texts, labels = task.eval.texts, np.asarray(task.eval.labels)
    kw = {"batch_size": 32, "max_length": cfg.data.max_length}

    with tempfile.TemporaryDirectory(prefix="bench-infer-") as td:
        root = Path(td)
        t0 = time.perf_counter()
        build_int8(model_dir, root / "int8")
        build_bf16(model_dir, root / "bf16")
        build_onnx(
            model_dir,
            root,
            max_length=cfg.data.max_length,
            calibration_texts=task.train.texts[:256],
            names=["onnx", "onnx-int8", "onnx-int8-static"],
        )
        user_recipe(model_dir, root / "onnx-int8-user-default")
        build_s = time.perf_counter() - t0
        pruned: dict[str, dict[str, Any]] = {}
        shares = [(float(x), "ffn") for x in args.ffn_prune.split(",") if x.strip()]
        shares += [(float(x), "layers") for x in args.layer_prune.split(",") if x.strip()]
        for share, method in shares:
            spec = PruneSpec(
                share, method, recover_steps=args.recover_steps, distill_weight=args.distill_weight
            )
            print(
                f"building {spec.name} ({args.recover_steps} recovery steps) and its ONNX int8 ...",
                flush=True,
            )
            t1 = time.perf_counter()
            build_pruned(model_dir, root / spec.name, spec, recover=_recovery(cfg, task, model_dir, False))
            build_onnx(
                root / spec.name,
                root,
                max_length=cfg.data.max_length,
                calibration_texts=task.train.texts[:256],
                names=["onnx-int8"],
                prefix=f"{spec.name}+",
            )
            key = spec.name.replace("-", "_")
            pruned[key] = {"path": root / spec.name, "build_seconds": time.perf_counter() - t1}
            pruned[f"{key}_onnx_int8"] = {"path": root / f"{spec.name}+onnx-int8"}
        loaders: dict[str, tuple[Callable[[], Any], Path]] = {
            "fp32_eager": (lambda: TorchClassifier.from_dir(model_dir, precision="fp32", **kw), model_dir),
            "bf16_autocast": (lambda: TorchClassifier.from_dir(model_dir, precision="bf16", **kw), model_dir),
            "bf16_weights": (lambda: load_variant(root / "bf16", **kw), root / "bf16"),
            "torch_int8": (lambda: load_variant(root / "int8", **kw), root / "int8"),
            "onnx_fp32": (lambda: load_variant(root / "onnx", **kw), root / "onnx"),
            "onnx_int8": (lambda: load_variant(root / "onnx-int8", **kw), root / "onnx-int8"),
            "onnx_int8_static": (
                lambda: load_variant(root / "onnx-int8-static", **kw),
                root / "onnx-int8-static",
            ),
            "onnx_int8_user_default": (
                lambda: load_variant(root / "onnx-int8-user-default", **kw),
                root / "onnx-int8-user-default",
            ),
        }
        for key, info in list(pruned.items()):
            # explicit precision: "auto" would run the PyTorch ones in bf16 where the CPU has it
            loaders[key] = (lambda p=info["path"]: load_variant(p, precision="fp32", **kw), info["path"])
            if not key.endswith("_onnx_int8"):
                pruned[f"{key}_bf16_autocast"] = info
                loaders[f"{key}_bf16_autocast"] = (
                    lambda p=info["path"]: load_variant(p, precision="bf16", **kw),
                    info["path"],
                )
        variants: dict[str, dict[str, Any]] = {}
        probes: dict[str, dict[str, Any]] = {}  # measured only in part (bf16 without native support)
        ref = None
        native_bf16 = cpu_has_native_bf16()
        for name, (load, path) in loaders.items():
            print(f"measuring {name} ...", flush=True)
            if "bf16" in name and not native_bf16:
                # Without AMX or AVX512-BF16 every bf16 matmul is emulated: the full measurement would take
                # hours. A short probe shows the cost; the variant is left out of the ranking.
                from fairtune.compress._measure import throughput

                clf = load()
                probes[name] = {
                    "throughput": throughput(clf, texts[:16], batch_size=16),
                    "probe_texts": 16,
                    "accuracy": None,
                    "size_mb": size_mb(path),
                    "note": "no native bf16 on this CPU: throughput probed on 16 texts; not ranked",
                }
                continue
            m = measure(load(), texts, labels, args)
            probs = m.pop("probs")
            if ref is None:
                ref = probs
            m["size_mb"] = size_mb(path)
            m["agreement_with_fp32"] = float((probs.argmax(1) == ref.argmax(1)).mean())
            if name in pruned:
                recipe = json.loads((pruned[name]["path"] / "variant.json").read_text())
                m["recipe"] = recipe
                m["build_seconds"] = pruned[name].get("build_seconds")
            variants[name] = m
    base = variants["fp32_eager"]
    for m in variants.values():
        m["ratio_vs_fp32"] = m["throughput"] / base["throughput"]
        m["accuracy_delta"] = m["accuracy"] - base["accuracy"]
    for m in probes.values():
        m["ratio_vs_fp32"] = m["throughput"] / base["throughput"]
    within = {n: m for n, m in variants.items() if m["accuracy_delta"] >= -0.01}
    best = max(within, key=lambda n: within[n]["throughput"])
    result = {
        "variants": variants,
        "probes": probes,
        "best_variant": best,
        "best_ratio_vs_fp32": variants[best]["ratio_vs_fp32"],
        "best_of_user_default_ratio": variants["onnx_int8_user_default"]["ratio_vs_fp32"],
        "fastest_variant": max(variants, key=lambda n: variants[n]["throughput"]),
        "target": "best variant >= 4x fp32 eager throughput, accuracy within 1 point",
        "met": variants[best]["ratio_vs_fp32"] >= 4.0,
        "model": str(model_dir.relative_to(ROOT)),
        "eval_texts": len(texts),
        "throughput_batch": 32,
        "build_seconds": build_s,
        "cpu_native_bf16": cpu_has_native_bf16(),
    }
    path = write_results("infer_speed", result, path=args.results)
    print(f"{'variant':26} {'texts/s':>8} {'ratio':>6} {'p50 ms':>7} {'p95 ms':>7} {'acc':>7} {'MB':>6}")
    for n, m in probes.items():
        print(f"{n:26} {m['throughput']:8.1f} {m['ratio_vs_fp32']:6.2f}   ({m['note']})")
    for n, m in variants.items():
        print(
            f"{n:26} {m['throughput']:8.1f} {m['ratio_vs_fp32']:6.2f} {m['p50_ms']:7.1f} {m['p95_ms']:7.1f} "
            f"{m['accuracy']:7.4f} {m['size_mb']:6.1f}"
        )
    print(f"best within 1 point: {best} at {result['best_ratio_vs_fp32']:.2f}x fp32 eager -> {path}")


if __name__ == "__main__":
    main()
