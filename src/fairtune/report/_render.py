"""Build report.html (self-contained), report.md and summary.json from a run directory."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from fairtune._crypto import is_sealed_file
from fairtune._io import atomic_write_json, atomic_write_text, read_json
from fairtune._rundir import RunDir
from fairtune.config import FairtuneConfig, config_to_dict
from fairtune.report._gates import gate_status
from fairtune.report._plots import (
    Plot,
    compression_tradeoff,
    confusion_matrix,
    invariance_failures,
    membership_roc,
    mitigation_effect,
    reliability_diagram,
    template_probes,
    training_curves,
)

#: Metrics in the before/after plot of the fairness mitigations (all lower-is-better).
FAIRNESS_PLOTTED = (
    "fairness.eec_gender_gap",
    "fairness.eec_race_gap",
    "fairness.flip_rate",
    "fairness.mean_abs_delta",
)


#: What the report shows in place of an encrypted data card's examples, which are training texts.
EXAMPLES_WITHHELD = "(withheld: training texts are encrypted at rest; `fairtune decrypt {path}` shows them)"


def _data_card(path: Path) -> dict[str, Any] | None:
    """The data card. The examples of an encrypted one are left out: the report itself is not encrypted."""
    if not path.is_file():
        return None
    card: dict[str, Any] = read_json(path)
    if is_sealed_file(path):
        for finding in card.get("findings", []):
            if finding.get("examples"):
                finding["examples"] = [EXAMPLES_WITHHELD.format(path=path)]
    return card


def _audits(run_root: Path) -> list[dict[str, Any]]:
    out = []
    for path in sorted((run_root / "audit").glob("*.json")):
        doc = read_json(path)
        out.append(
            {
                "name": path.stem,
                "metrics": doc.get("metrics", {}),
                "findings": doc.get("findings", []),
                "seconds": doc.get("seconds"),
                "details": doc.get("details", {}),
                "examples": doc.get("examples", []),
            }
        )
    return out


def gather(run_root: Path, cfg: FairtuneConfig, gates: dict[str, Any]) -> dict[str, Any]:
    """Everything the report shows, as one dict (also the source of summary.json)."""
    run = RunDir(run_root)
    metrics = read_json(run.metrics)
    raw_cfg = yaml.safe_load((run_root / "config.yaml").read_text(encoding="utf-8"))
    return {
        "name": cfg.name,
        "run_dir": str(run_root),
        "generated": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": raw_cfg.get("versions", {}),
        "model_name": cfg.model.name,
        "lora": cfg.model.lora.model_dump() if cfg.model.lora else None,
        "eval": metrics["eval"],
        "train": metrics.get("train", {}),
        "data_card": _data_card(run.data_card),
        "audits": _audits(run_root),
        "mitigations": [read_json(p) for p in sorted((run_root / "mitigate").glob("*/mitigation.json"))],
        "compression": (
            read_json(run_root / "compress" / "summary.json")
            if (run_root / "compress" / "summary.json").is_file()
            else None
        ),
        "gates": gates,
        "config_yaml": yaml.safe_dump(_without_nulls(config_to_dict(cfg)), sort_keys=False),
    }


def make_plots(ctx: dict[str, Any]) -> list[Plot]:
    ev, tr = ctx["eval"], ctx["train"]
    plots = [
        training_curves(tr.get("history", []), tr.get("evals", [])),
        confusion_matrix(ev["confusion_matrix"], ev["labels"]),
        reliability_diagram(ev["reliability"], ev["ece"]),
    ]
    return [p for p in plots if p is not None]


def section_plots(ctx: dict[str, Any]) -> dict[str, list[Plot]]:
    """Plots that belong to one section of the report (an audit, the mitigations)."""
    out: dict[str, list[Plot]] = {}
    for audit in ctx["audits"]:
        d = audit.get("details") or {}
        if audit["name"] == "fairness" and d.get("templates"):
            p = template_probes(d["templates"]["dimensions"], d.get("positive_label", "positive"))
            out["fairness"] = [p] if p else []
        if audit["name"] == "privacy" and d.get("membership"):
            out["privacy"] = [membership_roc(d["membership"])]
        if audit["name"] == "robustness" and d.get("invariance"):
            p = invariance_failures(d["invariance"]["perturbations"])
            out["robustness"] = [p] if p else []
    p = mitigation_effect(
        [m for m in ctx.get("mitigations", []) if m["kind"] == "fairness"], FAIRNESS_PLOTTED
    )
    out["mitigations"] = [p] if p else []
    c = compression_tradeoff(ctx["compression"]) if ctx.get("compression") else None
    out["compression"] = [c] if c else []
    return out


def highlight(expl: dict[str, Any]) -> Any:
    """An explanation (Explanation.to_json()) as HTML: each word's background shows its score, green
    toward the label and red away from it, scaled to the largest |score| in the text; the score is in
    the word's tooltip. Text the model did not read (truncation) is struck out after a ✂."""
    from markupsafe import Markup, escape

    text, scores = expl["text"], expl["scores"]
    seen = text[: expl["truncated_at"]] if expl.get("truncated") else text
    top = max((abs(s) for s in scores), default=0.0) or 1.0
    parts, at = [], 0
    for (a, b), s in zip(expl["spans"], scores, strict=True):
        rgb = "40,160,60" if s > 0 else "200,50,50"
        parts.append(str(escape(seen[at:a])))
        parts.append(
            f'<span class="tok" style="background:rgba({rgb},{min(1.0, abs(s) / top):.2f})" '
            f'title="{s:+.4f}">{escape(seen[a:b])}</span>'
        )
        at = b
    parts.append(str(escape(seen[at:])))
    if expl.get("truncated"):
        parts.append(f' ✂ <s class="muted">{escape(text[len(seen) :])}</s>')
    return Markup("".join(parts))


def render_html(ctx: dict[str, Any], plots: list[Plot]) -> str:
    from jinja2 import Environment, PackageLoader, select_autoescape

    env = Environment(loader=PackageLoader("fairtune.report", "templates"), autoescape=select_autoescape())
    env.filters["highlight"] = highlight
    return env.get_template("report.html.j2").render(**ctx, plots=plots, section_plots=section_plots(ctx))


def render_markdown(ctx: dict[str, Any]) -> str:
    ev = ctx["eval"]
    lines = [
        f"# {ctx['name']}",
        "",
        f"Generated {ctx['generated']}.",
        "",
        "## Evaluation",
        "",
        f"Eval data: {ev['source']} ({ev['n']} texts).",
        "",
        "| metric | value |",
        "|---|---|",
    ]
    lines += [f"| {k} | {ev[k]:.4f} |" for k in ("accuracy", "macro_f1", "ece", "loss") if k in ev]
    lines += ["", "| label | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    lines += [
        f"| {n} | {r['precision']:.4f} | {r['recall']:.4f} | {r['f1']:.4f} | {r['support']} |"
        for n, r in ev["per_class"].items()
    ]
    lines += ["", "## Gates", ""]
    if ctx["gates"]["gates"]:
        lines += ["| metric | value | bound | result |", "|---|---|---|---|"]
        for g in ctx["gates"]["gates"]:
            bound = " ".join(
                x
                for x in (f">= {g['min']}" if "min" in g else "", f"<= {g['max']}" if "max" in g else "")
                if x
            )
            value = f"{g['value']:.4f}" if g["value"] is not None else "not measured yet"
            lines.append(f"| {g['metric']} | {value} | {bound} | {gate_status(g)} |")
    else:
        lines.append("No gates configured.")
    lines += ["", "## Data card", ""]
    card = ctx["data_card"]
    if card:
        lines += [f"- **{f['severity']}** {f['check']}: {f['message']}" for f in card["findings"]]
    else:
        lines.append("No data card yet (run `fairtune data CONFIG`).")
    lines += ["", "## Audits", ""]
    for audit in ctx["audits"]:
        lines += [f"### {audit['name']}", ""] + [
            f"- {audit['name']}.{k}: {v}" for k, v in audit["metrics"].items()
        ]
    if not ctx["audits"]:
        lines.append("No audit has been run on this model yet.")
    for m in ctx.get("mitigations", []):
        lines += ["", f"## Mitigation: {m['kind']} {m['method']}", "", f"Child run: `{m['child']}`.", ""]
        n = len(m.get("seeds", [1]))
        lines += [f"Means over {n} seed(s); a change whose interval covers 0 is not distinguishable from "]
        lines += ["retraining noise.", ""]
        lines += ["| metric | parent | mitigated | delta | 95% interval | relative | verdict |"]
        lines += ["|---|---|---|---|---|---|---|"]
        lines += [
            f"| {r['metric']} | {r['parent']:.4f} | {r['child']:.4f} | {r['delta']:+.4f} | "
            + (f"[{r['diff_ci95'][0]:+.4f}, {r['diff_ci95'][1]:+.4f}]" if r.get("diff_ci95") else "-")
            + " | "
            + (f"{r['relative']:+.1%}" if r["relative"] is not None else "-")
            + f" | {r.get('verdict', '-')} |"
            for r in m["comparison"]
        ]
    comp = ctx.get("compression")
    if comp:
        lines += ["", "## Compressed variants", ""]
        lines += ["| variant | MB | p50 ms | p95 ms | texts/s | speed-up | accuracy | Δ accuracy | ECE |"]
        lines += ["|---|---|---|---|---|---|---|---|---|"]
        for name, m in [("fp32 (parent)", comp["parent"]), *comp["variants"].items()]:
            lines.append(
                f"| {name} | {m['size_mb']:.1f} | {m['latency_p50_ms']:.1f} | {m['latency_p95_ms']:.1f} | "
                f"{m['throughput']:.0f} | {m.get('speedup', 1.0):.2f}x | {m['accuracy']:.4f} | "
                f"{m.get('accuracy_delta', 0.0):+.4f} | {m['ece']:.4f} |"
            )
        moved = [
            f"| {name} | {auditor}.{metric} | {r['parent']:.4f} | {r['variant']:.4f} | {r['delta']:+.4f} |"
            for name, m in comp["variants"].items()
            for auditor, rows in m.get("audits", {}).items()
            for metric, r in rows.items()
        ]
        if moved:
            lines += [
                "",
                "| variant | audit metric | parent | variant | delta |",
                "|---|---|---|---|---|",
                *moved,
            ]
    return "\n".join(lines) + "\n"


def _without_nulls(doc: Any) -> Any:
    """The config as the report shows it: unset (null) keys and sections left out; config.yaml keeps all."""
    if isinstance(doc, dict):
        return {k: _without_nulls(v) for k, v in doc.items() if v is not None}
    return doc


def summary(ctx: dict[str, Any], values: dict[str, float]) -> dict[str, Any]:
    return {
        "schema": "fairtune/summary/v1",
        "name": ctx["name"],
        "generated": ctx["generated"],
        "metrics": values,
        "gates": ctx["gates"],
        "audits": [a["name"] for a in ctx["audits"]],
        "mitigations": [
            {"kind": m["kind"], "method": m["method"], "child": m["child"], "comparison": m["comparison"]}
            for m in ctx.get("mitigations", [])
        ],
        "data_findings": [
            {k: f[k] for k in ("check", "severity", "count")}
            for f in (ctx["data_card"] or {}).get("findings", [])
        ],
    }


def write_report(run_root: Path, ctx: dict[str, Any], values: dict[str, float]) -> Path:
    """Write report.html, report.md and summary.json from the context built by `gather`."""
    plots = make_plots(ctx)
    atomic_write_text(run_root / "report.html", render_html(ctx, plots))
    atomic_write_text(run_root / "report.md", render_markdown(ctx))
    atomic_write_json(run_root / "summary.json", summary(ctx, values))
    return run_root / "report.html"
