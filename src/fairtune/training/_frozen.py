"""Run the frozen bottom of an encoder once, not at every step.

When only the top N encoder layers, the pooler and the head train (`train.privacy.trainable_layers`), the
layers below are a fixed function of the text. `FrozenBottomCache` runs them once per training text (in
eval mode, so without dropout) and keeps each text's hidden states; training steps then run only the
trainable top on those states. On GLUE SST-2 with MiniLM and one trainable layer, that removes five sixths
of every step's forward pass.

How, without re-implementing any model's forward: the encoder's layer list is swapped for the trainable
layers during a step, and a pre-hook on the encoder hands it the cached states in place of the embeddings.
Everything else (the attention mask, the pooler, the head, Opacus' hooks on the trainable modules) runs as
the model defines it.
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import Any

import torch

from fairtune.models import eval_mode
from fairtune.training._batching import collate


class _Stop(Exception):
    """Raised by a hook once the frozen bottom's output is captured: the rest need not run."""


def encoder_layers(model: torch.nn.Module) -> tuple[str, torch.nn.ModuleList] | None:
    """(dotted path, module) of the encoder's numbered layer list, e.g. `bert.encoder.layer`."""
    lists = [
        (name, module)
        for name, module in model.named_modules()
        if isinstance(module, torch.nn.ModuleList) and re.search(r"(^|\.)layers?$", name) and len(module)
    ]
    return max(lists, key=lambda nm: sum(p.numel() for p in nm[1].parameters()), default=None)


def _parent(path: str) -> tuple[str, str]:
    """`a.b.layer` -> (`a.b`, `layer`): the module holding the layer list, and its attribute name."""
    parent, _, attr = path.rpartition(".")
    return parent, attr


def cacheable(model: torch.nn.Module, n_trainable: int) -> str | None:
    """Why the bottom of `model` cannot be cached for `n_trainable` top layers, or None if it can."""
    if hasattr(model, "peft_config"):
        return "adapters (LoRA) sit in every layer"
    found = encoder_layers(model)
    if found is None:
        return "no encoder layer list found"
    path, layers = found
    first = len(layers) - n_trainable
    if first <= 0:
        return "every encoder layer trains"
    encoder_path = _parent(path)[0]
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        m = re.match(rf"{re.escape(path)}\.(\d+)\.", name)
        inside_encoder = name.startswith(encoder_path + ".") if encoder_path else True
        if (m and int(m.group(1)) < first) or (not m and inside_encoder) or "embed" in name:
            return f"{name} below the trainable layers still trains"
    return None


class FrozenBottomCache:
    """The hidden states entering the first trainable encoder layer, per training text."""

    def __init__(self, model: torch.nn.Module, n_trainable: int) -> None:
        assert cacheable(model, n_trainable) is None
        found = encoder_layers(model)
        assert found is not None
        self.path, self.layers = found
        self.first = len(self.layers) - n_trainable
        parent_path, self.attr = _parent(self.path)
        self.encoder = model.get_submodule(parent_path) if parent_path else model
        self.arg_name = next(iter(inspect.signature(self.encoder.forward).parameters))
        self.states: list[torch.Tensor] = []

    @contextmanager
    def _layers(self, layers: torch.nn.ModuleList) -> Iterator[None]:
        setattr(self.encoder, self.attr, layers)
        try:
            yield
        finally:
            setattr(self.encoder, self.attr, self.layers)

    def build(
        self,
        model: torch.nn.Module,
        encoded: Sequence[Sequence[int]],
        pad_id: int,
        *,
        batch_size: int = 64,
        progress: Any = None,
    ) -> None:
        """Run the frozen layers over every text once (eval mode, longest texts together)."""
        captured: list[torch.Tensor] = []

        def grab(_module: Any, _args: Any, output: Any) -> None:
            captured.append(output[0] if isinstance(output, tuple) else output.last_hidden_state)
            raise _Stop

        order = sorted(range(len(encoded)), key=lambda i: -len(encoded[i]))
        self.states = [torch.empty(0)] * len(encoded)
        handle = self.encoder.register_forward_hook(grab)
        try:
            layers = torch.nn.ModuleList(self.layers[: self.first])
            with eval_mode(model), self._layers(layers), torch.inference_mode():
                for start in range(0, len(order), batch_size):
                    idx = order[start : start + batch_size]
                    batch = collate(encoded, idx, None, pad_id)
                    with suppress(_Stop):
                        model(**batch)
                    hidden = captured.pop()
                    for row, i in enumerate(idx):
                        self.states[i] = hidden[row, : len(encoded[i])].clone()
                    if progress is not None:
                        progress(len(idx))
        finally:
            handle.remove()

    @contextmanager
    def top_only(self, idx: Sequence[int]) -> Iterator[None]:
        """Within this block, the model runs only its trainable top, on the cached states of `idx`
        (padded to the longest of them, as `collate` pads the ids)."""
        width = max(self.states[i].shape[0] for i in idx)
        dim = self.states[idx[0]].shape[-1]
        hidden = torch.zeros((len(idx), width, dim), dtype=self.states[idx[0]].dtype)
        for row, i in enumerate(idx):
            hidden[row, : self.states[i].shape[0]] = self.states[i]

        def swap(_module: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[Any, Any]:
            if args:
                return (hidden.to(args[0].device), *args[1:]), kwargs
            kwargs[self.arg_name] = hidden.to(kwargs[self.arg_name].device)
            return args, kwargs

        handle = self.encoder.register_forward_pre_hook(swap, with_kwargs=True)
        try:
            with self._layers(torch.nn.ModuleList(self.layers[self.first :])):
                yield
        finally:
            handle.remove()
