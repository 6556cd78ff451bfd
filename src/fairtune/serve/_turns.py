"""Predictions and explanations take turns on the one model.

A prediction batch and an explanation run in threads of their own, and only one of them uses the model at
a time. An explanation gives the model back before each of its model calls (`explain_turn`), so it holds
the model for one chunk at a time: one forward and backward pass of at most `--explain-chunk` rows for
integrated gradients, one slice of occlusion variants, one SHAP evaluation batch. When both wait, they
alternate: a prediction batch waits for at most one explanation chunk, and a steady stream of predictions
cannot stop an explanation either (it gets one chunk after each prediction batch).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from typing import Any

PREDICT, EXPLAIN = "predict", "explain"


class ModelTurns:
    """The model, taken in turns by prediction batches and explanation chunks (see the module docstring).

    `on_predict_wait(n)` is told, for every prediction batch, how many explanation chunks ran while it
    waited: the bound the server promises is n <= 1."""

    def __init__(self, on_predict_wait: Callable[[int], None] = lambda n: None) -> None:
        self._cond = threading.Condition()
        self._owner: str | None = None
        self._waiting = {PREDICT: 0, EXPLAIN: 0}
        self._next = PREDICT  # who goes first when both wait
        self.explain_chunks = 0
        self.on_predict_wait = on_predict_wait

    @contextlib.contextmanager
    def predict(self) -> Iterator[None]:
        """Hold the model for one prediction batch."""
        seen = self.explain_chunks
        found = self._acquire(PREDICT)
        # the chunks it waited for: the one holding the model when it came, and any that started since
        self.on_predict_wait(self.explain_chunks - seen + (found == EXPLAIN))
        try:
            yield
        finally:
            self._release(PREDICT)

    def explain_turn(self) -> None:
        """Called by an explanation before each model call: hand the model over if a prediction waits,
        then take it for the next chunk."""
        if self._owner == EXPLAIN:
            self._release(EXPLAIN)
        self._acquire(EXPLAIN)
        with self._cond:
            self.explain_chunks += 1

    def explain_done(self) -> None:
        """Called when an explanation ends (or fails): give the model back."""
        if self._owner == EXPLAIN:
            self._release(EXPLAIN)

    def _acquire(self, who: str) -> str | None:
        """Wait for the model and take it; returns who held it on arrival."""
        other = EXPLAIN if who == PREDICT else PREDICT
        with self._cond:
            found = self._owner
            self._waiting[who] += 1
            while self._owner is not None or (self._waiting[other] and self._next == other):
                self._cond.wait()
            self._waiting[who] -= 1
            self._owner = who
            return found

    def _release(self, who: str) -> None:
        with self._cond:
            self._owner = None
            self._next = EXPLAIN if who == PREDICT else PREDICT
            self._cond.notify_all()


def explanation_copy(clf: Any) -> Any:
    """The classifier the explanation thread uses: `clf` with its own tokenizer (a fast tokenizer must not
    be called from two threads at once) and, for a PyTorch model, its own module (integrated gradients
    hooks the embedding layer and makes its weight require grad while it runs, which a prediction batch
    running between two chunks must not see). An ONNX Runtime session is shared: its `run` is thread-safe."""
    import copy

    twin = copy.copy(clf)
    for part in ("tokenizer", "model"):
        if hasattr(clf, part):
            setattr(twin, part, copy.deepcopy(getattr(clf, part)))
    return twin
