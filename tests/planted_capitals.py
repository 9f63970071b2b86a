"""A planted QA model that always answers the first capitalised word of the context, and a dataset it gets right.

Why planted: a robustness family must detect a behaviour we know is there. A distractor sentence inserted before
the answer starts with a capitalised fake answer, so this model must be captured by it exactly when the sentence
lands before the answer; it ignores the question, so question typos and case changes never flip it.

How: a one-layer BERT whose encoder weights are all zero (each sublayer adds nothing to the residual, and layer
norm of a normalised vector is itself), so the output is ``LayerNorm(word + position)``. Capitalised words have
the word embedding ``[a, -a, 0, ...]``, every other word zero; position ``i`` adds ``[0, 0, c i, -c i, 0, ...]``.
After layer norm the first coordinate is ``2a / sqrt(a^2 + (c i)^2)`` for a capitalised word (falling with its
position) and 0 otherwise; the QA head reads that coordinate for both start and end. The vocabulary holds every
word of the dataset whole (cased), so a word is one token.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import torch
from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors
from transformers import BertConfig, BertForQuestionAnswering, BertTokenizerFast

SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
HIDDEN = 8
CAPITAL = 1.0
POSITION_STEP = 0.02
LOGIT_SCALE = 20.0

ARTICLES: dict[str, list[tuple[str, str, str]]] = {
    "river": [
        (
            "who kept the mill by the river?",
            "the river runs past the old mill. the mill turns all day. Orla kept the mill by the river. "
            "the water is cold in winter.",
            "Orla",
        ),
        (
            "who fished near the bridge?",
            "the bridge is made of stone. boats pass under it at dawn. each morning Tomas fished near the bridge.",
            "Tomas",
        ),
        (
            "who painted the boats?",
            "the boats are painted blue. Ilse painted the boats last spring. the paint lasts for years.",
            "Ilse",
        ),
    ],
    "city": [
        (
            "who built the tall tower?",
            "the city has many streets. Marek built the tall tower in the square. people climb it on sundays.",
            "Marek",
        ),
        (
            "who opened the bakery?",
            "the bakery sells bread and cakes. the queue is long at noon. Sanne opened the bakery ten years ago.",
            "Sanne",
        ),
        (
            "who runs the library?",
            "the library is quiet. Pavel runs the library with care. the books are old and the chairs are soft.",
            "Pavel",
        ),
    ],
    "farm": [
        (
            "who feeds the goats?",
            "the farm lies in a green valley. the goats eat grass. Wendel feeds the goats every evening.",
            "Wendel",
        ),
        (
            "who planted the orchard?",
            "apples grow in the orchard. Greta planted the orchard long ago. the trees are tall now.",
            "Greta",
        ),
    ],
}


def planted_records() -> list[dict]:
    """JSON Lines records of the planted dataset: one capitalised word per context, the gold answer."""
    records = []
    for title, questions in ARTICLES.items():
        for number, (question, context, answer) in enumerate(questions):
            start = context.index(answer)
            records.append(
                {
                    "id": f"{title}-{number}",
                    "title": title,
                    "question": question,
                    "context": context,
                    "answers": [{"text": answer, "answer_start": start}],
                }
            )
    return records


def write_planted_dataset(path: Path) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in planted_records()), encoding="utf-8")
    return path


def _words(records: list[dict]) -> list[str]:
    words: set[str] = set()
    for record in records:
        for text in (record["question"], record["context"]):
            words.update(re.findall(r"\w+|[^\w\s]", text))
    return sorted(words)


def build_first_capital_model(folder: Path) -> Path:
    """Save the planted model and its word-level, cased tokenizer to ``folder`` (safetensors)."""
    vocab = {token: index for index, token in enumerate([*SPECIAL, *_words(planted_records())])}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]", max_input_chars_per_word=100))
    backend.normalizer = normalizers.BertNormalizer(lowercase=False, strip_accents=False)
    backend.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    cls, sep = vocab["[CLS]"], vocab["[SEP]"]
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1", special_tokens=[("[CLS]", cls), ("[SEP]", sep)]
    )
    tokenizer = BertTokenizerFast(tokenizer_object=backend, do_lower_case=False, model_max_length=256)
    config = BertConfig(
        vocab_size=len(vocab),
        hidden_size=HIDDEN,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=HIDDEN,
        max_position_embeddings=256,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
    )
    model = BertForQuestionAnswering(config)
    with torch.no_grad():
        for parameter in model.bert.encoder.parameters():
            parameter.zero_()
        for layer in model.bert.encoder.layer:
            layer.attention.output.LayerNorm.weight.fill_(1.0)
            layer.output.LayerNorm.weight.fill_(1.0)
        embeddings = model.bert.embeddings
        embeddings.word_embeddings.weight.zero_()
        for token, index in vocab.items():
            if token not in SPECIAL and token[0].isupper():
                embeddings.word_embeddings.weight[index, :2] = torch.tensor([CAPITAL, -CAPITAL])
        embeddings.token_type_embeddings.weight.zero_()
        positions = torch.arange(config.max_position_embeddings, dtype=torch.float32) * POSITION_STEP
        embeddings.position_embeddings.weight.zero_()
        embeddings.position_embeddings.weight[:, 2] = positions
        embeddings.position_embeddings.weight[:, 3] = -positions
        embeddings.LayerNorm.weight.fill_(1.0)
        embeddings.LayerNorm.bias.zero_()
        model.qa_outputs.weight.zero_()
        model.qa_outputs.weight[:, 0] = LOGIT_SCALE
        model.qa_outputs.bias.zero_()
    model.save_pretrained(folder, safe_serialization=True)
    tokenizer.save_pretrained(folder)
    return folder
