"""`fairtune evaluate`: score a trained run on its eval split or on another labelled file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json
from fairtune._rundir import RunDir
from fairtune._stages import register_stage


def evaluate(run_dir: str | Path, data_file: str | None = None) -> dict[str, Any]:
    """Evaluate and merge the result into metrics.json (`eval`, or `evals[<file>]` for --data)."""
    from fairtune.data import load_task_data
    from fairtune.models import load_recognizer, load_trained
    from fairtune.training import evaluate_model

    run = RunDir(Path(run_dir))
    model_dir = run.require_model()
    cfg = run.load_config()
    metrics_doc = run.read_metrics()
    model, tokenizer = load_trained(model_dir)
    labels = [model.config.id2label[i] for i in range(model.config.num_labels)]
    data_cfg = cfg.data.model_copy(update={"label_names": labels})
    if data_file is not None:
        # Validate the file against the run's label space: train labels are the model's labels.
        data_cfg = data_cfg.model_copy(update={"eval": data_file, "max_eval_rows": None})
    split = load_task_data(data_cfg, cfg.seed, cfg.encryption).eval
    front_end = load_recognizer(model_dir)  # the texts as the model folder reads them
    result = evaluate_model(
        model,
        tokenizer,
        split.texts if front_end is None else front_end(split.texts),
        split.labels,
        labels,
        batch_size=cfg.train.eval_batch_size,
        max_length=cfg.data.max_length,
        precision=cfg.train.precision,
    )
    result["source"] = split.source
    metrics_doc.setdefault("schema", "fairtune/metrics/v1")
    if data_file is None:
        metrics_doc["eval"] = {**result, "split": "eval"}
    else:
        metrics_doc.setdefault("evals", {})[str(data_file)] = result
    metrics_doc["labels"] = labels
    atomic_write_json(run.metrics, metrics_doc)
    return result


register_stage("evaluate", evaluate)
