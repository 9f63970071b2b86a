"""Canaries: the private names of pinned dependencies the project leans on are still there.

Each one is used in exactly one place, which says why. When an upgrade removes one, this test
fails with the name, the place and what breaks, instead of a slower page or a silent fallback.
"""

from __future__ import annotations

import inspect

import panel as pn
import pytest
import torch
from bokeh.document import Document

import core
from dashboard.controls import ImmediateSelect
from dashboard.views.bokeh_batching import PRIVATE_NAMES


def test_bokeh_still_has_the_model_freeze_the_page_batches_with() -> None:
    models = Document().models
    missing = [name for name in PRIVATE_NAMES if not hasattr(models, name)]
    assert not missing, (
        f"Bokeh's DocumentModelManager lost {missing}: dashboard/views/bokeh_batching.py falls back to one "
        "model-graph walk per plot update (head switches get slower). Re-measure with bench/bench_dashboard.py."
    )


def test_panel_still_honours_priority_changes() -> None:
    assert "_priority_changes" in inspect.getsource(pn.reactive.Syncable), (
        "Panel no longer reads Syncable._priority_changes: dashboard/controls.py ImmediateSelect then waits for "
        "the 50 ms debounce again (head and method switches get slower)."
    )
    assert ImmediateSelect._priority_changes == ["value"]


def test_transformers_still_lets_the_attention_implementation_be_read_and_switched(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    assert hasattr(loaded.model.config, "_attn_implementation"), (
        "transformers' config lost _attn_implementation: core/compute.py fast_attention cannot restore eager "
        "attention after a gradient pass (attention maps would break)."
    )
    assert callable(getattr(loaded.model, "set_attn_implementation", None))
    assert loaded.model.config._attn_implementation == "eager"


@pytest.mark.parametrize("name", ["_is_avx512_bf16_supported", "_is_amx_tile_supported"])
def test_torch_still_reports_the_cpus_bfloat16_units(name: str) -> None:
    probe = getattr(torch.cpu, name, None)
    assert callable(probe), (
        f"torch.cpu.{name} is gone: core/compute.py bfloat16_is_fast falls back to /proc/cpuinfo (Linux only)."
    )
    assert isinstance(probe(), bool)
