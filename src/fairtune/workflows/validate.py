"""`fairtune validate`: check the config, the data and the model path without training."""

from __future__ import annotations

from collections import Counter
from typing import Any

from fairtune._stages import register_stage
from fairtune.config import FairtuneConfig
from fairtune.errors import ConfigError, FairtuneError


def validate(cfg: FairtuneConfig) -> dict[str, Any]:
    """Return a summary; raise one `ConfigError` that lists every problem found."""
    from fairtune.audits import audit_input_problems
    from fairtune.data import load_task_data
    from fairtune.models import resolve_model

    problems: list[str] = []
    summary: dict[str, Any] = {"name": cfg.name}
    try:
        data = load_task_data(cfg.data, cfg.seed, cfg.encryption)
        summary.update(
            train_rows=len(data.train),
            eval_rows=len(data.eval),
            labels=data.label_names,
            train_label_counts={
                data.label_names[k]: v for k, v in sorted(Counter(data.train.labels.tolist()).items())
            },
            eval_is_split=data.eval_is_split,
        )
        if cfg.train.privacy is not None:
            from fairtune.training._loop import schedule
            from fairtune.training._privacy import plan_privacy

            n = len(data.train) + (
                sum(cfg.train.canaries.repeats) * cfg.train.canaries.per_repeat if cfg.train.canaries else 0
            )
            steps = schedule(cfg.train, n)[1]
            plan = plan_privacy(cfg.train.privacy, n=n, batch_size=cfg.train.batch_size, steps=steps)
            summary["privacy"] = {
                "epsilon": plan.epsilon,
                "delta": plan.delta,
                "noise_multiplier": round(plan.noise_multiplier, 4),
                "steps": plan.steps,
                "sample_rate": round(plan.sample_rate, 6),
            }
    except FairtuneError as exc:
        problems.extend(exc.problems)
    try:
        summary["model"] = resolve_model(cfg.model.name)[0]
    except FairtuneError as exc:
        problems.extend(exc.problems)
    problems.extend(audit_input_problems(cfg))
    if problems:
        raise ConfigError(problems, header=f"{len(problems)} problem(s) found; nothing was run:")
    return summary


register_stage("validate", validate)
