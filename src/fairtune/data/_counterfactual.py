"""Counterfactual copies of training texts for the fairness mitigations (CDA and CLP).

CDA (counterfactual data augmentation; Lu et al. 2020) adds, for each training text that mentions
an identity term, a copy with the terms swapped to another group of the same dimension, same label.
CLP (counterfactual logit pairing; Garg et al. 2019) uses the same copies as partners in the loss.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from fairtune.data._lexicon import Lexicon
from fairtune.data._load import LabelledData
from fairtune.data._swap import make_swappers


@dataclass
class Counterfactuals:
    """One swapped copy per (text, dimension): index of the original, dimension, swapped text."""

    index: list[int]
    dimension: list[str]
    texts: list[str]

    def per_dimension(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for d in self.dimension:
            out[d] = out.get(d, 0) + 1
        return out

    def first_per_text(self) -> dict[int, str]:
        """One partner per original text (the first dimension it mentions), for logit pairing."""
        out: dict[int, str] = {}
        for i, t in zip(self.index, self.texts, strict=True):
            out.setdefault(i, t)
        return out


def make_counterfactuals(
    texts: list[str], lexicons: list[Lexicon], *, pronouns: bool, seed: int
) -> Counterfactuals:
    """For each text and dimension it mentions, swap to one other group picked with a seeded RNG."""
    rng = np.random.default_rng(seed)
    out = Counterfactuals([], [], [])
    swappers = make_swappers(lexicons, pronouns=pronouns)
    for i, text in enumerate(texts):
        for sw in swappers:
            options = sw.counterfactuals(text)
            if options:
                _, _, cf = options[int(rng.integers(len(options)))]
                out.index.append(i)
                out.dimension.append(sw.lexicon.dimension)
                out.texts.append(cf)
    return out


def augment(data: LabelledData, cfs: Counterfactuals) -> LabelledData:
    """The training split plus the counterfactual copies, with the originals' labels."""
    return LabelledData(
        data.texts + cfs.texts,
        np.concatenate([data.labels, data.labels[cfs.index]]).astype(data.labels.dtype),
        (data.groups + [data.groups[i] for i in cfs.index]) if data.groups is not None else None,
        f"{data.source} + {len(cfs.texts)} counterfactual copies",
    )
