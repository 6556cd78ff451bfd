"""Monitoring: new texts against a run's data. Input drift (a kernel two-sample test on the model's own
sentence embeddings), interpretable shifts (length, vocabulary, identity terms), prediction drift and,
with labels, accuracy; the reference is profiled once and cached without its texts.

`fairtune monitor` (`fairtune.workflows.monitor`) wires these together; `bench/drift.py` uses them to
profile each pool of texts once and test many windows; `fairtune serve --monitor` keeps a `ServingMonitor`:
a rolling window of the served texts' embeddings and measurements (never the texts) tested the same way."""

from fairtune.monitor._compare import MAX_TEST_TEXTS, compare, mmd_test, p_text, reading
from fairtune.monitor._profile import (
    Profile,
    describe,
    encode,
    identity_flags,
    identity_swappers,
    profile,
    run_classifier,
    vocabulary,
    word_hashes,
)
from fairtune.monitor._reference import (
    REFERENCE_FILE,
    Reference,
    load_reference,
    missing_reference_data,
    reference_key,
    weights_hash,
)
from fairtune.monitor._serving import Basis, RollingWindow, ServingMonitor, WatchSettings
from fairtune.monitor._window import Window, model_labels, read_window

__all__ = [
    "MAX_TEST_TEXTS",
    "REFERENCE_FILE",
    "Basis",
    "Profile",
    "Reference",
    "RollingWindow",
    "ServingMonitor",
    "WatchSettings",
    "Window",
    "compare",
    "describe",
    "encode",
    "identity_flags",
    "identity_swappers",
    "load_reference",
    "missing_reference_data",
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
