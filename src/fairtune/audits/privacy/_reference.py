"""The privacy audit's reference model: the run's own recipe trained on audit.privacy.reference_data.

It is trained by the `train` stage, looked up in the stage table (`fairtune._stages`), so this component
does not import a workflow.
"""

from __future__ import annotations

import sys
from typing import Any

from fairtune._rundir import RunDir
from fairtune._stages import stage
from fairtune.config import FairtuneConfig


def privacy_reference_config(run: RunDir, cfg: FairtuneConfig) -> FairtuneConfig:
    """The reference model's config: the run's own recipe, on audit.privacy.reference_data instead of
    data.train, without canaries, and without DP."""
    from fairtune.config import build_config, config_to_dict

    pa = cfg.audit.privacy
    raw = config_to_dict(cfg)
    raw.update(name="privacy-reference", output_dir=str(run.root / "audit"), gates={})
    raw["data"].update(train=pa.reference_data, max_train_rows=None, extra_train=None)
    raw["train"].update(canaries=None, epochs=pa.reference_epochs or cfg.train.epochs, max_steps=None)
    if pa.reference_lr is not None:
        raw["train"].update(lr=pa.reference_lr)
    if cfg.train.privacy is not None:
        # The attacker's own model need not be private: a better-fit reference makes a stronger attack.
        # DP's large batches would leave it a handful of steps on a small reference set, and DP's learning
        # rate (tuned for clipped, noisy gradients) makes plain fine-tuning of every weight diverge.
        # LoRA adapters keep the run's rate: at the full fine-tuning default they barely move.
        raw["train"].update(privacy=None, batch_size=32)
        if pa.reference_lr is None and cfg.model.lora is None:  # the default fine-tuning rate
            from fairtune.config._schema import TrainConfig

            raw["train"].update(lr=TrainConfig.model_fields["lr"].default)
    return build_config(raw)


def privacy_reference(run: RunDir, cfg: FairtuneConfig) -> tuple[Any, set[str]]:
    """Train (or reuse) the privacy audit's reference model (`privacy_reference_config`). It lives in
    audit/privacy-reference/ and is reused while its config is unchanged."""
    from fairtune.data import load_task_data
    from fairtune.errors import RunError
    from fairtune.models import TorchClassifier

    pa = cfg.audit.privacy
    ref_cfg = privacy_reference_config(run, cfg)
    ref_run = RunDir.for_config(ref_cfg)
    reuse = ref_run.model.is_dir()
    if reuse:
        try:
            ref_run.check_same_config(ref_cfg)
        except RunError:
            reuse = False
    if not reuse:
        print(
            f"audit privacy: training the reference model on {pa.reference_data}", file=sys.stderr, flush=True
        )
        stage("train")(ref_cfg, overwrite=True, show_progress=sys.stderr.isatty())
    texts = load_task_data(ref_cfg.data, ref_cfg.seed, ref_cfg.encryption).train.texts
    clf = TorchClassifier.from_dir(
        ref_run.model,
        batch_size=cfg.train.eval_batch_size,
        max_length=cfg.data.max_length,
        precision=cfg.train.precision,
    )
    return clf, set(texts)
