"""Audit any model, not only a fairtune run: `fairtune.audit(model, data)` and
`fairtune audit --model PATH_OR_ID --data FILE`.

The model comes in through `fairtune.models.classifier` (a folder, a hub id, a pipeline, a scikit-learn
estimator, a function, an endpoint); the registered auditors run over it exactly as over a run's model.
`AuditReport.save` lays the result out like a run directory (config.yaml, metrics.json, audit/, gates.json,
report.html), so the report and gate code are the ones `fairtune run` uses.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from fairtune._io import atomic_write_json, atomic_write_text
from fairtune.audits._spec import log_to_stderr
from fairtune.errors import AUDIT_UNKNOWN, PRIVACY_NEEDS_TRAIN, FairtuneError

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig


def audit_config(config: Mapping[str, Any] | str | os.PathLike[str] | None, name: str) -> FairtuneConfig:
    """A validated config from a YAML file, a whole config mapping, or just its `audit` section."""
    from fairtune.config import build_config, read_yaml

    raw: dict[str, Any] = dict(
        read_yaml(Path(config)) if isinstance(config, str | os.PathLike) else config or {}
    )
    sections = {"audit", "gates", "data", "model", "train", "name", "seed", "card"}
    if raw and not set(raw) & sections:  # only the audit section: {"fairness": {...}}
        raw = {"audit": raw}
    raw.setdefault("name", name)
    return build_config(raw)


def describe(model: Any) -> str:
    """How the report names the audited model."""
    if isinstance(model, str | os.PathLike):
        return str(model)
    url = getattr(model, "url", None)
    return f"endpoint {url}" if url else type(getattr(model, "estimator", model)).__name__


def chosen_auditors(only: Sequence[str] | None, cfg: FairtuneConfig, has_train: bool) -> list[str]:
    """`only`, checked; by default every enabled auditor, less privacy when no training texts are given."""
    from fairtune.audits import auditors, classifier_auditors, enabled_auditors

    bad = [n for n in only or [] if n not in classifier_auditors()]
    if bad:
        raise FairtuneError(AUDIT_UNKNOWN.format(name=bad[0], known=", ".join(classifier_auditors())))
    if only and "privacy" in only and not has_train:
        raise FairtuneError(PRIVACY_NEEDS_TRAIN)
    names = list(only) if only else [n for n in enabled_auditors(cfg) if n != "privacy" or has_train]
    names = [n for n in auditors() if n in names]  # in registry order: explain reads the earlier ones
    problems = [p for n in names for p in auditors()[n].problems(cfg)]
    if problems:  # a missing lexicon or WordNet, found before the model is loaded
        raise FairtuneError(problems, header=f"{len(problems)} problem(s); nothing was audited:")
    return names


@dataclass
class AuditReport:
    """What `fairtune.audit` returns: every audit document, the model's scores on the data, the gates."""

    name: str
    model: str
    documents: dict[str, dict[str, Any]]
    evaluation: dict[str, Any]
    config: FairtuneConfig
    gates: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def metrics(self) -> dict[str, float]:
        """Every gate-able number, named as in gates: `eval.accuracy`, `fairness.flip_rate`, ..."""
        out = {f"eval.{k}": float(self.evaluation[k]) for k in ("accuracy", "macro_f1", "ece")}
        for name, doc in self.documents.items():
            out.update(
                {f"{name}.{k}": float(v) for k, v in doc["metrics"].items() if isinstance(v, int | float)}
            )
        return out

    @property
    def findings(self) -> list[dict[str, Any]]:
        """Every auditor's findings, each with its auditor's name, failures first."""
        rank = {"fail": 0, "warning": 1, "info": 2}
        rows = [{"auditor": n, **f} for n, doc in self.documents.items() for f in doc["findings"]]
        return sorted(rows, key=lambda f: rank.get(f["severity"], 3))

    @property
    def passed(self) -> bool:
        return self.gates is None or bool(self.gates["passed"])

    def check_gates(self, gates: Mapping[str, Mapping[str, float]] | None = None) -> dict[str, Any]:
        """Check `gates` ({"fairness.flip_rate": {"max": 0.02}}; default: the config's) against the metrics;
        the gates document, also kept in `.gates` (and written by `save`)."""
        from fairtune.config import build_config, config_to_dict
        from fairtune.report import check_gates

        if gates is not None:
            self.config = build_config(
                {**config_to_dict(self.config), "gates": {k: dict(v) for k, v in gates.items()}}
            )
        self.gates = check_gates(self.config, self.metrics)
        return self.gates

    def save(self, out: str | os.PathLike[str]) -> Path:
        """Write the audit directory: config.yaml, metrics.json, audit/<name>.json, gates.json, report.html,
        report.md, summary.json and model_card.md (the card's evaluation and ethics sections)."""
        import yaml

        from fairtune.config import config_to_dict
        from fairtune.report import gather, render_audit_card_section, write_report

        root = Path(out)
        root.mkdir(parents=True, exist_ok=True)
        atomic_write_text(
            root / "config.yaml", yaml.safe_dump({**config_to_dict(self.config), "audited_model": self.model})
        )
        labels = self.evaluation["labels"]
        atomic_write_json(
            root / "metrics.json",
            {"schema": "fairtune/metrics/v1", "eval": self.evaluation, "labels": labels},
        )
        for name, doc in self.documents.items():
            atomic_write_json(root / "audit" / f"{name}.json", doc)
        gates = self.gates if self.gates is not None else self.check_gates()
        atomic_write_json(root / "gates.json", gates)
        ctx = gather(root, self.config, gates)
        ctx["model_name"] = self.model
        write_report(root, ctx, self.metrics)
        atomic_write_text(root / "model_card.md", render_audit_card_section(ctx))
        return root

    def report(self, path: str | os.PathLike[str]) -> Path:
        """Write only the HTML report, to `path`."""
        with tempfile.TemporaryDirectory() as tmp:
            self.save(tmp)
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(Path(tmp) / "report.html", path)
        return Path(path)


def audit_model(
    model: Any,
    data: Any,
    *,
    only: Sequence[str] | None = None,
    config: Mapping[str, Any] | str | os.PathLike[str] | None = None,
    train: Any = None,
    labels: Sequence[str] | None = None,
    text_column: str = "text",
    label_column: str = "label",
    group_column: str | None = None,
    name: str | None = None,
    log: Callable[[str], None] = log_to_stderr,
) -> AuditReport:
    """Run the auditors on `model` (anything `fairtune.models.classifier` takes) over the labelled `data`
    (a path, a DataFrame, a `datasets.Dataset`, or (texts, labels)). `train`: the model's training texts,
    for the privacy audit. Gates in `config` are checked."""
    from fairtune.audits import AuditContext, auditors, provenance
    from fairtune.data import labelled_data
    from fairtune.evaluation import classification_metrics
    from fairtune.models import classifier

    title = describe(model)
    cfg = audit_config(config, name or "audit")
    names = chosen_auditors(only, cfg, train is not None)
    clf = classifier(model, labels=labels, max_length=cfg.data.max_length, device=cfg.model.device)
    columns = {"text_column": text_column, "label_column": label_column}
    ev = labelled_data(data, clf.labels, **columns, group_column=group_column, field="data")
    tr = labelled_data(train, clf.labels, **columns, field="train") if train is not None else None
    evaluation = {
        **classification_metrics(ev.labels, clf.predict_proba(ev.texts), clf.labels),
        "source": ev.source,
    }
    log(f"audit: {title} on {ev.source}: {len(ev)} texts, accuracy {evaluation['accuracy']:.4f}")
    ctx = AuditContext(clf, ev, cfg, train=tr, log=log)
    for n in names:
        log(f"audit {n}: running")
        result = auditors()[n](ctx)
        result.provenance = provenance(n, cfg)
        ctx.prior[n] = result.to_json()
        log(
            f"audit {n}: {len(result.metrics)} metrics, {len(result.findings)} findings, "
            f"{result.seconds:.1f}s"
        )
    rep = AuditReport(cfg.name, title, ctx.prior, evaluation, cfg)
    if cfg.gates:
        rep.check_gates()
    return rep
