"""Canaries (Carlini et al. 2019, "The Secret Sharer"): made-up texts with random secrets.

For a classifier, a canary is a text of one fixed format with a random secret and a random label.
Some are inserted into training, each `r` times; as many again (the references) never are. A model
that memorises fits an inserted canary's random label better than it fits the references'. The
exposure of a canary is log2(R + 1) - log2(rank), where rank is its place among the R references
by loss (1 = lower loss than every reference). Without memorisation the rank is uniform and the
expected exposure is about 1/ln 2 = 1.44 bits; the most it can be is log2(R + 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from fairtune.config import CanaryConfig
from fairtune.data._load import LabelledData

#: One format for every canary, as the method needs: only the secret and the label differ.
TEMPLATE = "my account number is {secret} and the access code is {code}"


def _secret(rng: np.random.Generator) -> tuple[str, str]:
    digits = rng.integers(0, 10, size=13)
    return " ".join(map(str, digits[:9])), " ".join(map(str, digits[9:]))


@dataclass
class Canaries:
    texts: list[str]
    labels: list[int]
    repeats: list[int]  # 0 for references (never inserted)

    def insert_into(self, train: LabelledData) -> LabelledData:
        rows = [
            (t, y) for t, y, r in zip(self.texts, self.labels, self.repeats, strict=True) for _ in range(r)
        ]
        groups = train.groups + [""] * len(rows) if train.groups is not None else None
        return LabelledData(
            train.texts + [t for t, _ in rows],
            np.concatenate([train.labels, np.asarray([y for _, y in rows], dtype=train.labels.dtype)]),
            groups,
            f"{train.source} + {len(rows)} canary rows",
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": "fairtune/canaries/v1",
            "template": TEMPLATE,
            "canaries": [
                {"text": t, "label": y, "repeats": r}
                for t, y, r in zip(self.texts, self.labels, self.repeats, strict=True)
            ],
        }

    @classmethod
    def from_dict(cls, doc: dict[str, Any]) -> Canaries:
        rows = doc["canaries"]
        return cls(
            [r["text"] for r in rows], [int(r["label"]) for r in rows], [int(r["repeats"]) for r in rows]
        )

    def summary(self) -> dict[str, Any]:
        inserted = [r for r in self.repeats if r > 0]
        return {
            "inserted": len(inserted),
            "rows_added": sum(inserted),
            "references": self.repeats.count(0),
            "repeats": sorted(set(inserted)),
        }


def make_canaries(cfg: CanaryConfig, label_names: list[str]) -> Canaries:
    """`per_repeat` canaries for each repeat count, plus `references` never-inserted ones; all distinct."""
    rng = np.random.default_rng([cfg.seed, 0xCA7])
    n = cfg.per_repeat * len(cfg.repeats) + cfg.references
    seen: set[str] = set()
    texts: list[str] = []
    while len(texts) < n:
        secret, code = _secret(rng)
        text = TEMPLATE.format(secret=secret, code=code)
        if text not in seen:
            seen.add(text)
            texts.append(text)
    labels = rng.integers(0, len(label_names), size=n).tolist()
    repeats = [r for r in cfg.repeats for _ in range(cfg.per_repeat)] + [0] * cfg.references
    return Canaries(texts, labels, repeats)


def exposure(inserted_losses: np.ndarray, reference_losses: np.ndarray) -> np.ndarray:
    """log2(R + 1) - log2(rank) for each inserted canary, rank 1 = lower loss than all R references."""
    ref = np.sort(np.asarray(reference_losses, dtype=float))
    rank = 1 + np.searchsorted(ref, np.asarray(inserted_losses, dtype=float), side="left")
    return np.log2(len(ref) + 1) - np.log2(rank)
