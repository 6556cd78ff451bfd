"""Membership inference by loss threshold (Yeom et al. 2018): training members tend to have lower loss
than texts the model never saw. The attack's AUC, and its true-positive rate at a low false-positive
rate (Carlini et al. 2022: the regime that matters), say how much the model leaks about who was in
its training data."""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np

from fairtune.audits._result import AuditResult, sample_indices
from fairtune.config import PrivacyAuditConfig
from fairtune.data import Canaries, LabelledData, exposure
from fairtune.errors import DataError
from fairtune.models import Classifier


def per_example_loss(clf: Classifier, data: LabelledData) -> np.ndarray:
    p = clf.predict_proba(data.texts)
    return -np.log(np.clip(p[np.arange(len(data)), data.labels], 1e-12, 1.0))  # type: ignore[no-any-return]


def tpr_at_fpr(fpr: np.ndarray, tpr: np.ndarray, target: float) -> float:
    """The highest true-positive rate among thresholds whose false-positive rate is at most `target`."""
    ok = fpr <= target
    return float(tpr[ok].max()) if ok.any() else 0.0


def loss_threshold_attack(member_loss: np.ndarray, nonmember_loss: np.ndarray) -> dict[str, Any]:
    """Score = -loss (lower loss: more likely a member)."""
    return attack_scores(-np.asarray(member_loss), -np.asarray(nonmember_loss))


def auc_and_tpr_at_1pct(member_score: np.ndarray, nonmember_score: np.ndarray, axis: int = -1) -> np.ndarray:
    """[AUC, TPR at 1% FPR] along `axis`, vectorised for scipy's bootstrap: the AUC is the Mann-Whitney U
    of the member scores over n1·n0 (ties count half); the TPR is the share of members scoring above the
    (k+1)-th highest non-member, k = ⌊0.01·n0⌋, the same figure as `tpr_at_fpr` on the ROC curve."""
    from scipy.stats import mannwhitneyu

    a, b = np.moveaxis(member_score, axis, -1), np.moveaxis(nonmember_score, axis, -1)
    n1, n0 = a.shape[-1], b.shape[-1]
    auc = mannwhitneyu(a, b, axis=-1).statistic / (n1 * n0)
    k = math.floor(0.01 * n0 + 1e-9)  # < n0: the threshold is always a non-member's score
    cut = np.sort(b, axis=-1)[..., n0 - 1 - k]
    tpr = (a > cut[..., None]).mean(-1)
    return np.stack([auc, tpr])


def bootstrap_ci(
    member_score: np.ndarray, nonmember_score: np.ndarray, resamples: int = 1000, seed: int = 0
) -> dict[str, list[float]]:
    """95% percentile-bootstrap intervals of the AUC and of the TPR at 1% FPR, members and non-members
    resampled apart (scipy.stats.bootstrap): how far the figures could move on another sample of texts
    as large. At 1% FPR the threshold rests on the ⌊0.01·n⌋ highest-scoring non-members alone."""
    from scipy.stats import bootstrap

    ci = bootstrap(
        (np.asarray(member_score, float), np.asarray(nonmember_score, float)),
        auc_and_tpr_at_1pct,
        n_resamples=resamples,
        paired=False,
        vectorized=True,
        method="percentile",
        random_state=np.random.default_rng(seed),
    ).confidence_interval
    return {
        "auc": [float(ci.low[0]), float(ci.high[0])],
        "tpr_at_1pct_fpr": [float(ci.low[1]), float(ci.high[1])],
    }


def attack_scores(member_score: np.ndarray, nonmember_score: np.ndarray) -> dict[str, Any]:
    """A higher score says "member". Returns AUC, TPR at 1% and 0.1% FPR, the membership advantage
    (max TPR - FPR), the ROC curve (at most 201 points), and 95% bootstrap intervals of the AUC and of
    the TPR at 1% FPR."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.r_[np.ones(len(member_score)), np.zeros(len(nonmember_score))]
    score = np.r_[member_score, nonmember_score]
    # every threshold: the default drops collinear points, and with tied scores (a diagonal step) the
    # best threshold under 1% FPR can be one of them
    fpr, tpr, _ = roc_curve(y, score, drop_intermediate=False)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 201)).astype(int))
    return {
        "auc": float(roc_auc_score(y, score)),
        "tpr_at_1pct_fpr": tpr_at_fpr(fpr, tpr, 0.01),
        "tpr_at_01pct_fpr": tpr_at_fpr(fpr, tpr, 0.001),
        "advantage": float(np.max(tpr - fpr)),
        "ci95": bootstrap_ci(member_score, nonmember_score),
        "roc": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
    }


def length_matched(pool: Sequence[str], targets: Sequence[str], seed: int) -> list[int]:
    """For each target text, a distinct pool text (seeded) with as many words, or the nearest word count
    still left. Needs at least as many pool texts as targets."""
    rng = np.random.default_rng(seed)
    by_words: dict[int, list[int]] = defaultdict(list)
    for i in rng.permutation(len(pool)).tolist():
        by_words[len(pool[i].split())].append(i)
    picks = []
    for text in targets:
        want = len(text.split())
        words = min((k for k, left in by_words.items() if left), key=lambda k: (abs(k - want), k))
        picks.append(by_words[words].pop())
    return picks


def _ci(attack: dict[str, Any], key: str) -> str:
    """ "(95% interval LO-HI)" of one attack figure, as a share for the TPR."""
    lo, hi = attack["ci95"][key]
    fmt = "{:.3f}" if key == "auc" else "{:.1%}"
    return f"(95% interval {fmt.format(lo)}-{fmt.format(hi)})"


def _mean_words(texts: Sequence[str]) -> float:
    return float(np.mean([len(t.split()) for t in texts]))


def audit_privacy(
    clf: Classifier,
    train: LabelledData,
    held_out: LabelledData,
    cfg: PrivacyAuditConfig,
    *,
    reference: Classifier | None = None,
    reference_texts: set[str] | None = None,
    canaries: Canaries | None = None,
    dp: dict[str, Any] | None = None,
) -> AuditResult:
    """Non-members: a seeded sample of held-out (eval) texts; members: as many training texts, with the
    same word counts one for one (`cfg.match_length`) or a plain seeded sample.

    `reference`: a model trained the same way on other data from the same population
    (`reference_texts`); its losses calibrate each text's difficulty. `canaries`: the run's inserted
    and reference canaries. `dp`: the run's DP-SGD record (metrics.json train.privacy)."""
    t0 = time.perf_counter()
    res = AuditResult("privacy")
    if reference_texts:  # a text the reference model trained on cannot calibrate itself
        train = train.subset([i for i, t in enumerate(train.texts) if t not in reference_texts])
        held_out = held_out.subset([i for i, t in enumerate(held_out.texts) if t not in reference_texts])
    n = min(cfg.sample, len(train), len(held_out))
    if n < 10:
        raise DataError(
            f"audit.privacy: membership inference needs at least 10 training and 10 held-out texts "
            f"(got {len(train)} and {len(held_out)}). Use more eval data or disable audit.privacy."
        )
    nonmembers = held_out.subset(sample_indices(len(held_out), n, cfg.seed))
    if cfg.match_length:
        members = train.subset(length_matched(train.texts, nonmembers.texts, cfg.seed))
    else:
        members = train.subset(sample_indices(len(train), n, cfg.seed))
    m_loss, n_loss = per_example_loss(clf, members), per_example_loss(clf, nonmembers)
    attack = loss_threshold_attack(m_loss, n_loss)
    res.details["membership"] = {
        "attack": "loss threshold (Yeom et al. 2018)",
        "members": n,
        "nonmembers": n,
        "member_source": train.source,
        "nonmember_source": held_out.source,
        "members_matched_on": "word count" if cfg.match_length else None,
        "member_mean_words": _mean_words(members.texts),
        "nonmember_mean_words": _mean_words(nonmembers.texts),
        "member_mean_loss": float(m_loss.mean()),
        "nonmember_mean_loss": float(n_loss.mean()),
        "seed": cfg.seed,
        **attack,
    }
    res.metrics.update(
        mia_auc=attack["auc"],
        mia_tpr_at_1pct_fpr=attack["tpr_at_1pct_fpr"],
        mia_tpr_at_01pct_fpr=attack["tpr_at_01pct_fpr"],
        mia_advantage=attack["advantage"],
    )
    res.finding(
        "warning" if attack["auc"] > cfg.max_auc else "info",
        f"membership inference (loss threshold): AUC {attack['auc']:.3f} {_ci(attack, 'auc')} on {n} "
        f"training vs {n} held-out texts (0.5: an attacker cannot tell them apart); at 1% false positives "
        f"it finds {attack['tpr_at_1pct_fpr']:.1%} {_ci(attack, 'tpr_at_1pct_fpr')} of training texts. "
        f"Mean loss {m_loss.mean():.3f} on training "
        f"texts vs {n_loss.mean():.3f} on held-out ones. This is an empirical lower bound on leakage, not "
        f"a guarantee; only differentially private training bounds it.",
    )
    if reference is not None:
        _calibrated(res, reference, members, nonmembers, m_loss, n_loss, cfg)
    if canaries is not None:
        _canaries(res, clf, canaries)
    if dp is not None:
        _guarantee(res, dp)
    res.seconds = time.perf_counter() - t0
    return res


def _calibrated(
    res: AuditResult,
    reference: Classifier,
    members: LabelledData,
    nonmembers: LabelledData,
    m_loss: np.ndarray,
    n_loss: np.ndarray,
    cfg: PrivacyAuditConfig,
) -> None:
    """Difficulty calibration (Watson et al. 2022; one reference model, in the spirit of LiRA/RMIA):
    score = reference loss - target loss. A text that is hard for any model no longer looks like a
    non-member, nor an easy one like a member; what is left is what training on it changed."""
    ref_m, ref_n = per_example_loss(reference, members), per_example_loss(reference, nonmembers)
    attack = attack_scores(ref_m - m_loss, ref_n - n_loss)
    res.details["calibrated"] = {
        "attack": "loss difference to one reference model (Watson et al. 2022)",
        "reference_data": cfg.reference_data,
        "reference_member_mean_loss": float(ref_m.mean()),
        "reference_nonmember_mean_loss": float(ref_n.mean()),
        **attack,
    }
    res.metrics.update(
        mia_calibrated_auc=attack["auc"],
        mia_calibrated_tpr_at_1pct_fpr=attack["tpr_at_1pct_fpr"],
        mia_calibrated_tpr_at_01pct_fpr=attack["tpr_at_01pct_fpr"],
    )
    res.finding(
        "warning" if attack["auc"] > cfg.max_auc else "info",
        f"membership inference calibrated by a reference model trained on {cfg.reference_data}: AUC "
        f"{attack['auc']:.3f} {_ci(attack, 'auc')}, and {attack['tpr_at_1pct_fpr']:.1%} "
        f"{_ci(attack, 'tpr_at_1pct_fpr')} of training texts found at 1% false positives (loss threshold "
        f"alone: {res.metrics['mia_auc']:.3f}, {res.metrics['mia_tpr_at_1pct_fpr']:.1%}).",
    )


def _canaries(res: AuditResult, clf: Classifier, canaries: Canaries) -> None:
    data = LabelledData(canaries.texts, np.asarray(canaries.labels), source="canaries")
    loss = per_example_loss(clf, data)
    reps = np.asarray(canaries.repeats)
    ref = loss[reps == 0]
    chance = float(np.mean(exposure(ref, ref)))  # what a model that memorised nothing scores
    groups = {}
    for r in sorted(set(reps[reps > 0].tolist())):
        exp = exposure(loss[reps == r], ref)
        groups[str(r)] = {
            "canaries": int((reps == r).sum()),
            "mean_exposure": float(exp.mean()),
            "max_exposure": float(exp.max()),
            "ranked_first": int((exp >= np.log2(len(ref) + 1) - 1e-9).sum()),
            "mean_loss": float(loss[reps == r].mean()),
        }
        res.metrics[f"canary_exposure_r{r}"] = float(exp.mean())
    res.details["canaries"] = {
        "references": len(ref),
        "max_possible_exposure": float(np.log2(len(ref) + 1)),
        "no_memorisation_exposure": chance,
        "reference_mean_loss": float(ref.mean()),
        "by_repeats": groups,
    }
    top = max(groups, key=lambda k: int(k))
    res.finding(
        "warning" if groups[top]["mean_exposure"] > chance + 2 else "info",
        f"canaries: inserted {top} times, a canary's secret has mean exposure "
        f"{groups[top]['mean_exposure']:.2f} bits (no memorisation: about {chance:.2f}; at most "
        f"{np.log2(len(ref) + 1):.2f}, when the model fits it better than all {len(ref)} never-inserted "
        f"canaries). " + "; ".join(f"{k}×: {g['mean_exposure']:.2f}" for k, g in groups.items()) + ".",
    )


def _guarantee(res: AuditResult, dp: dict[str, Any]) -> None:
    """Put the accountant's (ε, δ) beside the measured figures, with what each means."""
    eps, delta = float(dp["epsilon_spent"]), float(dp["delta"])
    # For any (ε, δ)-DP training, any membership test has TPR <= e^ε · FPR + δ (Kairouz et al. 2015).
    bound = min(1.0, math.exp(eps) * 0.01 + delta)
    res.details["guarantee"] = {**dp, "tpr_bound_at_1pct_fpr": bound}
    res.metrics["dp_epsilon"] = eps
    res.finding(
        "info",
        f"trained with DP-SGD: (ε = {eps:.2f}, δ = {delta:.2g}) by Opacus' {dp['accountant']} accountant. "
        f"This is a proof about every possible attacker, worst case over all training sets: at 1% false "
        f"positives no membership test can find more than {bound:.1%} of training texts"
        + (
            " (at this ε the worst-case bound says nothing there; it still bounds rarer, stronger tests)"
            if bound >= 1.0
            else ""
        )
        + ". The figures above are what one attack achieved on this model and data, on average over "
        "texts; the guarantee also covers the most exposed text.",
    )
