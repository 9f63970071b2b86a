"""core.explanation: the immutable result, its derived views and exact save/load in .json and .npz."""

from __future__ import annotations

import errno
import json
from pathlib import Path

import numpy as np
import pytest

import core
from core.explanation import _ARRAY_FIELDS
from tests.full_disk import fill_the_disk

QUESTION = "Who moved to München in 2015?"
CONTEXT = "Jürgen moved to München in 2015; he said the café near 東京 station (Ελλάδα Street) was great 🎉!"


@pytest.fixture(scope="module")
def explanation(tiny_qa_dir: str) -> core.Explanation:
    return core.explain(QUESTION, CONTEXT, tiny_qa_dir)


def _arrays(explanation: core.Explanation) -> dict[str, np.ndarray]:
    arrays = {name: getattr(explanation, name) for name in _ARRAY_FIELDS}
    for method, per_target in explanation.saliency.items():
        for target, values in per_target.items():
            arrays[f"{method}.{target}"] = values
    return arrays


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_save_and_load_round_trip_is_exact(explanation: core.Explanation, tmp_path: Path, suffix: str) -> None:
    path = explanation.save(tmp_path / "nested" / f"explanation{suffix}")
    assert path.is_file()
    loaded = core.Explanation.load(path)
    assert loaded == explanation
    assert loaded is not explanation
    original, restored = _arrays(explanation), _arrays(loaded)
    assert original.keys() == restored.keys()
    assert len(original) == len(_ARRAY_FIELDS) + len(core.DEFAULT_METHODS) * len(core.TARGETS)
    for name, values in original.items():
        again = restored[name]
        assert again.dtype == values.dtype and again.shape == values.shape, name
        assert again.tobytes() == values.tobytes(), name  # bit-equal, NaN-safe
        assert not again.flags.writeable, name
    for field in ("tokens", "roles", "offsets", "word_ids", "answer", "top_k", "convergence_delta", "ig_steps"):
        assert getattr(loaded, field) == getattr(explanation, field), field
    assert isinstance(loaded.offsets[0], tuple)
    assert loaded.settings == explanation.settings and loaded.timings == explanation.timings
    # The loaded object still works as an explanation.
    assert loaded.words() == explanation.words()
    np.testing.assert_array_equal(loaded.rollout(), explanation.rollout())


@pytest.mark.parametrize("suffix", [".json", ".npz"])
def test_a_save_that_fails_midway_leaves_no_half_written_file(
    explanation: core.Explanation, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, suffix: str
) -> None:
    fill_the_disk(monkeypatch)
    fresh = tmp_path / f"fresh{suffix}"
    with pytest.raises(OSError, match="No space left") as raised:
        explanation.save(fresh)
    assert raised.value.errno == errno.ENOSPC
    assert not fresh.exists()
    # An earlier file at the target stays as it was.
    earlier = tmp_path / f"earlier{suffix}"
    earlier.write_bytes(b"the previous result")
    with pytest.raises(OSError, match="No space left"):
        explanation.save(earlier)
    assert earlier.read_bytes() == b"the previous result"
    assert sorted(path.name for path in tmp_path.iterdir()) == [earlier.name], "a temporary file was left behind"


def test_save_to_a_directory_is_refused_before_writing(explanation: core.Explanation, tmp_path: Path) -> None:
    with pytest.raises(IsADirectoryError):
        explanation.save(tmp_path)
    assert list(tmp_path.iterdir()) == []


def test_equality_notices_any_difference(explanation: core.Explanation) -> None:
    assert explanation == explanation.replace()
    logits = explanation.start_logits.copy()
    logits[0] = np.nextafter(logits[0], np.float32(np.inf))
    assert explanation != explanation.replace(start_logits=logits)
    assert explanation != explanation.replace(context=explanation.context + " ")
    saliency = {m: dict(v) for m, v in explanation.saliency.items()}
    del saliency["gradient"]
    assert explanation != explanation.replace(saliency=saliency)
    assert explanation != "not an explanation"


def test_arrays_are_read_only(explanation: core.Explanation) -> None:
    for name, values in _arrays(explanation).items():
        assert not values.flags.writeable, name
        with pytest.raises(ValueError, match="read-only"):
            values[0] = 0
    with pytest.raises(AttributeError):
        explanation.question = "changed"  # type: ignore[misc]


def test_json_is_plain_json_with_a_format_tag(explanation: core.Explanation, tmp_path: Path) -> None:
    path = explanation.save(tmp_path / "e.json")
    payload = json.loads(path.read_text(encoding="utf-8"))
    assert payload["format"] == "qa-explain/explanation" and payload["version"] == 2
    assert payload["data"]["answer"]["text"] == explanation.answer.text
    assert core.Explanation.from_json(explanation.to_json()) == explanation


def test_loading_something_else_fails_clearly(explanation: core.Explanation, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="No explanation file"):
        core.Explanation.load(tmp_path / "missing.json")
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"format": "something-else", "version": 1, "data": {}}), encoding="utf-8")
    with pytest.raises(ValueError, match="Not an explanation file"):
        core.Explanation.load(other)
    future = explanation.to_dict()
    future["version"] = 99
    with pytest.raises(ValueError, match="Unsupported explanation version"):
        core.Explanation.from_dict(future)


def test_token_table_and_token_text(explanation: core.Explanation) -> None:
    rows = explanation.token_table()
    assert [row["position"] for row in rows] == list(range(explanation.num_tokens))
    answer = explanation.answer
    assert [row["position"] for row in rows if row["in_answer"]] == list(range(answer.start_token, answer.end_token))
    inside = [row for row in rows if row["in_answer"]]
    assert (inside[0]["start_char"], inside[-1]["end_char"]) == (answer.start_char, answer.end_char)
    for row in rows:
        assert row["text"] == explanation.token_text(row["position"])
        if row["role"] == "special":
            assert row["text"] == row["token"]
        for method in core.DEFAULT_METHODS:
            assert f"{method}_start" in row and f"{method}_end" in row
    assert explanation.positions("context") == [i for i, r in enumerate(explanation.roles) if r == "context"]


def test_token_labels_show_the_covered_text(explanation: core.Explanation) -> None:
    labels = explanation.token_labels()
    assert len(labels) == explanation.num_tokens
    for position, (label, token, role) in enumerate(zip(labels, explanation.tokens, explanation.roles, strict=True)):
        text = explanation.token_text(position)
        if role == "special" or not text.strip():
            assert label == token
        elif token.startswith("##"):
            assert label == "##" + text
        else:
            assert label == text
    # Labels are the user's own text (case and accents kept, whatever the tokenizer normalised).
    for position, (label, role) in enumerate(zip(labels, explanation.roles, strict=True)):
        if role != "special" and explanation.token_text(position).strip():
            assert label.removeprefix("##") in (CONTEXT if role == "context" else QUESTION), label
    assert any(label.startswith("J") for label in labels)  # "Jürgen", not the uncased "jurgen"
