"""Pick the compute precision: bf16 autocast only where the hardware runs bf16 natively."""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path


@lru_cache(maxsize=1)
def cpu_has_native_bf16() -> bool:
    """True when the CPU has AMX-BF16 or AVX512-BF16 (emulated bf16 is far slower than fp32)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    for line in flags.splitlines():
        if line.startswith("flags"):
            words = set(line.split(":", 1)[1].split())
            return bool({"amx_bf16", "avx512_bf16"} & words)
    return False


def resolve_precision(precision: str, device: str | None = None) -> str:
    """Map 'auto' to 'bf16' or 'fp32' for `device` (unset: the GPU when there is one, else the CPU);
    explicit values pass through."""
    if precision != "auto":
        return precision
    import torch

    on_gpu = torch.cuda.is_available() if device is None else device.startswith("cuda")
    if on_gpu:
        return "bf16" if torch.cuda.is_bf16_supported() else "fp32"
    return "bf16" if cpu_has_native_bf16() else "fp32"
