"""What the served dashboard offers: models (``--model``, else ``QA_LENS_MODELS``, else the default),
examples (``--examples FILE``, else ``QA_LENS_EXAMPLES``, else the bundled data/examples.json) and
dataset runs for the Dataset page (``--run DIR``, else ``QA_LENS_RUNS``).

``panel serve dashboard/app.py --args --model ./a --model ./b`` passes the arguments after
``--args`` to the app as ``sys.argv[1:]``. ``QA_LENS_MODELS=./a,./b`` does the same from the
environment. Command-line values win over the environment.
"""

from __future__ import annotations

import argparse
import os
from collections.abc import Mapping, Sequence

import core

ENV_VAR = "QA_LENS_MODELS"
EXAMPLES_ENV_VAR = "QA_LENS_EXAMPLES"
RUNS_ENV_VAR = "QA_LENS_RUNS"


def models_from_sources(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """The models to offer, deduplicated, in the order given."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--model", action="append", default=[])
    known, _unknown = parser.parse_known_args(list(argv or []))
    models = [part.strip() for value in known.model for part in value.split(",")]
    if not any(models):
        environ = os.environ if environ is None else environ
        models = [part.strip() for part in environ.get(ENV_VAR, "").split(",")]
    models = [model for model in dict.fromkeys(models) if model]
    return models or [core.DEFAULT_MODEL]


def examples_from_sources(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> str | None:
    """A SQuAD-format examples file to offer instead of the bundled one, if one is given."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--examples", default=None)
    known, _unknown = parser.parse_known_args(list(argv or []))
    environ = os.environ if environ is None else environ
    chosen = (known.examples or environ.get(EXAMPLES_ENV_VAR, "")).strip()
    return chosen or None


def runs_from_sources(argv: Sequence[str] | None = None, environ: Mapping[str, str] | None = None) -> list[str]:
    """Dataset run directories to offer on the Dataset page (``--run DIR``, repeatable, else ``QA_LENS_RUNS``)."""
    parser = argparse.ArgumentParser(add_help=False)
    parser.add_argument("--run", action="append", default=[])
    known, _unknown = parser.parse_known_args(list(argv or []))
    runs = [part.strip() for value in known.run for part in value.split(",")]
    if not any(runs):
        environ = os.environ if environ is None else environ
        runs = [part.strip() for part in environ.get(RUNS_ENV_VAR, "").split(",")]
    return [run for run in dict.fromkeys(runs) if run]


__all__ = [
    "ENV_VAR",
    "EXAMPLES_ENV_VAR",
    "RUNS_ENV_VAR",
    "examples_from_sources",
    "models_from_sources",
    "runs_from_sources",
]
