"""The dashboard's one state object: inputs, view choices, the selection and the current result.

Every view reads from an ``ExplorerState`` and writes only to it (a selection, a layer, a head);
no view talks to another. The expensive work (``core.explain`` and ``core.add_saliency``) runs in
``run()`` only; everything else here slices the cached ``Explanation``.

Param only, no Panel import: the state is testable, scriptable and notebook-drivable on its own::

    state = ExplorerState(models=["./my-squad-model"])
    state.param.update(question="Who wrote it?", context="It was written by Ada.")
    state.run()
    state.layer, state.head = 1, 3
    state.attention_map()          # [tokens, tokens] for layer 1, head 3
"""

from __future__ import annotations

import csv
import io
import logging
import time
from collections.abc import Iterable, Sequence
from functools import partial
from typing import Any

import numpy as np
import param

import core
from core.examples import Example, load_examples
from dashboard.runners import Outcome, Runner, SyncRunner

logger = logging.getLogger(__name__)

FAST_METHODS: tuple[str, ...] = ("gradient", "gradient_x_input")
"""Computed with the answer (one backward pass each); integrated gradients follows."""

SLOW_METHODS: tuple[str, ...] = ("integrated_gradients",)

HEAD_MODES: dict[str, str] = {"mean of heads": "mean", "rollout": "rollout"}
"""Head choices besides a single head index: the layer's mean over heads, and attention rollout
(Abnar & Zuidema, 2020) up to the layer."""

METHOD_LABELS: dict[str, str] = {
    "gradient": "gradient",
    "gradient × input": "gradient_x_input",
    "integrated gradients": "integrated_gradients",
}
TARGET_LABELS: dict[str, str] = {"answer start": "start", "answer end": "end"}
COLOR_SCALES: dict[str, str] = {"linear": "linear", "log": "log", "equalised histogram": "eq_hist"}
NO_EXAMPLE = ""

THUMBNAIL_SIZE = 32
"""Pixels per side of a model-view thumbnail: a ``[tokens, tokens]`` map is block-averaged to it."""

HEAD_LINKS_PER_ROW = 3
HEAD_LINK_THRESHOLD = 0.05
SELECTED_LINKS_PER_TOKEN = 12
SELECTED_LINK_THRESHOLD = 0.01

HOW_TO_POINT_AT_A_CHECKPOINT = (
    "Point the dashboard at a local extractive-QA checkpoint (a folder with config.json, "
    "model.safetensors and tokenizer files): `panel serve dashboard/app.py --args --model /path/to/model` "
    "(repeat --model to offer several), or set QA_LENS_MODELS=/path/a,/path/b before starting it."
)


def _head_objects(num_heads: int) -> dict[str, Any]:
    return {**HEAD_MODES, **{f"head {h}": h for h in range(num_heads)}}


class ExplorerState(param.Parameterized):
    """Inputs, view choices, the token selection and the current ``Explanation``, for one session."""

    models = param.List(
        default=[core.DEFAULT_MODEL],
        item_type=str,
        doc="Models on offer: Hugging Face hub ids or local checkpoint directories.",
    )
    model = param.Selector(
        default=core.DEFAULT_MODEL,
        objects=[core.DEFAULT_MODEL],
        doc="The extractive QA model that answers and is explained.",
    )
    example = param.Selector(
        default=NO_EXAMPLE,
        objects={"(your own question)": NO_EXAMPLE},
        doc="Id of a bundled example (data/examples.json); choosing one fills question and context.",
    )
    question = param.String(default="", doc="The question to answer.")
    context = param.String(default="", doc="The text the answer is extracted from.")
    top_k = param.Integer(default=5, bounds=(1, 20), doc="How many candidate answers to list.")
    compute_integrated_gradients = param.Boolean(
        default=True,
        doc="After the answer, compute integrated gradients in the background (slower, more faithful).",
    )
    auto_run = param.Boolean(default=True, doc="Run the model as soon as an example or another model is chosen.")

    layer = param.Integer(default=0, bounds=(0, 0), doc="Transformer layer whose attention is shown (0 = first).")
    head = param.Selector(
        default="mean",
        objects=_head_objects(0),
        doc="Attention head shown: an index, 'mean' (mean of the layer's heads) or 'rollout' "
        "(attention rollout up to the layer).",
    )
    color_scale = param.Selector(
        default="linear",
        objects=COLOR_SCALES,
        doc="Colour normalisation of attention maps; 'eq_hist' reveals structure next to [CLS]/[SEP] peaks.",
    )
    method = param.Selector(
        default="gradient_x_input", objects=METHOD_LABELS, doc="Saliency method shown in the saliency views."
    )
    target = param.Selector(
        default="start", objects=TARGET_LABELS, doc="Which logit saliency explains: the answer's start or its end."
    )
    selected_tokens = param.List(
        default=[],
        item_type=int,
        doc="Selected token positions (in the explained window). Every view highlights these; any view may set them.",
    )

    explanation = param.ClassSelector(
        class_=core.Explanation,
        default=None,
        allow_None=True,
        doc="The current result; replaced when integrated gradients arrive (same tokens, more saliency).",
    )
    result_id = param.Integer(
        default=0,
        doc="Incremented when a new answer arrives (not when saliency is filled in): views that depend "
        "only on tokens and attention redraw on this.",
    )
    saliency_revision = param.Integer(
        default=0, doc="Incremented whenever the saliency on show changes (a new answer, integrated gradients)."
    )
    busy = param.Boolean(default=False, doc="The model is answering (answer and attention).")
    saliency_pending = param.Boolean(default=False, doc="Integrated gradients are being computed.")
    progress = param.Number(default=0.0, bounds=(0.0, 1.0), doc="Progress of integrated gradients, 0 to 1.")
    status = param.String(default="", doc="One line about what happened last (timings, progress).")
    error = param.String(default="", doc="Why the last run failed (bad input, model error); empty when fine.")
    model_error = param.String(default="", doc="Why the chosen model cannot be loaded; empty when it can.")
    notice = param.String(default="", doc="A non-blocking remark (e.g. the examples file is missing).")

    answer_runner = param.ClassSelector(
        class_=Runner,
        default=SyncRunner(),
        instantiate=False,
        precedence=-1,
        doc="Runs the answer stage (the app puts it on a worker thread so the page never freezes).",
    )
    saliency_runner = param.ClassSelector(
        class_=Runner,
        default=SyncRunner(),
        instantiate=False,
        precedence=-1,
        doc="Runs integrated gradients after the answer (a worker thread in the app and notebooks).",
    )

    def __init__(self, examples: Sequence[Example] | None = None, **params: Any) -> None:
        models = [str(m) for m in params.pop("models", None) or [core.DEFAULT_MODEL]]
        models = list(dict.fromkeys(m.strip() for m in models if m.strip())) or [core.DEFAULT_MODEL]
        model = params.pop("model", None) or models[0]
        if model not in models:
            models.append(model)
        super().__init__(**params)
        self.param.model.objects = models
        self.param.update(models=models, model=model)
        self._run_id = 0
        self._derived: dict[Any, Any] = {}
        self._examples: dict[str, Example] = {}
        self.set_examples(examples)
        self.param.watch(self._on_example, ["example"])
        self.param.watch(self._on_text, ["question", "context"])
        self.param.watch(self._on_model, ["model"])
        self.param.watch(self._on_models, ["models"])

    # ------------------------------------------------------------------ inputs

    def set_examples(self, examples: Sequence[Example] | None = None) -> None:
        """Offer these examples (default: ``core.examples.load_examples()``; a missing file is a notice)."""
        if examples is None:
            try:
                examples = load_examples()
            except FileNotFoundError:
                examples = []
                self.notice = "No bundled examples (data/examples.json is missing); type a question and a context."
            except (ValueError, KeyError, TypeError) as error:
                examples = []
                self.notice = f"The bundled examples could not be read ({error}); type a question and a context."
        self._examples = {example.id: example for example in examples}
        names = {"(your own question)": NO_EXAMPLE}
        for example in examples:
            label = f"{example.title}: {example.question}" if example.title else example.question
            label = label if len(label) <= 80 else label[:79] + "…"
            while label in names:
                label += " "
            names[label] = example.id
        self.param.example.objects = names
        if self.example not in names.values():
            self.example = NO_EXAMPLE

    @property
    def examples(self) -> list[Example]:
        return list(self._examples.values())

    def _on_example(self, event: param.parameterized.Event) -> None:
        example = self._examples.get(event.new)
        if example is None:
            return
        self.param.update(question=example.question, context=example.context)
        if self.auto_run:
            self.run()

    def _on_text(self, *_events: param.parameterized.Event) -> None:
        example = self._examples.get(self.example)
        if example is not None and (example.question, example.context) != (self.question, self.context):
            self.example = NO_EXAMPLE

    def _on_models(self, event: param.parameterized.Event) -> None:
        models = list(dict.fromkeys(event.new)) or [core.DEFAULT_MODEL]
        self.param.model.objects = models
        if self.model not in models:
            self.model = models[0]

    def _on_model(self, _event: param.parameterized.Event) -> None:
        self.param.update(model_error="", error="")
        if self.explanation is not None and self.explanation.model != self.model:
            # Another model's answer would sit under this model's layer and head choices.
            self._run_id += 1
            self._derived = {}
            self.param.update(
                explanation=None,
                selected_tokens=[],
                result_id=self.result_id + 1,
                saliency_revision=self.saliency_revision + 1,
                busy=False,
                saliency_pending=False,
            )
        if self.auto_run and self.question.strip() and self.context.strip():
            self.run()  # loads the model on the answer runner; a load failure lands in model_error
            return
        model = self.model
        self.status = f"Loading {_short(model)}…"
        self.answer_runner.submit(partial(core.load_model, model), partial(self._model_loaded, model))

    def _model_loaded(self, model: str, outcome: Outcome) -> None:
        if model != self.model:
            return
        self.status = ""
        if outcome.error is not None:
            self._fail(outcome.error)
            return
        loaded = outcome.value
        if self.explanation is None or self.explanation.model != loaded.name:
            self._size_choices(loaded.num_layers, loaded.num_heads)

    def example_answer(self) -> Example | None:
        """The chosen example (for its reference answer), if any."""
        return self._examples.get(self.example)

    # ------------------------------------------------------------------ running the model

    def check_model(self) -> bool:
        """Load the chosen model now (blocking; cheap once cached) and size the layer/head choices.

        On failure ``model_error`` says why and how to point the dashboard at a local checkpoint.
        """
        try:
            loaded = core.load_model(self.model)
        except core.ModelLoadError as error:
            self.model_error = f"{error}\n\n{HOW_TO_POINT_AT_A_CHECKPOINT}"
            return False
        except Exception as error:  # a broken checkpoint can fail in many ways; say so, don't crash
            logger.exception("loading %s failed", self.model)
            self.model_error = f"Model {self.model!r} could not be loaded: {error}\n\n{HOW_TO_POINT_AT_A_CHECKPOINT}"
            return False
        self.model_error = ""
        if self.explanation is None or self.explanation.model != loaded.name:
            self._size_choices(loaded.num_layers, loaded.num_heads)
        return True

    def run(self) -> None:
        """Answer and explain the current question: answer, attention and gradients first, then
        integrated gradients (when ``compute_integrated_gradients``) with ``progress``.

        Errors never raise: they land in ``error`` / ``model_error``. With the default inline
        runners this returns when everything is done; the app runs both stages on worker threads.
        """
        self._run_id += 1
        run_id = self._run_id
        question, context, model, top_k = self.question, self.context, self.model, self.top_k
        self.param.update(
            busy=True,
            saliency_pending=False,
            progress=0.0,
            error="",
            status=f"Running {_short(model)}…",
        )
        began = time.perf_counter()

        def work() -> core.Explanation:
            return core.explain(question, context, model=model, methods=FAST_METHODS, top_k=top_k)

        self.answer_runner.submit(work, partial(self._answer_done, run_id, began))

    def _answer_done(self, run_id: int, began: float, outcome: Outcome) -> None:
        if run_id != self._run_id:
            return
        if outcome.error is not None:
            self._fail(outcome.error)
            return
        explanation: core.Explanation = outcome.value
        follow_up = self.compute_integrated_gradients and any(m not in explanation.saliency for m in SLOW_METHODS)
        self.model_error = ""
        try:
            self._show(explanation)
        finally:
            # busy and saliency_pending change together: the session is never seen idle in between.
            self.param.update(busy=False, saliency_pending=follow_up)
        seconds = time.perf_counter() - began
        windows = f" (window {explanation.window_index + 1} of {explanation.num_windows})" * (
            explanation.num_windows > 1
        )
        self.status = f"Answered in {seconds:.1f} s{windows}."
        if follow_up:
            self.compute_saliency(SLOW_METHODS)

    def compute_saliency(self, methods: Iterable[str] = SLOW_METHODS) -> None:
        """Add saliency ``methods`` to the current explanation (background with a ``ThreadRunner``)."""
        explanation = self.explanation
        if explanation is None:
            return
        missing = [m for m in methods if m not in explanation.saliency]
        if not missing:
            self.saliency_pending = False
            return
        run_id = self._run_id
        runner = self.saliency_runner
        self.param.update(saliency_pending=True, progress=0.0, status="Computing integrated gradients…")

        def report(stage: str, fraction: float) -> None:
            if run_id != self._run_id:
                raise Superseded("A newer run (or closing the page) made this computation pointless.")
            runner.dispatch(partial(self._progress, run_id, stage, fraction))

        def work() -> core.Explanation:
            return core.add_saliency(explanation, missing, progress=report)

        runner.submit(work, partial(self._saliency_done, run_id))

    def _progress(self, run_id: int, stage: str, fraction: float) -> None:
        if run_id != self._run_id or not self.saliency_pending:
            return
        if stage == "done":
            label = "Finishing…"
        else:
            label = (
                "Computing "
                + stage.replace("integrated_gradients.", "integrated gradients, answer ").replace("_", " ")
                + "…"
            )
        self.param.update(progress=min(max(float(fraction), 0.0), 1.0), status=label)

    def _saliency_done(self, run_id: int, outcome: Outcome) -> None:
        if run_id != self._run_id:
            return
        if outcome.error is not None:
            self.param.update(
                saliency_pending=False,
                progress=0.0,
                error=f"Integrated gradients failed: {_message(outcome.error)}",
                status="",
            )
            return
        explanation: core.Explanation = outcome.value
        took = explanation.timings.get("saliency.integrated_gradients")
        steps = ", ".join(f"{t} {n} steps" for t, n in explanation.ig_steps.items())
        self.param.update(
            explanation=explanation,
            saliency_revision=self.saliency_revision + 1,
            saliency_pending=False,
            progress=1.0,
            status=f"Integrated gradients ready{f' in {took:.1f} s' if took else ''}{f' ({steps})' if steps else ''}.",
        )

    def _fail(self, error: Exception) -> None:
        message = _message(error)
        if isinstance(error, core.ModelLoadError):
            self.param.update(
                model_error=f"{message}\n\n{HOW_TO_POINT_AT_A_CHECKPOINT}", busy=False, status="", error=""
            )
        else:
            self.param.update(error=message, busy=False, status="")

    def cancel(self) -> None:
        """Forget work in flight: its results are dropped, and integrated gradients stop at the next
        target (the app calls this when a page closes)."""
        self._run_id += 1
        self.param.update(busy=False, saliency_pending=False, progress=0.0, status="")

    def show(self, explanation: core.Explanation) -> None:
        """Show an existing explanation (e.g. ``core.Explanation.load(path)``) without running a model."""
        self._run_id += 1
        self._show(explanation)
        self.param.update(busy=False, saliency_pending=False, error="", status="")

    def _show(self, explanation: core.Explanation) -> None:
        self._derived = {}
        self._size_choices(explanation.num_layers, explanation.num_heads)
        self.param.update(
            explanation=explanation,
            selected_tokens=[],
            result_id=self.result_id + 1,
            saliency_revision=self.saliency_revision + 1,
        )

    def _size_choices(self, num_layers: int, num_heads: int) -> None:
        """Fit the layer bounds and head choices to a model, keeping the current view when it fits."""
        self.param.layer.bounds = (0, max(num_layers - 1, 0))
        objects = _head_objects(num_heads)
        if list(objects.values()) != list(self.param.head.objects):
            self.param.head.objects = objects
        updates: dict[str, Any] = {}
        if self.layer > num_layers - 1:
            updates["layer"] = num_layers - 1
        if self.head not in objects.values():
            updates["head"] = "mean"
        if updates:
            self.param.update(**updates)

    # ------------------------------------------------------------------ selection

    def select(self, positions: Iterable[int], mode: str = "replace") -> None:
        """Change the selection: ``mode`` is ``replace``, ``add``, ``remove`` or ``toggle``."""
        new = {int(p) for p in positions if 0 <= int(p) < self.num_tokens}
        old = set(self.selected_tokens)
        if mode == "replace":
            result = new
        elif mode == "add":
            result = old | new
        elif mode == "remove":
            result = old - new
        elif mode == "toggle":
            result = old ^ new
        else:
            raise ValueError(f"Unknown selection mode {mode!r}; use replace, add, remove or toggle.")
        self.selected_tokens = sorted(result)

    def toggle_token(self, position: int) -> None:
        """Add a token to the selection, or remove it if it is selected."""
        self.select([position], mode="toggle")

    def select_between(self, low: float, high: float, mode: str = "replace") -> None:
        """Select the tokens whose centre lies in ``[low, high]`` on a position axis (a box select).

        A box inside one token's cell selects that token.
        """
        self.select(positions_between(low, high, self.num_tokens), mode=mode)

    def clear_selection(self) -> None:
        self.selected_tokens = []

    def selection(self) -> np.ndarray:
        """The selected positions that exist in the current window, sorted, as an int array."""
        count = self.num_tokens
        return np.array(sorted({p for p in self.selected_tokens if 0 <= p < count}), dtype=np.int64)

    def selection_mask(self) -> np.ndarray:
        mask = np.zeros(self.num_tokens, dtype=bool)
        mask[self.selection()] = True
        return mask

    # ------------------------------------------------------------------ derived data (slices only)

    @property
    def num_tokens(self) -> int:
        return 0 if self.explanation is None else self.explanation.num_tokens

    def _require(self) -> core.Explanation:
        if self.explanation is None:
            raise ValueError("Nothing to show yet: run a question first (state.run()).")
        return self.explanation

    def _cached(self, key: Any, compute: Any) -> Any:
        full_key = (self.result_id, key)
        if full_key not in self._derived:
            self._derived[full_key] = compute()
        return self._derived[full_key]

    def token_labels(self) -> list[str]:
        """What to print for each token (``Explanation.token_labels``), computed once per answer."""
        return self._cached("labels", self._require().token_labels)

    def answer_positions(self) -> range:
        explanation = self._require()
        return range(explanation.answer.start_token, explanation.answer.end_token)

    def attention_map(self, layer: int | None = None, head: int | str | None = None) -> np.ndarray:
        """The ``[tokens, tokens]`` map for the current (or given) layer and head (rows: from, columns: to)."""
        explanation = self._require()
        layer = self.layer if layer is None else layer
        head = self.head if head is None else head
        layer = min(max(int(layer), 0), explanation.num_layers - 1)
        if head == "mean":
            return self._cached("mean", explanation.mean_attention)[layer]
        if head == "rollout":
            return self._cached("rollout", explanation.rollout)[layer]
        return explanation.attentions[layer, int(head)]

    def attention_title(self) -> str:
        head = self.head
        what = {"mean": "mean of heads", "rollout": "rollout up to layer"}.get(head, f"head {head}")  # type: ignore[arg-type]
        return f"layer {self.layer}, {what}"

    def question_attention(self) -> np.ndarray:
        """Mean attention from the question's tokens to each context token, ``[tokens]`` (0 elsewhere)."""
        explanation = self._require()
        return core.question_to_context(self.attention_map(), explanation.roles)

    def saliency_values(self, method: str | None = None, target: str | None = None) -> np.ndarray | None:
        """Saliency ``[tokens]`` for the method and target (current ones by default); ``None`` while not computed."""
        explanation = self._require()
        per_target = explanation.saliency.get(method or self.method)
        if per_target is None:
            return None
        return per_target.get(target or self.target)

    def saliency_rows(self) -> list[tuple[str, str]]:
        """(method, target) for every row of the saliency heatmap, in display order."""
        return [(method, target) for method in core.METHODS for target in core.TARGETS]

    def saliency_matrix(self) -> tuple[np.ndarray, np.ndarray]:
        """Raw and row-normalised saliency ``[method x target, tokens]``; rows not yet computed are NaN.

        Each row is divided by its largest absolute value, so methods with different units share
        one colour scale (-1 to 1).
        """
        explanation = self._require()
        rows = self.saliency_rows()
        raw = np.full((len(rows), explanation.num_tokens), np.nan, dtype=np.float64)
        for index, (method, target) in enumerate(rows):
            values = explanation.saliency.get(method, {}).get(target)
            if values is not None:
                raw[index] = values
        scale = np.abs(np.nan_to_num(raw, nan=0.0)).max(axis=1, keepdims=True) if raw.size else raw
        with np.errstate(invalid="ignore", divide="ignore"):
            normalised = np.where(scale > 0, raw / scale, 0.0)
        normalised[np.isnan(raw)] = np.nan
        return raw, normalised

    def head_thumbnails(self, size: int = THUMBNAIL_SIZE) -> np.ndarray:
        """Every head's map block-averaged to at most ``size`` x ``size``: ``[layers, heads, n, n]``.

        Block means keep each thumbnail an honest (coarser) picture of where attention goes, at a
        fixed cost however long the window is.
        """

        def compute() -> np.ndarray:
            attentions = self._require().attentions
            edges = thumbnail_edges(attentions.shape[-1], size)
            starts, widths = edges[:-1], np.diff(edges).astype(np.float32)
            pooled = np.add.reduceat(attentions, starts, axis=2) / widths[:, None]
            return (np.add.reduceat(pooled, starts, axis=3) / widths).astype(np.float32)

        return self._cached(("thumbnails", size), compute)

    def head_summary(self) -> dict[str, np.ndarray]:
        """Per-head figures for the model view's hover, each ``[layers, heads]``.

        ``to_special``: mean share of attention going to special tokens; ``question_to_answer``: mean
        share from question tokens to the answer's tokens; ``previous``: mean share to the previous
        token; ``entropy``: mean row entropy over log(tokens) (0 focused, 1 uniform).
        """

        def compute() -> dict[str, np.ndarray]:
            explanation = self._require()
            attentions = explanation.attentions  # float32 [layers, heads, tokens, tokens]
            roles = np.asarray(explanation.roles)
            count = explanation.num_tokens
            special = roles == "special"
            question = roles == "question"
            answer = np.zeros(count, dtype=bool)
            answer[list(self.answer_positions())] = True
            to_special = attentions[..., special].sum(-1).mean(-1, dtype=np.float64)
            question_to_answer = (
                attentions[..., question, :][..., answer].sum(-1).mean(-1, dtype=np.float64)
                if question.any()
                else np.zeros(to_special.shape)
            )
            previous = (
                np.diagonal(attentions, offset=-1, axis1=2, axis2=3).mean(-1, dtype=np.float64)
                if count > 1
                else np.zeros(to_special.shape)
            )
            plogp = attentions * np.log(np.maximum(attentions, np.float32(1e-30)))
            entropy = -plogp.sum(-1).mean(-1, dtype=np.float64) / max(np.log(count), 1e-9)
            return {
                "to_special": to_special,
                "question_to_answer": question_to_answer,
                "previous": previous,
                "entropy": entropy,
            }

        return self._cached("head_summary", compute)

    def head_links(self) -> dict[str, np.ndarray]:
        """Lines for the head view: ``source`` (from), ``target`` (to), ``weight``, ``selected``.

        Without a selection: each token's ``HEAD_LINKS_PER_ROW`` (one fewer past 128 tokens) strongest links of at least
        ``HEAD_LINK_THRESHOLD`` (or the uniform share 1/tokens when that is lower). With one: the
        selected tokens' outgoing and incoming links (``SELECTED_LINKS_PER_TOKEN`` each, at least
        ``SELECTED_LINK_THRESHOLD`` or 1/tokens), so it stays light.
        """
        attention = self.attention_map()
        count = attention.shape[0]
        chosen = self.selection()
        if len(chosen) == 0:
            floor = min(HEAD_LINK_THRESHOLD, 1.0 / max(count, 1))
            per_row = HEAD_LINKS_PER_ROW if count <= 128 else HEAD_LINKS_PER_ROW - 1  # long windows: lighter
            sources, targets = _top_per_row(attention, np.arange(count), per_row, floor)
        else:
            floor = min(SELECTED_LINK_THRESHOLD, 1.0 / max(count, 1))
            out_sources, out_targets = _top_per_row(attention, chosen, SELECTED_LINKS_PER_TOKEN, floor)
            in_targets, in_sources = _top_per_row(attention.T, chosen, SELECTED_LINKS_PER_TOKEN, floor)
            pairs = np.unique(
                np.stack([np.r_[out_sources, in_sources], np.r_[out_targets, in_targets]], axis=1), axis=0
            )
            sources, targets = pairs[:, 0], pairs[:, 1]
        mask = self.selection_mask()
        return {
            "source": sources.astype(np.int64),
            "target": targets.astype(np.int64),
            "weight": attention[sources, targets].astype(np.float64),
            "selected": (mask[sources] | mask[targets]) if len(sources) else np.zeros(0, dtype=bool),
        }

    # ------------------------------------------------------------------ export

    def explanation_json(self) -> str:
        """The current ``Explanation`` as JSON (``Explanation.from_json`` reads it back)."""
        return self._require().to_json()

    def token_table_csv(self) -> str:
        """One CSV row per token: position, token, role, offsets, probabilities, every saliency."""
        rows = self._require().token_table()
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["position"])
        writer.writeheader()
        writer.writerows(rows)
        return buffer.getvalue()

    def export_basename(self) -> str:
        explanation = self._require()
        words = "".join(ch if ch.isalnum() else "-" for ch in explanation.question.lower())
        stem = "-".join(part for part in words.split("-") if part)[:40] or "explanation"
        return f"qa-lens-{stem}"


def thumbnail_edges(count: int, size: int = THUMBNAIL_SIZE) -> np.ndarray:
    """Token positions where each thumbnail pixel's block starts, plus ``count`` at the end."""
    n = max(1, min(size, count))
    return np.linspace(0, count, n + 1).round().astype(np.int64)


def positions_between(low: float, high: float, count: int) -> range:
    """Positions whose centre lies in ``[low, high]``; the nearest one when the interval falls
    inside a single token's cell."""
    low, high = sorted((float(low), float(high)))
    first, last = int(np.ceil(low)), int(np.floor(high))
    if first > last:
        first = last = int(np.floor((low + high) / 2 + 0.5))
    return range(max(first, 0), min(last, count - 1) + 1)


def _top_per_row(matrix: np.ndarray, rows: np.ndarray, per_row: int, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(row, column) of each row's ``per_row`` largest entries that are at least ``threshold``."""
    if len(rows) == 0 or matrix.shape[1] == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    block = matrix[rows]
    keep = min(per_row, block.shape[1])
    columns = np.argpartition(-block, keep - 1, axis=1)[:, :keep]
    values = np.take_along_axis(block, columns, axis=1)
    strong = values >= threshold
    source = np.repeat(rows[:, None], keep, axis=1)[strong]
    return source.astype(np.int64), columns[strong].astype(np.int64)


class Superseded(Exception):
    """Raised from a progress callback to stop work nobody waits for any more."""


def _message(error: Exception) -> str:
    """A message a person can act on; never a traceback."""
    if isinstance(error, (ValueError, TypeError, core.ModelLoadError, FileNotFoundError)):
        return str(error)
    logger.error("unexpected error in the dashboard", exc_info=error)
    return f"Unexpected error ({type(error).__name__}: {error}). The server log has the details."


def _short(model: str) -> str:
    return model.rstrip("/").split("/")[-1] or model


__all__ = [
    "COLOR_SCALES",
    "FAST_METHODS",
    "HEAD_MODES",
    "HOW_TO_POINT_AT_A_CHECKPOINT",
    "METHOD_LABELS",
    "SLOW_METHODS",
    "TARGET_LABELS",
    "ExplorerState",
    "positions_between",
    "thumbnail_edges",
]
