"""Perturbation families: seeded, deterministic rewrites of a QA example, each with a rule and an expectation.

A robustness suite asks how a model's answer moves when an example is rewritten in a way whose effect is known
(Jia & Liang, 2017, "Adversarial Examples for Evaluating Reading Comprehension Systems"; Ribeiro et al., 2020,
CheckList). Three kinds:

- **invariance** (the answer should not change):

  - ``typos``: a quarter of the question's words of four letters or more (at least one) get one letter, never
    the first, replaced by a neighbouring key of a QWERTY keyboard, keeping its case;
  - ``case_punctuation``: the question lower-cased, and its final question mark dropped;
  - ``contraction``: the first of ``CONTRACTIONS`` the question holds, contracted ("is not" -> "isn't") or, when it
    holds none in full, expanded;
  - ``reorder_sentences``: the context's sentences other than the answer's shuffled, the answer's sentence left
    where it was (at least two other sentences);
  - ``insert_unrelated``: a sentence from another article inserted at a sentence boundary;
  - ``swap_name``: a proper name of the context that is no gold answer (a run of capitalised words, two or more,
    or one not starting a sentence) replaced everywhere by another proper name taken from another article.

- **distractor** (the model should not answer from the inserted text): ``distractor`` inserts, at a seeded
  sentence boundary (never inside a sentence), a sentence made from the question's own words: its wh-word
  (``how many``/``how much`` with it) replaced by a fake answer of the gold answer's type from another article,
  its proper names and numbers swapped for others, its question mark for a full stop (in the spirit of
  AddOneSent). Capture: the prediction lies inside the inserted sentence.

- **counterfactual** (the answer should change):

  - ``remove_answer_sentence``: the sentence holding every gold answer removed; the example becomes unanswerable
    and the prediction should move or become no answer;
  - ``replace_answer``: the first gold answer's text replaced everywhere in the context by another answer of its
    type from another article; the new gold answers are the replacement's positions, and the prediction should
    follow it.

Every perturbed example's gold offsets are recomputed from the edits (``core.whatif``'s span mapping), never
guessed; a perturbation that cannot apply, or whose edit would touch a gold answer it must keep, is skipped with
its reason. Randomness comes from one ``random.Random`` per (seed, family, example id, copy), so a perturbation
does not depend on which other examples or families run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

from core.dataset.perturbation_rules import (
    Pool,
    Rule,
    case_punctuation,
    contraction,
    distractor,
    insert_unrelated,
    remove_answer_sentence,
    reorder_sentences,
    replace_answer,
    rng_for,
    swap_name,
    typos,
)
from core.dataset.reading import DatasetExample

INVARIANCE, DISTRACTOR, COUNTERFACTUAL = "invariance", "distractor", "counterfactual"
KINDS = (INVARIANCE, DISTRACTOR, COUNTERFACTUAL)


@dataclass(frozen=True)
class Perturbed:
    """A perturbed copy of an example, what was done to it, and what a robust model does with it."""

    original_id: str
    family: str
    kind: str
    copy: int
    seed: int
    example: DatasetExample
    region: tuple[int, int] | None
    """Characters of the perturbed context the edit wrote (an inserted sentence, a replacement), if any."""
    edit: str
    """The edit in words (for the page's list of pairs)."""
    expectation: str


@dataclass(frozen=True)
class Skipped:
    """A perturbation that could not apply to an example, and why."""

    original_id: str
    family: str
    kind: str
    copy: int
    seed: int
    reason: str


@dataclass(frozen=True)
class Family:
    """A named rewrite rule, its kind (invariance, distractor, counterfactual) and what a robust model does."""

    name: str
    kind: str
    rule: Rule
    expectation: str


FAMILIES: dict[str, Family] = {
    family.name: family
    for family in (
        Family("typos", INVARIANCE, typos, "the same answer"),
        Family("case_punctuation", INVARIANCE, case_punctuation, "the same answer"),
        Family("contraction", INVARIANCE, contraction, "the same answer"),
        Family("reorder_sentences", INVARIANCE, reorder_sentences, "the same answer"),
        Family("insert_unrelated", INVARIANCE, insert_unrelated, "the same answer"),
        Family("swap_name", INVARIANCE, swap_name, "the same answer"),
        Family("distractor", DISTRACTOR, distractor, "no answer from the inserted sentence"),
        Family("remove_answer_sentence", COUNTERFACTUAL, remove_answer_sentence, "another answer, or none"),
        Family("replace_answer", COUNTERFACTUAL, replace_answer, "the replacement as the answer"),
    )
}
SUITES: dict[str, tuple[str, ...]] = {"default": tuple(FAMILIES)}


def suite_families(suite: str) -> list[Family]:
    """``default`` or a comma-separated list of family names; ``ValueError`` naming an unknown one."""
    names = SUITES.get(suite) or tuple(name.strip() for name in suite.split(",") if name.strip())
    unknown = [name for name in names if name not in FAMILIES]
    if unknown or not names:
        raise ValueError(
            f"Unknown perturbation famil{'ies' if len(unknown) > 1 else 'y'} {unknown or suite!r}; choose "
            f"'default' or from {', '.join(FAMILIES)}."
        )
    return [FAMILIES[name] for name in dict.fromkeys(names)]


def perturb(
    example: DatasetExample, family: Family, *, seed: int = 0, copy: int = 0, pool: Pool | None = None
) -> Perturbed | Skipped:
    """One perturbed copy of ``example`` by ``family`` (deterministic for the seed and copy), or why not.

    The copy's id is ``<id>~<family>~<copy>``; its ``region`` is the text the edit wrote (a run over the copies
    reports the saliency share there). Every gold answer is checked at its recomputed offset.
    """
    result = family.rule(example, rng_for(seed, family.name, example.id, copy), pool or Pool())
    if isinstance(result, str):
        return Skipped(example.id, family.name, family.kind, copy, seed, result)
    perturbed, region, edit = result
    renamed = replace(perturbed, id=perturbed_id(example.id, family.name, copy), region=region)
    for text, start in zip(renamed.answers, renamed.answer_starts, strict=True):
        if renamed.context[start : start + len(text)] != text:
            return Skipped(example.id, family.name, family.kind, copy, seed, f"lost the offset of {text!r}")
    return Perturbed(example.id, family.name, family.kind, copy, seed, renamed, region, edit, family.expectation)


def perturbed_id(original_id: str, family: str, copy: int) -> str:
    """The id of a perturbed copy in the suite's run."""
    return f"{original_id}~{family}~{copy}"


def perturb_examples(
    examples: Sequence[DatasetExample],
    families: Sequence[Family],
    *,
    per_example: int = 1,
    seed: int = 0,
    pool: Pool | None = None,
) -> list[Perturbed | Skipped]:
    """Every family's ``per_example`` copies of every example (a copy identical to an earlier one is skipped, so no
    pair is counted twice), borrowing from ``pool`` (default: the examples'
    own articles; a suite passes its whole input file, so a run's first questions, all from one article, still
    find other articles)."""
    pool = pool if pool is not None else Pool.from_examples(examples)
    results: list[Perturbed | Skipped] = []
    for example in examples:
        for family in families:
            made: dict[tuple[str, str], int] = {}
            for copy in range(per_example):
                result = perturb(example, family, seed=seed, copy=copy, pool=pool)
                if isinstance(result, Perturbed):
                    text = (result.example.question, result.example.context)
                    if text in made:
                        reason = f"the same text as copy {made[text]}"
                        result = Skipped(example.id, family.name, family.kind, copy, seed, reason)
                    else:
                        made[text] = copy
                results.append(result)
    return results


__all__ = [
    "COUNTERFACTUAL",
    "DISTRACTOR",
    "FAMILIES",
    "INVARIANCE",
    "SUITES",
    "Family",
    "KINDS",
    "Perturbed",
    "Pool",
    "Skipped",
    "perturb",
    "perturb_examples",
    "perturbed_id",
    "suite_families",
]
