"""`fairtune data`: write the data card (data/card.json) without training."""

from __future__ import annotations

from typing import Any

from fairtune._io import atomic_write_json
from fairtune._rundir import RunDir
from fairtune._stages import register_stage
from fairtune.config import FairtuneConfig

#: WordPiece maps a word of more than 100 characters to one [UNK] (BERT's max_input_chars_per_word)
MAX_CHARS_PER_TOKEN = 100


def token_cap(max_length: int) -> int:
    """Token counts in the data card stop here: far past data.max_length, where every text is alike."""
    return max(4 * max_length, 1024)


def data_card(cfg: FairtuneConfig) -> dict[str, Any]:
    from fairtune.data import build_data_card, load_task_data
    from fairtune.models import resolve_model

    task = load_task_data(cfg.data, cfg.seed, cfg.encryption)  # data problems come before transformers
    path, _ = resolve_model(cfg.model.name)
    from transformers import AutoTokenizer

    tokenizer = AutoTokenizer.from_pretrained(path, trust_remote_code=False)

    cap = token_cap(cfg.data.max_length)

    def count_tokens(texts: list[str]) -> list[int]:
        """Tokens per text, counted up to `cap`: a text is cut before tokenizing (no token spans more
        than MAX_CHARS_PER_TOKEN characters), so one huge line costs no more than a long one."""
        cut = [t[: cap * MAX_CHARS_PER_TOKEN] for t in texts]
        return [min(len(ids), cap) for ids in tokenizer(cut, truncation=True, max_length=cap)["input_ids"]]

    run = RunDir.for_config(cfg)
    run.check_same_config(cfg)  # never write one config's data card into another config's run
    card = build_data_card(task, count_tokens, cfg.data_card, cfg.data.max_length)
    card["lengths"]["tokens_counted_up_to"] = cap
    run.root.mkdir(parents=True, exist_ok=True)
    atomic_write_json(run.data_card, card, cfg.encryption)  # its findings quote training texts
    return card


register_stage("data", data_card)
