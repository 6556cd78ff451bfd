"""fairtune audit --model PATH_OR_ID | --endpoint URL --data FILE [...]: audit a model that is not a run.

Argument problems are found here, before torch, pandas or the model is loaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from fairtune.cli._common import require_file
from fairtune.errors import FairtuneError

GATE_FAILED_EXIT = 3


def add_arguments(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("any model (instead of RUN_DIR)")
    g.add_argument(
        "--model",
        help="a Hugging Face model folder or hub id, a fairtune run or model folder, or a scikit-learn model "
        "saved with skops (.skops)",
    )
    g.add_argument(
        "--endpoint", metavar="URL", help="a running service: fairtune serve's URL, or any JSON API"
    )
    g.add_argument(
        "--endpoint-spec",
        metavar="FILE",
        help='YAML describing another JSON API: request (a template with "{texts}"), probabilities (the '
        "path to them, * for a list), labels, headers",
    )
    g.add_argument("--data", metavar="FILE", help="labelled texts to audit on (.csv, .tsv, .jsonl, .parquet)")
    g.add_argument("--train", metavar="FILE", help="the model's training texts, for the privacy audit")
    g.add_argument("--text-column", default="text", help="column with the text (default: text)")
    g.add_argument("--label-column", default="label", help="column with the label (default: label)")
    g.add_argument("--labels", help="label names in the model's column order, comma-separated")
    g.add_argument("--config", metavar="FILE", help="a fairtune YAML config whose audit: and gates: to use")
    g.add_argument("--gates", metavar="FILE", help="YAML or JSON: {metric: {min: x, max: y}}")
    g.add_argument(
        "--device", choices=["auto", "cpu", "cuda"], help="where a torch model runs (default: auto)"
    )
    g.add_argument("--out", metavar="DIR", help="the audit directory to write (default: audits/<model name>)")


def wants(args: argparse.Namespace) -> bool:
    return bool(args.model or args.endpoint)


def check(args: argparse.Namespace) -> None:
    """Every argument problem, before anything heavy is imported."""
    if args.run_dir:
        raise FairtuneError(
            f"audit: give a run directory ({args.run_dir}) or --model/--endpoint, not both. A run is audited "
            "on its own data; --model audits on --data."
        )
    if args.model and args.endpoint:
        raise FairtuneError("--model and --endpoint: choose one model to audit.")
    if not args.data:
        raise FairtuneError("--data: required with --model/--endpoint: the labelled texts to audit on.")
    if args.only and "mlm_bias" in args.only:
        raise FairtuneError(
            "--only mlm_bias reads a masked LM: run it as `fairtune audit MODEL --only mlm_bias`."
        )
    if args.endpoint_spec and not args.endpoint:
        raise FairtuneError("--endpoint-spec describes --endpoint's API: pass --endpoint URL too.")
    for flag in ("data", "train", "config", "gates", "endpoint_spec"):
        require_file("--" + flag.replace("_", "-"), getattr(args, flag))
    if args.model and not Path(args.model).exists():
        from fairtune.models._resolve import HUB_ID

        if not HUB_ID.match(args.model):
            raise FairtuneError(f"--model: {args.model} is neither a folder nor a hub id (owner/name).")


def _config(args: argparse.Namespace) -> dict[str, Any]:
    from fairtune.config import merge_raw, parse_overrides, read_yaml

    raw: dict[str, Any] = read_yaml(args.config) if args.config else {}
    raw = {k: v for k, v in raw.items() if k in ("audit", "gates", "name", "seed")}
    if args.gates:
        raw["gates"] = read_yaml(args.gates)
    if args.device:
        raw["model"] = {"device": args.device}
    bad = [o for o in args.overrides if not o.startswith("audit.")]
    if bad:
        raise FairtuneError(
            f"{bad[0]}: with --model only audit.* settings apply (e.g. audit.robustness.sample=100)."
        )
    return merge_raw(raw, parse_overrides(args.overrides)) if args.overrides else raw


def _model(args: argparse.Namespace) -> Any:
    if args.model:
        return args.model
    from fairtune.config import read_yaml
    from fairtune.models import endpoint

    spec: dict[str, Any] = read_yaml(args.endpoint_spec) if args.endpoint_spec else {}
    labels = args.labels.split(",") if args.labels else spec.get("labels")
    return endpoint(
        args.endpoint,
        labels=labels,
        request=spec.get("request"),
        probabilities=spec.get("probabilities"),
        headers=spec.get("headers"),
    )


def default_out(args: argparse.Namespace) -> Path:
    name = (args.model or args.endpoint or "model").rstrip("/").replace("://", "-")
    return Path("audits") / "".join(
        c if c.isalnum() or c in "-_." else "-" for c in name.split("/")[-1] or name
    )


def run(args: argparse.Namespace, printers: dict[str, Any], log: Any) -> int:
    check(args)
    from fairtune.workflows.audit_model import audit_model

    rep = audit_model(
        _model(args),
        args.data,
        only=args.only,
        config=_config(args),
        train=args.train,
        labels=args.labels.split(",") if args.labels else None,
        text_column=args.text_column,
        label_column=args.label_column,
        log=log,
    )
    out = rep.save(args.out or default_out(args))
    for name, doc in rep.documents.items():
        printers[name](doc)
    log(f"audit: {out}/report.html  model card section: {out}/model_card.md  gates: {out}/gates.json")
    failed = [g for g in (rep.gates or {}).get("gates", []) if not g["passed"]]
    if failed:
        from fairtune.report import describe_failure

        for g in failed:
            log(f"[red]gate failed[/red]: {describe_failure(g)}")
        return GATE_FAILED_EXIT
    return 0
