"""Term tying (train.tie_terms): the single-wordpiece terms of each lexicon swap set share one input
embedding from the start of fine-tuning to its end, so a swap between them cannot change a prediction.

This is Garg et al. (2019)'s "blindness" (identity tokens replaced by one IDENTITY token), made per swap
set and put into the weights rather than the tokenizer: `men` and `women` become one vector, `jamal` and
`greg` another, and the saved model is an ordinary model that any tokenizer, server or export reads. Like
blindness, it holds exactly for the tied terms and says nothing of others: terms of several wordpieces,
terms outside the lexicon, and the words' other senses (the surname `washington` and the city) are not
told apart or reached.

How the rows stay tied: they start at their mean, and a hook run once the embedding matrix's gradient is
accumulated gives every row of a set the set's mean gradient (the gradient of one shared vector divided
by the set's size, a factor that Adam's per-coordinate scaling removes). With equal values, equal
gradients and equal optimizer state, AdamW moves them alike. It is a constraint, not a loss: the
objective adds nothing to the step.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch

from fairtune.training.objectives._base import Objective, ObjectiveContext, register_objective

#: the pronoun swaps of `fairtune.data._swap`, as sets: "her" pairs with "him" and "his"
PRONOUN_SETS = (("he", "she"), ("him", "her", "his", "hers"), ("himself", "herself"))


def swap_sets(lexicons: Iterable[Any], pronouns: bool) -> list[list[str]]:
    """Each lexicon row's terms (a term has no counterpart where the row says '-'), and the pronoun sets."""
    sets = [[t for t in row if t] for lex in lexicons for row in lex.rows]
    return [s for s in sets if len(s) > 1] + ([list(s) for s in PRONOUN_SETS] if pronouns else [])


def _spellings(term: str) -> list[tuple[tuple[str, str], str]]:
    """(form, spelled) for each written form of `term`: lower, Title and UPPER case, alone and after a
    space (as BPE vocabularies spell a word mid-sentence)."""
    forms = (str.lower, str.title, str.upper)
    return [((form.__name__, space), space + form(term)) for form in forms for space in ("", " ")]


def tie_groups(tokenizer: Any, sets: list[list[str]]) -> tuple[list[list[int]], dict[str, int]]:
    """Token ids that must share an embedding (sets that share a token merge), and how many terms are one
    wordpiece in some written form. A form is tied to the same form of its set's other terms only."""
    parent: dict[int, int] = {}

    def find(x: int) -> int:
        while parent.setdefault(x, x) != x:
            x = parent[x]
        return x

    special = set(tokenizer.all_special_ids)  # [UNK] is one token for any unknown word: never tie it
    single = 0
    for terms in sets:
        by_form: dict[tuple[str, str], list[int]] = {}
        for term in terms:
            hits = {}
            for form, spelled in _spellings(term):
                ids = tokenizer(spelled, add_special_tokens=False)["input_ids"]
                if len(ids) == 1 and ids[0] not in special:
                    hits[form] = int(ids[0])
            single += bool(hits)
            for form, token in hits.items():
                by_form.setdefault(form, []).append(token)
        for ids in by_form.values():
            for other in ids[1:]:
                parent[find(other)] = find(ids[0])
    groups: dict[int, list[int]] = {}
    for x in list(parent):
        groups.setdefault(find(x), []).append(x)
    tied = sorted(sorted(g) for g in groups.values() if len(g) > 1)
    return tied, {"terms": sum(map(len, sets)), "single_wordpiece_terms": single}


class TermTying(Objective):
    name = "term_tying"

    def __init__(self, weight: torch.nn.Parameter, groups: list[list[int]], coverage: dict[str, int]) -> None:
        self.groups, self.coverage = groups, coverage
        self.members = torch.tensor([t for g in groups for t in g], dtype=torch.long, device=weight.device)
        self.group_of = torch.tensor(
            [k for k, g in enumerate(groups) for _ in g], dtype=torch.long, device=weight.device
        )
        self.sizes = torch.bincount(self.group_of, minlength=len(groups)).unsqueeze(1)
        with torch.no_grad():
            weight[self.members] = self._group_means(weight)
        self.trains = weight.requires_grad
        if self.trains:
            weight.register_post_accumulate_grad_hook(self._tie_gradient)

    def _group_means(self, t: torch.Tensor) -> torch.Tensor:
        """Each tied row of `t` replaced by the mean of its group's rows."""
        sums = torch.zeros(len(self.groups), t.shape[1], dtype=t.dtype, device=t.device)
        sums.index_add_(0, self.group_of, t[self.members])
        return (sums / self.sizes.to(t.dtype))[self.group_of]

    def _tie_gradient(self, weight: torch.Tensor) -> None:
        """After each backward pass: every tied row's gradient becomes its group's mean, in place (only the
        tied rows are touched, not the whole embedding matrix). The mean, not the sum, because a step may
        run more than one backward pass (embedding adversarial training does), and the mean of rows that
        are already equal plus new gradients is the mean of the gradients summed."""
        grad = weight.grad
        assert grad is not None  # the hook runs once a gradient has been accumulated
        grad[self.members] = self._group_means(grad)

    def info(self) -> dict[str, Any]:
        return {
            "groups": len(self.groups),
            "tokens_tied": int(self.members.numel()),
            **self.coverage,
            "embeddings_train": self.trains,
        }


def configured_groups(tc: Any, tokenizer: Any) -> tuple[list[list[int]], dict[str, int]]:
    """`tie_groups` of the lexicons and pronouns that a train.tie_terms section (`tc`) names."""
    from fairtune.data import load_lexicons

    lexicons = load_lexicons(tc.dimensions, tc.lexicon_dir, "train.tie_terms")
    return tie_groups(tokenizer, swap_sets(lexicons, tc.pronouns))


@register_objective("term_tying", order=0)
def _term_tying(ctx: ObjectiveContext) -> TermTying | None:
    tc = ctx.cfg.tie_terms
    if tc is None:
        return None
    groups, coverage = configured_groups(tc, ctx.tokenizer)
    return TermTying(ctx.model.get_input_embeddings().weight, groups, coverage)
