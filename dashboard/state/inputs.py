"""What to answer: the model, the question and the context (typed, or a bundled example), and run settings.

Choosing an example fills the question and the context; editing either away from the example's
text clears the choice. Running is not done here: ``ExplorerState`` watches these parameters and
decides when to run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import param

import core
from core.examples import Example, load_examples

NO_EXAMPLE = ""
"""The ``example`` value for "your own question"."""


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
        self.param.watch(self._on_example, ["example"])
        self.param.watch(self._on_text, ["question", "context"])
        self.param.watch(self._on_models, ["models"])

    def set_examples(self, examples: Sequence[Example] | None = None) -> str:
        """Offer these examples (default: ``core.examples.load_examples()``); returns a notice when none can be read."""
        notice = ""
        if examples is None:
            try:
                examples = load_examples()
            except FileNotFoundError:
                examples = []
                notice = "No bundled examples (data/examples.json is missing); type a question and a context."
            except (ValueError, KeyError, TypeError) as error:
                examples = []
                notice = f"The bundled examples could not be read ({error}); type a question and a context."
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

    @property
    def examples(self) -> list[Example]:
        return list(self._examples.values())

    def chosen_example(self) -> Example | None:
        """The chosen example (for its reference answer), if any."""
        return self._examples.get(self.example)

    def _on_example(self, event: param.parameterized.Event) -> None:
        example = self._examples.get(event.new)
        if example is not None:
            self.param.update(question=example.question, context=example.context)

    def _on_text(self, *_events: param.parameterized.Event) -> None:
        example = self._examples.get(self.example)
        if example is not None and (example.question, example.context) != (self.question, self.context):
            self.example = NO_EXAMPLE

    def _on_models(self, event: param.parameterized.Event) -> None:
        models = list(dict.fromkeys(event.new)) or [core.DEFAULT_MODEL]
        self.param.model.objects = models
        if self.model not in models:
            self.model = models[0]


__all__ = ["NO_EXAMPLE", "Inputs"]
