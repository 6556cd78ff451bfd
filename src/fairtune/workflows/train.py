"""`fairtune train`: config -> data -> model -> fit -> runs/<name>/{model,metrics.json,config.yaml}."""

from __future__ import annotations

import time
from typing import Any

from fairtune._io import atomic_write_json
from fairtune._rundir import RunDir, prepare_run_dir
from fairtune._stages import register_stage
from fairtune.config import FairtuneConfig


def insert_canaries(cfg: FairtuneConfig, data: Any, run: RunDir) -> dict[str, Any]:
    """Apply train.canaries: append the inserted canaries to data.train and keep all of them (made-up
    texts, no user data, but training texts: encrypted under `encryption:`) in the run directory for the
    privacy audit."""
    if cfg.train.canaries is None:
        return {}
    from fairtune.data import make_canaries

    canaries = make_canaries(cfg.train.canaries, data.label_names)
    data.train = canaries.insert_into(data.train)
    atomic_write_json(run.root / "canaries.json", canaries.to_dict(), cfg.encryption)
    return canaries.summary()


def front_end(cfg: FairtuneConfig, data: Any, texts: list[str], tokenizer: Any) -> tuple[Any, dict[str, Any]]:
    """model.word_recognition: the front end built from the training `texts`, and the eval split read
    through it, as the saved model will read every text (evaluation and best-model selection included)."""
    if cfg.model.word_recognition is None:
        return None, {}
    from fairtune.models import build_recognizer

    recognizer, info = build_recognizer(cfg.model.word_recognition, texts, tokenizer)
    before = data.eval.texts
    data.eval.texts = recognizer(before)
    info["eval_texts_changed"] = sum(a != b for a, b in zip(before, data.eval.texts, strict=True))
    return recognizer, info


def train(
    cfg: FairtuneConfig, *, resume: bool = False, overwrite: bool = False, show_progress: bool = True
) -> dict[str, Any]:
    """Fine-tune per `cfg`; returns the metrics written to metrics.json."""
    from fairtune._crypto import check_key
    from fairtune.data import load_task_data

    check_key(cfg.encryption)  # a missing key is reported before any work, as a data problem is
    data = load_task_data(cfg.data, cfg.seed, cfg.encryption)  # data problems come before torch is imported
    import torch
    from accelerate.utils import set_seed

    from fairtune.models import build_classifier, save_model
    from fairtune.tracking import final_metrics, run_trackers
    from fairtune.training import Trainer

    run = prepare_run_dir(cfg, resume=resume, overwrite=overwrite)
    if cfg.train.threads:
        torch.set_num_threads(cfg.train.threads)
    set_seed(cfg.seed, deterministic=cfg.train.deterministic)
    from fairtune.mitigations import apply_data_transforms

    plain_train = list(data.train.texts)  # the front end's dictionary: before copies and canaries
    mitigations, extras = apply_data_transforms(cfg, data)
    from fairtune.data._augment import augment_training

    augmented = augment_training(cfg.train.augment, data, seed=cfg.seed, max_length=cfg.data.max_length)
    canary_info = insert_canaries(cfg, data, run)
    model, tokenizer = build_classifier(cfg.model, data.label_names)
    recognizer, recognition = front_end(cfg, data, plain_train, tokenizer)
    trackers = run_trackers(cfg, run.root)
    trainer = Trainer(
        model,
        tokenizer,
        data,
        cfg.train,
        run_dir=run.root,
        seed=cfg.seed,
        max_length=cfg.data.max_length,
        show_progress=show_progress,
        trackers=trackers,
        checkpoint_encryption=cfg.encryption if cfg.encryption and cfg.encryption.checkpoints else None,
        **extras,
    )
    if trainer.acc.is_main_process:
        run.write_config(cfg)
    t0 = time.perf_counter()
    result = trainer.fit(resume=resume)
    wall = time.perf_counter() - t0
    metrics: dict[str, Any] = {}
    if trainer.acc.is_main_process:
        save_model(trainer.unwrapped(), tokenizer, run.model)
        if recognizer is not None:
            recognizer.save(run.model)
        saved = time.perf_counter() - t0
        st = result.state
        metrics = {
            "schema": "fairtune/metrics/v1",
            "eval": {**result.eval_metrics, "split": "eval", "source": data.eval.source},
            "train": {
                "steps": st.step,
                "epochs_completed": st.epoch,
                "samples": st.samples,
                "train_seconds": st.train_seconds,
                "wall_seconds_this_session": wall,
                # from the first batch to the saved model, the final evaluation included
                "wall_seconds_to_saved_model": saved,
                "samples_per_second": st.samples / st.train_seconds if st.train_seconds else None,
                "precision": result.precision,
                "world_size": result.world_size,
                "best_step": st.best_step,
                "stopped_early": st.stopped_early,
                "n_train": len(data.train),
                "n_eval": len(data.eval),
                "history": st.history,
                "evals": st.evals,
                "objectives": {o.name: o.info() for o in trainer.objectives},
                **mitigations,
                **({"augment": augmented} if augmented else {}),
                **({"privacy": result.dp, "dp_epsilon": result.dp["epsilon_spent"]} if result.dp else {}),
                **({"canaries": canary_info} if canary_info else {}),
                **({"word_recognition": recognition} if recognition else {}),
            },
            "labels": data.label_names,
        }
        atomic_write_json(run.metrics, metrics)
        trackers.log(final_metrics(metrics), st.step)
    trackers.finish()
    trainer.acc.wait_for_everyone()
    return metrics


register_stage("train", train)
