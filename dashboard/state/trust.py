"""Trust results of the answer on show: faithfulness, the sanity check, layer-wise answers, other models.

They belong to the session's state like the answer itself: a new answer clears them, and the
same answer with integrated gradients filled in keeps them. Each expensive result is computed on
request by its ``Job`` (``state.jobs``), never on a parameter change. Two of them need the
answer's integrated gradients: rather than run their own copy, they ask the state for it
(``ExplorerState.compute_saliency``) and wait, so integrated gradients never runs twice at once.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import param

import core
from core import ProgressCallback, sub_progress
from core.trust import (
    ATTENTION_VARIANTS,
    DEFAULT_EXPLAINERS,
    Comparison,
    FaithfulnessReport,
    HeadImportance,
    LayerwiseReport,
    SanityReport,
)
from dashboard.labels import choices
from dashboard.state.inputs import Inputs
from dashboard.state.jobs import Job, Jobs
from dashboard.state.result import Result
from dashboard.state.selection import Selection

NEEDS_IG = "integrated_gradients"
WAITING = "waiting for integrated gradients"


class TrustPart(param.Parameterized):
    """One trust result of a session: it reads the answer on show and writes the shared selection."""

    result = param.ClassSelector(class_=Result, precedence=-1, doc="The session's answer on show.")
    selection = param.ClassSelector(class_=Selection, precedence=-1, doc="The session's shared token selection.")
    jobs = param.ClassSelector(class_=Jobs, precedence=-1, doc="The session's jobs (this part's is among them).")
    request_saliency = param.Callable(
        default=None, precedence=-1, doc="Asks the session for the answer's integrated gradients (computed once)."
    )

    job_name = ""

    def __init__(self, **params: Any) -> None:
        super().__init__(**params)
        self._waiting = False

    @property
    def job(self) -> Job:
        return getattr(self.jobs, self.job_name)

    def clear(self) -> None:
        """A new answer is on show: forget this result."""

    def _with_integrated_gradients(self) -> core.Explanation | None:
        """The explanation if it has integrated gradients; else ask for them, hold the job, and return None.

        ``resume`` runs when they are final (``TrustState`` watches the saliency job stop).
        """
        explanation = self.result.explanation
        if explanation is None:
            self.job.error = "Run a question first."
            return None
        if NEEDS_IG in explanation.saliency and not self.jobs.saliency.running:
            return explanation  # final (an early, still refining map arrives while the job runs)
        self._waiting = True
        self.job.hold(WAITING)
        if not self.jobs.saliency.running:
            self.request_saliency()
        return None

    def resume(self) -> None:
        """Integrated gradients arrived (or failed): go on with a computation that waited for them."""
        if not self._waiting:
            return
        self._waiting = False
        self.compute()

    def give_up(self, reason: str) -> None:
        """Integrated gradients will not arrive: end the wait (saying ``reason``, if any)."""
        if self._waiting:
            self._waiting = False
            self.job.cancel()
            self.job.error = reason

    def compute(self) -> None:
        raise NotImplementedError


class FaithfulnessState(TrustPart):
    """Deletion and insertion curves of every explainer, and which explainer and fraction the user picked."""

    report = param.ClassSelector(
        class_=FaithfulnessReport, default=None, allow_None=True, doc="The faithfulness report on show."
    )
    curve = param.Selector(default="deletion", objects=choices(["deletion", "insertion"]), doc="Which curves to draw.")
    explainer = param.String(
        default="", doc="Explainer whose tokens a tap on the plot selects (and whose line is bold); empty: the best."
    )
    fraction = param.Number(
        default=None, allow_None=True, bounds=(0.0, 1.0), doc="Fraction of the context last tapped (marked)."
    )
    precision = param.Selector(
        default="float32",
        objects=["float32", "bfloat16"],
        doc=(
            "What the masked passes compute in. bfloat16 is 1.7x faster where the CPU has it natively, but on "
            "trained weights its curve points differ from float32's by up to 65% and one ranking changed "
            "(bench/bench_faithfulness.py), so it is never the default."
        ),
    )

    job_name = "faithfulness"

    def clear(self) -> None:
        self._waiting = False
        self.param.update(report=None, explainer="", fraction=None)

    def compute(self) -> None:
        """Measure every explainer (after integrated gradients, which the state computes once)."""
        explanation = self._with_integrated_gradients()
        if explanation is None:
            return
        precision = self.precision

        def work(progress: ProgressCallback) -> FaithfulnessReport:
            return core.faithfulness(explanation, compute_missing=False, precision=precision, progress=progress)

        self.job.start(work, self._done)

    def _done(self, report: FaithfulnessReport) -> None:
        if self.result.explanation is not None and report.question == self.result.explanation.question:
            self.report = report

    @property
    def chosen(self) -> str:
        """The explainer taps select for: ``explainer`` if set, else the best ranked."""
        if self.report is None:
            return ""
        if self.explainer in self.report.explainers:
            return self.explainer
        return self.report.ranking()[0]["name"]

    def select_fraction(self, fraction: float) -> None:
        """Select the tokens the chosen explainer removes (deletion) or keeps (insertion) at ``fraction``."""
        if self.report is None:
            return
        nearest = min(self.report.fractions, key=lambda f: abs(f - float(fraction)))
        self.fraction = nearest
        self.selection.select(self.report.removed_tokens(self.chosen, nearest))

    def choose(self, explainer: str) -> None:
        """Make ``explainer`` the one taps select for (and re-select at the marked fraction)."""
        self.explainer = explainer
        if self.fraction is not None:
            self.select_fraction(self.fraction)


class SanityState(TrustPart):
    """The randomisation sanity check, and which correlation, method and step the user looks at."""

    report = param.ClassSelector(class_=SanityReport, default=None, allow_None=True, doc="The report on show.")
    correlation = param.Selector(
        default="spearman", objects=choices(["spearman", "spearman_abs"]), doc="Signed ranks or ranks of |values|."
    )
    method = param.Selector(
        default="integrated_gradients",
        objects=choices(core.DEFAULT_METHODS),
        doc="Method whose map before and after randomisation is drawn.",
    )
    step = param.Integer(default=None, allow_None=True, doc="Step drawn (index into the steps); None: the last.")

    job_name = "sanity"

    def clear(self) -> None:
        self.param.update(report=None, step=None)

    def compute(self) -> None:
        explanation = self.result.explanation
        if explanation is None:
            self.job.error = "Run a question first."
            return

        def work(progress: ProgressCallback) -> SanityReport:
            return core.sanity_check(explanation, progress=progress)

        self.job.start(work, self._done)

    def _done(self, report: SanityReport) -> None:
        self.report = report


class LayersState(TrustPart):
    """Where the answer forms (cheap: computed with every new answer), and start or end on show."""

    report = param.ClassSelector(class_=LayerwiseReport, default=None, allow_None=True, doc="Per-layer answers.")
    target = param.Selector(default="start", objects=choices(core.TARGETS), doc="Start or end probabilities.")

    def clear(self) -> None:
        explanation = self.result.explanation
        self.report = None if explanation is None else core.layer_answers(explanation)

    def compute(self) -> None:
        self.clear()


class ComparisonState(TrustPart):
    """Other models on the same question, aligned on the context's words, and the word selection."""

    comparison = param.ClassSelector(class_=Comparison, default=None, allow_None=True, doc="The comparison on show.")
    models = param.List(default=[], item_type=str, doc="Models to compare (two or more).")
    explainer = param.Selector(
        default="integrated_gradients",
        objects=choices(DEFAULT_EXPLAINERS),
        doc="Which saliency or attention map to compare.",
    )
    selected_words = param.List(
        default=[], item_type=int, doc="Selected context words (indices of core.context_words), shared by every chart."
    )

    job_name = "comparison"

    def clear(self) -> None:
        self._waiting = False
        self.param.update(comparison=None, selected_words=[])

    def offer(self, models: list[str], current: str) -> None:
        """Pre-choose the current model and the next one, once two or more are on offer."""
        kept = [m for m in self.models if m in models]
        if len(kept) < 2 and len(models) >= 2:
            kept = [current, next(m for m in models if m != current)]
        if kept != self.models:
            self.models = kept

    def compute(self) -> None:
        """Answer with every chosen model and align them (the current model's answer is the one on show)."""
        job = self.job
        models = list(dict.fromkeys(self.models))
        if len(models) < 2:
            job.error = "Choose two or more models to compare."
            return
        current = self.result.explanation
        if current is not None and current.model in models:
            current = self._with_integrated_gradients()
            if current is None:
                return
        elif current is None:
            job.error = "Run a question first."
            return
        question, context = current.question, current.context
        # The methods the answer on show has (computed on request too), so every model is compared on them.
        methods = [m for m in core.METHODS if m in current.saliency] or list(core.DEFAULT_METHODS)
        explainers = [*methods, *ATTENTION_VARIANTS]

        def work(progress: ProgressCallback) -> Comparison:
            explanations = []
            for index, model in enumerate(models):
                if model == current.model:
                    explanations.append(current)
                    continue
                within = sub_progress(progress, f"{model}: ", index / len(models), (index + 1) / len(models))
                explanations.append(core.explain(question, context, model=model, methods=methods, progress=within))
            return core.compare_explanations(explanations, explainers)

        job.start(work, self._done)

    def _done(self, comparison: Comparison) -> None:
        explanation = self.result.explanation
        if explanation is not None and (comparison.question, comparison.context) == (
            explanation.question,
            explanation.context,
        ):
            self.param.update(comparison=comparison, selected_words=[])
            self.follow_tokens()

    def _side(self) -> Any:
        """The comparison's side of the answer on show (same model and window), or None."""
        explanation = self.result.explanation
        if self.comparison is None or explanation is None:
            return None
        side = self.comparison.models.get(explanation.model)
        if side is None or side.answer.window != explanation.window_index:
            return None
        return side

    def select_words(self, words: list[int]) -> None:
        """Select words in every chart, and their tokens everywhere else when the answer on show is compared."""
        self.selected_words = sorted({int(w) for w in words})
        side = self._side()
        if side is not None:
            self.selection.select(side.alignment.tokens_of(self.selected_words))

    def follow_tokens(self) -> None:
        """The token selection changed elsewhere: show the words it covers."""
        side = self._side()
        if side is not None:
            words = side.alignment.words_of(self.selection.tokens)
            if words != self.selected_words:
                self.selected_words = words


class HeadsState(TrustPart):
    """Which heads the answer depends on: each head masked in turn, and the gradient estimate of it."""

    report = param.ClassSelector(class_=HeadImportance, default=None, allow_None=True, doc="The result on show.")
    measure = param.Selector(
        default="ablation",
        objects=choices(["ablation", "gradient"]),
        doc="Drop in the answer's probability when the head is masked, or its gradient estimate (Michel et al.).",
    )

    job_name = "heads"

    def clear(self) -> None:
        self.report = None

    def compute(self) -> None:
        explanation = self.result.explanation
        if explanation is None:
            self.job.error = "Run a question first."
            return

        def work(progress: ProgressCallback) -> HeadImportance:
            return core.head_importance(explanation, progress=progress)

        self.job.start(work, self._done)

    def _done(self, report: HeadImportance) -> None:
        self.report = report

    def grid(self) -> np.ndarray:
        """``[layers, heads]`` of the chosen measure (empty before a result)."""
        if self.report is None:
            return np.zeros((0, 0))
        return np.asarray(self.report.ablation if self.measure == "ablation" else self.report.gradient)


class TrustState(param.Parameterized):
    """Every trust result of one session's answer."""

    faithfulness = param.ClassSelector(class_=FaithfulnessState, doc="Deletion and insertion curves.")
    sanity = param.ClassSelector(class_=SanityState, doc="The model-randomisation sanity check.")
    layers = param.ClassSelector(class_=LayersState, doc="Where the answer forms, layer by layer.")
    comparison = param.ClassSelector(class_=ComparisonState, doc="Models side by side.")
    heads = param.ClassSelector(class_=HeadsState, doc="Head importance by ablation and by gradient.")

    def __init__(
        self,
        result: Result,
        selection: Selection,
        jobs: Jobs,
        inputs: Inputs,
        request_saliency: Callable[[], None],
        **params: Any,
    ) -> None:
        shared = {"result": result, "selection": selection, "jobs": jobs, "request_saliency": request_saliency}
        params.setdefault("faithfulness", FaithfulnessState(**shared))
        params.setdefault("sanity", SanityState(**shared))
        params.setdefault("layers", LayersState(**shared))
        params.setdefault("comparison", ComparisonState(**shared))
        params.setdefault("heads", HeadsState(**shared))
        super().__init__(**params)
        self._result, self._jobs, self._inputs = result, jobs, inputs
        result.param.watch(self._on_new_answer, ["result_id"])
        jobs.saliency.param.watch(self._on_saliency_stopped, ["running"])
        selection.param.watch(lambda _event: self.comparison.follow_tokens(), ["tokens"])
        inputs.param.watch(self._offer_models, ["models", "model"])
        self._offer_models()

    @property
    def parts(self) -> list[TrustPart]:
        return [self.faithfulness, self.sanity, self.layers, self.comparison, self.heads]

    def _on_new_answer(self, _event: param.parameterized.Event) -> None:
        for part in self.parts:
            if part.job_name:
                part.job.reset()
        for part in self.parts:
            part.clear()

    def _on_saliency_stopped(self, event: param.parameterized.Event) -> None:
        """Integrated gradients ended: go on with what waited for them, or end the wait."""
        if event.new:
            return
        explanation = self._result.explanation
        if explanation is not None and NEEDS_IG in explanation.saliency:
            for part in self.parts:
                part.resume()
            return
        failed = self._jobs.saliency.error
        reason = f"Waited for integrated gradients, which failed: {failed}" if failed else ""
        for part in self.parts:
            part.give_up(reason)

    def _offer_models(self, *_events: param.parameterized.Event) -> None:
        self.comparison.offer(list(self._inputs.models), self._inputs.model)


__all__ = ["ComparisonState", "FaithfulnessState", "LayersState", "SanityState", "TrustState"]
