"""Extra training objectives, each summed onto the task's cross-entropy: counterfactual logit pairing,
distillation, attack-based adversarial training (A2T) and embedding-space adversarial training; and term
tying, a constraint on the input embeddings that adds no loss. See `_base` for the interface."""

# Each registers itself with its place in the step (see OBJECTIVES).
from fairtune.training.objectives import _adversarial, _attack, _distillation, _pairing, _tying  # noqa: F401
from fairtune.training.objectives._base import (
    OBJECTIVES,
    Objective,
    ObjectiveContext,
    Step,
    build_objectives,
    register_objective,
)

__all__ = ["OBJECTIVES", "Objective", "ObjectiveContext", "Step", "build_objectives", "register_objective"]
