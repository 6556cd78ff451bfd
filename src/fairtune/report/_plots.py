"""Plots for the report, rendered by matplotlib to SVG and embedded as data URIs (no external files)."""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Plot:
    title: str
    alt: str
    data_uri: str


def _to_uri(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    svg = buf.getvalue().encode("utf-8")
    return "data:image/svg+xml;base64," + base64.b64encode(svg).decode("ascii")


def _figure(w: float = 5.0, h: float = 3.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "fairtune"  # stable ids: the same run renders the same SVG
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=(w, h))


def training_curves(history: list[dict[str, Any]], evals: list[dict[str, Any]]) -> Plot | None:
    if not history and not evals:
        return None
    fig, ax = _figure(6.0, 3.2)
    lines = []
    if history:
        # with markers, so a short run (one or two logged points) still shows its points
        lines += ax.plot(
            [h["step"] for h in history],
            [h["loss"] for h in history],
            ".-",
            color="#4063d8",
            label="train loss",
        )
    if evals:
        steps = [e["step"] for e in evals]
        lines += ax.plot(steps, [e["loss"] for e in evals], "o-", color="#d9534f", label="eval loss")
        ax2 = ax.twinx()
        lines += ax2.plot(
            steps, [e["accuracy"] for e in evals], "s--", color="#389826", label="eval accuracy"
        )
        ax2.set_ylabel("eval accuracy")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("cross-entropy loss")
    # one legend below the axes, so it never covers a curve
    ax.legend(
        lines,
        [ln.get_label() for ln in lines],
        loc="upper center",
        bbox_to_anchor=(0.5, -0.2),
        ncol=3,
        fontsize=8,
        frameon=False,
    )
    last = evals[-1] if evals else None
    alt = f"Training loss over {history[-1]['step'] if history else 0} steps" + (
        f"; eval accuracy {last['accuracy']:.3f} and eval loss {last['loss']:.3f} at step {last['step']}."
        if last
        else "."
    )
    return Plot("Training and evaluation curves", alt, _to_uri(fig))


def confusion_matrix(cm: list[list[int]], labels: list[str]) -> Plot:
    arr = np.asarray(cm)
    fig, ax = _figure(1.6 + 0.7 * len(labels), 1.2 + 0.7 * len(labels))
    ax.imshow(arr, cmap="Blues")
    for i in range(arr.shape[0]):
        for j in range(arr.shape[1]):
            color = "white" if arr[i, j] > arr.max() / 2 else "black"
            ax.text(j, i, str(arr[i, j]), ha="center", va="center", color=color)
    ax.set_xticks(range(len(labels)), labels, rotation=30, ha="right")
    ax.set_yticks(range(len(labels)), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    cells = "; ".join(
        f"true {labels[i]} predicted {labels[j]}: {arr[i, j]}"
        for i in range(len(labels))
        for j in range(len(labels))
    )
    return Plot("Confusion matrix", f"Confusion matrix. {cells}.", _to_uri(fig))


def reliability_diagram(bins: list[dict[str, Any]], ece: float) -> Plot:
    fig, ax = _figure(4.2, 3.6)
    used = [b for b in bins if b["count"]]
    centers = [(b["lo"] + b["hi"]) / 2 for b in used]
    width = bins[0]["hi"] - bins[0]["lo"] if bins else 0.1
    ax.bar(
        centers,
        [b["accuracy"] for b in used],
        width=width * 0.9,
        color="#4063d8",
        alpha=0.8,
        label="accuracy in bin",
    )
    ax.plot([0, 1], [0, 1], "--", color="gray", label="perfect calibration")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_xlabel("confidence (max probability)")
    ax.set_ylabel("accuracy")
    ax.set_title(f"ECE = {ece:.4f}", fontsize=9)
    ax.legend(loc="upper left", fontsize=8)
    worst = max(used, key=lambda b: abs(b["accuracy"] - b["confidence"]), default=None)
    alt = f"Reliability diagram over {len(bins)} confidence bins; expected calibration error {ece:.4f}."
    if worst:
        alt += (
            f" Largest gap in bin {worst['lo']:.2f}-{worst['hi']:.2f}: confidence {worst['confidence']:.3f}, "
            f"accuracy {worst['accuracy']:.3f} over {worst['count']} texts."
        )
    return Plot("Calibration (reliability diagram)", alt, _to_uri(fig))


def template_probes(dimensions: dict[str, Any], positive_label: str) -> Plot | None:
    """Dot plot: each dimension's groups by mean positive score on the neutral templates."""
    if not dimensions:
        return None
    names = list(dimensions)
    fig, ax = _figure(6.4, 0.55 * len(names) + 1.0)
    for y, dim in enumerate(names):
        means = dimensions[dim]["mean_positive"]
        xs = list(means.values())
        ax.plot([min(xs), max(xs)], [y, y], color="#d0d7de", lw=6, solid_capstyle="round", zorder=1)
        ax.scatter(xs, [y] * len(xs), color="#4063d8", zorder=2, s=18)
        lo, hi = min(means, key=means.__getitem__), max(means, key=means.__getitem__)
        ax.annotate(
            lo, (means[lo], y), xytext=(0, -11), textcoords="offset points", ha="center", fontsize=6.5
        )
        ax.annotate(hi, (means[hi], y), xytext=(0, 5), textcoords="offset points", ha="center", fontsize=6.5)
    ax.set_yticks(range(len(names)), names, fontsize=8)
    ax.set_ylim(-0.8, len(names) - 0.3)
    ax.invert_yaxis()
    ax.set_xlabel(f"mean p({positive_label}) on neutral templates")
    alt = "Template probes: mean positive score per group. " + "; ".join(
        f"{d}: spread {dimensions[d]['spread']:.3f} (p = {dimensions[d]['p_value']:.3g})" for d in names
    )
    return Plot("Template probes: groups' mean positive score", alt + ".", _to_uri(fig))


def mitigation_effect(mitigations: list[dict[str, Any]], metrics: tuple[str, ...]) -> Plot | None:
    """Grouped bars: each metric for the parent and each mitigated child."""
    if not mitigations:
        return None
    first = {r["metric"]: r for r in mitigations[0]["comparison"]}
    shown = [m for m in metrics if m in first]
    if not shown:
        return None
    fig, ax = _figure(6.4, 3.2)
    series = [("parent", [first[m]["parent"] for m in shown])]
    for mit in mitigations:
        rows = {r["metric"]: r for r in mit["comparison"]}
        series.append((mit["method"], [rows[m]["child"] if m in rows else np.nan for m in shown]))
    width = 0.8 / len(series)
    colours = ["#57606a", "#4063d8", "#389826", "#d9534f", "#9558b2"]
    for k, (label, values) in enumerate(series):
        ax.bar(
            np.arange(len(shown)) + k * width - 0.4 + width / 2,
            values,
            width,
            label=label,
            color=colours[k % 5],
        )
    ax.set_xticks(range(len(shown)), [m.split(".", 1)[1] for m in shown], fontsize=8)
    ax.set_ylabel("value (lower is better)")
    ax.legend(fontsize=8)
    alt = "Fairness metrics before and after mitigation. " + "; ".join(
        f"{m}: " + ", ".join(f"{label} {values[i]:.4f}" for label, values in series)
        for i, m in enumerate(shown)
    )
    return Plot("Fairness metrics: parent and mitigated runs", alt + ".", _to_uri(fig))


def invariance_failures(perturbations: dict[str, Any]) -> Plot | None:
    """Horizontal bars: the failure rate of each invariance perturbation that applied to some text."""
    rows = [(k, v["failure_rate"], v["applied"]) for k, v in perturbations.items() if v["applied"]]
    if not rows:
        return None
    rows.sort(key=lambda r: r[1])
    fig, ax = _figure(5.6, 0.32 * len(rows) + 1.0)
    ax.barh([r[0] for r in rows], [100 * r[1] for r in rows], color="#4063d8")
    for y, (_, rate, n) in enumerate(rows):
        ax.annotate(f"{rate:.1%} of {n}", (100 * rate, y), xytext=(3, 0), textcoords="offset points",
                    va="center", fontsize=7)  # fmt: skip
    ax.set_xlabel("prediction changed (%)")
    ax.tick_params(axis="y", labelsize=8)
    ax.set_xlim(0, max(5.0, 100 * max(r[1] for r in rows) * 1.3))
    alt = "Invariance failure rate per perturbation: " + "; ".join(f"{k} {r:.1%} of {n}" for k, r, n in rows)
    return Plot("Invariance tests: share of predictions a perturbation changed", alt + ".", _to_uri(fig))


def membership_roc(m: dict[str, Any]) -> Plot:
    """The membership-inference attack's ROC curve on log axes, where low false-positive rates show."""
    fig, ax = _figure(4.2, 3.8)
    fpr, tpr = np.asarray(m["roc"]["fpr"]), np.asarray(m["roc"]["tpr"])
    ax.plot(
        np.clip(fpr, 1e-4, 1), np.clip(tpr, 1e-4, 1), color="#cb3c33", label=f"attack (AUC {m['auc']:.3f})"
    )
    grid = np.logspace(-4, 0, 50)
    ax.plot(grid, grid, color="#888888", linestyle="--", label="chance")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("false-positive rate")
    ax.set_ylabel("true-positive rate")
    ax.legend(fontsize=8)
    alt = (
        f"ROC of the loss-threshold membership attack on {m['members']} training and {m['nonmembers']} "
        f"held-out texts: AUC {m['auc']:.3f}, TPR {m['tpr_at_1pct_fpr']:.1%} at 1% FPR"
    )
    return Plot("Membership inference: ROC (log axes)", alt + ".", _to_uri(fig))


def compression_tradeoff(summary: dict[str, Any]) -> Plot | None:
    """Throughput against accuracy for the parent and each compressed variant (marker area ~ size)."""
    rows = [("fp32 (parent)", summary["parent"]), *list(summary.get("variants", {}).items())]
    if len(rows) < 2:
        return None
    fig, ax = _figure(5.6, 3.6)
    top = max(m["size_mb"] for _, m in rows) or 1.0
    for name, m in rows:
        colour = "#888888" if name.startswith("fp32") else "#4063d8"
        ax.scatter(
            m["throughput"], 100 * m["accuracy"], s=40 + 260 * m["size_mb"] / top, color=colour, alpha=0.7
        )
        ax.annotate(name, (m["throughput"], 100 * m["accuracy"]), xytext=(4, 4), textcoords="offset points",
                    fontsize=7)  # fmt: skip
    ax.set_xlabel("throughput at batch 32 (texts/s)")
    ax.set_ylabel("eval accuracy (%)")
    alt = "Throughput and accuracy per model: " + "; ".join(
        f"{n} {m['throughput']:.0f} texts/s, {m['accuracy']:.2%}, {m['size_mb']:.0f} MB" for n, m in rows
    )
    return Plot("Compression: speed against accuracy (marker area: size on disk)", alt + ".", _to_uri(fig))
