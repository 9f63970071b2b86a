"""The robustness suites of the run on show: which suite, which of its pairs, and one pair explained side by side.

A suite (``python -m core dataset perturb RUN``) sits in the run's folder: one row per (original, perturbed copy)
pair and the figures per family and per slice (``core.dataset.load_suites``). The Robustness page reads this part
of the session's state: the family table and the flip rate by slice read the suite's summary; the pair list reads
``filtered()`` (the pairs that flipped, by default, narrowed to a family and a slice); opening a pair (``pair``,
kept in the URL) explains the original and the perturbed copy with ``core.explain`` on the session's background
runner (``job``), so both answers and their saliency sit side by side without the page freezing; either side
opens in the explorer (``open_in_explorer``), where every linked view works on it.

The part follows the Dataset page's run (``use_run``); ``robustness_part(state)`` makes it for a session.
No Panel import: tested without a browser.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import param

import core
from core import Example, ProgressCallback
from dashboard.labels import choices
from dashboard.state.jobs import Job, Jobs, message

ALL_FAMILIES = "(all families)"
SHOW = {
    "flipped pairs": "flipped",
    "failed the expectation": "failed",
    "captured by the inserted text": "captured",
    "every pair that ran": "ran",
    "pairs that could not be made": "skipped",
}
"""Which pairs the list shows: flipped (the answer changed, whatever the family expects) by default."""
MEASURES = {"flip rate": "flip", "failure rate": "failure"}
"""What the by-slice view colours: the share of pairs whose answer changed, or that broke the family's expectation."""
PAIR_METHODS: tuple[str, ...] = ("gradient_x_input", "gradient")
"""Saliency of a pair's two sides: both come from the one backward pass of ``core.explain``."""
EXPLAIN_OPTIONS = ("top_k", "max_answer_tokens", "max_length", "stride", "max_windows")
"""The run's settings a pair is explained with, so its answers are the run's (``core.explain`` options)."""
SIDES = ("original", "perturbed")


class RobustnessState(param.Parameterized):
    """The suites of the run on show, the pairs listed, and the pair opened with both explanations."""

    jobs = param.ClassSelector(class_=Jobs, precedence=-1, doc="The session's jobs (for their background runner).")
    job = param.ClassSelector(class_=Job, doc="Both explanations of the pair on show (core.explain, twice).")
    run = param.Parameter(default=None, doc="The run whose suites are on show (the Dataset page's), or None.")
    suites = param.Dict(default={}, doc="The run's finished suites by name (core.dataset.RobustnessSuite).")
    suite = param.Selector(default="", objects=[""], doc="The suite on show (one of ``suites``).")
    problem = param.String(default="", doc="Why the run's suites could not be read; empty when they could.")
    family = param.Selector(default=ALL_FAMILIES, objects=[ALL_FAMILIES], doc="List only one family's pairs.")
    show = param.Selector(default="flipped", objects=SHOW, doc="Which pairs the list shows (flipped by default).")
    slice = param.String(default="", doc="List only pairs of this slice of the originals (a summary slice's name).")
    measure = param.Selector(default="flip", objects=MEASURES, doc="What the by-slice view shows: flip or failure.")
    pair = param.String(default="", doc="Id of the pair opened side by side (kept in the page URL).")
    pair_problem = param.String(default="", doc="Why the pair cannot be shown or opened; empty when it can.")
    original = param.Parameter(default=None, doc="core.Explanation of the pair's original, once computed.")
    perturbed = param.Parameter(default=None, doc="core.Explanation of the pair's perturbed copy, once computed.")
    method = param.Selector(default=PAIR_METHODS[0], objects=choices(PAIR_METHODS), doc="The saliency shown.")
    target = param.Selector(default="start", objects=choices(core.TARGETS), doc="The logit the saliency explains.")
    revision = param.Integer(default=0, doc="Incremented when the pairs listed change (views redraw on it).")
    opened = param.String(default="", doc="Id of the example last opened in the explorer.")
    look = param.Event(doc="Fired when a side of the pair opens in the explorer: show the explorer.")

    def __init__(
        self,
        inputs: Any = None,
        answer: Callable[[], None] | None = None,
        **params: Any,
    ) -> None:
        """``inputs`` and ``answer``: the session's ``Inputs`` and ``ExplorerState.run`` (to open a side)."""
        params.setdefault("jobs", Jobs())
        params.setdefault("job", Job(name="robustness_pair"))
        super().__init__(**params)
        self._inputs = inputs
        self._answer = answer
        self._filtered = pd.DataFrame()
        self._copies: Any = None
        self._slice_ids: dict[str, set[str]] = {}
        self._original: tuple[str, dict[str, Any] | None] = ("", None)
        self._diff: tuple[str, tuple[tuple[Any, ...], tuple[Any, ...]]] = ("", ((), ()))
        self._context: tuple[tuple[str, str], str | None] = (("", ""), None)
        self._switching = False
        self.param.watch(self._on_suite, ["suite"])
        self.param.watch(self._on_filters, ["family", "show", "slice"])
        self.param.watch(self._on_pair, ["pair"])

    # ------------------------------------------------------------------ the run's suites

    def use_run(self, run: Any) -> None:
        """Show the suites of ``run`` (a ``core.dataset.Run``, or None); a damaged suite becomes ``problem``."""
        from core.dataset import RunDamagedError, load_suites

        suites: dict[str, Any] = {}
        problem = ""
        if run is not None:
            try:
                suites = load_suites(run.out)
            except (RunDamagedError, OSError, ValueError) as error:
                problem = f"The run's robustness suites cannot be read: {message(error)}"
        names = list(suites)
        self.param.suite.objects = names or [""]
        chosen = self.suite if self.suite in suites else (names[0] if names else "")
        self.param.update(run=run, suites=suites, problem=problem)
        if chosen == self.suite:
            self._on_suite()
        else:
            self.suite = chosen

    def current(self) -> Any:
        """The suite on show (``core.dataset.RobustnessSuite``), or None."""
        return self.suites.get(self.suite)

    def _on_suite(self, *_events: Any) -> None:
        suite = self.current()
        families = [figures["family"] for figures in suite.summary["families"]] if suite is not None else []
        self.param.family.objects = [ALL_FAMILIES, *families]
        self._copies, self._slice_ids, self._original = None, {}, ("", None)
        pairs = self.pairs()
        keep = self.pair if not pairs.empty and self.pair in set(pairs["id"]) else ""
        self._switching = True  # one listing for the new suite, not one per filter reset
        try:
            self.param.update(family=ALL_FAMILIES, slice="")
        finally:
            self._switching = False
        self._on_filters()
        if keep != self.pair:
            self.pair = keep
        elif keep:
            self._on_pair()

    # ------------------------------------------------------------------ figures and pairs

    def pairs(self) -> pd.DataFrame:
        """Every pair of the suite on show (``core.dataset.PAIR_COLUMNS``), skipped ones included."""
        suite = self.current()
        return pd.DataFrame() if suite is None else suite.pairs

    def families(self) -> list[dict[str, Any]]:
        """The suite's figures per family (``summary.json``'s ``families``)."""
        suite = self.current()
        return [] if suite is None else list(suite.summary["families"])

    def slice_rates(self, measure: str | None = None) -> pd.DataFrame:
        """One row per (family, slice): the flip (or failure) rate with its 95% interval and its counts."""
        suite = self.current()
        measure = measure or self.measure
        columns = ["family", "slice", "expression", "rate", "low", "high", "hits", "count"]
        if suite is None:
            return pd.DataFrame(columns=columns)
        rows = [
            {
                "family": entry["family"],
                "slice": entry["slice"],
                "expression": entry["expression"],
                **{key: entry[measure][key] for key in ("rate", "low", "high", "hits", "count")},
            }
            for entry in suite.summary.get("slices", [])
        ]
        return pd.DataFrame(rows, columns=columns)

    def slice_names(self) -> list[str]:
        """The slices the summary has figures for, in its order."""
        return list(dict.fromkeys(self.slice_rates()["slice"]))

    def _ids_in_slice(self, name: str) -> set[str] | None:
        """The original ids in summary slice ``name`` (over the run's rows); None when it cannot be evaluated."""
        from core.dataset import SliceError, slice_mask

        if name in self._slice_ids:
            return self._slice_ids[name]
        rates = self.slice_rates()
        expressions = rates.loc[rates["slice"] == name, "expression"]
        if expressions.empty or self.run is None:
            return None
        rows = self.run.rows
        try:
            ids = set(rows.loc[slice_mask(rows, str(expressions.iloc[0])), "id"].astype(str))
        except SliceError:
            return None
        self._slice_ids[name] = ids
        return ids

    def _on_filters(self, *_events: Any) -> None:
        if self._switching:
            return
        pairs = self.pairs()
        if pairs.empty:
            self._filtered = pairs
        else:
            applied = pairs["applied"].fillna(False).astype(bool)
            ran = applied & pairs["error"].isna()
            masks = {
                "flipped": ran & pairs["changed"].fillna(False).astype(bool),
                "failed": ran & pairs["failed"].fillna(False).astype(bool),
                "captured": ran & pairs["captured"].fillna(False).astype(bool),
                "ran": ran,
                "skipped": ~applied,
            }
            mask = masks[self.show].to_numpy(dtype=bool, copy=True)
            if self.family != ALL_FAMILIES:
                mask &= (pairs["family"] == self.family).to_numpy()
            if self.slice:
                inside = self._ids_in_slice(self.slice)
                if inside is not None:
                    mask &= pairs["original_id"].astype(str).isin(inside).to_numpy()
            self._filtered = pairs[mask]
        self.revision += 1

    def filtered(self) -> pd.DataFrame:
        """The pairs the list shows: the chosen kind (flipped...), family and slice; the suite's order."""
        return self._filtered

    def narrow(self, family: str | None = None, slice_name: str | None = None) -> None:
        """List one family's pairs (``None``: every family) within one slice (``None``: every pair)."""
        family = family if family in self.param.family.objects else ALL_FAMILIES
        self.param.update(family=family, slice=slice_name or "")

    def pair_row(self) -> dict[str, Any] | None:
        """Every column of the pair on show, missing values as None; None when no pair is open."""
        pairs = self.pairs()
        if not self.pair or pairs.empty:
            return None
        found = pairs[pairs["id"] == self.pair]
        if found.empty:
            return None
        row = {key: _plain(value) for key, value in found.iloc[0].items()}
        if self._context[0] != (self.suite, self.pair):
            suite = self.current()
            self._context = ((self.suite, self.pair), suite.context(self.pair) if suite is not None else None)
        return {**row, "context": self._context[1]}

    def figures(self, family: str) -> dict[str, Any]:
        """The summary's figures of one family (empty when the suite has none)."""
        return next((entry for entry in self.families() if entry["family"] == family), {})

    # ------------------------------------------------------------------ the pair side by side

    def model(self) -> str:
        """The run's model: both sides are explained with it, and it answers them in the explorer."""
        if self.run is None:
            return ""
        return self.run.summary.model or self.run.manifest["model"]

    def _explain_options(self) -> dict[str, Any]:
        settings = self.run.manifest.get("settings", {}) if self.run is not None else {}
        return {name: settings[name] for name in EXPLAIN_OPTIONS if settings.get(name) is not None}

    def _on_pair(self, *_events: Any) -> None:
        self.job.reset()
        self.param.update(original=None, perturbed=None, pair_problem="")
        row = self.pair_row()
        if not self.pair:
            return
        if row is None:
            self.pair_problem = f"The suite {self.suite or '(none)'} has no pair {self.pair}."
            return
        if not row["applied"]:
            self.pair_problem = f"This perturbation could not be made: {row['reason']}."
            return
        self.explain()

    def explain(self) -> None:
        """Explain both sides of the pair on show (``core.explain``) on the session's background runner."""
        row = self.pair_row()
        if row is None or not row["applied"] or self.run is None:
            return
        run, model, options = self.run, self.model(), self._explain_options()
        pair = self.pair

        def work(progress: ProgressCallback) -> tuple[core.Explanation, core.Explanation]:
            context = str(run.row(str(row["original_id"]))["context"])
            sides = ((str(row["original_question"]), context), (str(row["question"]), str(row["context"])))
            explained = []
            for index, (question, text) in enumerate(sides):

                def step(stage: str, fraction: float, index: int = index) -> None:
                    progress(f"{SIDES[index]}: {stage}", (index + float(fraction)) / len(sides))

                explained.append(
                    core.explain(question, text, model=model, methods=PAIR_METHODS, progress=step, **options)
                )
            return explained[0], explained[1]

        def done(result: tuple[core.Explanation, core.Explanation]) -> None:
            if pair == self.pair:
                self.param.update(original=result[0], perturbed=result[1])

        # The session's background runner (worker threads under `panel serve`); Jobs.use_runners sets it on the
        # jobs it holds, and this one is the robustness part's own.
        self.job.runner = self.jobs.saliency.runner
        self.job.start(work, done, stage="explaining both sides")

    def saliency(self, side: str) -> np.ndarray | None:
        """``[tokens]`` saliency of one side for the chosen method and target; None before it is computed."""
        explanation = self.original if side == "original" else self.perturbed
        if explanation is None:
            return None
        values = explanation.saliency.get(self.method, {}).get(self.target)
        return None if values is None else np.asarray(values, dtype=np.float64)

    def diff(self) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
        """Word-level diffs (``core.whatif.diff_texts``) of the pair's questions and contexts: what the edit did.

        The original context is read from the run (the pairs keep only the perturbed one); () when unknown."""
        from core.whatif import diff_texts

        row = self.pair_row()
        if row is None or not row["applied"]:
            return (), ()
        key = f"{self.suite}/{self.pair}"
        if self._diff[0] != key:
            question = diff_texts(str(row["original_question"] or ""), str(row["question"] or ""))
            original = self.original_context()
            context = diff_texts(original, str(row["context"] or "")) if original is not None else ()
            self._diff = (key, (question, context))
        return self._diff[1]

    def original_record(self) -> dict[str, Any] | None:
        """Every column of the pair's original in the run (its context and gold answers); None when unreadable.

        Read once per pair (one partition file): the pairs keep the perturbed text, not the original context."""
        row = self.pair_row()
        if row is None or self.run is None:
            return None
        key = str(row["original_id"])
        if self._original[0] != key:
            try:
                self._original = (key, self.run.row(key))
            except (KeyError, OSError) as error:
                self.pair_problem = f"The original example cannot be read: {message(error)}"
                return None
        return self._original[1]

    def original_context(self) -> str | None:
        """The pair's original context (from the run), or None."""
        record = self.original_record()
        return None if record is None else str(record["context"])

    # ------------------------------------------------------------------ opening a side in the explorer

    def example(self, side: str) -> Example:
        """The original or the perturbed copy of the pair on show as an explorer ``Example`` (gold answer too)."""
        from core.dataset import load_run

        row = self.pair_row()
        if row is None or self.run is None:
            raise KeyError("No pair is open.")
        if side == "original":
            record = self.run.row(str(row["original_id"]))  # read again: a failed read says why
        else:
            if not row["applied"]:
                raise ValueError(f"This perturbation could not be made: {row['reason']}.")
            if self._copies is None:
                self._copies = load_run(self.current().run_dir)
            record = self._copies.row(str(row["id"]))
        golds, starts = record.get("gold_answers") or [], record.get("gold_starts") or []
        return Example(
            id=str(record["id"]),
            title=str(record.get("title") or ""),
            question=str(record["question"]),
            context=str(record["context"]),
            answer_text=str(golds[0]) if golds else "",
            answer_start=int(starts[0]) if starts else -1,
        )

    def open_in_explorer(self, side: str = "perturbed") -> None:
        """Answer one side of the pair in the explorer with the run's model (every linked view works there)."""
        inputs = self._inputs
        if inputs is None or self._answer is None:
            raise RuntimeError("This robustness state was made without the session's inputs.")
        try:
            example = self.example(side)
        except (KeyError, ValueError, OSError) as error:
            self.pair_problem = f"The {side} example cannot be opened: {message(error)}"
            return
        model = self.model() or inputs.model
        if model not in inputs.models:
            inputs.models = [*inputs.models, model]
        inputs.offer_example(example)
        auto_run = inputs.auto_run
        inputs.auto_run = False  # one answer below, not one per change
        try:
            inputs.param.update(model=model, example=example.id)
        finally:
            inputs.auto_run = auto_run
        self._answer()
        self.param.update(opened=example.id, look=True)

    def release(self) -> None:
        """The page is gone: stop the pair's explanations and drop what this part holds."""
        self.job.cancel()
        self._copies, self._slice_ids, self._original = None, {}, ("", None)
        with param.parameterized.discard_events(self):
            self.param.update(original=None, perturbed=None, suites={}, run=None)


def _plain(value: Any) -> Any:
    """A pandas cell as a plain Python value (``pd.NA`` and NaN as None)."""
    if isinstance(value, list | tuple | np.ndarray):
        return [_plain(item) for item in value]
    if value is None or value is pd.NA or (isinstance(value, float | np.floating) and np.isnan(value)):
        return None
    return value.item() if isinstance(value, np.generic) else value


def robustness_part(state: Any) -> RobustnessState:
    """The session's robustness part, following its Dataset page's run; made and attached on first use.

    Attached to the ``ExplorerState`` as ``state.robustness``, so the views follow it by path through the fan-out
    (``"robustness.pair"``) like every other part.
    """
    part = getattr(state, "robustness", None)
    if part is None:
        part = RobustnessState(jobs=state.jobs, inputs=state.inputs, answer=state.run)
        state.robustness = part
        state.dataset.param.watch(lambda event: part.use_run(event.new), ["run"])
        part.use_run(state.dataset.run)
    return part


__all__ = ["ALL_FAMILIES", "MEASURES", "PAIR_METHODS", "SHOW", "RobustnessState", "robustness_part"]
