"""Token attributions: integrated gradients (Captum), occlusion (black-box), SHAP partition (optional).

Every method scores the same units (`Words`), toward the same class (the predicted one unless a target
is given), in the same currency: the probability of that class. So scores can be compared across
methods, checked for faithfulness, and shown side by side.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from fairtune.audits.explain._words import Words, has_words, merge_pieces
from fairtune.config import EXPLAIN_METHODS as METHODS
from fairtune.errors import (
    EXPLAIN_EMPTY,
    EXPLAIN_METHOD_UNKNOWN,
    EXPLAIN_NEEDS_GRADIENTS,
    EXPLAIN_NO_WORDS,
    EXPLAIN_SHAP_MISSING,
    FairtuneError,
)
from fairtune.models import Classifier

#: Methods that need only `predict_proba` (they work on any Classifier, ONNX included).
BLACK_BOX = ("occlusion", "shap")


@dataclass
class Explanation:
    """Scores per word toward `label`: > 0 pushed the model toward it, < 0 away from it."""

    text: str
    method: str
    words: list[str]
    spans: list[tuple[int, int]]
    scores: list[float]
    label: str
    target: int
    probability: float
    truncated: bool = False
    #: Character offset where the model stopped reading (only when `truncated`).
    truncated_at: int | None = None
    #: IG: |sum of attributions - (f(x) - f(baseline))|; small means the path integral converged.
    convergence_delta: float | None = None
    #: IG: integration steps used for this text (adaptive IG chooses them per text).
    steps: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["spans"] = [list(s) for s in self.spans]
        if not out["extra"]:
            out.pop("extra")
        return out


@dataclass(frozen=True)
class ExplainSettings:
    ig_steps: int = 16
    #: adaptive IG: texts whose convergence delta is above this are redone with doubled steps
    ig_max_delta: float | None = None
    ig_max_steps: int = 64
    #: rows per model call: IG's chunks of texts x steps; with a `turn` callback, occlusion and SHAP slices
    ig_internal_batch_size: int = 256
    shap_max_evals: int = 300
    seed: int = 0


def is_differentiable(clf: Classifier) -> bool:
    """IG needs gradients through the input embeddings: a torch model with a fast tokenizer."""
    model, tok = getattr(clf, "model", None), getattr(clf, "tokenizer", None)
    return (
        model is not None
        and hasattr(model, "get_input_embeddings")
        and tok is not None
        and bool(getattr(tok, "is_fast", False))
    )


def check_method(clf: Classifier, method: str, field_name: str = "--method") -> None:
    if method not in METHODS:
        raise FairtuneError(
            EXPLAIN_METHOD_UNKNOWN.format(field=field_name, method=method, known=", ".join(METHODS))
        )
    if method == "ig" and not is_differentiable(clf):
        raise FairtuneError(
            EXPLAIN_NEEDS_GRADIENTS.format(
                field=field_name, kind=type(clf).__name__, methods=", ".join(BLACK_BOX)
            )
        )


def seen_words(clf: Classifier, words: Words) -> int:
    """How many words the model reads whole (the rest is cut by its maximum length)."""
    tok, max_length = getattr(clf, "tokenizer", None), getattr(clf, "max_length", None)
    if tok is None or not max_length or not getattr(tok, "is_fast", False) or not len(words):
        return len(words)
    enc = tok(words.text, return_offsets_mapping=True)  # once, uncut; the cut is computed from it
    if len(enc["input_ids"]) <= max_length:
        return len(words)
    capacity = max_length - tok.num_special_tokens_to_add()
    ends = [b for a, b in enc["offset_mapping"] if b > a][:capacity]
    if not ends:
        return 0
    last = max(ends)
    return sum(1 for _, b in words.spans if b <= last)


def prepare(
    clf: Classifier, texts: Sequence[str], warn: Callable[[str], None] | None = None
) -> list[tuple[Words, bool]]:
    """Validate the texts and cut each to what the model reads. Returns (words seen, truncated?)."""
    out = []
    for k, text in enumerate(texts):
        where = f"text {k + 1}" if len(texts) > 1 else "the text"
        if not text or not text.strip():
            raise FairtuneError(EXPLAIN_EMPTY.format(where=where))
        if not has_words(text):
            raise FairtuneError(EXPLAIN_NO_WORDS.format(where=where, text=text[:80]))
        words = Words.of(text)
        n = seen_words(clf, words)
        if n < len(words):
            if warn:
                max_length = getattr(clf, "max_length", "?")
                warn(
                    f"{where} is longer than the model's maximum ({max_length} tokens): only the first {n} "
                    f"of {len(words)} words are read by the model and explained; the output marks the cut."
                )
            out.append((words.head(n), True))
        else:
            out.append((words, False))
    return out


def explain(
    clf: Classifier,
    texts: Sequence[str],
    method: str = "ig",
    *,
    settings: ExplainSettings | None = None,
    targets: Sequence[int] | None = None,
    warn: Callable[[str], None] | None = None,
    turn: Callable[[], None] | None = None,
) -> list[Explanation]:
    """Explain each text's prediction (or `targets`) with `method`; scores are per word.

    `turn`, if given, is called before every model call, each of at most `ig_internal_batch_size` rows:
    the server uses it to let predictions use the model between the chunks of an explanation."""
    settings = settings or ExplainSettings()
    check_method(clf, method)
    prepared = prepare(clf, texts, warn)
    words = [w for w, _ in prepared]
    calls = clf if turn is None else TakingTurns(clf, turn, settings.ig_internal_batch_size)
    probs = calls.predict_proba([w.text for w in words])
    tgt = [int(t) for t in targets] if targets is not None else [int(p.argmax()) for p in probs]
    deltas: list[float | None] = [None] * len(words)
    used: list[int | None] = [None] * len(words)
    if method == "ig":
        scores, ig_deltas, ig_steps = integrated_gradients(
            clf,
            words,
            tgt,
            settings.ig_steps,
            settings.ig_internal_batch_size,
            turn,
            settings.ig_max_delta,
            settings.ig_max_steps,
        )
        deltas, used = list(ig_deltas), list(ig_steps)
    elif method == "occlusion":
        scores = occlusion(calls, words, tgt, probs)
    else:
        scores = shap_partition(calls, words, tgt, settings.shap_max_evals, settings.seed)
    return [
        Explanation(
            text=texts[k],
            method=method,
            words=w.tokens,
            spans=list(w.spans),
            scores=[float(s) for s in scores[k]],
            label=clf.labels[tgt[k]],
            target=tgt[k],
            probability=float(probs[k, tgt[k]]),
            truncated=cut,
            truncated_at=len(w.text) if cut else None,
            convergence_delta=deltas[k],
            steps=used[k],
        )
        for k, (w, cut) in enumerate(prepared)
    ]


class TakingTurns:
    """`clf` with `turn()` called before each model call of at most `rows` texts."""

    def __init__(self, clf: Classifier, turn: Callable[[], None], rows: int) -> None:
        self.clf, self.turn, self.rows = clf, turn, max(1, rows)
        self.labels = clf.labels

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        parts = []
        for start in range(0, len(texts), self.rows):
            self.turn()
            parts.append(self.clf.predict_proba(texts[start : start + self.rows]))
        return np.concatenate(parts) if parts else np.zeros((0, len(self.labels)))


# --- occlusion ------------------------------------------------------------------------------------


def occlusion(
    clf: Classifier, words: Sequence[Words], targets: Sequence[int], probs: np.ndarray
) -> list[list[float]]:
    """Leave one word out: score = p(target | text) - p(target | text without the word). All variants of
    all texts go through `predict_proba` in one batched call."""
    variants = [w.without([i]) for w in words for i in range(len(w))]
    p = clf.predict_proba(variants) if variants else np.zeros((0, len(clf.labels)))
    out, at = [], 0
    for w, t, full in zip(words, targets, probs, strict=True):
        out.append((full[t] - p[at : at + len(w), t]).tolist())
        at += len(w)
    return out


# --- integrated gradients -------------------------------------------------------------------------


@contextlib.contextmanager
def _attribution_mode(model: Any) -> Iterator[None]:
    """Eval mode (no dropout), and the input embedding weight requiring grad: Captum's layer hook needs
    the embedding output in the autograd graph, and a LoRA model has that weight frozen. Both are
    restored afterwards. Other weights need no change: Captum asks autograd only for the gradient with
    respect to the embedding output, so no weight gradient is computed either way."""
    from fairtune.models import eval_mode

    weight = model.get_input_embeddings().weight
    needed_grad = weight.requires_grad
    weight.requires_grad_(True)
    try:
        with eval_mode(model):
            yield
    finally:
        weight.requires_grad_(needed_grad)


def integrated_gradients(
    clf: Any,
    words: Sequence[Words],
    targets: Sequence[int],
    n_steps: int,
    internal_batch_size: int,
    turn: Callable[[], None] | None = None,
    max_delta: float | None = None,
    max_steps: int = 64,
) -> tuple[list[list[float]], list[float], list[int]]:
    """Captum `LayerIntegratedGradients` on the input embeddings, toward p(target): (word scores,
    convergence deltas, steps used) per text.

    With `max_delta`, steps are chosen per text: every text starts at `n_steps`, and the texts whose
    convergence delta |sum of attributions - (f(x) - f(baseline))| is above `max_delta` are explained
    again with twice the steps, until their delta is small enough or `max_steps` is reached (Captum's
    Gauss-Legendre rule converges in few steps on most texts; the long or saturated ones need more).
    """
    steps = [n_steps] * len(words)
    scores, deltas = _ig_pass(clf, words, targets, n_steps, internal_batch_size, turn)
    pending = [i for i, d in enumerate(deltas) if max_delta is not None and d > max_delta]
    n = n_steps * 2
    while pending and n <= max_steps:
        again, d_again = _ig_pass(
            clf, [words[i] for i in pending], [targets[i] for i in pending], n, internal_batch_size, turn
        )
        for k, i in enumerate(pending):
            scores[i], deltas[i], steps[i] = again[k], d_again[k], n
        pending = [i for i in pending if max_delta is not None and deltas[i] > max_delta]
        n *= 2
    return scores, deltas, steps


def _ig_pass(
    clf: Any,
    words: Sequence[Words],
    targets: Sequence[int],
    n_steps: int,
    internal_batch_size: int,
    turn: Callable[[], None] | None = None,
) -> tuple[list[list[float]], list[float]]:
    """One IG pass at `n_steps` over all `words`.

    Baseline: every word piece replaced by the pad token, special tokens kept. Texts of similar length
    are explained together, and the texts x steps batch is cut into chunks of `internal_batch_size`
    rows (Captum's own chunking), so memory stays bounded however long the input list is. `turn()` is
    called before each chunk's forward pass (the backward pass follows it).
    """
    import torch
    from captum.attr import LayerIntegratedGradients

    model, tok = clf.model, clf.tokenizer
    device = next(model.parameters()).device
    pad = tok.pad_token_id if tok.pad_token_id is not None else 0
    special = set(tok.all_special_ids) - {pad}
    bf16 = getattr(clf, "precision", "fp32") == "bf16"

    def forward(input_ids: Any, attention_mask: Any) -> Any:
        if turn is not None:
            turn()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            logits = model(input_ids=input_ids, attention_mask=attention_mask).logits
        return torch.softmax(logits.float(), dim=-1)

    lig = LayerIntegratedGradients(forward, model.get_input_embeddings())
    enc = tok(
        [w.text for w in words], truncation=True, max_length=clf.max_length, return_offsets_mapping=True
    )
    order = np.argsort([len(ids) for ids in enc["input_ids"]], kind="stable")
    per_call = max(1, internal_batch_size // n_steps)
    scores: list[list[float]] = [[] for _ in words]
    deltas: list[float] = [0.0] * len(words)
    from tqdm.auto import tqdm

    with _attribution_mode(model), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*internal_batch_size.*")
        bar = tqdm(total=len(words), desc="explain ig", unit="text", disable=None, leave=False)
        for start in range(0, len(words), per_call):
            idx = order[start : start + per_call].tolist()
            longest = max(len(enc["input_ids"][i]) for i in idx)
            ids = torch.full((len(idx), longest), pad, dtype=torch.long)
            mask = torch.zeros((len(idx), longest), dtype=torch.long)
            for r, i in enumerate(idx):
                row = enc["input_ids"][i]
                ids[r, : len(row)] = torch.tensor(row)
                mask[r, : len(row)] = 1
            keep = torch.zeros_like(ids, dtype=torch.bool)
            for sid in special:
                keep |= ids == sid
            baseline = torch.where(keep, ids, torch.full_like(ids, pad))
            attr, delta = lig.attribute(
                ids.to(device),
                baselines=baseline.to(device),
                target=torch.tensor([targets[i] for i in idx], device=device),
                additional_forward_args=(mask.to(device),),
                n_steps=n_steps,
                internal_batch_size=max(internal_batch_size, len(idx)),
                return_convergence_delta=True,
            )
            piece = attr.sum(dim=-1).detach().float().cpu().numpy()
            for r, i in enumerate(idx):
                n = len(enc["input_ids"][i])
                scores[i] = merge_pieces(words[i], enc["offset_mapping"][i], piece[r, :n].tolist())
                deltas[i] = float(abs(delta[r].item()))
            bar.update(len(idx))
        bar.close()
    return scores, deltas


# --- SHAP -----------------------------------------------------------------------------------------


#: what SHAP puts in place of masked words
SHAP_MASK = " ... "


class _WordTokenizer:
    """The minimal tokenizer shap's Text masker needs, splitting into fairtune's `Words`."""

    def __call__(self, s: str, return_offsets_mapping: bool = True, **_: Any) -> dict[str, Any]:
        w = Words.of(s)
        return {"input_ids": [abs(hash(t)) % 2**31 for t in w.tokens], "offset_mapping": list(w.spans)}


def shap_partition(
    clf: Classifier, words: Sequence[Words], targets: Sequence[int], max_evals: int, seed: int
) -> list[list[float]]:
    """SHAP's partition explainer with a text masker over `Words` (masked runs become "...")."""
    try:
        import shap
    except ImportError as exc:
        raise FairtuneError(EXPLAIN_SHAP_MISSING) from exc

    def f(batch: Any) -> np.ndarray:
        return clf.predict_proba([str(x) for x in batch])

    # The mask is padded with spaces: shap replaces a word with its trailing space, which would glue
    # the mask to the next word ("...great") and hide that word from the model.
    masker = shap.maskers.Text(_WordTokenizer(), mask_token=SHAP_MASK, collapse_mask_token=True)
    explainer = shap.explainers.Partition(f, masker, output_names=list(clf.labels))
    out = []
    np.random.seed(seed)  # shap draws from numpy's global generator
    from tqdm.auto import tqdm

    for w, t in tqdm(
        list(zip(words, targets, strict=True)), desc="explain shap", unit="text", disable=None, leave=False
    ):
        if len(w) == 1:  # the partition explainer needs two words to cluster; one word's value is exact:
            p = f([w.text, SHAP_MASK.strip()])  # f(text) - f(all masked), by the efficiency property
            out.append([float(p[0, t] - p[1, t])])
            continue
        sv = explainer([w.text], max_evals=max(max_evals, 2 * len(w) + 1), silent=True)
        values = np.asarray(sv.values[0])[:, t]
        if len(values) != len(w):
            raise RuntimeError(f"shap returned {len(values)} values for {len(w)} words of {w.text!r}")
        out.append(values.tolist())
    return out
