"""Membership inference by loss threshold (Yeom et al. 2018): training members tend to have lower loss
than texts the model never saw. The attack's AUC, and its true-positive rate at a low false-positive
rate (Carlini et al. 2022: the regime that matters), say how much the model leaks about who was in
its training data."""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from fairtune.audits._result import AuditResult, sample_indices
from fairtune.config import PrivacyAuditConfig
from fairtune.data import LabelledData
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
    """Score = -loss (lower loss: more likely a member). Returns AUC, TPR at 1% and 0.1% FPR, the
    membership advantage (max TPR - FPR), and the ROC curve (at most 201 points)."""
    from sklearn.metrics import roc_auc_score, roc_curve

    y = np.r_[np.ones(len(member_loss)), np.zeros(len(nonmember_loss))]
    score = -np.r_[member_loss, nonmember_loss]
    fpr, tpr, _ = roc_curve(y, score)
    keep = np.unique(np.linspace(0, len(fpr) - 1, min(len(fpr), 201)).astype(int))
    return {
        "auc": float(roc_auc_score(y, score)),
        "tpr_at_1pct_fpr": tpr_at_fpr(fpr, tpr, 0.01),
        "tpr_at_01pct_fpr": tpr_at_fpr(fpr, tpr, 0.001),
        "advantage": float(np.max(tpr - fpr)),
        "roc": {"fpr": fpr[keep].tolist(), "tpr": tpr[keep].tolist()},
    }


def audit_privacy(
    clf: Classifier, train: LabelledData, held_out: LabelledData, cfg: PrivacyAuditConfig
) -> AuditResult:
    """Members: a seeded sample of training texts; non-members: as many held-out (eval) texts."""
    t0 = time.perf_counter()
    res = AuditResult("privacy")
    n = min(cfg.sample, len(train), len(held_out))
    if n < 10:
        raise DataError(
            f"audit.privacy: membership inference needs at least 10 training and 10 held-out texts "
            f"(got {len(train)} and {len(held_out)}). Use more eval data or disable audit.privacy."
        )
    members = train.subset(sample_indices(len(train), n, cfg.seed))
    nonmembers = held_out.subset(sample_indices(len(held_out), n, cfg.seed))
    m_loss, n_loss = per_example_loss(clf, members), per_example_loss(clf, nonmembers)
    attack = loss_threshold_attack(m_loss, n_loss)
    res.details["membership"] = {
        "attack": "loss threshold (Yeom et al. 2018)",
        "members": n,
        "nonmembers": n,
        "member_source": train.source,
        "nonmember_source": held_out.source,
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
        f"membership inference (loss threshold): AUC {attack['auc']:.3f} on {n} training vs {n} held-out "
        f"texts (0.5: an attacker cannot tell them apart); at 1% false positives it finds "
        f"{attack['tpr_at_1pct_fpr']:.1%} of training texts. Mean loss {m_loss.mean():.3f} on training "
        f"texts vs {n_loss.mean():.3f} on held-out ones. This is an empirical lower bound on leakage, not "
        f"a guarantee; only differentially private training bounds it.",
    )
    res.seconds = time.perf_counter() - t0
    return res
