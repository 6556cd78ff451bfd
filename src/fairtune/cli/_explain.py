"""fairtune explain RUN_DIR "text" ... [--file F [--column C]] [--method ig|occlusion|shap] [--json]"""

from __future__ import annotations

import argparse
import json
from typing import Any

from fairtune.cli._common import console, texts_from_args

METHOD_HELP = (
    "ig: integrated gradients over the input embeddings (Captum); occlusion: leave one word out "
    "(black-box, any model); shap: SHAP partition explainer (needs fairtune[shap])"
)


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("run_dir", help="a trained run directory, e.g. runs/sst2-minilm")
    p.add_argument("texts", nargs="*", help="texts to explain")
    p.add_argument("--file", help="a .txt file (one text a line) or a CSV/TSV/JSONL/Parquet file")
    p.add_argument("--column", help="column holding the texts in --file (default: 'text')")
    p.add_argument("--method", default="ig", choices=["ig", "occlusion", "shap"], help=METHOD_HELP)
    p.add_argument("--steps", type=int, help="integrated-gradients steps (default: audit.explain.ig_steps)")
    p.add_argument("--json", action="store_true", help="print one JSON object per text")


def highlighted(words: list[str], spans: list[Any], scores: list[float], text: str) -> Any:
    """The text with each word's background coloured by its score: green toward the label, red away
    from it, stronger for larger |score| (scaled to the largest in the text)."""
    from rich.text import Text

    out = Text()
    top = max((abs(s) for s in scores), default=0.0) or 1.0
    at = 0
    for (a, b), s in zip(spans, scores, strict=True):
        out.append(text[at:a])
        level = min(1.0, abs(s) / top)
        base = (40, 160, 60) if s > 0 else (200, 50, 50)
        r, g, bl = (int(255 - (255 - c) * level) for c in base)
        fg = "white" if level > 0.6 else "black"
        out.append(text[a:b], style=f"{fg} on rgb({r},{g},{bl})")
        at = b
    return out


def print_explanation(e: Any) -> None:
    from rich.text import Text

    out = console()
    head = Text(f"{e.label} ", style="bold")
    head.append(f"p={e.probability:.3f}  method={e.method}", style="dim")
    if e.convergence_delta is not None:
        head.append(f"  convergence delta={e.convergence_delta:.2g}", style="dim")
    out.print(head)
    seen = e.text[: e.truncated_at] if e.truncated else e.text
    line = highlighted(e.words, e.spans, e.scores, seen)
    if e.truncated:
        line.append(" ✂ ", style="bold yellow")
        line.append(e.text[e.truncated_at :], style="dim strike")
    out.print(line)
    from fairtune.audits.explain._words import has_words

    # punctuation keeps its colour above, but is no "top word"
    worded = [(w, s) for w, s in zip(e.words, e.scores, strict=True) if has_words(w)]
    ranked = sorted(worded, key=lambda ws: -abs(ws[1]))[:5]
    out.print(
        Text("top words: ", style="dim") + Text(", ".join(f"{w} {s:+.3f}" for w, s in ranked), style="dim")
    )
    if e.truncated:
        out.print(Text("✂ the model reads no further; the struck-out rest is not explained", style="yellow"))
    out.print()


def run(args: argparse.Namespace) -> int:
    from fairtune.errors import EXPLAIN_NO_TEXTS, FairtuneError

    texts = texts_from_args(args, EXPLAIN_NO_TEXTS)
    if args.steps is not None and args.steps < 2:
        raise FairtuneError(f"--steps: must be at least 2 (got {args.steps}). Try --steps 50.")
    from fairtune.cli._common import require_run

    require_run(args.run_dir)
    from fairtune.workflows.explain import explain_texts

    err = console(stderr=True)
    expls = explain_texts(
        args.run_dir,
        texts,
        args.method,
        steps=args.steps,
        warn=lambda m: err.print(f"[yellow]warning[/yellow] {m}"),
    )
    for e in expls:
        if args.json:
            print(json.dumps(e.to_json(), ensure_ascii=False))
        else:
            print_explanation(e)
    return 0
