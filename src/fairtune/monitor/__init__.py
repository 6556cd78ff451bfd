"""Monitoring: new texts against a run's data. Input drift (a kernel two-sample test on the model's own
sentence embeddings), interpretable shifts (length, vocabulary, identity terms), prediction drift and,
with labels, accuracy; the reference is profiled once and cached without its texts.

`fairtune monitor` (`fairtune.workflows.monitor`) wires these together; `bench/drift.py` uses them to
profile each pool of texts once and test many windows."""

from fairtune.monitor._compare import MAX_TEST_TEXTS, compare, mmd_test, p_text, reading
from fairtune.monitor._profile import (
    Profile,
    encode,
    identity_flags,
    identity_swappers,
    profile,
    run_classifier,
    vocabulary,
    word_hashes,
)
from fairtune.monitor._reference import REFERENCE_FILE, Reference, load_reference, reference_key, weights_hash
from fairtune.monitor._window import Window, model_labels, read_window

__all__ = [
    "MAX_TEST_TEXTS",
    "REFERENCE_FILE",
    "Profile",
    "Reference",
    "Window",
    "compare",
    "encode",
    "identity_flags",
    "identity_swappers",
    "load_reference",
    "mmd_test",
    "model_labels",
    "p_text",
    "profile",
    "read_window",
    "reading",
    "reference_key",
    "run_classifier",
    "vocabulary",
    "weights_hash",
    "word_hashes",
]
