"""Wording perturbations: the ways people write the same thing differently.

Word-list substitutions (sounds-alike words, visually confusable words, text-speak, slang, American and
British spelling, from `wordlists/*.tsv`), OCR character confusions, title case, spelled-out numbers,
shifted ages, inserted line breaks and tabs, neutral pronouns, added context and several perturbations
chained. Each is a function (text, rng) -> perturbed text, or None where it does not apply, like the
core perturbations of `_perturb`.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources

from fairtune.audits.robustness._words import candidate_words, replace_one
from fairtune.data._swap import match_case, next_word, not_a_noun

Perturb = Callable[[str, random.Random], "str | None"]


# -- word lists ---------------------------------------------------------------------------------------


def _rows(name: str) -> list[str]:
    text = resources.files("fairtune.audits.robustness").joinpath("wordlists", f"{name}.tsv")
    return [
        ln for ln in text.read_text(encoding="utf-8").splitlines() if ln.strip() and not ln.startswith("#")
    ]


@cache
def word_sets(name: str) -> dict[str, list[str]]:
    """A file of sets (one per line, space-separated): each word -> the others of its set."""
    out: dict[str, list[str]] = {}
    for line in _rows(name):
        words = line.lower().split()
        for w in words:
            out.setdefault(w, []).extend(o for o in words if o != w and o not in out.get(w, []))
    return out


@cache
def word_map(name: str, reverse: bool = False) -> dict[str, list[str]]:
    """A file of `phrase<TAB>form [| form ...]` rows (or space-separated forms): phrase -> its forms;
    `reverse` maps each form back to the phrase."""
    out: dict[str, list[str]] = {}
    for line in _rows(name):
        left, right = line.lower().split("\t")
        forms = [f.strip() for f in (right.split("|") if "|" in right else right.split())]
        for src, dst in ((f, [left]) for f in forms) if reverse else [(left, forms)]:
            out.setdefault(src, []).extend(dst)
    return out


@dataclass(frozen=True)
class Substitution:
    """Replace one phrase of the text, found in `table` (whole words, any case), by one of its forms."""

    table: dict[str, list[str]]

    def __post_init__(self) -> None:
        keys = sorted(self.table, key=len, reverse=True)
        body = "|".join(re.escape(k) for k in keys)
        object.__setattr__(self, "_pattern", re.compile(rf"(?<![\w'/])(?:{body})(?![\w'/])", re.IGNORECASE))

    def __call__(self, text: str, rng: random.Random) -> str | None:
        def form(m: re.Match[str]) -> str:
            return match_case(m.group(0), rng.choice(self.table[m.group(0).lower()]))

        return replace_one(self._pattern, text, rng, form)  # type: ignore[attr-defined]


# -- character and layout edits -----------------------------------------------------------------------

#: Characters (or pairs) that optical character recognition commonly confuses.
OCR_CONFUSIONS = {
    "rn": "m", "m": "rn", "cl": "d", "d": "cl", "w": "vv", "l": "1", "i": "l", "o": "0", "e": "c",
    "c": "e", "h": "b", "b": "h", "g": "q", "u": "v", "t": "f", "s": "5",
}  # fmt: skip
_OCR = re.compile("|".join(sorted(OCR_CONFUSIONS, key=len, reverse=True)))


def _ocr_word(word: str, rng: random.Random) -> str | None:
    hits = list(_OCR.finditer(word))
    if not hits:
        return None
    m = rng.choice(hits)
    return word[: m.start()] + OCR_CONFUSIONS[m.group(0)] + word[m.end() :]


def typo_ocr(text: str, rng: random.Random) -> str | None:
    """One OCR confusion ('rn' -> 'm', 'l' -> '1', 'o' -> '0', ...) in one content word."""
    words = candidate_words(text)
    rng.shuffle(words)
    for m in words:
        new = _ocr_word(m.group(0), rng)
        if new is not None:
            return text[: m.start()] + new + text[m.end() :]
    return None


def case_title(text: str, rng: random.Random) -> str | None:
    """Every word capitalised ('don't' -> "Don't", not Python's "Don'T")."""
    out = " ".join(w[:1].upper() + w[1:] for w in text.split(" "))
    return out if out != text else None


def _whitespace(text: str, rng: random.Random, mark: str) -> str | None:
    gaps = [m.start() for m in re.finditer(r"(?<=\S) (?=\S)", text)]
    if len(gaps) < 4:  # too short a text to break
        return None
    chosen = set(rng.sample(gaps, k=min(len(gaps), rng.randint(1, 3))))
    return "".join(mark if i in chosen else ch for i, ch in enumerate(text))


def whitespace_newline(text: str, rng: random.Random) -> str | None:
    """One to three spaces between words become line breaks."""
    return _whitespace(text, rng, "\n")


def whitespace_tab(text: str, rng: random.Random) -> str | None:
    """One to three spaces between words become tabs."""
    return _whitespace(text, rng, "\t")


# -- numbers and ages ---------------------------------------------------------------------------------

_INTEGER = re.compile(r"(?<![\w.,])\d{1,6}(?![\w.,]\d|\w)")


def number_to_word(text: str, rng: random.Random) -> str | None:
    """One number spelled out ('12' -> 'twelve', '1999' -> 'nineteen ninety-nine'), by num2words."""
    from num2words import num2words

    def spelled(m: re.Match[str]) -> str:
        n = int(m.group(0))
        return str(num2words(n, to="year") if len(m.group(0)) == 4 and 1100 <= n <= 2099 else num2words(n))

    return replace_one(_INTEGER, text, rng, spelled)


_AGE = re.compile(r"\b(\d{1,3})(?=[- ](?:years?|months?|weeks?|days?)[- ]old\b)|(?<=\baged )(\d{1,3})\b")


def age_shift(text: str, rng: random.Random) -> str | None:
    """An age ('25 years old', 'aged 40') moved by one to five units, never below 1."""

    def shifted(m: re.Match[str]) -> str:
        old = int(m.group(0))
        new = max(1, old + rng.choice([-5, -4, -3, -2, -1, 1, 2, 3, 4, 5]))
        return str(new if new != old else old + 1)

    return replace_one(_AGE, text, rng, shifted)


# -- pronouns -----------------------------------------------------------------------------------------

_NEUTRAL = {"he": "they", "she": "they", "him": "them", "himself": "themselves", "herself": "themselves",
            "hers": "theirs"}  # fmt: skip
_PRONOUN = re.compile(r"(?<![\w'])(he|she|him|his|her|hers|himself|herself)(?![\w'])", re.IGNORECASE)
#: Verb agreement after a singular pronoun that became 'they'.
_AGREE = {"is": "are", "was": "were", "has": "have", "does": "do", "'s": "'re", "doesn't": "don't",
          "isn't": "aren't", "wasn't": "weren't", "hasn't": "haven't"}  # fmt: skip
_AGREEMENT = re.compile(
    r"\b(they)(\s+|\s*)(" + "|".join(re.escape(v) for v in _AGREE) + r")(?![\w'])", re.IGNORECASE
)


def _neutral(m: re.Match[str]) -> str:
    w = m.group(0).lower()
    if w in _NEUTRAL:
        return match_case(m.group(0), _NEUTRAL[w])
    nxt = next_word(m.string, m.end())
    if w == "her" and (nxt is None or not_a_noun(nxt)):
        return match_case(m.group(0), "them")  # 'saw her' -> 'saw them'
    if w == "his" and (nxt is None or not_a_noun(nxt)):
        return match_case(m.group(0), "theirs")
    return match_case(m.group(0), "their")


def pronoun_neutral(text: str, rng: random.Random) -> str | None:
    """Gendered pronouns become singular 'they' (he -> they, her -> their/them, himself -> themselves),
    with the verb after 'they' made plural ('she is' -> 'they are')."""
    out = _PRONOUN.sub(_neutral, text)
    if out == text:
        return None
    return _AGREEMENT.sub(
        lambda m: m.group(1) + m.group(2) + match_case(m.group(3), _AGREE[m.group(3).lower()]), out
    )


# -- context and chains -------------------------------------------------------------------------------


def context_adder(before: Sequence[str], after: Sequence[str]) -> Perturb:
    """Add a given phrase at the start or at the end of the text (never both)."""

    def context_add(text: str, rng: random.Random) -> str | None:
        sides = [s for s, phrases in (("before", before), ("after", after)) if phrases]
        if not sides or not text.strip():
            return None
        if rng.choice(sides) == "before":
            return f"{rng.choice(list(before))} {text.lstrip()}"
        return f"{text.rstrip()} {rng.choice(list(after))}"

    return context_add


def chain(steps: dict[str, Perturb], length: int = 3) -> Perturb:
    """Apply `length` of `steps`, chosen and ordered by the rng, one after another; None unless at least
    two of them changed the text."""

    def multiple(text: str, rng: random.Random) -> str | None:
        out, changed = text, 0
        for name in rng.sample(sorted(steps), k=min(length, len(steps))):
            new = steps[name](out, rng)
            if new is not None and new != out:
                out, changed = new, changed + 1
        return out if changed >= 2 else None

    return multiple


def list_perturbations() -> dict[str, Perturb]:
    """The word-list substitutions, by name."""
    return {
        "typo_homophone": Substitution(word_sets("homophones")),
        "typo_dyslexia": Substitution(word_sets("dyslexia")),
        "abbreviation": Substitution(word_map("abbreviations")),
        "slang": Substitution(word_map("slang")),
        "spelling_us_to_uk": Substitution(word_map("spelling")),
        "spelling_uk_to_us": Substitution(word_map("spelling", reverse=True)),
    }
