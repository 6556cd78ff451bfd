"""Data-side mitigations: transforms of the training set, each registered once.

A transform reads its own config section and the task data, may extend `data.train` in place, and
returns what metrics.json records about it plus extras for the training objectives (e.g. the
counterfactual partners that logit pairing uses). `fairtune train` applies every registered transform
in order; one whose section is off returns nothing. A new data-side mitigation adds a file here and one
`register_data_transform` call.

`_sweep` chooses a mitigation's setting on a validation split of the training rows (`fairtune mitigate
--sweep`); the workflow hands it the training and auditing it needs.
"""

# Each registers itself with its place in the order of application.
from fairtune.mitigations import _counterfactual, _identity_balance  # noqa: F401
from fairtune.mitigations._registry import TRANSFORMS, apply_data_transforms, register_data_transform

__all__ = ["TRANSFORMS", "apply_data_transforms", "register_data_transform"]
