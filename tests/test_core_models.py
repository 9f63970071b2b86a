"""core.models: loading QA checkpoints offline-first, the process-wide model cache and every load failure."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import core
from core.fixtures import TINY_MAX_LENGTH, minilm_source_dir
from core.models import clear_model_cache
from tests.damaged_checkpoints import DAMAGES, damaged_copy


def test_load_model_twice_returns_the_same_object(tiny_bert_dir: str) -> None:
    first = core.load_model(tiny_bert_dir)
    second = core.load_model(tiny_bert_dir)
    assert second is first
    assert core.load_model(tiny_bert_dir, device="cpu") is first
    # The cache really is what makes them identical: after clearing it a new object is built.
    clear_model_cache()
    reloaded = core.load_model(tiny_bert_dir)
    assert reloaded is not first
    assert reloaded.model_type == "bert"


def test_loaded_model_reports_its_shape(tiny_qa_dir: str) -> None:
    loaded = core.load_model(tiny_qa_dir)
    assert loaded.num_layers == 2
    assert loaded.num_heads == 4
    # RoBERTa's position table has two extra slots (padding offset); every tiny model fits 128 tokens.
    assert loaded.max_length == TINY_MAX_LENGTH
    assert loaded.tokenizer.is_fast
    assert not loaded.model.training
    # Attention weights only come back with the eager implementation.
    assert loaded.model.config._attn_implementation == "eager"


def test_minilm_with_qa_head_loads_with_its_real_shape(minilm_qa_dir: str) -> None:
    loaded = core.load_model(minilm_qa_dir)
    assert (loaded.num_layers, loaded.num_heads) == (6, 12)
    assert loaded.max_length == 512


def test_loaded_weights_are_the_saved_weights(tiny_distilbert_dir: str) -> None:
    loaded = core.load_model(tiny_distilbert_dir)
    saved = load_file(str(Path(tiny_distilbert_dir) / "model.safetensors"))
    state = loaded.model.state_dict()
    head = [name for name in saved if "qa_outputs" in name]
    assert head, "the saved checkpoint has a QA head"
    for name in head:
        torch.testing.assert_close(state[name], saved[name], rtol=0, atol=0)


def test_missing_directory_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-model"
    with pytest.raises(core.ModelLoadError) as raised:
        core.load_model(str(missing))
    message = str(raised.value)
    assert str(missing) in message
    assert "No checkpoint directory" in message


def test_empty_model_name_is_refused() -> None:
    with pytest.raises(core.ModelLoadError, match="No model given"):
        core.load_model("   ")


def test_a_file_is_not_a_checkpoint_directory(tmp_path: Path) -> None:
    stray = tmp_path / "weights.txt"
    stray.write_text("not a model", encoding="utf-8")
    with pytest.raises(core.ModelLoadError, match="not a checkpoint directory"):
        core.load_model(str(stray))


def test_directory_without_config_is_refused(tmp_path: Path) -> None:
    with pytest.raises(core.ModelLoadError, match="config.json"):
        core.load_model(str(tmp_path))


def test_hub_id_offline_fails_fast_and_names_the_model(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")

    def no_network(*args: object, **kwargs: object) -> None:
        raise AssertionError("load_model tried to open a network connection while offline")

    monkeypatch.setattr("socket.create_connection", no_network)
    hub_id = "qa-lens-tests/definitely-not-cached-model"
    began = time.perf_counter()
    with pytest.raises(core.ModelLoadError) as raised:
        core.load_model(hub_id)
    elapsed = time.perf_counter() - began
    message = str(raised.value)
    assert hub_id in message
    assert "offline" in message.lower()
    assert elapsed < 10, f"an offline miss took {elapsed:.1f} s"


def test_pickle_only_checkpoint_is_refused_for_safe_formats(tiny_bert_dir: str, tmp_path: Path) -> None:
    target = tmp_path / "bin-only"
    shutil.copytree(tiny_bert_dir, target)
    weights = load_file(str(target / "model.safetensors"))
    (target / "model.safetensors").unlink()
    torch.save(weights, target / "pytorch_model.bin")
    with pytest.raises(core.ModelLoadError) as raised:
        core.load_model(str(target))
    message = str(raised.value)
    assert "safetensors" in message
    assert "safe" in message
    assert str(target) in message


def test_base_encoder_without_qa_head_is_refused() -> None:
    source = minilm_source_dir()
    with pytest.raises(core.ModelLoadError) as raised:
        core.load_model(str(source))
    message = str(raised.value)
    assert "question-answering head" in message
    assert "qa_outputs" in message
    assert str(source) in message


@pytest.mark.parametrize("damage", list(DAMAGES))
def test_damaged_checkpoint_raises_model_load_error_saying_what_to_fix(
    tiny_bert_dir: str, tmp_path: Path, damage: str
) -> None:
    """Regression: a private transformers exception, a SafetensorError or a RuntimeError leaked; a folder without
    tokenizer files loaded with an empty vocabulary (every token [UNK])."""
    target = damaged_copy(tiny_bert_dir, tmp_path, damage)
    with pytest.raises(core.ModelLoadError, match=DAMAGES[damage]) as raised:
        core.load_model(str(target))
    message = str(raised.value)
    assert str(target) in message
    assert any(fix in message for fix in ("Copy", "re-save", "Re-save", "save_pretrained")), message
