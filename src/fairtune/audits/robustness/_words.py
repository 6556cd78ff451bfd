"""Words: tokenising for word-level edits, stop words, and the most common WordNet part of speech."""

from __future__ import annotations

import re
from collections.abc import Callable
from functools import lru_cache
from typing import Any

#: A word for word-level edits: letters, digits, inner apostrophes and hyphens.
WORD = re.compile(r"[A-Za-z0-9]+(?:['-][A-Za-z0-9]+)*")

#: NLTK's English stop-word list (179 words, from nltk_data corpora/stopwords/english), plus the
#: tokens of SST/PTB-style contractions. Stop words are never substituted by the attack.
STOP_WORDS = frozenset(
    """
    i me my myself we our ours ourselves you you're you've you'll you'd your yours yourself yourselves he
    him his himself she she's her hers herself it it's its itself they them their theirs themselves what
    which who whom this that that'll these those am is are was were be been being have has had having do
    does did doing a an the and but if or because as until while of at by for with about against between
    into through during before after above below to from up down in out on off over under again further
    then once here there when where why how all any both each few more most other some such no nor not
    only own same so than too very s t can will just don don't should should've now d ll m o re ve y ain
    aren aren't couldn couldn't didn didn't doesn doesn't hadn hadn't hasn hasn't haven haven't isn isn't
    ma mightn mightn't mustn mustn't needn needn't shan shan't shouldn shouldn't wasn wasn't weren weren't
    won won't wouldn wouldn't n't 's 're 've 'll 'd 'm
    """.split()  # noqa: SIM905
)


@lru_cache(maxsize=200_000)
def _pos_counts(wn: Any, word: str) -> tuple[tuple[str, int], ...]:
    counts: dict[str, int] = {}
    for syn in wn.synsets(word):
        pos = "a" if syn.pos() == "s" else syn.pos()
        c = sum(lemma.count() for lemma in syn.lemmas() if lemma.name().lower() == word) + 1
        counts[pos] = counts.get(pos, 0) + c
    return tuple(sorted(counts.items(), key=lambda kv: -kv[1]))


def main_pos(wn: Any, word: str) -> str | None:
    """The word's most frequent WordNet part of speech (n, v, a, r) by SemCor sense counts.

    No tagger model is needed offline; the attack's part-of-speech agreement keeps a substitute
    in a synset of this part of speech."""
    counts = _pos_counts(wn, word.lower())
    return counts[0][0] if counts else None


def candidate_words(text: str, min_len: int = 4) -> list[re.Match[str]]:
    """Content words of at least `min_len` letters: what word-level edits may change."""
    return [m for m in WORD.finditer(text) if len(m.group(0)) >= min_len and m.group(0).isalpha()
            and m.group(0).lower() not in STOP_WORDS]  # fmt: skip


def replace_one(
    pattern: re.Pattern[str], text: str, rng: Any, new: Callable[[re.Match[str]], str]
) -> str | None:
    """Replace one match of `pattern`, chosen by `rng`, by `new(match)`; None when nothing matches."""
    found = list(pattern.finditer(text))
    if not found:
        return None
    m = rng.choice(found)
    return text[: m.start()] + new(m) + text[m.end() :]
