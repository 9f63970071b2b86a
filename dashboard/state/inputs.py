"""What to answer: the model, the question and the context (typed, or a bundled example), and run settings.

An example supplies the context and a first question. Choosing one fills both; the question may
then be edited and the example stays chosen (its context is still the one on show); editing the
context away from the example's clears the choice. When the example and the question are set
together (a shared link), the given question wins over the example's own.

The context travels in the page URL too (``shared_context``): empty while an example supplies it,
otherwise the text compressed, so a shared link or a reload after a restart restores it. Running
is not done here: ``ExplorerState`` watches these parameters and decides when to run.
"""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import param

import core
import core.attribution
from core import EXAMPLES_PATH, Example, load_examples
from core.types import IG_BASELINES
from dashboard.labels import choices

NO_EXAMPLE = ""
"""The ``example`` value for "your own question"."""

LINK_PREFIX = "z1."
"""Marks a context compressed for a link: zlib, then URL-safe base64 without padding (format 1)."""
MAX_LINK_CONTEXT_CHARS = 8_000
"""Longest compressed context a link carries (a few pages of text); proxies and servers cap URL length."""
MAX_LINK_CONTEXT_BYTES = 2_000_000
"""Largest context a link may unpack to (a guard against a compressed bomb in a hand-made URL)."""


def context_to_link(context: str) -> str:
    """``context`` compressed for a URL (``LINK_PREFIX`` + URL-safe base64 of its zlib bytes)."""
    packed = base64.urlsafe_b64encode(zlib.compress(context.encode("utf-8"), 9)).decode("ascii")
    return LINK_PREFIX + packed.rstrip("=")


def context_from_link(token: str) -> str:
    """The context a ``context_to_link`` token holds; ``ValueError`` for anything else."""
    if not token.startswith(LINK_PREFIX):
        raise ValueError("This link's context is not in a format this version can read.")
    body = token[len(LINK_PREFIX) :]
    try:
        packed = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        unpacker = zlib.decompressobj()
        raw = unpacker.decompress(packed, MAX_LINK_CONTEXT_BYTES + 1)
        if len(raw) > MAX_LINK_CONTEXT_BYTES or unpacker.unconsumed_tail:
            raise ValueError("This link's context is too large to open.")
        return raw.decode("utf-8")
    except (binascii.Error, zlib.error, UnicodeDecodeError) as error:
        raise ValueError("This link's context is damaged (it may have been cut short when copied).") from error


class Inputs(param.Parameterized):
    """The model, question, context and run settings of one session."""

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
    ig_max_steps = param.Integer(
        default=core.attribution.IG_MAX_STEPS,
        bounds=(core.attribution.IG_START_STEPS, 321),
        doc="Most path points integrated gradients may spend refining its maps (more: slower, closer).",
    )
    ig_baseline = param.Selector(
        default="pad",
        objects=choices(IG_BASELINES),
        doc="What integrated gradients integrates from: question and context as [PAD] or [MASK] tokens, zero "
        "embeddings, or the average of the three maps (three times the work).",
    )
    contrast_rank = param.Integer(
        default=2, bounds=(2, 20), doc="The runner-up the 'answer vs runner-up' target compares with (2: the second)."
    )
    shared_context = param.String(
        default="",
        doc="The context as the page URL carries it: empty while an example supplies it (or when it is too long "
        "for a link), else compressed (context_to_link). Setting it (from a URL) sets the context.",
    )
    context_in_link = param.Boolean(
        default=True, doc="Whether a link to this page restores the context (false: too long for a URL)."
    )
    link_problem = param.String(default="", doc="Why the context in the page's URL could not be used; empty if fine.")

    def __init__(self, **params: Any) -> None:
        models = [str(m).strip() for m in params.pop("models", None) or [core.DEFAULT_MODEL]]
        models = list(dict.fromkeys(m for m in models if m)) or [core.DEFAULT_MODEL]
        model = params.pop("model", None) or models[0]
        if model not in models:
            models.append(model)
        super().__init__(**params)
        self.param.model.objects = models
        self.param.update(models=models, model=model)
        self._examples: dict[str, Example] = {}
        self._applying = False
        self.param.watch(self._on_inputs, ["example", "question", "context", "shared_context"])
        self.param.watch(self._on_models, ["models"])

    def set_examples(self, examples: Sequence[Example] | str | Path | None = None) -> str:
        """Offer these examples, or those of a SQuAD-format file (default: the bundled data/examples.json).

        Returns a notice when none can be read (the page still works: type a question and a context).
        """
        notice = ""
        if examples is None or isinstance(examples, (str, Path)):
            path = EXAMPLES_PATH if examples is None else Path(examples)
            try:
                examples = load_examples(path)
            except FileNotFoundError:
                examples = []
                notice = f"No examples file at {path}; type a question and a context."
            except (OSError, ValueError, KeyError, TypeError) as error:
                examples = []
                notice = f"The examples in {path} could not be read ({error}); type a question and a context."
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
        return notice

    def offer_example(self, example: Example) -> None:
        """Add one example to those on offer (an example opened from a dataset run), keeping the others."""
        self._examples[example.id] = example
        names = dict(self.param.example.names)
        label = f"{example.title}: {example.question}" if example.title else example.question
        label = label if len(label) <= 80 else label[:79] + "…"
        if example.id not in names.values():
            while label in names:
                label += " "
            names[label] = example.id
            self.param.example.objects = names

    @property
    def examples(self) -> list[Example]:
        return list(self._examples.values())

    def chosen_example(self) -> Example | None:
        """The chosen example (for its reference answer), if any."""
        return self._examples.get(self.example)

    def _on_inputs(self, *events: param.parameterized.Event) -> None:
        """Keep example, question, context and the link's context consistent, whatever was set together."""
        if self._applying:
            return
        names = {event.name for event in events}
        self._applying = True
        try:
            updates: dict[str, str] = {}
            if "shared_context" in names and self.shared_context:
                try:
                    context = context_from_link(self.shared_context)
                except ValueError as error:
                    self.link_problem = str(error)
                else:
                    self.link_problem = ""
                    if context != self.context:
                        updates["context"] = context
            example = self._examples.get(self.example)
            if "example" in names and example is not None:
                if "question" not in names:
                    updates["question"] = example.question
                if "context" not in names and "context" not in updates:
                    updates["context"] = example.context
            if updates:
                self.param.update(**updates)
            if example is not None and self.context != example.context:
                self.example = NO_EXAMPLE
                example = None
            self._share_context(example)
        finally:
            self._applying = False

    def _share_context(self, example: Example | None) -> None:
        if example is not None or not self.context:
            self.param.update(shared_context="", context_in_link=True)
            return
        token = context_to_link(self.context)
        fits = len(token) <= MAX_LINK_CONTEXT_CHARS
        self.param.update(shared_context=token if fits else "", context_in_link=fits)

    def _on_models(self, event: param.parameterized.Event) -> None:
        models = list(dict.fromkeys(event.new)) or [core.DEFAULT_MODEL]
        self.param.model.objects = models
        if self.model not in models:
            self.model = models[0]


__all__ = ["NO_EXAMPLE", "Inputs"]
