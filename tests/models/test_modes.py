"""eval_mode: dropout off within the block, the caller's mode back afterwards, also after an error."""

from __future__ import annotations

import pytest
import torch

from fairtune.models import eval_mode


@pytest.mark.parametrize("training", [True, False])
def test_eval_mode_restores_the_callers_mode_also_after_an_error(training: bool) -> None:
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.Dropout(0.5))
    model.train(training)
    with eval_mode(model):
        assert not model.training and not model[1].training
    assert model.training is training and model[1].training is training
    with pytest.raises(RuntimeError, match="boom"), eval_mode(model):
        assert not model.training
        raise RuntimeError("boom")
    assert model.training is training
