"""Gradient word ranking for the A2T attack (Yoo & Qi 2021): a word's importance is the norm
of the loss's gradient with respect to its tokens' input embeddings. One forward and one backward pass
rank every word of every attacked text, where leave-one-out ranking spends one query per word; the
queries it saves go to trying substitutes.

The pass runs without dropout (the model is put in eval mode and back), so it draws no random numbers
and leaves the parameters' gradients alone (the gradient is taken with respect to the embeddings only).
"""

from __future__ import annotations

from typing import Any

import torch

from fairtune.audits.robustness._attack import Ranker, _Example


def token_word_scores(
    offsets: list[tuple[int, int]], norms: list[float], spans: dict[int, tuple[int, int]]
) -> dict[int, float]:
    """Each word slot's score: the sum of the gradient norms of the tokens that start inside its span
    (special and padding tokens have empty offsets and belong to no word; a truncated word scores 0)."""
    scores = dict.fromkeys(spans, 0.0)
    for (start, end), norm in zip(offsets, norms, strict=True):
        if end <= start:
            continue
        for slot, (lo, hi) in spans.items():
            if lo <= start < hi:
                scores[slot] += norm
                break
    return scores


def gradient_ranker(model: Any, tokenizer: Any, max_length: int) -> Ranker:
    """A `Ranker` for `WordSubstitutionAttack.attack` that orders words by their embedding-gradient norm
    under `model` (a Hugging Face sequence classifier with a fast tokenizer), most important first; it
    counts one query per text."""

    def rank(live: list[_Example]) -> None:
        if not live:
            return
        enc = tokenizer(
            [ex.current() for ex in live],
            truncation=True,
            max_length=max_length,
            padding=True,
            return_offsets_mapping=True,
            return_tensors="pt",
        )
        norms = _gradient_norms(model, enc["input_ids"], enc["attention_mask"], [ex.label for ex in live])
        for row, ex in enumerate(live):
            scores = token_word_scores(enc["offset_mapping"][row].tolist(), norms[row], ex.spans())
            ex.order = sorted(ex.word_slots, key=lambda s: -scores[s])  # stable: ties keep reading order
            ex.queries += 1

    return rank


def _gradient_norms(
    model: Any, ids: torch.Tensor, mask: torch.Tensor, labels: list[int]
) -> list[list[float]]:
    """Per text, per token: the L2 norm of the summed cross-entropy's gradient at its input embedding."""
    from fairtune.models import eval_mode

    device = next(model.parameters()).device
    with eval_mode(model):
        emb = model.get_input_embeddings()(ids.to(device)).detach().requires_grad_(True)
        logits = model(inputs_embeds=emb, attention_mask=mask.to(device)).logits
        loss = torch.nn.functional.cross_entropy(
            logits.float(), torch.tensor(labels, device=device), reduction="sum"
        )
        (grad,) = torch.autograd.grad(loss, emb)
    return grad.float().norm(dim=-1).cpu().tolist()  # type: ignore[no-any-return]
