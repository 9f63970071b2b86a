"""``ExplorerState``: one session's state, as an index of its parts.

Every view takes the one ``ExplorerState`` and reads and writes only it; no view talks to another
or keeps a copy. The parts say what they hold:

========== ==============================================================================
``inputs``    what to answer: models, model, example, question, context, run settings
``view``      how to look: layer, head, attention colour scale, saliency method and target
``selection`` the selected token positions every view highlights
``result``    the ``Explanation`` on show and the slices views draw from it
``jobs``      background work: the answer, integrated gradients, the trust computations
``messages``  the status line, the error, the model problem, a notice
``trust``     faithfulness, the sanity check, layer-wise answers, models side by side
``whatif``    edits of the context and the model's new answer
``dataset``   a whole-dataset run: its summary, the active slice, failure groups, per-head statistics
``compare``   two dataset runs compared question by question (the Compare page)
========== ==============================================================================

The expensive work (``core.explain``, ``core.add_saliency``, the trust reports) runs only in
``run()``, ``compute_saliency()`` and the trust parts' ``compute()``, each as a ``Job``; everything
else slices the cached result. Param only, no Panel import: the state is testable, scriptable and
notebook-drivable on its own::

    state = ExplorerState(models=["./my-squad-model"])
    state.update(question="Who wrote it?", context="It was written by Ada.")
    state.run()
    state.update(layer=1, head=3)
    state.attention_map()          # [tokens, tokens] for layer 1, head 3
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import param

import core
from core import Example, ProgressCallback
from dashboard.labels import label, short_name
from dashboard.state.comparison import CompareState
from dashboard.state.dataset import DatasetState
from dashboard.state.inputs import Inputs
from dashboard.state.jobs import Jobs, message
from dashboard.state.messages import Messages
from dashboard.state.result import Result
from dashboard.state.runners import Runner
from dashboard.state.selection import Selection
from dashboard.state.trust import TrustState
from dashboard.state.view import ViewChoices
from dashboard.state.whatif import WhatIfState

logger = logging.getLogger(__name__)

FAST_METHODS: tuple[str, ...] = ("gradient", "gradient_x_input")
"""Computed with the answer (one backward pass); integrated gradients follows."""

SLOW_METHODS: tuple[str, ...] = ("integrated_gradients",)

HOW_TO_POINT_AT_A_CHECKPOINT = (
    "Point the dashboard at a local extractive-QA checkpoint (a folder with config.json, "
    "model.safetensors and tokenizer files): `panel serve dashboard/app.py --args --model /path/to/model` "
    "(repeat --model to offer several), or set QA_LENS_MODELS=/path/a,/path/b before starting it."
)


class ExplorerState(param.Parameterized):
    """Inputs, view choices, the selection, the result, jobs, messages and trust results of one session."""

    inputs = param.ClassSelector(class_=Inputs, doc="What to answer: models, model, example, question, context.")
    view = param.ClassSelector(class_=ViewChoices, doc="How to look: layer, head, colour scale, method, target.")
    selection = param.ClassSelector(class_=Selection, doc="Selected token positions, shared by every view.")
    result = param.ClassSelector(class_=Result, doc="The Explanation on show and what is sliced from it.")
    jobs = param.ClassSelector(class_=Jobs, doc="Background work: answer, integrated gradients, trust reports.")
    messages = param.ClassSelector(class_=Messages, doc="Status line, error, model problem, notice.")
    trust = param.ClassSelector(class_=TrustState, doc="Faithfulness, sanity check, layers, models side by side.")
    whatif = param.ClassSelector(class_=WhatIfState, doc="Edits of the context and the model's new answer.")
    dataset = param.ClassSelector(class_=DatasetState, doc="A whole-dataset run: summary, slices, head atlas.")
    compare = param.ClassSelector(class_=CompareState, doc="Two dataset runs compared question by question.")

    def __init__(
        self,
        models: Sequence[str] | None = None,
        examples: Sequence[Example] | str | Path | None = None,
        answer_runner: Runner | None = None,
        saliency_runner: Runner | None = None,
        **values: Any,
    ) -> None:
        """``values`` are parameters of the parts (``model``, ``top_k``, ``layer``...), routed by name."""
        super().__init__()
        self.inputs = Inputs(models=list(models) if models else None, model=values.pop("model", None))
        self.view = ViewChoices()
        self.selection = Selection()
        self.result = Result()
        self.jobs = Jobs()
        self.messages = Messages()
        self.trust = TrustState(self.result, self.selection, self.jobs, self.inputs, self.compute_saliency)
        self.whatif = WhatIfState(result=self.result, selection=self.selection, jobs=self.jobs)
        self.dataset = DatasetState(jobs=self.jobs)
        self.compare = CompareState(jobs=self.jobs)
        self.dataset.param.watch(lambda event: setattr(self.compare, "runs", list(event.new)), ["runs"])
        self.dataset.param.watch(lambda event: self.compare.use_loaded(event.new), ["run"])
        self._comparison_asked: tuple[str, str, str] | None = None
        if answer_runner is not None or saliency_runner is not None:
            self.use_runners(answer_runner or self.jobs.answer.runner, saliency_runner or self.jobs.saliency.runner)
        self.messages.notice = self.inputs.set_examples(examples)
        self.update(**values)
        self.inputs.param.watch(self._on_example, ["example"])
        self.inputs.param.watch(self._on_model, ["model"])
        self.inputs.param.watch(self._on_link_problem, ["link_problem"])
        self.jobs.saliency.param.watch(self._on_saliency_stage, ["stage"])

    # ------------------------------------------------------------------ parts by name

    @property
    def parts(self) -> dict[str, param.Parameterized]:
        return {"inputs": self.inputs, "view": self.view, "selection": self.selection, "result": self.result}

    def owner(self, name: str) -> param.Parameterized:
        """The part that holds parameter ``name`` (``question`` -> ``inputs``, ``layer`` -> ``view``)."""
        for part in self.parts.values():
            if name in part.param and name != "name":
                return part
        raise ValueError(f"No part of the state has a parameter {name!r}.")

    def update(self, **values: Any) -> None:
        """Set parameters of the parts by name in one call: ``state.update(question=..., layer=2)``."""
        grouped: dict[int, tuple[param.Parameterized, dict[str, Any]]] = {}
        for name, value in values.items():
            part = self.owner(name)
            grouped.setdefault(id(part), (part, {}))[1][name] = value
        for part, changes in grouped.values():
            part.param.update(**changes)

    def use_runners(self, answer: Runner, background: Runner) -> None:
        """Run the answer on ``answer`` and integrated gradients and trust work on ``background``."""
        self.jobs.use_runners(answer, background)

    # ------------------------------------------------------------------ running the model

    def check_model(self) -> bool:
        """Load the chosen model now (blocking; cheap once cached) and size the layer/head choices.

        On failure ``messages.model_error`` says why and how to point the dashboard at a local checkpoint.
        """
        try:
            loaded = core.load_model(self.inputs.model)
        except Exception as error:  # a broken checkpoint can fail in many ways; say so, don't crash
            self.messages.model_error = _model_problem(self.inputs.model, error)
            return False
        self.messages.model_error = ""
        explanation = self.result.explanation
        if explanation is None or explanation.model != loaded.name:
            self.view.fit(loaded.num_layers, loaded.num_heads)
        return True

    def run(self) -> None:
        """Answer and explain the current question: answer, attention and gradients first, then
        integrated gradients (when ``inputs.compute_integrated_gradients``) with progress.

        Supersedes every job in flight. Errors never raise: they land in ``messages``. With the
        default inline runners this returns when everything is done; the app runs jobs on threads.
        """
        self.jobs.cancel_all()
        inputs = self.inputs
        question, context, model, top_k = inputs.question, inputs.context, inputs.model, inputs.top_k
        ig_max_steps, ig_baseline, contrast_rank = inputs.ig_max_steps, inputs.ig_baseline, inputs.contrast_rank
        self.messages.param.update(error="", status=f"Running {short_name(model)}…")
        began = time.perf_counter()

        def work(progress: ProgressCallback) -> core.Explanation:
            return core.explain(
                question,
                context,
                model=model,
                methods=FAST_METHODS,
                top_k=top_k,
                ig_max_steps=ig_max_steps,
                ig_baseline=ig_baseline,
                contrast_rank=contrast_rank,
                progress=progress,
            )

        self.jobs.answer.start(work, lambda explanation: self._answered(explanation, began), self._failed)

    def _answered(self, explanation: core.Explanation, began: float) -> None:
        self.messages.model_error = ""
        self._show(explanation)
        seconds = time.perf_counter() - began
        windows = f" (window {explanation.window_index + 1} of {explanation.num_windows})" * (
            explanation.num_windows > 1
        )
        self.messages.status = f"Answered in {seconds:.1f} s{windows}."
        if self.inputs.compute_integrated_gradients:
            self.compute_saliency(SLOW_METHODS)
        self._compare_if_asked(explanation)

    def compute_saliency(self, methods: Iterable[str] = SLOW_METHODS, targets: Iterable[str] = core.TARGETS) -> None:
        """Add the missing (method, target) maps to the explanation on show (in the background with a thread
        runner); start and end always come with them."""
        explanation = self.result.explanation
        if explanation is None:
            return
        methods, targets = list(methods), list(targets)
        if not core.missing_saliency(explanation, methods, targets):
            return
        self.messages.status = f"Computing {', '.join(label(m) for m in methods)}…"

        def work(progress: ProgressCallback, publish: Callable[[core.Explanation], None]) -> core.Explanation:
            return core.add_saliency(explanation, methods, targets=targets, progress=progress, on_refinement=publish)

        self.jobs.saliency.start(work, self._saliency_arrived, self._saliency_failed, interim=self._saliency_refined)

    def _saliency_refined(self, explanation: core.Explanation) -> None:
        """An early integrated-gradients map: shown at once, replaced as refinements land."""
        current = self.result.explanation
        if current is None or current.tokens != explanation.tokens or current.question != explanation.question:
            return
        self.result.add_saliency(explanation)
        errors = [e for e in explanation.ig_error.values() if e is not None]
        estimate = f", estimated error {max(errors):.1%}" if errors else ""
        self.messages.status = (
            f"Integrated gradients: refining ({explanation.ig_steps.get('evaluations')} path points{estimate})…"
        )

    def compute_shown_saliency(self) -> None:
        """Compute the method and target on show (the saliency views' button for maps computed on request)."""
        self.compute_saliency([self.view.method], [self.view.target])

    def _saliency_arrived(self, explanation: core.Explanation) -> None:
        current = self.result.explanation
        if current is None or current.tokens != explanation.tokens or current.question != explanation.question:
            return
        self.result.add_saliency(explanation)
        if "integrated_gradients" not in explanation.saliency:
            self.messages.status = "Saliency ready."
            return
        took = explanation.timings.get("saliency.integrated_gradients")
        nodes = explanation.ig_steps.get("evaluations")
        unconverged = [label(t) for t, done in explanation.ig_converged.items() if not done]
        timing = f" in {took:.1f} s" if took else ""
        points = f" ({nodes} path points)" if nodes else ""
        ending = f"; not converged for the {' and '.join(unconverged)}." if unconverged else "."
        self.messages.status = f"Integrated gradients ready{timing}{points}{ending}"

    def _saliency_failed(self, error: BaseException) -> None:
        self.jobs.saliency.error = message(error)
        self.messages.param.update(error=f"Integrated gradients failed: {message(error)}", status="")

    def _on_saliency_stage(self, event: param.parameterized.Event) -> None:
        stage = event.new
        if not stage or not self.jobs.saliency.running:
            return
        self.messages.status = "Finishing…" if stage == "done" else f"Computing {stage.replace('_', ' ')}…"

    def _failed(self, error: BaseException) -> None:
        if isinstance(error, core.ModelLoadError) or _is_load_error(error):
            self.messages.param.update(model_error=_model_problem(self.inputs.model, error), status="", error="")
        else:
            self.messages.param.update(error=message(error), status="")

    def cancel(self) -> None:
        """Forget work in flight: every job stops at its next unit and its result is dropped (a closed page)."""
        self.jobs.cancel_all()
        self.messages.status = ""

    def release(self) -> None:
        """The page is gone: stop every job and drop the results (their arrays are most of a session's memory).

        Nothing is redrawn: events are discarded, since no page shows this state any more.
        """
        self.jobs.cancel_everything()
        self.dataset.release()
        self.compare.release()
        parts: list[param.Parameterized] = [self.result, *self.trust.parts]
        for part in parts:
            with param.parameterized.discard_events(part):
                for name in ("explanation", "report", "comparison"):
                    if name in part.param:
                        setattr(part, name, None)

    def show(self, explanation: core.Explanation) -> None:
        """Show an existing explanation (e.g. ``core.Explanation.load(path)``) without running a model."""
        self.jobs.cancel_all()
        self._show(explanation)
        self.messages.param.update(error="", status="")

    def _show(self, explanation: core.Explanation | None) -> None:
        if explanation is not None:
            self.view.fit(explanation.num_layers, explanation.num_heads)
        self.selection.reset(0 if explanation is None else explanation.num_tokens)
        self.result.show(explanation)

    # ------------------------------------------------------------------ inputs that start work

    def _on_example(self, event: param.parameterized.Event) -> None:
        if self.inputs.chosen_example() is not None and self.inputs.auto_run:
            self.run()

    def _on_link_problem(self, event: param.parameterized.Event) -> None:
        if event.new:
            self.messages.notice = f"{event.new} Paste the context again, or ask for a new link."

    def _on_model(self, _event: param.parameterized.Event) -> None:
        self.messages.param.update(model_error="", error="")
        explanation = self.result.explanation
        if explanation is not None and explanation.model != self.inputs.model:
            # Another model's answer would sit under this model's layer and head choices.
            self.jobs.cancel_all()
            self._show(None)
        if self.inputs.auto_run and self.inputs.question.strip() and self.inputs.context.strip():
            self.run()  # loads the model in the answer job; a load failure lands in model_error
            return
        model = self.inputs.model
        self.messages.status = f"Loading {short_name(model)}…"

        def load(_progress: ProgressCallback) -> core.LoadedModel:
            return core.load_model(model)

        self.jobs.answer.start(load, lambda loaded: self._model_loaded(model, loaded), self._failed)

    def _model_loaded(self, model: str, loaded: core.LoadedModel) -> None:
        if model != self.inputs.model:
            return
        self.messages.status = ""
        explanation = self.result.explanation
        if explanation is None or explanation.model != loaded.name:
            self.view.fit(loaded.num_layers, loaded.num_heads)

    def open_dataset_example(self, example_id: str, run: Any = None, compare_with: str = "") -> None:
        """Show one example of a dataset run in the explorer: its question, context, model and gold answer.

        ``run``: the run it is read from (default: the Dataset page's). ``compare_with``: another model to put
        side by side with the run's once the answer is on show (``trust.comparison``: the Compare page's flips).
        """
        run = self.dataset.run if run is None else run
        if run is None:
            raise KeyError("No dataset run is open.")
        row = run.row(example_id)
        if row.get("error"):
            raise ValueError(f"Example {example_id!r} could not be run: {row['error']}")
        model = run.summary.model or self.inputs.model
        offered = [name for name in (model, compare_with) if name and name not in self.inputs.models]
        if offered:
            self.inputs.models = [*self.inputs.models, *offered]
        golds = row.get("gold_answers") or []
        starts = row.get("gold_starts") or []
        example = Example(
            id=str(row["id"]),
            title=str(row.get("title") or ""),
            question=str(row["question"]),
            context=str(row["context"]),
            answer_text=str(golds[0]) if golds else "",
            answer_start=int(starts[0]) if starts else -1,
        )
        self.inputs.offer_example(example)
        self._comparison_asked = (example.question, model, compare_with) if compare_with else None
        auto_run = self.inputs.auto_run
        self.inputs.auto_run = False  # one run below, not one per change
        try:
            self.inputs.param.update(model=model, example=example.id)
        finally:
            self.inputs.auto_run = auto_run
        self.run()

    def open_compared_example(self, example_id: str) -> None:
        """A question of the Compare page in the explorer: run A's model answers it, run B's beside it."""
        run_a, run_b = self.compare.runs_compared()
        self.open_dataset_example(example_id, run=run_a, compare_with=run_b.summary.model or run_b.manifest["model"])

    def _compare_if_asked(self, explanation: core.Explanation) -> None:
        """The answer a comparison waited for is on show: compare its model with the other one."""
        asked, self._comparison_asked = self._comparison_asked, None
        if asked is None:
            return
        question, model, other = asked
        if explanation.question != question or explanation.model != model:
            return
        self.trust.comparison.models = [model, other]
        self.trust.comparison.compute()

    # ------------------------------------------------------------------ the selection and current slices

    def select(self, positions: Iterable[int], mode: str = "replace") -> None:
        """Change the shared selection (``Selection.select``)."""
        self.selection.select(positions, mode)

    @property
    def explanation(self) -> core.Explanation | None:
        return self.result.explanation

    def attention_map(self) -> np.ndarray:
        """The ``[tokens, tokens]`` map of the current layer and head (rows: from, columns: to)."""
        return self.result.attention_map(self.view.layer, self.view.head)

    def question_attention(self) -> np.ndarray:
        """Question -> context attention of the current layer and head, ``[tokens]``."""
        return self.result.question_attention(self.view.layer, self.view.head)

    def head_links(self) -> dict[str, np.ndarray]:
        """The head view's lines for the current layer, head and selection."""
        return self.result.head_links(self.view.layer, self.view.head, self.selection.tokens)

    def integrated_gradients_note(self) -> str:
        """What to know about the integrated-gradients map on show: still refining, or final but not converged."""
        explanation = self.result.explanation
        target = self.view.target
        if explanation is None or self.view.method != "integrated_gradients" or target not in explanation.ig_converged:
            return ""
        points = explanation.ig_steps.get("evaluations")
        error = explanation.ig_error.get(target)
        estimate = "not yet estimable" if error is None else f"estimated error {error:.1%}"
        if self.jobs.saliency.running:
            return f"refining: {points} path points so far, {estimate}"
        if not explanation.ig_converged[target]:
            return (
                f"⚠ did not converge for the {label(target)} ({estimate} after {points} path points); "
                "raise the path points in Settings and run again"
            )
        return ""

    def saliency_values(self, method: str | None = None, target: str | None = None) -> np.ndarray | None:
        """Saliency ``[tokens]`` for the current (or given) method and target; ``None`` while not computed."""
        return self.result.saliency_values(method or self.view.method, target or self.view.target)


def _is_load_error(error: BaseException) -> bool:
    """Errors that come from loading a model rather than from the question (a broken checkpoint)."""
    return isinstance(error, OSError) and not isinstance(error, FileNotFoundError)


def _model_problem(model: str, error: BaseException) -> str:
    if isinstance(error, core.ModelLoadError):
        return f"{error}\n\n{HOW_TO_POINT_AT_A_CHECKPOINT}"
    logger.error("loading %s failed", model, exc_info=error)
    return f"Model {model!r} could not be loaded: {error}\n\n{HOW_TO_POINT_AT_A_CHECKPOINT}"


__all__ = ["FAST_METHODS", "HOW_TO_POINT_AT_A_CHECKPOINT", "SLOW_METHODS", "ExplorerState"]
