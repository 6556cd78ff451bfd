"""Monitoring in service (`fairtune serve --monitor`): a rolling window of what the served model saw, never
the texts, and `fairtune monitor`'s drift test over it, in a thread of its own.

The sentence embeddings and probabilities come from the forward pass that answers the request (`tap`:
`encode` instead of `predict_proba`, the same pass with the hidden states kept), so monitoring adds no
model call. The model thread hands them, with the texts, to a bounded queue and returns; the monitor
thread measures the texts (token lengths, [UNK], out-of-vocabulary words, identity terms), keeps those
numbers in the window, lets the texts go, and runs the drift test at most once per `interval`. A full
queue drops the batch and counts it; an exception in monitoring is logged (without its message, which
may quote a text) and counted, never raised to the request.
"""

from __future__ import annotations

import copy
import logging
import os
import queue
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from fairtune.monitor._compare import compare
from fairtune.monitor._profile import Profile, describe, encode, identity_swappers
from fairtune.monitor._reference import Reference, load_reference

if TYPE_CHECKING:
    from fairtune.config import FairtuneConfig

LOG = logging.getLogger("fairtune.monitor")


@dataclass(frozen=True)
class WatchSettings:
    window: int = 500  # texts in the rolling window (the newest ones)
    interval: float = 30.0  # seconds between drift tests: at most one per interval, only after new texts
    min_window: int = 50  # fewest texts a drift test runs on (monitor.min_window)
    alpha: float = 0.05
    permutations: int = 500
    seed: int = 0
    queue: int = 64  # model calls waiting to be measured; a batch over this is dropped and counted


@dataclass
class Basis:
    """What the window is compared with, for one model: its reference profile, the identity lexicons,
    a tokenizer of the monitor's own (a fast tokenizer is not safe to share between threads) and the
    model's labels."""

    reference: Reference
    swappers: list[Any]
    tokenizer: Any
    labels: list[str]
    dimensions: list[str] = field(init=False)

    def __post_init__(self) -> None:
        self.dimensions = [sw.lexicon.dimension for sw in self.swappers]

    @classmethod
    def load(cls, cfg: FairtuneConfig, model_dir: str | Path, clf: Any, cache: Path) -> Basis:
        """The basis of the model in `model_dir`, served as `clf`: `fairtune monitor`'s reference (read
        from `cache` when its key matches, else profiled with `clf` and cached) and the run's lexicons."""
        swappers = identity_swappers(cfg)
        reference = load_reference(cfg, model_dir, clf, swappers, cache)
        return cls(reference, swappers, copy.deepcopy(clf.tokenizer), list(clf.labels))

    def describe(self) -> dict[str, Any]:
        ref = self.reference
        return {
            "source": ref.source,
            "n": len(ref.profile),
            "cached": ref.cached,
            "weights_sha256": ref.key.get("weights_sha256"),
        }


class RollingWindow:
    """The newest `size` measured texts as a ring buffer of `Profile` rows: numbers only, never a text."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.arrays: dict[str, np.ndarray] = {}
        self.filled = 0
        self.next = 0
        self.total = 0  # texts added since the window (re)started

    def __len__(self) -> int:
        return self.filled

    def add(self, rows: Profile) -> None:
        n = len(rows)
        self.total += n
        parts = {k: v[-self.size :] for k, v in rows.arrays().items()}
        n = min(n, self.size)
        if not self.arrays:
            self.arrays = {k: np.zeros((self.size, *v.shape[1:]), dtype=v.dtype) for k, v in parts.items()}
        at = (self.next + np.arange(n)) % self.size
        for k, v in parts.items():
            self.arrays[k][at] = v
        self.next = (self.next + n) % self.size
        self.filled = min(self.size, self.filled + n)

    def profile(self) -> Profile:
        """The window's rows, oldest first."""
        order = (self.next - self.filled + np.arange(self.filled)) % self.size
        return Profile(**{k: v[order] for k, v in self.arrays.items()})


@dataclass
class _Batch:
    texts: list[str]
    embeddings: np.ndarray
    probabilities: np.ndarray
    generation: int


Rebase = Callable[[Any, dict[str, Any]], Basis]


class ServingMonitor:
    """The window, its queue and thread, and the latest drift result (see the module docstring).

    `rebase(clf, info)` gives the basis for a model loaded by a hot reload; without it, or when it fails,
    monitoring pauses after the reload (the window of the old model means nothing for the new one)."""

    def __init__(self, basis: Basis | None, settings: WatchSettings, *, rebase: Rebase | None = None) -> None:
        self.settings, self.rebase = settings, rebase
        self.basis = basis
        self.paused: str | None = None if basis is not None else "no reference"
        self.window = RollingWindow(settings.window)
        self.generation = 0
        self.queue: queue.Queue[_Batch] = queue.Queue(maxsize=settings.queue)
        self.lock = threading.Lock()
        self.counts = {"received": 0, "seen": 0, "dropped": 0, "errors": 0, "tests": 0}
        self.last_error: str | None = None
        self.latest: dict[str, Any] | None = None
        self.restarted = _now()
        self._tested_total, self._tested_at = 0, float("-inf")
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- the model thread ---------------------------------------------------------------------------
    def tap(self, clf: Any, texts: list[str]) -> np.ndarray:
        """`clf`'s probabilities for `texts`, from the forward pass whose embeddings the window gets.
        Raises only what `clf.predict_proba` raises: a failure of monitoring falls back to it."""
        generation = self.generation
        if self.basis is None:
            return clf.predict_proba(texts)  # type: ignore[no-any-return]
        try:
            embeddings, probabilities = encode(clf, texts)
        except Exception as exc:
            self._failed("encoding", exc)
            return clf.predict_proba(texts)  # type: ignore[no-any-return]
        self.offer(texts, embeddings, probabilities, generation)
        return probabilities

    def offer(self, texts: Sequence[str], embeddings: np.ndarray, probs: np.ndarray, generation: int) -> None:
        """Queue a batch for the monitor thread; a full queue drops it (counted). Never raises."""
        try:
            self._count("received", len(texts))
            self.queue.put_nowait(_Batch(list(texts), embeddings, probs, generation))
        except queue.Full:
            self._count("dropped", len(texts))
        except Exception as exc:
            self._failed("queueing", exc)

    def prepare(self, clf: Any, info: dict[str, Any]) -> Callable[[], None]:
        """In the reload thread: the basis for a newly loaded model (its reference). Returns what the
        model thread calls at the swap: the window starts again, compared with the new reference."""
        basis: Basis | None = None
        reason: str | None = "the server cannot profile a reloaded model's reference"
        if self.rebase is not None:
            try:
                basis, reason = self.rebase(clf, info), None
            except Exception as exc:
                reason = f"no reference for the reloaded model ({type(exc).__name__}: {exc})"
                LOG.error("monitor paused: %s", reason)
        return lambda: self.restart(basis, reason)

    def restart(self, basis: Basis | None, paused: str | None = None) -> None:
        with self.lock:
            self.basis, self.paused = basis, paused
            self.window = RollingWindow(self.settings.window)
            self.generation += 1
            self.latest, self.restarted = None, _now()
            self._tested_total, self._tested_at = 0, float("-inf")

    # --- the monitor thread -------------------------------------------------------------------------
    def start(self) -> None:
        """Start the monitor thread. The drift test's libraries load here, before the server says it is
        ready, not in the first test under traffic (a second of CPU)."""
        import scipy.stats  # noqa: F401
        import sklearn.metrics.pairwise  # noqa: F401

        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="fairtune-monitor", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                batch: _Batch | None = self.queue.get(timeout=0.05)
            except queue.Empty:
                batch = None
            if batch is not None:
                self._guarded("measuring", self.absorb, batch)
                del batch  # the texts go here: the window keeps numbers only
            if self.due():
                self._guarded("drift test", self.test)

    def absorb(self, batch: _Batch) -> None:
        """Measure a batch's texts and add its rows to the window (a batch from before a reload is
        dropped: its embeddings are the old model's)."""
        with self.lock:
            basis, current = self.basis, self.generation
        if basis is None or batch.generation != current:
            return
        stats = describe(basis.tokenizer, batch.texts, vocab=basis.reference.vocab, swappers=basis.swappers)
        rows = Profile(embeddings=batch.embeddings, probabilities=batch.probabilities, **stats)
        with self.lock:
            if batch.generation == self.generation:
                self.window.add(rows)
                self.counts["seen"] += len(rows)

    def due(self) -> bool:
        """A drift test is due: enough texts, new ones since the last test, and `interval` passed."""
        s = self.settings
        with self.lock:
            enough = self.basis is not None and len(self.window) >= s.min_window
            fresh = self.window.total > self._tested_total
        return enough and fresh and time.monotonic() - self._tested_at >= s.interval

    def test(self) -> None:
        """`fairtune monitor`'s comparison of the window with the reference; the result is kept."""
        s = self.settings
        with self.lock:
            basis, generation = self.basis, self.generation
            new, self._tested_total, self._tested_at = (
                self.window.profile(),
                self.window.total,
                time.monotonic(),
            )
        if basis is None:
            return
        from threadpoolctl import threadpool_limits  # scikit-learn's dependency

        t0 = time.perf_counter()
        # one BLAS thread: half the CPU of two on the kernel products (their threads spin between
        # calls), and the cores stay with the model; torch's own threads are not touched
        with threadpool_limits(limits=1, user_api="blas"):
            body = compare(
                basis.reference.profile,
                new,
                label_names=basis.labels,
                dimensions=basis.dimensions,
                alpha=s.alpha,
                permutations=s.permutations,
                seed=s.seed,
                reference_oov=basis.reference.oov_rate(),
            )
        body.pop("performance", None)  # served texts carry no labels
        result = {
            "computed": _now(),
            "computed_unix": time.time(),
            "seconds": round(time.perf_counter() - t0, 3),
            "n": len(new),
            **body,
        }
        with self.lock:
            if generation == self.generation:
                self.latest = result
                self.counts["tests"] += 1

    # --- bookkeeping --------------------------------------------------------------------------------
    def _guarded(self, where: str, step: Callable[..., None], *args: Any) -> None:
        try:
            step(*args)
        except Exception as exc:
            self._failed(where, exc)

    def _count(self, name: str, n: int = 1) -> None:
        with self.lock:
            self.counts[name] += n

    def _failed(self, where: str, exc: BaseException) -> None:
        """Count and log a failure of monitoring. The message is left out (it may quote a served text):
        the exception's type and the line it came from are logged."""
        frames = traceback.extract_tb(exc.__traceback__)
        at = f" at {os.path.basename(frames[-1].filename)}:{frames[-1].lineno}" if frames else ""
        self.last_error = f"{where}: {type(exc).__name__}{at}"
        with self.lock:
            self.counts["errors"] += 1
            n = self.counts["errors"]
        if n <= 10 or n % 1000 == 0:  # the first ten, then every thousandth: a broken monitor is no log flood
            LOG.error("monitor failed (%d so far), requests unaffected: %s", n, self.last_error)

    def status(self) -> dict[str, Any]:
        """A consistent snapshot: counts, window, basis, pause reason and the latest drift result."""
        with self.lock:
            return {
                "counts": dict(self.counts),
                "window": {
                    "size": self.settings.window,
                    "n": len(self.window),
                    "min": self.settings.min_window,
                },
                "reference": self.basis.describe() if self.basis is not None else None,
                "paused": self.paused,
                "last_error": self.last_error,
                "since": self.restarted,
                "latest": self.latest,
                "settings": {
                    "interval": self.settings.interval,
                    "alpha": self.settings.alpha,
                    "permutations": self.settings.permutations,
                    "seed": self.settings.seed,
                },
            }


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
