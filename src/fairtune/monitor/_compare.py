"""New texts against the reference: the kernel two-sample test on embeddings, the interpretable shifts, the
prediction shift and (with labels) accuracy, as `drift.*` metrics plus a reading in plain words.

The tests are SciPy's: `permutation_test` for the MMD p-value, `ks_2samp`, `chi2_contingency`. What is
written here is the glue: the unbiased MMD² of a Gaussian kernel (median-distance bandwidth) from one
kernel matrix, evaluated for a batch of permutations with one matrix product."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fairtune.monitor._profile import Profile

#: the MMD test compares at most this many new texts (a seeded sample of a larger window): the kernel
#: matrix grows with the square of the texts, and a window this large detects small shifts already
MAX_TEST_TEXTS = 2000


def mmd_test(
    reference: np.ndarray, new: np.ndarray, *, permutations: int, seed: int
) -> dict[str, float | int]:
    """Kernel two-sample test (Gretton et al. 2012) of `new` against `reference` embeddings: the unbiased
    MMD² with a Gaussian kernel whose bandwidth is the median pairwise distance of the pooled sample, and
    its permutation p-value (SciPy's `permutation_test`, alternative "greater")."""
    from scipy.stats import permutation_test
    from sklearn.metrics.pairwise import euclidean_distances

    pooled = np.vstack([reference, new]).astype(np.float64)
    m, n, total_n = len(reference), len(new), len(reference) + len(new)
    d2 = euclidean_distances(pooled, squared=True)
    median = float(np.median(d2[np.triu_indices(total_n, 1)]))
    kernel = np.exp(-d2 / (2 * median)) if median > 0 else np.ones_like(d2)
    np.fill_diagonal(kernel, 0.0)
    rowsum = kernel.sum(axis=1)
    everything = float(rowsum.sum())

    def statistic(x: np.ndarray, y: np.ndarray, axis: int = -1) -> np.ndarray:
        # x: the (batch of) indices drawn as the reference side; a = its 0/1 indicator over the pool
        idx = np.asarray(x, dtype=np.int64)
        flat = idx.reshape(-1, m)
        a = np.zeros((len(flat), total_n))
        a[np.arange(len(flat))[:, None], flat] = 1.0
        xx = np.einsum("bi,bi->b", a @ kernel, a)  # sum of k within the reference side
        xr = a @ rowsum
        yy = everything - 2 * xr + xx  # within the other side
        xy = xr - xx  # across
        out = xx / (m * (m - 1)) + yy / (n * (n - 1)) - 2 * xy / (m * n)
        return out.reshape(idx.shape[:-1])

    res = permutation_test(
        (np.arange(m, dtype=float), np.arange(m, total_n, dtype=float)),
        statistic,
        permutation_type="independent",
        vectorized=True,
        n_resamples=permutations,
        batch=100,
        alternative="greater",
        rng=np.random.default_rng(seed),
    )
    return {
        "mmd": float(res.statistic),
        "p_value": float(res.pvalue),
        "bandwidth": float(np.sqrt(median)),
        "n_reference": m,
        "n_new": n,
        "permutations": permutations,
    }


def _ks(a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    from scipy.stats import ks_2samp

    res = ks_2samp(a, b)
    return float(res.statistic), float(res.pvalue)


def _homogeneity(counts_new: np.ndarray, counts_ref: np.ndarray) -> float | None:
    """Chi-square test that two count vectors come from one distribution (None if it cannot be run)."""
    from scipy.stats import chi2_contingency

    table = np.vstack([counts_new, counts_ref])
    table = table[:, table.sum(axis=0) > 0]
    if table.shape[1] < 2:
        return None if table.shape[1] == 0 else 1.0
    return float(chi2_contingency(table).pvalue)


def _shares(pred: np.ndarray, n_labels: int) -> np.ndarray:
    return np.bincount(pred, minlength=n_labels).astype(float)


def compare(
    reference: Profile,
    new: Profile,
    *,
    label_names: Sequence[str],
    dimensions: Sequence[str],
    alpha: float,
    permutations: int,
    seed: int,
    reference_oov: float | None = None,
    labels: np.ndarray | None = None,
    eval_metrics: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """The drift document's body: `metrics` (named as gates name them, without `drift.`), `input`,
    `prediction` and `performance` details, and the `reading`."""
    rng = np.random.default_rng(seed)
    tested = new.embeddings
    if len(tested) > MAX_TEST_TEXTS:
        tested = tested[np.sort(rng.choice(len(tested), MAX_TEST_TEXTS, replace=False))]
    mmd = mmd_test(reference.embeddings, tested, permutations=permutations, seed=seed)
    length_ks, length_p = _ks(new.lengths, reference.lengths)
    words = int(new.words.sum())
    oov_rate = float(new.oov.sum() / words) if words else 0.0
    tokens, ref_tokens = int(new.lengths.sum()), int(reference.lengths.sum())
    identity: dict[str, dict[str, Any]] = {}
    for j, dim in enumerate(dimensions):
        k_new, k_ref = int(new.identity[:, j].sum()), int(reference.identity[:, j].sum())
        p = _homogeneity(np.array([k_new, len(new) - k_new]), np.array([k_ref, len(reference) - k_ref]))
        identity[dim] = {
            "new_share": k_new / len(new),
            "reference_share": k_ref / len(reference),
            "p_value": p,
        }
    n_labels = len(label_names)
    pred_new = _shares(new.probabilities.argmax(axis=1), n_labels)
    pred_ref = _shares(reference.probabilities.argmax(axis=1), n_labels)
    share_new, share_ref = pred_new / pred_new.sum(), pred_ref / pred_ref.sum()
    conf_new, conf_ref = new.probabilities.max(axis=1), reference.probabilities.max(axis=1)
    conf_ks, conf_p = _ks(conf_new, conf_ref)
    metrics: dict[str, float | None] = {
        "n": float(len(new)),
        "mmd": mmd["mmd"],
        "mmd_p_value": mmd["p_value"],
        "flagged": float(mmd["p_value"] < alpha),
        "length_mean": float(new.lengths.mean()),
        "length_shift": float(new.lengths.mean() - reference.lengths.mean()),
        "length_p_value": length_p,
        "oov_rate": oov_rate,
        "oov_shift": None if reference_oov is None else oov_rate - reference_oov,
        "unk_rate": float(new.unk.sum() / tokens) if tokens else 0.0,
        "identity_shift": max(
            (abs(v["new_share"] - v["reference_share"]) for v in identity.values()), default=0.0
        ),
        "label_shift_tv": float(0.5 * np.abs(share_new - share_ref).sum()),
        "label_p_value": _homogeneity(pred_new, pred_ref),
        "confidence": float(conf_new.mean()),
        "confidence_shift": float(conf_new.mean() - conf_ref.mean()),
        "confidence_p_value": conf_p,
    }
    performance = None
    if labels is not None:
        from fairtune.evaluation import classification_metrics

        performance = classification_metrics(labels, new.probabilities, list(label_names))
        performance.pop("reliability", None)
        ev = {k: eval_metrics.get(k) for k in ("accuracy", "macro_f1", "ece")} if eval_metrics else {}
        performance["run_eval"] = ev
        metrics.update(
            accuracy=performance["accuracy"], macro_f1=performance["macro_f1"], ece=performance["ece"]
        )
        for key in ("accuracy", "macro_f1"):
            value = ev.get(key)
            if isinstance(value, int | float):
                metrics[f"{key}_drop"] = float(value) - performance[key]
    doc: dict[str, Any] = {
        "metrics": {k: v for k, v in metrics.items() if v is not None},
        "input": {
            "mmd": mmd,
            "length": {
                "new_mean": float(new.lengths.mean()),
                "reference_mean": float(reference.lengths.mean()),
                "ks": length_ks,
                "p_value": length_p,
            },
            "vocabulary": {
                "oov_rate": oov_rate,
                "reference_oov_rate": reference_oov,
                "unk_rate": metrics["unk_rate"],
                "reference_unk_rate": float(reference.unk.sum() / ref_tokens) if ref_tokens else 0.0,
            },
            "identity": identity,
        },
        "prediction": {
            "labels": {
                name: {"new_share": float(share_new[i]), "reference_share": float(share_ref[i])}
                for i, name in enumerate(label_names)
            },
            "tv": metrics["label_shift_tv"],
            "p_value": metrics["label_p_value"],
            "confidence": {
                "new_mean": float(conf_new.mean()),
                "reference_mean": float(conf_ref.mean()),
                "ks": conf_ks,
                "p_value": conf_p,
            },
        },
        "performance": performance,
    }
    doc["reading"] = reading(doc, alpha=alpha)
    return doc


def p_text(p: float | None, permutations: int | None = None) -> str:
    """'p = 0.43', 'p < 0.001', or for a permutation p-value at its floor 'p <= 0.002'."""
    if p is None:
        return "p n/a"
    if permutations is not None and p <= 1.0 / (permutations + 1) + 1e-12:
        return f"p <= {1.0 / (permutations + 1):.2g}"
    return "p < 0.001" if p < 0.001 else f"p = {p:.3g}"


def reading(doc: dict[str, Any], *, alpha: float) -> list[str]:
    """The document in plain words: one sentence per finding, the verdict first."""
    m, inp, pred = doc["metrics"], doc["input"], doc["prediction"]
    mmd = inp["mmd"]
    test = f"MMD {p_text(mmd['p_value'], mmd['permutations'])}"
    test += f", {mmd['n_new']} new vs {mmd['n_reference']} reference texts"
    out = [
        f"The new texts differ from the reference ({test})."
        if m["flagged"]
        else f"The new texts look like the reference: no input drift at alpha {alpha:g} ({test})."
    ]
    length = inp["length"]
    if length["p_value"] < alpha:
        way = "longer" if length["new_mean"] > length["reference_mean"] else "shorter"
        out.append(
            f"They are {way}: {length['new_mean']:.1f} tokens on average vs {length['reference_mean']:.1f} "
            f"(KS {p_text(length['p_value'])})."
        )
    vocab = inp["vocabulary"]
    ref_oov = vocab["reference_oov_rate"]
    base = f" (held-out reference texts: {ref_oov:.1%})" if ref_oov is not None else ""
    out.append(f"{vocab['oov_rate']:.1%} of their words never occur in the training texts{base}.")
    for dim, v in inp["identity"].items():
        if v["p_value"] is not None and v["p_value"] < alpha:
            way = "More" if v["new_share"] > v["reference_share"] else "Fewer"
            out.append(
                f"{way} of them mention {dim.replace('_', ' ')} terms: {v['new_share']:.1%} vs "
                f"{v['reference_share']:.1%} ({p_text(v['p_value'])})."
            )
    if pred["p_value"] is not None and pred["p_value"] < alpha:
        top = max(
            pred["labels"],
            key=lambda k: abs(pred["labels"][k]["new_share"] - pred["labels"][k]["reference_share"]),
        )
        row = pred["labels"][top]
        out.append(
            f"The model predicts {top} for {row['new_share']:.1%} of them vs {row['reference_share']:.1%} "
            f"of the reference (total variation {pred['tv']:.3f}, chi-square {p_text(pred['p_value'])})."
        )
    conf = pred["confidence"]
    if conf["p_value"] < alpha:
        way = "less" if conf["new_mean"] < conf["reference_mean"] else "more"
        out.append(
            f"It is {way} confident on them: mean top probability {conf['new_mean']:.3f} vs "
            f"{conf['reference_mean']:.3f} (KS {p_text(conf['p_value'])})."
        )
    perf = doc["performance"]
    if perf is None:
        out.append("Accuracy on them is unknown until they are labelled (pass --labels with a label column).")
    else:
        ev, acc = perf["run_eval"].get("accuracy"), perf["accuracy"]
        than = ""
        if ev is not None:
            way = "below" if ev > acc else "above"
            than = f", {abs(ev - acc):.3f} {way} the run's eval accuracy {ev:.3f}"
        out.append(
            f"Accuracy on them is {acc:.3f}{than}; macro-F1 {perf['macro_f1']:.3f}, ECE {perf['ece']:.3f}."
        )
    return out
