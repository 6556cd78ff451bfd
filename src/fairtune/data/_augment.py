"""Data augmentation for small training sets (`train.augment`).

- EDA (Wei & Zou 2019): synonym replacement (WordNet), random insertion of a synonym, random swap and
  random deletion; each copy applies one operation. Words on the protected list (negations by default)
  are never replaced, deleted, moved or used as insertion anchors.
- Back-translation: through two Marian translation models (there and back), given by path or hub id.

Copies keep the label of their original, and are drawn from a generator seeded by (seed, text index), so
the augmented set is the same on every run.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

#: Never changed by EDA: flipping or dropping one of these can flip a sentiment label.
NEGATIONS = (
    "not", "no", "never", "nor", "none", "nothing", "nobody", "nowhere", "neither", "cannot", "without",
    "n't", "hardly", "barely", "scarcely",
    "don't", "doesn't", "didn't", "isn't", "aren't", "wasn't", "weren't", "won't", "wouldn't", "can't",
    "couldn't", "shouldn't", "hasn't", "haven't", "hadn't", "ain't",
)  # fmt: skip
OPERATIONS = ("sr", "ri", "rs", "rd")


@dataclass(frozen=True)
class EdaSettings:
    n_aug: int = 4
    alpha_sr: float = 0.1
    alpha_ri: float = 0.1
    alpha_rs: float = 0.1
    p_rd: float = 0.1
    protected: tuple[str, ...] = NEGATIONS


class Eda:
    """EDA over whitespace words, with WordNet synonyms (stop words are never replaced)."""

    def __init__(self, wordnet: Any, settings: EdaSettings) -> None:
        self.wn, self.s = wordnet, settings
        self.protected = {w.lower() for w in settings.protected}
        self._syn: dict[str, list[str]] = {}

    def synonyms(self, word: str) -> list[str]:
        from fairtune.audits.robustness._words import STOP_WORDS

        key = word.lower()
        if key in STOP_WORDS or key in self.protected or not key.isalpha():
            return []
        if key not in self._syn:
            found: list[str] = []
            for syn in self.wn.synsets(key):
                for lemma in syn.lemmas():
                    name = lemma.name().replace("_", " ").lower()
                    if name != key and name not in found and name.replace(" ", "").isalpha():
                        found.append(name)
            self._syn[key] = found
        return self._syn[key]

    def _free(self, words: list[str]) -> list[int]:
        return [i for i, w in enumerate(words) if w.lower().strip(".,!?;:") not in self.protected]

    def replace(self, words: list[str], rng: np.random.Generator) -> list[str]:
        n = max(1, int(self.s.alpha_sr * len(words)))
        out = list(words)
        for i in rng.permutation(len(words)):
            if n == 0:
                break
            syns = self.synonyms(out[i])
            if syns:
                out[i] = syns[int(rng.integers(len(syns)))]
                n -= 1
        return out

    def insert(self, words: list[str], rng: np.random.Generator) -> list[str]:
        n = max(1, int(self.s.alpha_ri * len(words)))
        out = list(words)
        anchors = [w for w in words if self.synonyms(w)]
        for _ in range(n if anchors else 0):
            syns = self.synonyms(anchors[int(rng.integers(len(anchors)))])
            out.insert(int(rng.integers(len(out) + 1)), syns[int(rng.integers(len(syns)))])
        return out

    def swap(self, words: list[str], rng: np.random.Generator) -> list[str]:
        free = self._free(words)
        out = list(words)
        if len(free) < 2:
            return out
        for _ in range(max(1, int(self.s.alpha_rs * len(words)))):
            a, b = rng.choice(free, size=2, replace=False)
            out[a], out[b] = out[b], out[a]
        return out

    def delete(self, words: list[str], rng: np.random.Generator) -> list[str]:
        if len(words) == 1:
            return list(words)
        free = set(self._free(words))
        keep = [w for i, w in enumerate(words) if i not in free or rng.random() > self.s.p_rd]
        return keep or [words[int(rng.choice(sorted(free)))] if free else words[0]]

    def augment(self, text: str, rng: np.random.Generator) -> list[str]:
        """`n_aug` distinct copies (fewer when the text allows fewer), never the text itself."""
        words = text.split()
        if not words:
            return []
        ops: dict[str, Callable[[list[str], np.random.Generator], list[str]]] = {
            "sr": self.replace,
            "ri": self.insert,
            "rs": self.swap,
            "rd": self.delete,
        }
        rates = {"sr": self.s.alpha_sr, "ri": self.s.alpha_ri, "rs": self.s.alpha_rs, "rd": self.s.p_rd}
        active = [op for op in OPERATIONS if rates[op] > 0]
        out: list[str] = []
        for k in range(self.s.n_aug * 3):  # a few extra tries for short texts that repeat
            if len(out) >= self.s.n_aug or not active:
                break
            new = " ".join(ops[active[k % len(active)]](words, rng))
            if new != text and new not in out:
                out.append(new)
        return out


def eda_copies(texts: Sequence[str], eda: Eda, seed: int) -> tuple[list[int], list[str]]:
    """(index of the original, augmented text) for every copy."""
    idx, out = [], []
    for i, text in enumerate(texts):
        for copy in eda.augment(text, np.random.default_rng([seed, i])):
            idx.append(i)
            out.append(copy)
    return idx, out


class BackTranslator:
    """Two Marian models (source -> pivot -> source), batched greedy or beam decoding."""

    def __init__(
        self, forward: str, backward: str, *, batch_size: int = 16, max_length: int = 128, num_beams: int = 1
    ) -> None:
        from transformers import MarianMTModel

        from fairtune.models import load_pretrained

        self.fwd, self.fwd_tok = load_pretrained(MarianMTModel, forward)
        self.bwd, self.bwd_tok = load_pretrained(MarianMTModel, backward)
        self.batch_size, self.max_length, self.num_beams = batch_size, max_length, num_beams

    def _translate(self, model: Any, tok: Any, texts: list[str]) -> list[str]:
        import torch

        out: list[str] = []
        model.eval()
        for start in range(0, len(texts), self.batch_size):
            enc = tok(
                texts[start : start + self.batch_size],
                return_tensors="pt",
                padding=True,
                truncation=True,
                max_length=self.max_length,
            )
            inputs = {k: enc[k] for k in ("input_ids", "attention_mask")}  # Marian takes no token types
            with torch.inference_mode():
                gen = model.generate(
                    **inputs, max_new_tokens=self.max_length, num_beams=self.num_beams, do_sample=False
                )
            out.extend(tok.batch_decode(gen, skip_special_tokens=True))
        return out

    def __call__(self, texts: Sequence[str]) -> list[str]:
        pivot = self._translate(self.fwd, self.fwd_tok, list(texts))
        return self._translate(self.bwd, self.bwd_tok, pivot)


def backtranslate_copies(
    texts: Sequence[str], translator: Callable[[Sequence[str]], list[str]]
) -> tuple[list[int], list[str]]:
    """One back-translated copy per text, kept only when it is non-empty and differs from the original."""
    back = translator(texts)
    idx, out = [], []
    for i, (orig, new) in enumerate(zip(texts, back, strict=True)):
        new = new.strip()
        if new and new != orig.strip():
            idx.append(i)
            out.append(new)
    return idx, out


def check_augment_models(ac: Any) -> list[str]:
    """Problems with train.augment's translation models, each naming its field (none when fine)."""
    from fairtune.errors import FairtuneError
    from fairtune.models import resolve_model

    problems = []
    for field in ("forward_model", "backward_model"):
        name = getattr(ac, field)
        if ac.method != "backtranslate" or not name:
            continue
        try:
            resolve_model(name)
        except FairtuneError as exc:
            problems += [p.replace("model.name:", f"train.augment.{field}:", 1) for p in exc.problems]
    return problems


def augment_training(ac: Any, data: Any, *, seed: int, max_length: int) -> dict[str, Any]:
    """Apply train.augment to data.train in place; return what the metrics record."""
    from fairtune.data._load import LabelledData
    from fairtune.errors import ConfigError

    if ac is None or ac.method == "none":
        return {}
    texts = data.train.texts
    if ac.method == "eda":
        from fairtune.data._wordnet import load_wordnet

        wn = load_wordnet(ac.wordnet, "train.augment.wordnet")
        protected = tuple(ac.protected) if ac.protected is not None else NEGATIONS
        eda = Eda(wn, EdaSettings(ac.n_aug, ac.alpha_sr, ac.alpha_ri, ac.alpha_rs, ac.p_rd, protected))
        idx, copies = eda_copies(texts, eda, seed)
    else:
        problems = check_augment_models(ac)
        if problems:
            raise ConfigError(problems)
        bt = BackTranslator(
            ac.forward_model, ac.backward_model, max_length=max_length, num_beams=ac.num_beams
        )
        idx, copies = backtranslate_copies(texts, bt)
    n, old = len(texts), data.train
    data.train = LabelledData(
        old.texts + copies,
        np.concatenate([old.labels, old.labels[idx]]).astype(old.labels.dtype),
        (old.groups + [old.groups[i] for i in idx]) if old.groups is not None else None,
        f"{old.source} + {len(copies)} {ac.method} copies",
    )
    return {
        "method": ac.method,
        "train_texts": n,
        "copies_added": len(copies),
        "texts_augmented": len(set(idx)),
    }
