"""What monitoring keeps of a set of texts, never the texts themselves: the model's sentence embeddings
and probabilities, token lengths, [UNK] and out-of-vocabulary counts, identity-term mentions."""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig

_WORD = re.compile(r"\w+")


@dataclass
class Profile:
    embeddings: np.ndarray  # (n, hidden) float32: mean of the last hidden states over the attention mask
    probabilities: np.ndarray  # (n, labels) float32
    lengths: np.ndarray  # (n,) tokens per text, untruncated, without special tokens
    unk: np.ndarray  # (n,) [UNK] tokens per text
    words: np.ndarray  # (n,) words per text
    oov: np.ndarray  # (n,) words per text never seen in the training texts
    identity: np.ndarray  # (n, dimensions) bool: the text mentions a term of that dimension

    def __len__(self) -> int:
        return len(self.lengths)

    def arrays(self) -> dict[str, np.ndarray]:
        return {f.name: getattr(self, f.name) for f in fields(self)}

    def subset(self, idx: Sequence[int] | np.ndarray) -> Profile:
        return Profile(**{k: v[np.asarray(idx)] for k, v in self.arrays().items()})


def word_hashes(words: Any) -> np.ndarray:
    """Stable 64-bit hashes of words (blake2b), so a vocabulary is kept without its words."""
    return np.array(
        [int.from_bytes(hashlib.blake2b(w.encode(), digest_size=8).digest(), "little") for w in words],
        dtype=np.uint64,
    )


def vocabulary(texts: Sequence[str]) -> np.ndarray:
    """The sorted hashes of every lowercased word in `texts`."""
    seen: set[str] = set()
    for t in texts:
        seen.update(_WORD.findall(t.lower()))
    return np.unique(word_hashes(sorted(seen)))


def in_sorted(values: np.ndarray, sorted_set: np.ndarray) -> np.ndarray:
    """`np.isin(values, sorted_set)` for a sorted `sorted_set` (a vocabulary), by binary search: np.isin
    sorts the set again on every call, 1 ms for a 15,000-word vocabulary, per served batch."""
    if not len(sorted_set):
        return np.zeros(len(values), dtype=bool)
    at = np.minimum(np.searchsorted(sorted_set, values), len(sorted_set) - 1)
    return sorted_set[at] == values  # type: ignore[no-any-return]


def _word_counts(texts: Sequence[str], vocab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    per_text = [_WORD.findall(t.lower()) for t in texts]
    distinct = sorted({w for ws in per_text for w in ws})
    known = dict(zip(distinct, in_sorted(word_hashes(distinct), vocab), strict=True))
    words = np.array([len(ws) for ws in per_text], dtype=np.int64)
    oov = np.array([sum(not known[w] for w in ws) for ws in per_text], dtype=np.int64)
    return words, oov


def identity_flags(texts: Sequence[str], swappers: Sequence[Any]) -> np.ndarray:
    """(n, dimensions): whether each text mentions a term of each swapper's lexicon."""
    out = np.zeros((len(texts), len(swappers)), dtype=bool)
    for j, sw in enumerate(swappers):
        out[:, j] = [bool(sw.groups_in(t)) for t in texts]
    return out


def encode(clf: Any, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
    """One forward pass of a `TorchClassifier` over `texts`: (sentence embeddings, probabilities). The
    embedding is the mean of the last hidden states over the attention mask, so it is the fine-tuned
    encoder's own view of the text, at the run's max_length."""
    import torch

    from fairtune.models import eval_mode, softmax
    from fairtune.models._classifier import batched_by_length
    from fairtune.models._pooling import mean_pool

    model = clf.model
    hidden, n_labels = int(model.config.hidden_size), len(clf.labels)
    device = next(model.parameters()).device

    def run(ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        mask_t = torch.from_numpy(mask).to(device)
        out = model(
            input_ids=torch.from_numpy(ids).to(device), attention_mask=mask_t, output_hidden_states=True
        )
        pooled = mean_pool(out.hidden_states[-1].float(), mask_t)
        return torch.cat([pooled, out.logits.float()], dim=1).cpu().numpy()  # type: ignore[no-any-return]

    with (
        eval_mode(model),
        torch.inference_mode(),
        torch.autocast(device.type, dtype=torch.bfloat16, enabled=clf.precision == "bf16"),
    ):
        both = batched_by_length(clf.tokenizer, texts, clf.max_length, clf.batch_size, hidden + n_labels, run)
    return both[:, :hidden], softmax(both[:, hidden:]).astype(np.float32)


def describe(
    tokenizer: Any, texts: Sequence[str], *, vocab: np.ndarray, swappers: Sequence[Any]
) -> dict[str, np.ndarray]:
    """A `Profile`'s text measurements, without the model: token lengths and [UNK] counts (`tokenizer`),
    words and out-of-vocabulary words (`vocab`), identity-term flags (`swappers`)."""
    ids = tokenizer(list(texts), add_special_tokens=False, verbose=False)["input_ids"]
    unk_id = tokenizer.unk_token_id
    words, oov = _word_counts(texts, vocab)
    return {
        "lengths": np.array([len(x) for x in ids], dtype=np.int64),
        "unk": np.array(
            [sum(t == unk_id for t in x) if unk_id is not None else 0 for x in ids], dtype=np.int64
        ),
        "words": words,
        "oov": oov,
        "identity": identity_flags(texts, swappers),
    }


def profile(clf: Any, texts: Sequence[str], *, vocab: np.ndarray, swappers: Sequence[Any]) -> Profile:
    """Everything monitoring compares, for `texts`, measured with the classifier `clf`."""
    texts = [str(t) for t in texts]
    embeddings, probabilities = encode(clf, texts)
    return Profile(
        embeddings=embeddings,
        probabilities=probabilities,
        **describe(clf.tokenizer, texts, vocab=vocab, swappers=swappers),
    )


def identity_swappers(cfg: FairtuneConfig) -> list[Any]:
    """One swapper per dimension of the run's fairness audit (its lexicons, pronoun setting)."""
    from fairtune.data import load_lexicons, make_swappers

    fair = cfg.audit.fairness
    lexicons = load_lexicons(list(fair.dimensions), fair.lexicon_dir, field="audit.fairness")
    return make_swappers(lexicons, pronouns=fair.pronouns)


def run_classifier(cfg: FairtuneConfig, model_dir: str | Path) -> Any:
    """The run's model as a `TorchClassifier` with the run's eval settings (batch, length, precision)."""
    from fairtune.models import TorchClassifier

    return TorchClassifier.from_dir(
        model_dir,
        batch_size=cfg.train.eval_batch_size,
        max_length=cfg.data.max_length,
        precision=cfg.train.precision,
        device=cfg.model.device,
    )
