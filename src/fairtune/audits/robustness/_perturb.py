"""Label-preserving perturbations for invariance tests (CheckList INV; Ribeiro et al. 2020).

Each perturbation is a function (text, rng) -> perturbed text, or None when it does not apply to
that text (no word long enough for a typo, no contraction, no number, ...). Texts it does not
apply to are not counted in its failure rate.
"""

from __future__ import annotations

import random
import re
import string
from collections.abc import Callable, Sequence
from typing import Any

from fairtune.audits.robustness._words import WORD, candidate_words, replace_one
from fairtune.config._schema import CONTEXT_AFTER, CONTEXT_BEFORE
from fairtune.data._swap import match_case

#: QWERTY neighbours, for typos that a real keyboard makes.
_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
NEIGHBOURS: dict[str, str] = {}
for r, row in enumerate(_ROWS):
    for c, ch in enumerate(row):
        near = [row[c - 1] if c > 0 else "", row[c + 1] if c + 1 < len(row) else ""]
        for rr in (r - 1, r + 1):
            if 0 <= rr < len(_ROWS):
                near += [_ROWS[rr][k] for k in (c - 1, c, c + 1) if 0 <= k < len(_ROWS[rr])]
        NEIGHBOURS[ch] = "".join(n for n in near if n)

#: Contractions as written normally and as tokenised in SST/PTB text ("do n't", "it 's").
CONTRACTIONS = {
    "can't": "cannot", "won't": "will not", "don't": "do not", "doesn't": "does not", "didn't": "did not",
    "isn't": "is not", "aren't": "are not", "wasn't": "was not", "weren't": "were not",
    "hasn't": "has not", "haven't": "have not", "hadn't": "had not", "couldn't": "could not",
    "wouldn't": "would not", "shouldn't": "should not", "it's": "it is", "that's": "that is",
    "there's": "there is", "what's": "what is", "he's": "he is", "she's": "she is", "i'm": "i am",
    "you're": "you are", "we're": "we are", "they're": "they are", "i've": "i have",
    "you've": "you have", "we've": "we have", "they've": "they have", "i'll": "i will",
    "you'll": "you will", "it'll": "it will", "they'll": "they will", "i'd": "i would",
    "you'd": "you would", "let's": "let us",
}  # fmt: skip
_EXPANSIONS = {v: k for k, v in CONTRACTIONS.items() if k not in ("let's",)}


def _edit_word(text: str, rng: random.Random, edit: Callable[[str, random.Random], str | None]) -> str | None:
    words = candidate_words(text)
    rng.shuffle(words)
    for m in words:
        new = edit(m.group(0), rng)
        if new is not None and new != m.group(0):
            return text[: m.start()] + new + text[m.end() :]
    return None


def _adjacent_key(word: str, rng: random.Random) -> str | None:
    i = rng.randrange(1, len(word) - 1)  # keep first and last letters, as people mostly do
    near = NEIGHBOURS.get(word[i].lower())
    if not near:
        return None
    ch = rng.choice(near)
    return word[:i] + (ch.upper() if word[i].isupper() else ch) + word[i + 1 :]


def _drop(word: str, rng: random.Random) -> str | None:
    i = rng.randrange(1, len(word) - 1)
    return word[:i] + word[i + 1 :]


def _insert(word: str, rng: random.Random) -> str | None:
    i = rng.randrange(1, len(word) - 1)
    near = NEIGHBOURS.get(word[i].lower())
    return word[: i + 1] + rng.choice(near) + word[i + 1 :] if near else None


def typo_adjacent_key(text: str, rng: random.Random) -> str | None:
    return _edit_word(text, rng, _adjacent_key)


def typo_drop(text: str, rng: random.Random) -> str | None:
    return _edit_word(text, rng, _drop)


def typo_insert(text: str, rng: random.Random) -> str | None:
    return _edit_word(text, rng, _insert)


def case_upper(text: str, rng: random.Random) -> str | None:
    return text.upper() if text.upper() != text else None


def case_lower(text: str, rng: random.Random) -> str | None:
    return text.lower() if text.lower() != text else None


def punctuation_add(text: str, rng: random.Random) -> str | None:
    """End an unpunctuated text with '.' or '!' (CheckList's add-punctuation test)."""
    stripped = text.rstrip()
    if not stripped or stripped[-1] in string.punctuation:
        return None
    return stripped + rng.choice([".", "!", " .", " !"])


_PUNCT_TOKEN = re.compile(r"(?:^|\s)[" + re.escape(string.punctuation) + r"]+(?=\s|$)")


def punctuation_remove(text: str, rng: random.Random) -> str | None:
    out = re.sub(r"\s+", " ", _PUNCT_TOKEN.sub(" ", text)).strip()
    out = out.rstrip(string.punctuation).rstrip()
    return out if out and out != text.strip() else None


def _contraction_pattern() -> re.Pattern[str]:
    forms = []
    for c in CONTRACTIONS:
        base, _, tail = c.partition("'")
        if c == "can't":
            forms += ["can't", "ca n't"]
        elif c == "won't":
            forms += ["won't", "wo n't"]
        elif tail == "t":
            forms += [c, f"{base[:-1]} n't"]
        else:
            forms += [c, f"{base} '{tail}"]
    forms.sort(key=len, reverse=True)
    return re.compile(r"(?<![\w'])(" + "|".join(re.escape(f) for f in forms) + r")(?![\w'])", re.IGNORECASE)


_CONTRACTED = _contraction_pattern()
_EXPANDED = re.compile(
    r"(?<![\w'])("
    + "|".join(re.escape(e) for e in sorted(_EXPANSIONS, key=len, reverse=True))
    + r")(?![\w'])",
    re.IGNORECASE,
)


def _canon(form: str) -> str:
    f = form.lower()
    return {"ca n't": "can't", "wo n't": "won't"}.get(f, f.replace(" n't", "n't").replace(" '", "'"))


def contraction_expand(text: str, rng: random.Random) -> str | None:
    out = _CONTRACTED.sub(lambda m: match_case(m.group(0), CONTRACTIONS[_canon(m.group(0))]), text)
    return out if out != text else None


def contraction_contract(text: str, rng: random.Random) -> str | None:
    out = _EXPANDED.sub(lambda m: match_case(m.group(0), _EXPANSIONS[m.group(0).lower()]), text)
    return out if out != text else None


_NUMBER = re.compile(r"(?<![\w.])\d+(?![\w])")


def number_change(text: str, rng: random.Random) -> str | None:
    def other(m: re.Match[str]) -> str:
        digits = m.group(0)
        lo = 10 ** (len(digits) - 1) if len(digits) > 1 else 0
        new = str(rng.randrange(lo, 10 ** len(digits)))
        if new == digits:
            new = str((int(digits) + 1) % 10 ** len(digits)).zfill(len(digits))
        return new

    return replace_one(_NUMBER, text, rng, other)


def perturb_once(
    text: str, perturbations: dict[str, Callable[[str, random.Random], str | None]], rng: random.Random
) -> str | None:
    """`text` changed by the first perturbation, in a random order, that changes it; None if none does.
    The training copies of the robustness mitigations (A2T's perturbed share, `augment`)."""
    names = list(perturbations)
    rng.shuffle(names)
    for name in names:
        new = perturbations[name](text, rng)
        if new is not None and new != text:
            return new
    return None


class Perturbations:
    """The INV perturbations. Some need resources: WordNet (synonyms), a name list, context phrases.

    `core()` are the perturbations the robustness mitigations train on; `all()` adds the wording
    perturbations of `_wording` (word lists, OCR, layout, numbers, ages, pronouns, context, chains)."""

    def __init__(
        self,
        wordnet: Any | None,
        names: dict[str, list[str]] | None,
        context_before: Sequence[str] = CONTEXT_BEFORE,
        context_after: Sequence[str] = CONTEXT_AFTER,
    ) -> None:
        self.wordnet = wordnet
        self.names = names or {}
        self._name_group = {n: g for g, ns in self.names.items() for n in ns}
        self.context = (tuple(context_before), tuple(context_after))

    def _synonym(self, text: str, rng: random.Random, pos: str) -> str | None:
        """Swap one base-form word of part of speech `pos` (not a stop word) for a single-word WordNet
        synonym of its most common sense."""
        from fairtune.audits.robustness._words import main_pos

        wn = self.wordnet
        if wn is None:
            return None
        words = candidate_words(text, 3)
        rng.shuffle(words)
        for m in words:
            w = m.group(0).lower()
            if main_pos(wn, w) != pos or wn.morphy(w, pos) != w:
                continue  # only base forms: a synonym lemma would lose the plural or the degree
            first = wn.synsets(w, pos=pos)[0]
            options = [l.name() for l in first.lemmas() if l.name().isalpha() and l.name().lower() != w]  # noqa: E741
            if options:
                return (
                    text[: m.start()] + match_case(m.group(0), rng.choice(options).lower()) + text[m.end() :]
                )
        return None

    def synonym_noun(self, text: str, rng: random.Random) -> str | None:
        """Swap one noun for a single-word WordNet synonym of its most common sense."""
        return self._synonym(text, rng, "n")

    def synonym_adjective(self, text: str, rng: random.Random) -> str | None:
        """Swap one adjective for a single-word WordNet synonym of its most common sense."""
        return self._synonym(text, rng, "a")

    def name_swap(self, text: str, rng: random.Random) -> str | None:
        """Swap a first name for another of the same group (a named-entity change)."""
        for m in WORD.finditer(text):
            g = self._name_group.get(m.group(0).lower())
            if g is not None:
                others = [n for n in self.names[g] if n != m.group(0).lower()]
                return text[: m.start()] + match_case(m.group(0), rng.choice(others)) + text[m.end() :]
        return None

    def core(self) -> dict[str, Callable[[str, random.Random], str | None]]:
        out: dict[str, Callable[[str, random.Random], str | None]] = {
            "typo_adjacent_key": typo_adjacent_key,
            "typo_drop": typo_drop,
            "typo_insert": typo_insert,
            "case_upper": case_upper,
            "case_lower": case_lower,
            "punctuation_add": punctuation_add,
            "punctuation_remove": punctuation_remove,
            "contraction_expand": contraction_expand,
            "contraction_contract": contraction_contract,
            "number_change": number_change,
            "name_swap": self.name_swap,
        }
        if self.wordnet is not None:
            out["synonym_noun"] = self.synonym_noun
        return out

    def all(self) -> dict[str, Callable[[str, random.Random], str | None]]:
        from fairtune.audits.robustness import _wording as w

        out = self.core()
        if self.wordnet is not None:
            out["synonym_adjective"] = self.synonym_adjective
        out |= {
            "case_title": w.case_title,
            "typo_ocr": w.typo_ocr,
            **w.list_perturbations(),
            "number_to_word": w.number_to_word,
            "age_shift": w.age_shift,
            "whitespace_newline": w.whitespace_newline,
            "whitespace_tab": w.whitespace_tab,
            "pronoun_neutral": w.pronoun_neutral,
            "context_add": w.context_adder(*self.context),
        }
        chained = ("typo_adjacent_key", "case_lower", "punctuation_add", "contraction_contract",
                   "abbreviation", "slang", "typo_ocr", "whitespace_tab")  # fmt: skip
        out["multiple"] = w.chain({k: out[k] for k in chained})
        return out


def perturbation_names() -> list[str]:
    """Every invariance perturbation's name (the WordNet ones included)."""
    return list(Perturbations(wordnet=True, names=None).all())
