"""`fairtune data`: write the data card (data/card.json) without training."""

from __future__ import annotations

from typing import Any

from fairtune._io import atomic_write_json
from fairtune._rundir import RunDir
from fairtune.config import FairtuneConfig


def data_card(cfg: FairtuneConfig) -> dict[str, Any]:
    from transformers import AutoTokenizer

    from fairtune.data import build_data_card, load_task_data
    from fairtune.models import resolve_model

    task = load_task_data(cfg.data, cfg.seed)
    path, _ = resolve_model(cfg.model.name)
    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)

    def count_tokens(texts: list[str]) -> list[int]:
        return [len(ids) for ids in tokenizer(texts, truncation=False)["input_ids"]]

    run = RunDir.for_config(cfg)
    run.check_same_config(cfg)  # never write one config's data card into another config's run
    card = build_data_card(task, count_tokens, cfg.data_card, cfg.data.max_length)
    run.root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run.data_card, card)
    return card
