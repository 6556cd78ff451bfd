"""A word-recognition front end: misspelled words are put right before the classifier reads a text.

A defence against typos that does not go through the classifier's training (Pruthi et al. 2019,
"Combating Adversarial Misspellings with Robust Word Recognition"), here as dictionary spelling
correction with SymSpell (Garbe; the `symspellpy` package): the dictionary is the words of the training
texts that occur at least `min_count` times, with their counts. A word of the input that is not in the
dictionary, nor among the `protected` words (real words that are not in it, where they are near a
dictionary word: an English word list with inflected forms, WordNet's lemmas, the tokenizer's whole
words), becomes the dictionary word with the same first letter at the smallest edit distance (optimal
string alignment: a swapped pair of letters is one edit), up to `max_edit_distance`; among several, the
one with the same last letter, then the most frequent. A word with no such neighbour stays as it is, and
so do words shorter than `min_length`, words without a letter and words with a non-ASCII letter.

It lives in the model folder as `word_recognition.json`; every loader of the folder
(`TorchClassifier.from_dir`, compressed variants) puts it in front of the model.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json, read_json
from fairtune.errors import RunError

FILE = "word_recognition.json"
FORMAT = 1
#: a word as the front end sees it: a run of letters and digits (OCR writes 0 for o)
_WORD = re.compile(r"[^\W_]+")


class WordRecognizer:
    """texts -> texts with out-of-dictionary words replaced by their nearest frequent dictionary word."""

    def __init__(
        self,
        counts: dict[str, int],
        protected: Iterable[str] = (),
        *,
        max_edit_distance: int = 2,
        min_length: int = 4,
    ) -> None:
        from symspellpy import SymSpell

        self.counts = dict(counts)
        self.protected = frozenset(protected)
        self.max_edit_distance = max_edit_distance
        self.min_length = min_length
        self._spell = SymSpell(max_dictionary_edit_distance=max_edit_distance, prefix_length=7)
        for word, count in self.counts.items():
            self._spell.create_dictionary_entry(word, count)
        self._word = functools.lru_cache(maxsize=100_000)(self._recognize)

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        known: Iterable[str] = (),
        *,
        min_count: int = 2,
        max_edit_distance: int = 2,
        min_length: int = 4,
    ) -> WordRecognizer:
        """The dictionary from `texts` (words seen `min_count` times or more); of the `known` real words,
        those a correction could reach are kept as protected."""
        seen = Counter(w.lower() for t in texts for w in _WORD.findall(str(t)))
        counts = {w: c for w, c in seen.items() if c >= min_count}
        out = cls(counts, max_edit_distance=max_edit_distance, min_length=min_length)
        near = {w for w in {k.lower() for k in known} if w not in counts and out._nearest(w) is not None}
        out.protected = frozenset(near)
        return out

    def _nearest(self, word: str) -> str | None:
        """The dictionary word with the same first letter (people seldom mistype it: Rawlinson 1976; a
        digit there may be OCR's) at the smallest edit distance; among several, the one that keeps the
        last letter too, then the most frequent."""
        from symspellpy import Verbosity

        found = [
            s
            for s in self._spell.lookup(word, Verbosity.ALL, max_edit_distance=self.max_edit_distance)
            if s.term[0] == word[0] or word[0].isdigit()
        ]
        if not found:
            return None
        best = min(found, key=lambda s: (s.distance, s.term[-1] != word[-1], -s.count))
        return best.term if best.term != word else None

    def _recognize(self, word: str) -> str:
        low = word.lower()
        if (
            len(word) < self.min_length
            or not low.isascii()
            or not any(c.isalpha() for c in low)
            or low in self.counts
            or low in self.protected
        ):
            return word
        fixed = self._nearest(low)
        if fixed is None:
            return word
        if word.isupper():
            return fixed.upper()
        return fixed.capitalize() if word[0].isupper() else fixed

    def __call__(self, texts: Sequence[str]) -> list[str]:
        return [_WORD.sub(lambda m: self._word(m.group(0)), str(t)) for t in texts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "max_edit_distance": self.max_edit_distance,
            "min_length": self.min_length,
            "counts": dict(sorted(self.counts.items())),
            "protected": sorted(self.protected),
        }

    def save(self, model_dir: str | Path) -> Path:
        path = Path(model_dir) / FILE
        atomic_write_json(path, self.to_dict())
        return path


def load_recognizer(model_dir: str | Path) -> WordRecognizer | None:
    """The front end saved in `model_dir`, or None where the folder has none."""
    path = Path(model_dir) / FILE
    if not path.is_file():
        return None
    d = read_json(path)
    if d.get("format") != FORMAT:
        raise RunError(
            f"{path}: word-recognition format {d.get('format')!r}; this fairtune reads format {FORMAT}. "
            "Train the run again with this version (model.word_recognition builds it)."
        )
    return WordRecognizer(
        d["counts"], d["protected"], max_edit_distance=d["max_edit_distance"], min_length=d["min_length"]
    )


def tokenizer_words(tokenizer: Any) -> list[str]:
    """The tokenizer's whole words (vocabulary entries that are not word pieces or special tokens)."""
    vocab = tokenizer.get_vocab() if hasattr(tokenizer, "get_vocab") else {}
    return [w for w in vocab if w.isalpha() and not w.startswith("##")]


def english_words() -> list[str]:
    """The 82,765 English words (inflected forms included) of the frequency list that ships with
    symspellpy (Google Books n-grams intersected with SCOWL)."""
    from importlib.resources import files

    text = files("symspellpy").joinpath("frequency_dictionary_en_82_765.txt").read_text(encoding="utf-8")
    return [line.split(" ", 1)[0] for line in text.splitlines() if line]


def build_recognizer(cfg: Any, texts: Sequence[str], tokenizer: Any) -> tuple[WordRecognizer, dict[str, Any]]:
    """The front end of `model.word_recognition` (`cfg`) from the training texts; the real words it
    protects are the tokenizer's whole words, symspellpy's English word list and WordNet's one-word
    lemmas (where WordNet is installed).
    Returns it with its summary for metrics.json."""
    from fairtune.errors import FairtuneError

    known = [*tokenizer_words(tokenizer), *english_words()]
    try:
        from fairtune.data import load_wordnet

        lemmas = [w for w in load_wordnet().all_lemma_names() if w.isalpha()]
    except (FairtuneError, LookupError, OSError):
        lemmas = []
    rec = WordRecognizer.build(
        texts,
        [*known, *lemmas],
        min_count=cfg.min_count,
        max_edit_distance=cfg.max_edit_distance,
        min_length=cfg.min_length,
    )
    info = {"dictionary": len(rec.counts), "protected": len(rec.protected), "wordnet": bool(lemmas)}
    return rec, info
