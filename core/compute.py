"""How passes that need no attention weights run: SDPA attention, and bfloat16 where the CPU has it.

Models load with eager attention because only it returns attention weights. Gradient and
faithfulness passes do not need them, and PyTorch's fused SDPA kernel is faster, so those passes
switch the model to SDPA for their duration (under the model's lock, so no other thread sees the
switch). Two private names are leaned on here, both checked by tests/test_dependency_canary.py:
``PretrainedConfig._attn_implementation`` (the only way to read the current implementation back)
and ``torch.cpu._is_avx512_bf16_supported`` / ``_is_amx_tile_supported`` (the CPU's bfloat16 units).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from core.models import LoadedModel

NATIVE_BFLOAT16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
"""CPU flags (as /proc/cpuinfo names them) of units that compute bfloat16 natively."""


@contextmanager
def fast_attention(loaded: LoadedModel) -> Iterator[None]:
    """Use SDPA attention for passes that need no attention weights, then restore the previous one."""
    model = loaded.model
    previous = model.config._attn_implementation
    with loaded.lock:
        switched = False
        try:
            model.set_attn_implementation("sdpa")
            switched = True
        except (ValueError, ImportError, AttributeError):
            switched = False
        try:
            yield
        finally:
            if switched:
                model.set_attn_implementation(previous)


def bfloat16_is_fast() -> bool:
    """Whether this CPU computes bfloat16 natively (AVX512-BF16 or AMX), so bfloat16 passes pay off.

    AVX512BW alone is not enough: oneDNN then emulates bfloat16 with float32 arithmetic plus
    conversions, which is slower than plain float32 (oneDNN's own ``_is_mkldnn_bf16_supported``
    accepts it, so it is not used here).
    """
    probes = [getattr(torch.cpu, name, None) for name in ("_is_avx512_bf16_supported", "_is_amx_tile_supported")]
    if any(probe is not None for probe in probes):
        return any(bool(probe()) for probe in probes if probe is not None)
    return bool(cpu_flags() & NATIVE_BFLOAT16_FLAGS)


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> frozenset[str]:
    """The CPU feature flags Linux reports (empty where there is no /proc/cpuinfo)."""
    try:
        text = Path(cpuinfo).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


__all__ = ["NATIVE_BFLOAT16_FLAGS", "bfloat16_is_fast", "cpu_flags", "fast_attention"]
