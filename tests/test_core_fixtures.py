"""The session fixtures must produce checkpoints that reload through the real `from_pretrained` path and behave."""

from __future__ import annotations

import unicodedata

import pytest
import torch
from tokenizers import decoders
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, PreTrainedModel, PreTrainedTokenizerBase

from core.fixtures import ARCHITECTURES, TINY_MAX_LENGTH, build_tiny_qa_model

QUESTION = "Who moved to München in 2015?"
CONTEXT = "Jürgen moved to München in 2015; he said the café near 東京 station (Ελλάδα Street) was great 🎉!"


@pytest.fixture(scope="module", params=[*ARCHITECTURES, "minilm"])
def any_model_dir(request: pytest.FixtureRequest, tiny_model_dirs: dict[str, str]) -> str:
    """Every checkpoint the factory can build, MiniLM included."""
    if request.param == "minilm":
        return request.getfixturevalue("minilm_qa_dir")
    return tiny_model_dirs[request.param]


def _load(directory: str) -> tuple[PreTrainedTokenizerBase, PreTrainedModel]:
    tokenizer = AutoTokenizer.from_pretrained(directory)
    model = AutoModelForQuestionAnswering.from_pretrained(directory, attn_implementation="eager")
    return tokenizer, model.eval()


def _comparable(text: str) -> str:
    """Fold case and accents, so uncased or accent-stripping tokenizers compare equal to the original text."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    return "".join(char for char in decomposed if not unicodedata.combining(char))


def _token_surface(tokenizer: PreTrainedTokenizerBase, token: str) -> str:
    """The text a token stands for: byte-level tokens need decoding, the others only lose a subword marker."""
    if isinstance(tokenizer.backend_tokenizer.decoder, decoders.ByteLevel):
        return tokenizer.convert_tokens_to_string([token]).strip()
    for marker in ("##", "▁"):
        token = token.removeprefix(marker)
    return token.strip()


def test_forward_pass_gives_qa_logits_and_normalised_attention(any_model_dir: str) -> None:
    tokenizer, model = _load(any_model_dir)
    encoding = tokenizer(QUESTION, CONTEXT, return_tensors="pt")
    with torch.no_grad():
        outputs = model(**encoding, output_attentions=True)
    sequence_length = encoding["input_ids"].shape[1]
    assert outputs.start_logits.shape == (1, sequence_length)
    assert outputs.end_logits.shape == (1, sequence_length)
    assert len(outputs.attentions) == model.config.num_hidden_layers
    for layer in outputs.attentions:
        assert layer.shape == (1, model.config.num_attention_heads, sequence_length, sequence_length)
        torch.testing.assert_close(layer.sum(dim=-1), torch.ones(layer.shape[:-1]), atol=1e-5, rtol=0)


def test_context_offsets_point_at_the_token_text(any_model_dir: str) -> None:
    tokenizer = AutoTokenizer.from_pretrained(any_model_dir)
    encoding = tokenizer(QUESTION, CONTEXT, return_offsets_mapping=True)
    tokens = encoding.tokens()
    context_positions = [index for index, sequence_id in enumerate(encoding.sequence_ids()) if sequence_id == 1]
    assert context_positions
    for index in context_positions:
        token = tokens[index]
        start, end = encoding["offset_mapping"][index]
        span = CONTEXT[start:end]
        assert 0 <= start <= end <= len(CONTEXT), (token, start, end)
        # Byte-level offsets are classically off by the leading space; trim_offsets must have removed it.
        assert span == span.strip(), (token, span)
        surface = "" if token == tokenizer.unk_token else _token_surface(tokenizer, token)
        if not surface:
            # [UNK], or a lone "Ġ"/"▁" that only stands for whitespace (its span may be empty after trimming).
            continue
        assert start < end, (token, start, end)
        if "\ufffd" in surface:
            # A byte-level piece of a multi-byte character maps onto that whole character.
            assert not span.isascii(), (token, span)
        else:
            assert _comparable(span) == _comparable(surface), (token, span)


@pytest.mark.parametrize("architecture", ["distilbert", "roberta", "albert"])
def test_encodings_without_segment_embeddings_have_no_token_type_ids(
    architecture: str, tiny_model_dirs: dict[str, str]
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model_dirs[architecture])
    assert "token_type_ids" not in tokenizer(QUESTION, CONTEXT)


def test_bert_encodings_mark_the_context_segment(tiny_bert_dir: str) -> None:
    encoding = AutoTokenizer.from_pretrained(tiny_bert_dir)(QUESTION, CONTEXT)
    sequence_ids = encoding.sequence_ids()
    assert [1 if sequence_id == 1 else 0 for sequence_id in sequence_ids[:-1]] == encoding["token_type_ids"][:-1]


def test_tiny_models_accept_exactly_their_advertised_length(tiny_qa_dir: str) -> None:
    tokenizer, model = _load(tiny_qa_dir)
    assert tokenizer.model_max_length == TINY_MAX_LENGTH
    long_context = " ".join([CONTEXT] * 20)
    encoding = tokenizer(
        QUESTION, long_context, truncation="only_second", max_length=tokenizer.model_max_length, return_tensors="pt"
    )
    assert encoding["input_ids"].shape[1] == TINY_MAX_LENGTH
    with torch.no_grad():
        outputs = model(**encoding)
    assert outputs.start_logits.shape == (1, TINY_MAX_LENGTH)


def test_tiny_model_weights_are_reproducible_from_the_seed(tmp_path, tiny_bert_dir: str) -> None:
    rebuilt = build_tiny_qa_model(tmp_path / "bert", "bert", seed=0)
    original_state = AutoModelForQuestionAnswering.from_pretrained(tiny_bert_dir).state_dict()
    rebuilt_state = AutoModelForQuestionAnswering.from_pretrained(rebuilt).state_dict()
    assert original_state.keys() == rebuilt_state.keys()
    for name, tensor in original_state.items():
        assert torch.equal(tensor, rebuilt_state[name]), name


def test_minilm_is_the_real_six_layer_model(minilm_qa_dir: str) -> None:
    tokenizer, model = _load(minilm_qa_dir)
    assert model.config.num_hidden_layers == 6
    assert model.config.num_attention_heads == 12
    assert tokenizer.model_max_length == 512
    # Freshly loaded, before any __call__ resets them: no truncation or padding hidden in the backend tokenizer.
    assert tokenizer.backend_tokenizer.truncation is None
    assert tokenizer.backend_tokenizer.padding is None
    assert torch.count_nonzero(model.qa_outputs.bias) == 0
