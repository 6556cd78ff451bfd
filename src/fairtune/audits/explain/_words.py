"""Words: the units every explanation method scores, so that methods can be compared token for token.

A word is a run of letters/digits (with inner apostrophes: "don't") or one other non-space character
("!", "😀"). Word pieces of a subword tokenizer are merged onto these words by character offsets.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

WORD_RE = re.compile(r"\w+(?:['’]\w+)*|[^\w\s]")
_WORD_CHAR = re.compile(r"\w")


@dataclass(frozen=True)
class Words:
    text: str
    spans: tuple[tuple[int, int], ...]

    @classmethod
    def of(cls, text: str) -> Words:
        return cls(text, tuple((m.start(), m.end()) for m in WORD_RE.finditer(text)))

    def __len__(self) -> int:
        return len(self.spans)

    @property
    def tokens(self) -> list[str]:
        return [self.text[a:b] for a, b in self.spans]

    def keep(self, kept: Iterable[int]) -> str:
        """The text with only the words `kept`, in their order, each with the whitespace it had before it
        (a space where removing words would glue two kept words together)."""
        out: list[str] = []
        prev = -2
        for i in sorted(set(kept)):
            a, b = self.spans[i]
            if out:
                gap = self.text[self.spans[i - 1][1] : a]
                # Removed words must not glue two kept words into one ("a-b" without "-" is "a b").
                glued = (
                    not gap
                    and prev != i - 1
                    and _WORD_CHAR.match(self.text[a])
                    and _WORD_CHAR.match(out[-1][-1])
                )
                out.append(" " if glued else gap)
            out.append(self.text[a:b])
            prev = i
        return "".join(out)

    def without(self, dropped: Iterable[int]) -> str:
        drop = set(dropped)
        return self.keep(i for i in range(len(self)) if i not in drop)

    def head(self, n: int) -> Words:
        """The first `n` words (the text cut after the n-th word)."""
        if n >= len(self):
            return self
        end = self.spans[n - 1][1] if n else 0
        return Words(self.text[:end], self.spans[:n])


def merge_pieces(
    words: Words, offsets: Sequence[tuple[int, int]], piece_scores: Sequence[float]
) -> list[float]:
    """Sum the scores of word pieces onto the words their character offsets overlap. Pieces with an
    empty span (special tokens, padding) are ignored."""
    out = [0.0] * len(words)
    w = 0
    for (a, b), s in zip(offsets, piece_scores, strict=True):
        if b <= a:
            continue
        while w < len(words) and words.spans[w][1] <= a:
            w += 1
        if w == len(words):
            break
        if words.spans[w][0] < b:
            out[w] += float(s)
    return out


def has_words(text: str) -> bool:
    """True if the text holds at least one letter or digit."""
    return re.search(r"\w", text) is not None
