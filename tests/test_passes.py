"""One room runs the model: ``core.passes``. Every other core module asks it, checked twice.

- statically: no core module but ``core/passes.py`` calls a model (``x.model(...)``, ``model(...)``,
  ``x.qa_outputs(...)``, ``x.forward(...)`` on a model); ``core/fixtures`` is exempt, it fits test checkpoints
  before any ``LoadedModel`` exists;
- at run time: a hook on the model and on its QA head records, for every forward, the innermost frame that
  lies in this project's ``core``; explain with every method and target, add_saliency, re-answer, head
  importance, faithfulness, the sanity check, layer answers, model comparison and dataset rows must all
  reach the model from ``core/passes.py``.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

import core
from core import passes
from core.dataset import RowSettings, compute_rows
from core.dataset.reading import DatasetExample
from core.whatif import mask, reanswer

pytestmark = pytest.mark.usefixtures("one_torch_thread")

ROOT = Path(__file__).resolve().parent.parent
CORE = ROOT / "core"
ROOM = CORE / "passes.py"
EXEMPT = (CORE / "fixtures",)

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = (
    "The Eiffel Tower was completed in 1889 and is 330 metres tall. It was designed by the engineer "
    "Gustave Eiffel, whose company built it for the World's Fair in Paris."
)


def _model_calls(path: Path) -> list[str]:
    """``file:line`` of every call that runs a model or its QA head."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        name = function.attr if isinstance(function, ast.Attribute) else getattr(function, "id", None)
        owner = function.value if isinstance(function, ast.Attribute) else None
        owner_name = owner.attr if isinstance(owner, ast.Attribute) else getattr(owner, "id", "")
        if name in ("model", "qa_outputs") or (name == "forward" and "model" in str(owner_name)):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}")
    return found


def test_no_core_module_but_the_passes_calls_a_model() -> None:
    calls = [
        call
        for path in sorted(CORE.rglob("*.py"))
        if path != ROOM and not any(path.is_relative_to(exempt) for exempt in EXEMPT)
        for call in _model_calls(path)
    ]
    assert calls == [], f"the model runs outside core/passes.py: {calls}"
    assert _model_calls(ROOM), "the static check found no model call in core/passes.py: it checks nothing"


def _caller_in_core() -> Path | None:
    """The innermost frame of this project's ``core`` package on the stack (a hook's caller's caller...)."""
    frame = sys._getframe(1)
    while frame is not None:
        path = Path(frame.f_code.co_filename)
        if path.is_relative_to(CORE):
            return path
        frame = frame.f_back
    return None


@pytest.fixture()
def callers(tiny_bert_dir: str) -> Iterator[list[Path | None]]:
    """Every forward of the tiny model (and of its QA head) while the test runs, by the core file that asked."""
    loaded = core.load_model(tiny_bert_dir)
    seen: list[Path | None] = []

    def record(_module: torch.nn.Module, _args: object) -> None:
        seen.append(_caller_in_core())

    handles = [
        loaded.model.register_forward_pre_hook(record),
        loaded.model.qa_outputs.register_forward_pre_hook(record),
    ]
    core.clear_cache()
    try:
        yield seen
    finally:
        for handle in handles:
            handle.remove()
        core.clear_cache()


def test_every_way_of_reading_the_model_goes_through_the_passes(tiny_bert_dir: str, callers: list) -> None:
    loaded = core.load_model(tiny_bert_dir)
    explanation = core.explain(
        QUESTION,
        CONTEXT,
        loaded,
        methods=core.METHODS,
        targets=("contrast", "null"),
        lime_samples=20,
        kernel_shap_samples=20,
        smoothgrad_samples=4,
        use_cache=False,
    )
    long_context = " ".join([CONTEXT] * 4)
    core.explain(QUESTION, long_context, loaded, methods=(), max_length=64, stride=16, use_cache=False)
    reanswer(explanation, mask(0, 3), model=loaded)
    core.head_importance(explanation, loaded)
    core.faithfulness(explanation, loaded, fractions=(0.0, 0.5, 1.0), eraser_fractions=(0.2,), random_orders=1)
    core.sanity_check(explanation, loaded, methods=("gradient",))
    core.layer_answers(explanation)
    items = [
        DatasetExample(
            id="a",
            title="t",
            question=QUESTION,
            context=CONTEXT,
            answers=("Gustave Eiffel",),
            answer_starts=(CONTEXT.index("Gustave"),),
            is_impossible=False,
        )
    ]
    settings = RowSettings(methods=("gradient", "gradient_x_input", "integrated_gradients"), faithfulness=True)
    compute_rows(loaded, items, settings, keep_ids={"a"})
    assert len(callers) > 20, "the hooks saw too few passes to have checked anything"
    outside = sorted(
        {str(path.relative_to(ROOT)) if path else "(no core frame)" for path in callers} - {"core/passes.py"}
    )
    assert outside == [], f"the model ran from {outside}, not from core/passes.py"


def test_the_answer_pass_is_the_fast_path_and_repeatable(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    encoding = core.encode(loaded.tokenizer, QUESTION, " ".join([CONTEXT] * 4), max_length=64, stride=16)
    seen: list[str] = []
    handle = loaded.model.register_forward_pre_hook(lambda *_: seen.append(loaded.model.config._attn_implementation))
    try:
        first = passes.answer_logits(loaded, encoding.windows)
        second = passes.answer_logits(loaded, list(encoding.windows), batch_tokens=10_000)
    finally:
        handle.remove()
    assert set(seen) == {"sdpa"} and loaded.model.config._attn_implementation == "eager"
    assert [len(w.start) for w in first] == [window.length for window in encoding.windows]
    for one, other in zip(first, second, strict=True):
        np.testing.assert_allclose(one.start, other.start, rtol=1e-5, atol=1e-5)
    again = passes.answer_logits(loaded, encoding.windows)
    for one, other in zip(first, again, strict=True):
        assert np.array_equal(one.start, other.start) and np.array_equal(one.end, other.end)


def test_a_detail_pass_gives_each_rows_own_gradient(tiny_bert_dir: str) -> None:
    loaded = core.load_model(tiny_bert_dir)
    windows = [
        core.encode(loaded.tokenizer, question, CONTEXT).windows[0]
        for question in (QUESTION, "When was the tower completed?")
    ]
    with loaded.lock:
        together = passes.DetailPass(loaded, windows, gradients=True)
        both = together.embedding_gradients({"start": [(0, "start", 5), (1, "start", 7)]})["start"]
        for row, token in ((0, 5), (1, 7)):
            alone = passes.DetailPass(loaded, [windows[row]], gradients=True)
            own = alone.embedding_gradients({"start": [(0, "start", token)]})["start"][0]
            length = windows[row].length
            np.testing.assert_allclose(both[row, :length].numpy(), own[:length].numpy(), atol=1e-5)
            assert np.allclose(together.attentions(row).sum(-1), 1.0, atol=1e-4)
    with pytest.raises(ValueError, match="without gradients"):
        passes.DetailPass(loaded, windows[:1]).embedding_gradients({"start": [(0, "start", 1)]})
