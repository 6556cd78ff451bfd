"""Find identity terms in a text and swap them within their dimension, keeping case and grammar.

Terms match on word boundaries, longest first, case-insensitively; the replacement copies the
original's case pattern (lower, Title, UPPER). Gender pronouns are handled by rules, not the
lexicon, because "her" is either possessive ("her film" -> "his film") or object ("saw her" ->
"saw him"); the next word decides.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from fairtune.data._lexicon import Lexicon

#: male <-> female pronouns; "her" and "his" are resolved from context (see _pronoun).
PRONOUNS_MALE = {"he": "she", "him": "her", "his": "her", "himself": "herself"}
PRONOUNS_FEMALE = {"she": "he", "her": "his", "hers": "his", "herself": "himself"}
PRONOUN_WORDS = sorted({*PRONOUNS_MALE, *PRONOUNS_FEMALE})

#: Words after which "her" is an object pronoun (-> "him"), not a possessive (-> "his"); and after
#: which "his" stands alone (-> "hers").
_NOT_A_NOUN_NEXT = frozenset(
    """
    a an the to and or but nor so yet for of in on at by with from into onto about as than that this
    these those there here then when while if because though although since until up down out off
    over again away back too also very just even still only all both is was are were be been being
    has had have do does did will would can could should may might must not n't 's who whom whose
    which what how why where
    """.split()  # noqa: SIM905
)
_WORD = re.compile(r"[\w'-]+")


def match_case(template: str, word: str) -> str:
    if template.isupper() and len(template) > 1:
        return word.upper()
    if template[:1].isupper():
        return word[:1].upper() + word[1:]
    return word


def not_a_noun(word: str) -> bool:
    """Whether `word` (lowercase) cannot start the noun phrase after a possessive 'her' or 'his'."""
    return word in _NOT_A_NOUN_NEXT


def next_word(text: str, end: int) -> str | None:
    m = _WORD.search(text, end)
    if m is None:
        return None
    between = text[end : m.start()]
    if any(ch in between for ch in '.,;:!?()"') or "--" in between:
        return None  # punctuation ends the noun phrase
    return m.group(0).lower()


def _pronoun(word: str, text: str, end: int, to_female: bool) -> str:
    w = word.lower()
    nxt = next_word(text, end)
    noun_follows = nxt is not None and not not_a_noun(nxt)
    if to_female:
        if w == "his":
            return "her" if noun_follows else "hers"
        return PRONOUNS_MALE[w]
    if w == "her":
        return "his" if noun_follows else "him"
    return PRONOUNS_FEMALE[w]


def _article(article: str, word: str) -> str:
    """'a' or 'an' for `word` (by its first sound, approximated from spelling), in the article's case."""
    w = word.lower()
    vowel_sound = w[:1] in "aeiou" and not w.startswith(("eu", "uni", "use", "one", "ewe"))
    want = "an" if vowel_sound or w.startswith(("hour", "honest", "honor", "heir")) else "a"
    return match_case(article.rstrip(), want) + article[len(article.rstrip()) :]


@dataclass
class Swapper:
    """Swaps the terms of one lexicon. With `pronouns`, a two-group gender lexicon also swaps pronouns.

    `shadow` holds terms of other lexicons: a match inside one of them is left alone, so the
    nationality term "american" is not swapped inside the race term "african american".
    """

    lexicon: Lexicon
    pronouns: bool = False
    shadow: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        words = list(self.lexicon.index)
        if self.pronouns:
            words += [p for p in PRONOUN_WORDS if p not in self.lexicon.index]
        own = set(words)
        words += [w for w in self.shadow if w not in own and any(o in w for o in own)]
        words.sort(key=len, reverse=True)
        alts = "|".join(re.escape(w).replace(r"\ ", r"\s+") for w in words)
        self.pattern = re.compile(
            rf"(?<![\w-])(?P<article>\b[Aa][Nn]?\s+)?(?P<term>{alts})(?![\w-])", re.IGNORECASE
        )
        self._own = own
        # Cheap pre-check: a text can only match if it contains the first word of some term.
        self._first_words = frozenset(re.split(r"\s+", w)[0] for w in own)
        groups = self.lexicon.groups
        self._male = groups.index("male") if "male" in groups else None
        self._female = groups.index("female") if "female" in groups else None

    def _group_of(self, term: str) -> int:
        hit = self.lexicon.index.get(term)
        if hit is not None:
            return hit[1]
        assert self._male is not None and self._female is not None
        return self._male if term in PRONOUNS_MALE else self._female

    def groups_in(self, text: str) -> list[int]:
        """Indices of the groups this text mentions, in order of first mention."""
        found: list[int] = []
        if self._first_words.isdisjoint(_WORD.findall(text.lower())):
            return found
        for m in self.pattern.finditer(text):
            term = re.sub(r"\s+", " ", m.group("term").lower())
            if term not in self._own:
                continue
            g = self._group_of(term)
            if g not in found:
                found.append(g)
        return found

    def swap(self, text: str, a: int, b: int) -> str | None:
        """Exchange group a's terms for group b's and b's for a's; None when nothing could be swapped."""
        changed = False
        if self._first_words.isdisjoint(_WORD.findall(text.lower())):
            return None

        def repl(m: re.Match[str]) -> str:
            nonlocal changed
            whole, article, original = m.group(0), m.group("article") or "", m.group("term")
            term = re.sub(r"\s+", " ", original.lower())
            if term not in self._own:
                return whole  # part of another lexicon's longer term
            hit = self.lexicon.index.get(term)
            if hit is None:  # a pronoun
                g = self._group_of(term)
                if g not in (a, b) or self._male is None or {a, b} != {self._male, self._female}:
                    return whole
                changed = True
                return article + match_case(
                    original, _pronoun(term, m.string, m.end(), to_female=g == self._male)
                )
            row, g = hit
            if g not in (a, b):
                return whole
            target = self.lexicon.rows[row][b if g == a else a]
            if target is None:
                return whole
            changed = True
            return (_article(article, target) if article else "") + match_case(original, target)

        out = self.pattern.sub(repl, text)
        return out if changed and out != text else None

    def counterfactuals(self, text: str) -> list[tuple[int, int, str]]:
        """(source group, target group, swapped text) for each group mentioned x each other group."""
        out = []
        seen: set[frozenset[int]] = set()
        for a in self.groups_in(text):
            for b in range(len(self.lexicon.groups)):
                if b == a or frozenset((a, b)) in seen:
                    continue
                seen.add(frozenset((a, b)))
                cf = self.swap(text, a, b)
                if cf is not None:
                    out.append((a, b, cf))
        return out


def make_swappers(lexicons: list[Lexicon], *, pronouns: bool) -> list[Swapper]:
    """One swapper per lexicon, each aware of the others' terms; pronouns only for 'gender'."""
    every = [t for lex in lexicons for t in lex.index]
    return [
        Swapper(
            lex,
            pronouns=pronouns and lex.dimension == "gender",
            shadow=tuple(t for t in every if t not in lex.index),
        )
        for lex in lexicons
    ]
