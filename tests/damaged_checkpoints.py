"""Copies of a tiny checkpoint with one kind of damage each, and what ``core.load_model`` must say about it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path


def damaged_copy(tiny_bert_dir: str, tmp_path: Path, damage: str) -> Path:
    """A copy of the tiny BERT checkpoint with one kind of damage."""
    target = tmp_path / damage
    shutil.copytree(tiny_bert_dir, target)
    if damage == "empty-config":
        (target / "config.json").write_text("", encoding="utf-8")
    elif damage == "config-not-json":
        (target / "config.json").write_text('{"model_type": "bert", ', encoding="utf-8")
    elif damage == "config-a-list":
        (target / "config.json").write_text("[]", encoding="utf-8")
    elif damage == "truncated-weights":
        weights = target / "model.safetensors"
        weights.write_bytes(weights.read_bytes()[: weights.stat().st_size // 2])
    elif damage == "empty-weights":
        (target / "model.safetensors").write_bytes(b"")
    elif damage == "no-tokenizer":
        (target / "tokenizer.json").unlink()
        (target / "tokenizer_config.json").unlink()
    elif damage == "tokenizer-not-json":
        (target / "tokenizer.json").write_text("garbage", encoding="utf-8")
    elif damage == "weights-of-another-shape":
        config = json.loads((target / "config.json").read_text(encoding="utf-8"))
        config["hidden_size"] *= 2
        (target / "config.json").write_text(json.dumps(config), encoding="utf-8")
    else:
        raise AssertionError(damage)
    return target


DAMAGES = {
    # damage: what the message must say
    "empty-config": "config.json in .* is not valid JSON",
    "config-not-json": "config.json in .* is not valid JSON",
    "config-a-list": "config.json in .* holds a JSON list",
    "truncated-weights": "model.safetensors is damaged or incomplete",
    "empty-weights": "model.safetensors is damaged or incomplete",
    "no-tokenizer": "has no tokenizer files .* none is guessed",
    "tokenizer-not-json": "tokenizer.json in .* is not valid JSON",
    "weights-of-another-shape": "do not fit its config.json",
}
