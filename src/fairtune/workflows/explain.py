"""`fairtune explain RUN_DIR "text" ...`: word attributions for a trained run's predictions."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from fairtune._stages import register_stage

if TYPE_CHECKING:
    from fairtune.audits.explain import Explanation


def explain_texts(
    run_dir: str | Path,
    texts: list[str],
    method: str = "ig",
    *,
    steps: int | None = None,
    warn: Callable[[str], None] | None = None,
) -> list[Explanation]:
    """Explain each text's predicted label with `method`, using the run's audit.explain settings."""
    from fairtune.audits.explain import ExplainSettings, explain
    from fairtune.models import load_run_classifier

    _, cfg, clf = load_run_classifier(run_dir)
    ec = cfg.audit.explain
    settings = ExplainSettings(
        ig_steps=steps or ec.ig_steps,
        ig_max_delta=None if steps else ec.ig_max_delta,  # --steps: exactly that many for every text
        ig_max_steps=ec.ig_max_steps,
        ig_internal_batch_size=ec.ig_internal_batch_size,
        shap_max_evals=ec.shap_max_evals,
        seed=ec.seed,
    )
    return explain(clf, texts, method, settings=settings, warn=warn)


register_stage("explain", explain_texts)
