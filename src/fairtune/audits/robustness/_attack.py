"""A word-substitution attack in the style of TextFooler (Jin et al. 2020) and PWWS (Ren et al. 2019).

Black-box, through `Classifier.predict_proba`. Words are ranked by leave-one-out importance, then
greedily replaced by WordNet synonyms, under constraints that are all configurable and all reported
(Morris et al. 2020 show that loose constraints make attack numbers meaningless):

- at most `max_change` of the words changed; no stop word changed; each word changed at most once;
- the substitute comes from a synset of the word's most frequent part of speech (`pos_agreement`);
- cosine similarity of the foundation model's mean-pooled sentence embeddings between the original
  and the attacked text at least `min_similarity`;
- at most `query_budget` model queries per example.

Speed comes from batching: every example's leave-one-out variants go in one call, and each round
scores the candidates of all still-running examples together; answers are cached by text, and an
example stops as soon as its label flips.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from fairtune.audits.robustness._words import STOP_WORDS, WORD, main_pos
from fairtune.data._swap import match_case
from fairtune.models import Classifier


@dataclass
class AttackSettings:
    max_change: float = 0.2
    min_similarity: float | None = 0.85
    query_budget: int | None = 2000
    pos_agreement: bool = True
    max_candidates: int = 30
    stop_words: frozenset[str] = STOP_WORDS

    def describe(self) -> dict[str, Any]:
        return {
            "max_words_changed_share": self.max_change,
            "min_sentence_similarity": self.min_similarity,
            "similarity_model": "foundation model, mean-pooled, cosine" if self.min_similarity else None,
            "query_budget_per_example": self.query_budget,
            "part_of_speech_agreement": self.pos_agreement,
            "stop_words_changed": False,
            "synonym_source": "WordNet 3.0 (Debian wordnet-base)",
            "max_candidates_per_word": self.max_candidates,
        }


class CachedClassifier:
    """Answers each distinct text once; the attack counts queries itself, per example."""

    def __init__(self, clf: Classifier) -> None:
        self.clf = clf
        self.labels = clf.labels
        self.cache: dict[str, np.ndarray] = {}

    def predict_proba(self, texts: list[str]) -> np.ndarray:
        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        if todo:
            for t, p in zip(todo, self.clf.predict_proba(todo), strict=True):
                self.cache[t] = p
        return np.array([self.cache[t] for t in texts]) if texts else np.zeros((0, len(self.labels)))


class SentenceEncoder:
    """Mean-pooled, L2-normalised sentence embeddings from a (foundation) encoder, cached by text."""

    def __init__(self, model: Any, tokenizer: Any, batch_size: int = 128, max_length: int = 128) -> None:
        self.model, self.tokenizer = model.eval(), tokenizer
        self.batch_size, self.max_length = batch_size, max_length
        self.cache: dict[str, np.ndarray] = {}

    @classmethod
    def from_name(cls, name: str, **kw: Any) -> SentenceEncoder:
        from transformers import AutoModel

        from fairtune.models import load_pretrained

        model, tokenizer = load_pretrained(AutoModel, name)
        return cls(model, tokenizer, **kw)

    def embed(self, texts: list[str]) -> np.ndarray:
        import torch

        todo = list(dict.fromkeys(t for t in texts if t not in self.cache))
        with torch.inference_mode():
            for s in range(0, len(todo), self.batch_size):
                chunk = todo[s : s + self.batch_size]
                enc = self.tokenizer(
                    chunk, padding=True, truncation=True, max_length=self.max_length, return_tensors="pt"
                )
                hidden = self.model(**enc).last_hidden_state
                mask = enc["attention_mask"].unsqueeze(-1).to(hidden.dtype)
                mean = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1)
                mean = torch.nn.functional.normalize(mean, dim=-1)
                for t, v in zip(chunk, mean.numpy(), strict=True):
                    self.cache[t] = v
        return np.array([self.cache[t] for t in texts])

    def similarity(self, a: str, others: list[str]) -> np.ndarray:
        e = self.embed([a, *others])
        return e[1:] @ e[0]  # type: ignore[no-any-return]


@dataclass
class _Example:
    index: int
    text: str
    label: int
    pieces: list[str]  # separators at even, words at odd positions
    word_slots: list[int]  # indices into pieces of substitutable words
    n_words: int
    max_changes: int
    p_label: float = 0.0
    queries: int = 0
    order: list[int] = field(default_factory=list)
    cursor: int = 0
    changed: list[int] = field(default_factory=list)
    done: bool = False
    success: bool = False
    reason: str = ""

    def current(self) -> str:
        return "".join(self.pieces)

    def with_word(self, slot: int, word: str) -> str:
        return "".join(word if i == slot else p for i, p in enumerate(self.pieces))

    def spans(self) -> dict[int, tuple[int, int]]:
        """Each substitutable word's slot -> its (start, end) characters in `current()`."""
        out, at, slots = {}, 0, set(self.word_slots)
        for i, piece in enumerate(self.pieces):
            if i in slots:
                out[i] = (at, at + len(piece))
            at += len(piece)
        return out


#: ranks the words of the examples still being attacked: sets each one's `order` (most important slot
#: first) and adds the queries it spent to `queries`; may end an example (`done`, `reason`)
Ranker = Callable[[list[_Example]], None]


def _split(text: str) -> list[str]:
    pieces, last = [], 0
    for m in WORD.finditer(text):
        pieces += [text[last : m.start()], m.group(0)]
        last = m.end()
    return [*pieces, text[last:]]


class Synonyms:
    """The attack's candidates for a word: WordNet synonyms (of its most frequent part of speech, with
    `pos_agreement`), single words, no stop words, at most `max_candidates`; cached by word."""

    def __init__(self, wordnet: Any, settings: AttackSettings) -> None:
        self.wn, self.s = wordnet, settings
        self._cache: dict[str, list[str]] = {}

    def __call__(self, word: str) -> list[str]:
        w = word.lower()
        if w not in self._cache:
            self._cache[w] = self._find(w)[: self.s.max_candidates]
        return self._cache[w]

    def _find(self, w: str) -> list[str]:
        out: list[str] = []
        if w in self.s.stop_words or not w.isalpha():
            return out
        pos = main_pos(self.wn, w) if self.s.pos_agreement else None
        if self.s.pos_agreement and pos is None:
            return out
        for syn in self.wn.synsets(w, pos=pos) if pos else self.wn.synsets(w):
            for lemma in syn.lemmas():
                name = lemma.name().lower()
                if name != w and name.isalpha() and name not in self.s.stop_words and name not in out:
                    out.append(name)
        return out


def random_substitution(
    text: str, synonyms: Callable[[str], list[str]], max_change: float, rng: random.Random
) -> str | None:
    """`text` with as many of its words as the attack may change (`max_change` of them, rounded down)
    swapped for random candidates of the attack (`synonyms`: WordNet synonyms of the same part of
    speech), chosen without querying any model. None where the attack would leave the text alone (under
    two words, or no change allowed) or no word has a candidate. The query-free counterpart of the
    attack, for training copies."""
    pieces = _split(text)
    n_words = len(pieces) // 2
    slots = [i for i in range(1, len(pieces), 2) if synonyms(pieces[i])]
    k = min(len(slots), int(max_change * n_words))
    if n_words < 2 or k < 1:
        return None
    for slot in rng.sample(slots, k):
        pieces[slot] = match_case(pieces[slot], rng.choice(synonyms(pieces[slot])))
    return "".join(pieces)


class WordSubstitutionAttack:
    def __init__(
        self, clf: Classifier, wordnet: Any, settings: AttackSettings, encoder: SentenceEncoder | None = None
    ) -> None:
        self.clf = CachedClassifier(clf)
        self.s = settings
        self.encoder = encoder
        self.synonyms = Synonyms(wordnet, settings)
        if settings.min_similarity and encoder is None:
            raise ValueError("min_similarity needs a sentence encoder")

    def _budget_left(self, ex: _Example) -> float:
        return math.inf if self.s.query_budget is None else self.s.query_budget - ex.queries

    def run(self, texts: list[str], labels: np.ndarray) -> dict[str, Any]:
        t0 = time.perf_counter()
        examples, skipped = self.attack(texts, labels)
        return self._summary(examples, skipped, time.perf_counter() - t0)

    def rank_by_deletion(self, live: list[_Example]) -> None:
        """Leave-one-out importance of every substitutable word (one query each), all examples in one batch.
        An example whose budget cannot pay for its ranking ends there, as a failure."""
        for ex in live:
            if self._budget_left(ex) < len(ex.word_slots):
                ex.done, ex.reason = True, "query_budget"
        live = [ex for ex in live if not ex.done]
        loo = [(ex, slot, ex.with_word(slot, "")) for ex in live for slot in ex.word_slots]
        p_loo = self.clf.predict_proba([t for _, _, t in loo])
        drops: dict[int, list[tuple[float, int]]] = {}
        for (ex, slot, _), p in zip(loo, p_loo, strict=True):
            ex.queries += 1
            drops.setdefault(ex.index, []).append((ex.p_label - float(p[ex.label]), slot))
        for ex in live:
            ex.order = [slot for _, slot in sorted(drops[ex.index], key=lambda d: -d[0])]

    def attack(
        self, texts: list[str], labels: np.ndarray, rank: Ranker | None = None
    ) -> tuple[list[_Example], dict[str, int]]:
        """Attack every text; return each example's final state (`current()`, `changed`, `success`) and
        the counts of texts skipped by reason. `rank` orders each text's words (unset: by deletion)."""
        probs = self.clf.predict_proba(texts)
        examples: list[_Example] = []
        skipped: dict[str, int] = {"misclassified": 0, "too_short": 0, "no_substitutable_word": 0}
        for i, (text, y) in enumerate(zip(texts, labels, strict=True)):
            pieces = _split(text)
            words = pieces[1::2]
            slots = [2 * k + 1 for k, w in enumerate(words) if self.synonyms(w)]
            ex = _Example(i, text, int(y), pieces, slots, len(words), int(self.s.max_change * len(words)))
            ex.queries, ex.p_label = 1, float(probs[i, int(y)])
            if int(probs[i].argmax()) != int(y):
                ex.done, ex.reason = True, "misclassified"
            elif len(words) < 2 or ex.max_changes < 1:
                ex.done, ex.reason = True, "too_short"
            elif not slots:
                ex.done, ex.reason = True, "no_substitutable_word"
            if ex.done:
                skipped[ex.reason] += 1
            examples.append(ex)
        # 1. the words' order of importance (by default, leave-one-out)
        (rank or self.rank_by_deletion)([ex for ex in examples if not ex.done])
        live = [ex for ex in examples if not ex.done]
        # 2. greedy substitution, one word position per example per round, all examples batched
        while live:
            jobs: list[tuple[_Example, int, list[str]]] = []
            for ex in live:
                slot = ex.order[ex.cursor]
                ex.cursor += 1
                original = ex.pieces[slot]
                cands = [ex.with_word(slot, match_case(original, s)) for s in self.synonyms(original)]
                cands = cands[: max(0, int(min(len(cands), self._budget_left(ex))))]
                jobs.append((ex, slot, cands))
            flat = [c for _, _, cands in jobs for c in cands]
            p_flat = self.clf.predict_proba(flat)
            k = 0
            picks: list[tuple[_Example, int, list[tuple[float, bool, str]]]] = []
            for ex, slot, cands in jobs:
                p = p_flat[k : k + len(cands)]
                k += len(cands)
                ex.queries += len(cands)
                scored = sorted(
                    (
                        (float(pi[ex.label]), int(pi.argmax()) != ex.label, c)
                        for pi, c in zip(p, cands, strict=True)
                    ),
                    key=lambda r: (not r[1], r[0]),
                )
                picks.append((ex, slot, [r for r in scored if r[1] or r[0] < ex.p_label][:3]))
            if self.s.min_similarity and self.encoder is not None:
                sims: dict[str, float] = {}
                for ex, _, best in picks:
                    if best:
                        for c, v in zip(
                            [b[2] for b in best],
                            self.encoder.similarity(ex.text, [b[2] for b in best]),
                            strict=True,
                        ):
                            sims[c] = float(v)
                picks = [
                    (ex, slot, [b for b in best if sims.get(b[2], 0.0) >= self.s.min_similarity])
                    for ex, slot, best in picks
                ]
            for ex, slot, best in picks:
                if best:
                    p_new, flipped, text = best[0]
                    ex.pieces = _split(text)
                    ex.p_label = p_new
                    ex.changed.append(slot)
                    if flipped:
                        ex.done, ex.success = True, True
                        continue
                if len(ex.changed) >= ex.max_changes:
                    ex.done, ex.reason = True, "change_limit"
                elif ex.cursor >= len(ex.order):
                    ex.done, ex.reason = True, "no_more_words"
                elif self._budget_left(ex) <= 0:
                    ex.done, ex.reason = True, "query_budget"
            live = [ex for ex in live if not ex.done]
        return examples, skipped

    def _summary(self, examples: list[_Example], skipped: dict[str, int], seconds: float) -> dict[str, Any]:
        attacked = [ex for ex in examples if ex.reason not in skipped or ex.success]
        succeeded = [ex for ex in attacked if ex.success]
        n = len(examples)
        correct = n - skipped["misclassified"]
        return {
            "n": n,
            "clean_accuracy": correct / n if n else None,
            "accuracy_under_attack": (correct - len(succeeded)) / n if n else None,
            "attacked": len(attacked),
            "succeeded": len(succeeded),
            "skipped": skipped,
            "attack_success_rate": len(succeeded) / len(attacked) if attacked else None,
            "words_changed_share": float(np.mean([len(ex.changed) / ex.n_words for ex in succeeded]))
            if succeeded
            else None,
            "queries_per_example": float(np.mean([ex.queries for ex in attacked])) if attacked else None,
            "seconds": seconds,
            "failures": {
                r: sum(ex.reason == r for ex in attacked)
                for r in ("change_limit", "no_more_words", "query_budget")
            },
            "constraints": self.s.describe(),
            "adversarial": [
                {
                    "index": ex.index,
                    "text": ex.text,
                    "adversarial": ex.current(),
                    "label": self.clf.labels[ex.label],
                    "words_changed": len(ex.changed),
                    "queries": ex.queries,
                }
                for ex in succeeded
            ],
        }
