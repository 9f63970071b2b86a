"""The rewrite rules of the perturbation families (``core.dataset.perturbations`` names and documents them).

Each rule takes an example, a seeded ``random.Random`` and a ``Pool`` of what other articles offer, and returns
a ``Rewrite`` (the perturbed example, the characters the edit wrote if any, the edit in words) or, as text, the
reason it cannot apply to this example. Gold offsets are recomputed through the edits (``core.whatif``'s span
mapping), never guessed.
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from core.dataset.metadata import answer_type, split_sentences
from core.dataset.metrics import normalize_answer
from core.dataset.reading import DatasetExample
from core.whatif import Edit, map_span

TYPO_SHARE = 0.25
_KEYBOARD_ROWS = ("qwertyuiop", "asdfghjkl", "zxcvbnm")
CONTRACTIONS: tuple[tuple[str, str], ...] = (
    ("is not", "isn't"),
    ("are not", "aren't"),
    ("was not", "wasn't"),
    ("were not", "weren't"),
    ("do not", "don't"),
    ("does not", "doesn't"),
    ("did not", "didn't"),
    ("can not", "can't"),
    ("cannot", "can't"),
    ("could not", "couldn't"),
    ("would not", "wouldn't"),
    ("has not", "hasn't"),
    ("have not", "haven't"),
    ("what is", "what's"),
    ("who is", "who's"),
    ("where is", "where's"),
    ("it is", "it's"),
    ("that is", "that's"),
)
_NAME = re.compile(r"\b[A-Z][a-zA-Z'’-]+(?:\s+(?:of|the|de|von|van|da|del)?\s*[A-Z][a-zA-Z'’-]+)*")
_NUMBER = re.compile(r"\b\d[\d,.]*\b")
_LEADING_TEXT = """The A An In On At For By Of From To With As After Before During Since Until While When Where
Although But And Or If This That These Those His Her Its Their Our My Your Some Many Most"""
_LEADING = frozenset(_LEADING_TEXT.split())
_WH = re.compile(r"\b(how many|how much|what|which|who|whom|whose|when|where|why|how)\b", re.IGNORECASE)

Rewrite = tuple[DatasetExample, tuple[int, int] | None, str]
"""A rule's result: the perturbed example, the characters of its context the edit wrote (or None), the edit in words."""


@dataclass
class Pool:
    """What perturbations borrow from other articles: sentences, proper names and answers of each type."""

    sentences: dict[str, list[str]] = field(default_factory=dict)
    names: dict[str, list[str]] = field(default_factory=dict)
    answers: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """By answer type, by article."""

    @classmethod
    def from_examples(cls, examples: Sequence[DatasetExample]) -> Pool:
        pool = cls()
        seen_contexts: set[str] = set()
        for example in examples:
            title = example.title or example.id
            if example.context not in seen_contexts:
                seen_contexts.add(example.context)
                for start, end in split_sentences(example.context):
                    sentence = example.context[start:end].strip()
                    if 30 <= len(sentence) <= 300:
                        pool.sentences.setdefault(title, []).append(sentence)
                for name in _names(example.context):
                    pool.names.setdefault(title, []).append(name)
            for answer in example.answers[:1]:
                kind = answer_type(answer)
                if kind is not None:
                    pool.answers.setdefault(kind, {}).setdefault(title, []).append(answer.strip())
        return pool

    def pick(self, rng: random.Random, by_title: dict[str, list[str]], other_than: str) -> str | None:
        """A random entry from an article other than ``other_than`` (sorted first: the same on every run)."""
        titles = sorted(title for title in by_title if title != other_than and by_title[title])
        if not titles:
            return None
        values = by_title[rng.choice(titles)]
        return sorted(set(values))[rng.randrange(len(set(values)))]


def _names(text: str) -> list[str]:
    """Proper names: runs of two or more capitalised words, or one that does not start a sentence; leading
    function words capitalised at a sentence's start (``_LEADING``: The, In, After...) are not part of the name."""
    found = []
    for match in _NAME.finditer(text):
        words = match.group().split()
        start = match.start()
        while words and words[0] in _LEADING:
            start = text.index(words[1], start) if len(words) > 1 else match.end()
            words = words[1:]
        before = text[:start].rstrip()
        sentence_start = not before or before[-1] in ".!?\"'“”"
        if len(words) >= 2 or (words and not sentence_start):
            found.append(" ".join(words))
    return found


def rng_for(seed: int, family: str, example_id: str, copy: int) -> random.Random:
    return random.Random(f"{seed}:{family}:{example_id}:{copy}")


def _with_question(example: DatasetExample, question: str) -> DatasetExample:
    return DatasetExample(
        example.id,
        example.title,
        question,
        example.context,
        example.answers,
        example.answer_starts,
        example.is_impossible,
    )


def apply_context_edits(
    example: DatasetExample, edits: Sequence[Edit], keep_answers: bool = True
) -> DatasetExample | str:
    """The example with ``edits`` applied to its context and its gold answers mapped through them, or the reason
    it cannot be (an edit touches a gold answer)."""
    context, position, pieces = example.context, 0, []
    ordered = sorted(edits, key=lambda edit: edit.start_char)
    for edit in ordered:
        pieces += [context[position : edit.start_char], edit.replacement or ""]
        position = edit.end_char
    pieces.append(context[position:])
    starts = []
    for text, start in zip(example.answers, example.answer_starts, strict=True):
        mapped = map_span(start, start + len(text), [tuple(ordered)])
        if mapped.start_char is None:
            if keep_answers:
                return f"the edit would change the gold answer {text!r}"
            continue
        starts.append(mapped.start_char)
    new_context = "".join(pieces)
    return DatasetExample(
        example.id,
        example.title,
        example.question,
        new_context,
        example.answers if starts else (),
        tuple(starts),
        example.is_impossible,
    )


def _typo(word: str, rng: random.Random) -> str:
    position = rng.randrange(1, len(word))
    letter = word[position]
    for row in _KEYBOARD_ROWS:
        index = row.find(letter.lower())
        if index >= 0:
            neighbours = [row[i] for i in (index - 1, index + 1) if 0 <= i < len(row)]
            swapped = rng.choice(neighbours)
            return word[:position] + (swapped.upper() if letter.isupper() else swapped) + word[position + 1 :]
    return word


def typos(example: DatasetExample, rng: random.Random, pool: Pool) -> Rewrite | str:
    words = [(m.start(), m.end()) for m in re.finditer(r"[A-Za-z]{4,}", example.question)]
    if not words:
        return "the question has no word of four letters or more"
    chosen = sorted(rng.sample(words, max(1, round(TYPO_SHARE * len(words)))))
    question, shift, changed = example.question, 0, []
    for start, end in chosen:
        word = example.question[start:end]
        typo = _typo(word, rng)
        question = question[: start + shift] + typo + question[end + shift :]
        changed.append(f"{word} -> {typo}")
    return _with_question(example, question), None, "typos: " + ", ".join(changed)


def case_punctuation(example: DatasetExample, rng: random.Random, pool: Pool) -> Rewrite | str:
    question = example.question.lower().rstrip()
    question = question[:-1].rstrip() if question.endswith("?") else question
    if question == example.question:
        return "the question is already lower-case, without a question mark"
    return _with_question(example, question), None, "question lower-cased, question mark dropped"


def contraction(example: DatasetExample, rng: random.Random, pool: Pool) -> Rewrite | str:
    for full, short in CONTRACTIONS:
        for source, target in ((full, short), (short, full)):
            match = re.search(rf"\b{re.escape(source)}\b", example.question, re.IGNORECASE)
            if match:
                found = match.group()
                replacement = target[0].upper() + target[1:] if found[0].isupper() else target
                question = example.question[: match.start()] + replacement + example.question[match.end() :]
                return _with_question(example, question), None, f"{found!r} -> {replacement!r}"
    return "the question holds no contraction or its expansion"


def _answer_sentence(example: DatasetExample) -> tuple[list[tuple[int, int]], int] | str:
    if not example.answers:
        return "the question has no gold answer"
    sentences = split_sentences(example.context)
    holding = {
        next(i for i, (low, high) in enumerate(sentences) if low <= start < high or i == len(sentences) - 1)
        for start in example.answer_starts
    }
    if len(holding) != 1:
        return "the gold answers lie in different sentences"
    index = holding.pop()
    low, high = sentences[index]
    if any(start + len(text) > high for text, start in zip(example.answers, example.answer_starts, strict=True)):
        return "a gold answer runs past its sentence"
    return sentences, index


def reorder_sentences(example: DatasetExample, rng: random.Random, pool: Pool) -> Rewrite | str:
    found = _answer_sentence(example)
    if isinstance(found, str):
        return found
    sentences, index = found
    if len(sentences) < 3:
        return "the context has fewer than two sentences besides the answer's"
    others = [i for i in range(len(sentences)) if i != index]
    order = others[:]
    for _attempt in range(10):
        rng.shuffle(order)
        if order != others:
            break
    else:
        return "no other order of the sentences"
    texts = [example.context[low:high] for low, high in sentences]
    texts = [text if text.endswith((" ", "\n")) else text + " " for text in texts]
    arranged = order[:index] + [index] + order[index:]
    context = "".join(texts[i] for i in arranged).rstrip()
    offset = sum(len(texts[i]) for i in arranged[: arranged.index(index)])
    starts = tuple(offset + start - sentences[index][0] for start in example.answer_starts)
    perturbed = DatasetExample(
        example.id, example.title, example.question, context, example.answers, starts, example.is_impossible
    )
    return perturbed, None, "sentences other than the answer's reordered"


def _insert(example: DatasetExample, sentence: str, rng: random.Random) -> Rewrite | str:
    """``sentence`` inserted at a seeded sentence boundary (never inside a sentence, so never inside the answer's);
    the perturbed example and the inserted sentence's characters."""
    boundaries = sorted({low for low, _high in split_sentences(example.context)} | {len(example.context)})
    at = rng.choice(boundaries)
    text = sentence.strip()
    if at == len(example.context):
        insertion, region_start = " " + text, at + 1
    else:
        insertion, region_start = text + " ", at
    edited = apply_context_edits(example, [Edit(at, at, insertion)])
    if isinstance(edited, str):
        return edited
    return edited, (region_start, region_start + len(text))


def insert_unrelated(example: DatasetExample, rng: random.Random, pool: Pool) -> Rewrite | str:
    sentence = pool.pick(rng, pool.sentences, example.title or example.id)
    if sentence is None:
        return "no other article to take a sentence from"
    inserted = _insert(example, sentence, rng)
    if isinstance(inserted, str):
        return inserted
    perturbed, region = inserted
    return perturbed, region, f"inserted {sentence!r}"


def swap_name(example: DatasetExample, rng: random.Random, pool: Pool) -> Rewrite | str:
    golds = [(start, start + len(text)) for text, start in zip(example.answers, example.answer_starts, strict=True)]
    names = sorted(
        {
            name
            for name in _names(example.context)
            if not any(normalize_answer(name) in normalize_answer(text) for text in example.answers)
        }
    )
    names = [name for name in names if not any(name in text or text in name for text in example.answers)]
    if not names:
        return "no proper name outside the gold answers"
    name = rng.choice(names)
    replacement = pool.pick(rng, pool.names, example.title or example.id)
    if replacement is None or replacement == name:
        return "no other article's name to swap in"
    edits = []
    for match in re.finditer(rf"\b{re.escape(name)}\b", example.context):
        if any(match.start() < high and match.end() > low for low, high in golds):
            continue
        edits.append(Edit(match.start(), match.end(), replacement))
    if not edits:
        return f"{name!r} occurs only inside a gold answer"
    perturbed = apply_context_edits(example, edits)
    if isinstance(perturbed, str):
        return perturbed
    return perturbed, None, f"{name!r} -> {replacement!r} ({len(edits)} time(s))"


def distractor_sentence(question: str, fake: str, rng: random.Random, pool: Pool, title: str) -> str | None:
    """The question as a statement of ``fake``, its names and numbers swapped (see the module docstring)."""
    text = question.strip().rstrip("?").strip()
    match = _WH.search(text)
    if match is None:
        return None
    sentence = text[: match.start()] + fake + text[match.end() :]
    for name in sorted(set(_names(text)), key=len, reverse=True):
        other = pool.pick(rng, pool.names, title)
        if other and other != name and name not in fake:
            sentence = sentence.replace(name, other)
    sentence = _NUMBER.sub(lambda m: m.group() if m.group() in fake else str(rng.randint(2, 1999)), sentence)
    sentence = " ".join(sentence.split())
    return sentence[0].upper() + sentence[1:] + "."


def _other_answer(example: DatasetExample, rng: random.Random, pool: Pool) -> tuple[str | None, str]:
    """Another article's answer of the gold answer's type (a distractor's fake answer, a replacement), or None and
    the reason there is none."""
    if not example.answers:
        return None, "the question has no gold answer"
    gold = example.answers[0]
    kind = answer_type(gold)
    candidates = {
        title: [answer for answer in answers if normalize_answer(answer) != normalize_answer(gold)]
        for title, answers in pool.answers.get(kind or "", {}).items()
    }
    return pool.pick(rng, candidates, example.title or example.id), f"no other article's answer of type {kind!r}"


def distractor(example: DatasetExample, rng: random.Random, pool: Pool) -> Rewrite | str:
    fake, reason = _other_answer(example, rng, pool)
    if fake is None:
        return reason
    sentence = distractor_sentence(example.question, fake, rng, pool, example.title or example.id)
    if sentence is None:
        return "the question has no wh-word to put the fake answer in"
    inserted = _insert(example, sentence, rng)
    if isinstance(inserted, str):
        return inserted
    perturbed, region = inserted
    return perturbed, region, f"inserted {sentence!r} (fake answer {fake!r})"


def remove_answer_sentence(example: DatasetExample, rng: random.Random, pool: Pool) -> Rewrite | str:
    found = _answer_sentence(example)
    if isinstance(found, str):
        return found
    sentences, index = found
    if len(sentences) < 2:
        return "the answer's sentence is the whole context"
    low, high = sentences[index]
    edited = apply_context_edits(example, [Edit(low, high, "")], keep_answers=False)
    assert not isinstance(edited, str)
    context = edited.context.strip()
    if not context:
        return "nothing would be left of the context"
    perturbed = DatasetExample(example.id, example.title, example.question, context, (), (), True)
    return perturbed, None, f"removed {example.context[low:high].strip()!r}"


def replace_answer(example: DatasetExample, rng: random.Random, pool: Pool) -> Rewrite | str:
    replacement, reason = _other_answer(example, rng, pool)
    if replacement is None:
        return reason
    gold = example.answers[0]
    matches = list(re.finditer(re.escape(gold), example.context))
    edits = [Edit(m.start(), m.end(), replacement) for m in matches]
    context, shift, starts = example.context, 0, []
    for match in matches:
        starts.append(match.start() + shift)
        shift += len(replacement) - len(gold)
    for edit in reversed(edits):
        context = context[: edit.start_char] + replacement + context[edit.end_char :]
    perturbed = DatasetExample(
        example.id, example.title, example.question, context, tuple(replacement for _ in starts), tuple(starts), False
    )
    first = starts[0]
    return perturbed, (first, first + len(replacement)), f"{gold!r} -> {replacement!r} ({len(starts)} time(s))"


Rule = Callable[[DatasetExample, random.Random, "Pool"], "Rewrite | str"]


__all__ = [
    "CONTRACTIONS",
    "TYPO_SHARE",
    "Pool",
    "Rewrite",
    "Rule",
    "apply_context_edits",
    "case_punctuation",
    "contraction",
    "distractor",
    "distractor_sentence",
    "insert_unrelated",
    "remove_answer_sentence",
    "reorder_sentences",
    "replace_answer",
    "rng_for",
    "swap_name",
    "typos",
]
