"""A word-recognition front end: misspelled words are put right before the classifier reads a text.

A defence against typos that does not go through the classifier's training (Pruthi et al. 2019,
"Combating Adversarial Misspellings with Robust Word Recognition"), here as a noisy-channel spelling
corrector (Kernighan, Church & Gale 1990) over SymSpell's candidates (Garbe; the `symspellpy` package).
Its dictionary is the words of the training texts that occur at least `min_count` times, with their
counts, and the word pairs (bigrams) that occur as often. A word of the input that is not in the
dictionary, nor among the `protected` words (real words that are not in it, where they are near a
dictionary word: an English word list with inflected forms, WordNet's lemmas, the tokenizer's whole
words), becomes the candidate within `max_edit_distance` edits (optimal string alignment: a swapped pair
of letters is one edit), dictionary or protected word, that is likeliest given its neighbouring words,
less a cost per edit and for a changed first letter (`Channel`). A word with no candidate stays as it is,
and so do words shorter than `min_length`, words without a letter and words with a non-ASCII letter.

It lives in the model folder as `word_recognition.json`; every loader of the folder
(`TorchClassifier.from_dir`, compressed variants) puts it in front of the model.
"""

from __future__ import annotations

import copy
import dataclasses
import functools
import itertools
import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from fairtune._io import atomic_write_json, read_json
from fairtune.errors import RunError

FILE = "word_recognition.json"
FORMAT = 2


@dataclasses.dataclass(frozen=True)
class Channel:
    """The noisy channel's costs, in nats, and the context model's smoothing (see WordRecognizer._nearest;
    the defaults were chosen on held-out training sentences: bench/recognizer_restoration.py)."""

    edit: float = 12.0  #: per edit
    first_letter: float = 3.0  #: for a changed first letter
    #: a candidate replaces the word only where it scores above the word as written (as an unknown word
    #: in the same place) + keep; None: wherever there is one
    keep: float | None = -16.0
    smoothing: float = 5.0  #: pseudo-count of the bigrams' backing off to word counts


#: a word as the front end sees it: a run of letters and digits (OCR writes 0 for o)
_WORD = re.compile(r"[^\W_]+")


class WordRecognizer:
    """texts -> texts with out-of-dictionary words replaced by the likeliest word they were meant to be."""

    def __init__(
        self,
        counts: dict[str, int],
        protected: Iterable[str] = (),
        bigrams: dict[str, int] | None = None,
        *,
        max_edit_distance: int = 2,
        min_length: int = 3,
        channel: Channel | None = None,
    ) -> None:
        from symspellpy import SymSpell

        self.counts = dict(counts)
        self.protected = frozenset(protected)
        self.bigrams = dict(bigrams or {})
        self.max_edit_distance = max_edit_distance
        self.min_length = min_length
        self.channel = channel or Channel()
        self._spell = SymSpell(max_dictionary_edit_distance=max_edit_distance, prefix_length=7)
        self._index()
        self._word = functools.lru_cache(maxsize=200_000)(self._recognize)

    def _index(self) -> None:
        """The symspell dictionary (training words and protected words are the targets) and the counts
        the context model reads."""
        for word in [*self.counts, *self.protected]:
            self._spell.create_dictionary_entry(word, self.counts.get(word, 1))
        self._total = sum(self.counts.values()) + len(self.counts) + len(self.protected)
        self._left: Counter[str] = Counter()
        for pair, n in self.bigrams.items():
            self._left[pair.split(" ", 1)[0]] += n

    def _protect(self, words: Iterable[str]) -> None:
        """Add protected words to the index built so far, as `_index` adds them after the training words."""
        new = [w for w in words if w not in self.protected]
        for word in new:
            self._spell.create_dictionary_entry(word, self.counts.get(word, 1))
        self.protected = self.protected | frozenset(new)
        self._total += len(new)

    def configured(self, channel: Channel, min_length: int) -> WordRecognizer:
        """The same dictionary and word pairs (the index is shared, not rebuilt) under another channel and
        minimum length, with its own cache: for comparing settings."""
        other = copy.copy(self)
        other.channel, other.min_length = channel, min_length
        other._word = functools.lru_cache(maxsize=200_000)(other._recognize)
        return other

    @classmethod
    def build(
        cls,
        texts: Iterable[str],
        known: Iterable[str] = (),
        *,
        min_count: int = 2,
        max_edit_distance: int = 2,
        min_length: int = 3,
        channel: Channel | None = None,
    ) -> WordRecognizer:
        """The dictionary from `texts` (words and word pairs seen `min_count` times or more); of the
        `known` real words, those a correction could reach are kept as protected."""
        seen: Counter[str] = Counter()
        pairs: Counter[str] = Counter()
        for t in texts:
            words = [w.lower() for w in _WORD.findall(str(t))]
            seen.update(words)
            pairs.update(f"{a} {b}" for a, b in itertools.pairwise(words))
        counts = {w: c for w, c in seen.items() if c >= min_count}
        bigrams = {p: c for p, c in pairs.items() if c >= min_count}
        sizes: dict[str, Any] = {"max_edit_distance": max_edit_distance, "min_length": min_length}
        rec = cls(counts, (), bigrams, **sizes, channel=channel)
        # while it holds the training words alone: which known words a correction could reach
        near = {w for w in {k.lower() for k in known} if w not in counts and rec._candidates(w)}
        rec._protect(sorted(near))
        return rec

    def _candidates(self, word: str) -> list[Any]:
        from symspellpy import Verbosity

        found = self._spell.lookup(word, Verbosity.ALL, max_edit_distance=self.max_edit_distance)
        return [s for s in found if s.term != word]

    def _unigram(self, word: str) -> float:
        return (self.counts.get(word, 0) + 1) / self._total

    def _follows(self, left: str, word: str) -> float:
        """log P(word | left): the training texts' bigrams, smoothed towards the word counts."""
        k = self.channel.smoothing
        return math.log(
            (self.bigrams.get(f"{left} {word}", 0) + k * self._unigram(word)) / (self._left[left] + k)
        )

    def _context(self, cand: str, prev: str | None, nxt: str | None) -> float:
        """log P(cand | prev) + log P(next | cand) (a neighbour the dictionary lacks tells nothing)."""
        score = math.log(self._unigram(cand)) if prev is None else self._follows(prev, cand)
        return score + (self._follows(cand, nxt) if nxt is not None else 0.0)

    def _nearest(self, word: str, prev: str | None = None, nxt: str | None = None) -> str | None:
        """The candidate (a target within `max_edit_distance`, optimal string alignment: a swapped pair
        of letters is one edit) that is likeliest as what was meant: a noisy channel (Kernighan, Church &
        Gale 1990), log P(candidate | neighbours) minus a cost per edit and a cost for a changed first
        letter (people seldom mistype it: Rawlinson 1976; OCR does); None where there is none, or where
        it is not likelier than the word as written by `Channel.keep`."""
        found = self._candidates(word)
        if not found:
            return None
        edit, first = self.channel.edit, self.channel.first_letter

        def score(s: Any) -> float:
            changed_first = s.term[0] != word[0] and not word[0].isdigit()
            return self._context(s.term, prev, nxt) - edit * s.distance - first * changed_first

        best = max(found, key=lambda s: (score(s), s.term))
        keep = self.channel.keep
        # the word stays unless the best candidate beats it (as an unknown word in the same place) by -keep
        if keep is not None and score(best) <= self._context(word, prev, nxt) + keep:
            return None
        return str(best.term)

    def _recognize(self, word: str, prev: str | None, nxt: str | None) -> str:
        low = word.lower()
        if (
            len(word) < self.min_length
            or not low.isascii()
            or not any(c.isalpha() for c in low)
            or low in self.counts
            or low in self.protected
        ):
            return word
        fixed = self._nearest(low, prev, nxt)
        if fixed is None:
            return word
        if word.isupper():
            return fixed.upper()
        return fixed.capitalize() if word[0].isupper() else fixed

    def _text(self, text: str) -> str:
        found = list(_WORD.finditer(text))
        low = [m.group(0).lower() for m in found]
        known = [w if w in self.counts else None for w in low]  # a neighbour the bigrams can tell
        out, at = [], 0
        for i, m in enumerate(found):
            prev = known[i - 1] if i else None
            nxt = known[i + 1] if i + 1 < len(found) else None
            out += [text[at : m.start()], self._word(m.group(0), prev, nxt)]
            at = m.end()
        return "".join([*out, text[at:]])

    def __call__(self, texts: Sequence[str]) -> list[str]:
        return [self._text(str(t)) for t in texts]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "max_edit_distance": self.max_edit_distance,
            "min_length": self.min_length,
            "channel": dataclasses.asdict(self.channel),
            "counts": dict(sorted(self.counts.items())),
            "protected": sorted(self.protected),
            "bigrams": dict(sorted(self.bigrams.items())),
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
        d["counts"],
        d["protected"],
        d["bigrams"],
        max_edit_distance=d["max_edit_distance"],
        min_length=d["min_length"],
        channel=Channel(**d["channel"]),
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


def known_words(tokenizer: Any) -> tuple[list[str], bool]:
    """The real words a front end protects: the tokenizer's whole words, symspellpy's English word list
    and WordNet's one-word lemmas (where WordNet is installed); with whether WordNet's are among them."""
    from fairtune.errors import FairtuneError

    try:
        from fairtune.data import load_wordnet

        lemmas = [w for w in load_wordnet().all_lemma_names() if w.isalpha()]
    except (FairtuneError, LookupError, OSError):
        lemmas = []
    return [*tokenizer_words(tokenizer), *english_words(), *lemmas], bool(lemmas)


def build_recognizer(cfg: Any, texts: Sequence[str], tokenizer: Any) -> tuple[WordRecognizer, dict[str, Any]]:
    """The front end of `model.word_recognition` (`cfg`) from the training texts, protecting
    `known_words(tokenizer)`. Returns it with its summary for metrics.json."""
    known, wordnet = known_words(tokenizer)
    rec = WordRecognizer.build(
        texts,
        known,
        min_count=cfg.min_count,
        max_edit_distance=cfg.max_edit_distance,
        min_length=cfg.min_length,
    )
    info = {"dictionary": len(rec.counts), "protected": len(rec.protected), "wordnet": wordnet}
    return rec, info
