"""The one way fairtune switches a model to eval mode for a while: inference, attacks, gradient ranking,
attribution, frozen-layer caching and held-out perplexity all need dropout off and the caller's mode back
afterwards, also when they fail."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def eval_mode(model: Any) -> Iterator[None]:
    """`model` in eval mode within the block; its own mode (training or not) restored on leaving it."""
    was_training = model.training
    model.eval()
    try:
        yield
    finally:
        model.train(was_training)
