"""Where inference runs (audits, explanations, predict, serve): `model.device: auto|cpu|cuda`.

Training places itself through Accelerate; this is the setting for everything after it. ONNX variants
run on ONNX Runtime's CPU provider whatever the setting.
"""

from __future__ import annotations

from fairtune.errors import DEVICE_UNAVAILABLE, FairtuneError

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(requested: str | None, field: str = "model.device") -> str:
    """'cuda' or 'cpu' for `requested` (None or 'auto': cuda when torch sees a GPU). Asking for cuda
    where there is none is an error naming `field`, never a silent fall back to the CPU."""
    import torch

    choice = requested or "auto"
    if choice not in DEVICES and not choice.startswith("cuda:"):
        raise FairtuneError(
            f"{field}: unknown device {choice!r}. Choose one of {', '.join(DEVICES)} (or cuda:N)."
        )
    if choice == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if choice.startswith("cuda") and not torch.cuda.is_available():
        raise FairtuneError(DEVICE_UNAVAILABLE.format(field=field, device=choice, torch=torch.__version__))
    return choice
