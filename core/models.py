"""Loading an extractive QA checkpoint once per process, offline first.

Why offline first: the app and the tests run on machines without a model hub; a model that is
cached or on disk must load without touching the network, and one that is not must fail with a
message a person can act on.

Every way a checkpoint can be unusable raises ``ModelLoadError`` with such a message: no such folder or
hub id, a damaged ``config.json`` or tokenizer file, damaged or pickle-only weights, weights that do not
fit the config, no question-answering head, or no tokenizer at all. A folder without tokenizer files is
refused rather than given a tokenizer guessed from ``config.json``: that one would load (transformers
builds an empty vocabulary), and every token would be mislabelled without any error.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from safetensors import SafetensorError
from transformers import AutoModelForQuestionAnswering, AutoTokenizer, PreTrainedModel
from transformers.tokenization_utils_base import PreTrainedTokenizerBase
from transformers.utils import logging as transformers_logging

logger = logging.getLogger(__name__)

_ROBERTA_LIKE = {"roberta", "xlm-roberta", "camembert", "longformer", "data2vec-text", "xmod"}
_HUGE_MAX_LENGTH = 1_000_000
_TOKENIZER_FILES = (
    "tokenizer.json",
    "vocab.txt",
    "vocab.json",
    "spiece.model",
    "sentencepiece.bpe.model",
    "tokenizer.model",
)
"""A local checkpoint needs one of these to have a tokenizer of its own (a fast one is built from the others)."""
_TOKENIZER_JSON_FILES = ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json")


class ModelLoadError(RuntimeError):
    """A model could not be loaded; the message names it and says how to fix it."""


@dataclass(eq=False)
class LoadedModel:
    """A QA model with its tokenizer and the facts the rest of core needs about it."""

    name: str
    model: PreTrainedModel
    tokenizer: PreTrainedTokenizerBase
    device: torch.device
    max_length: int
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def model_type(self) -> str:
        return str(self.model.config.model_type)

    @property
    def num_layers(self) -> int:
        config = self.model.config
        return int(getattr(config, "num_hidden_layers", None) or config.n_layers)

    @property
    def num_heads(self) -> int:
        config = self.model.config
        return int(getattr(config, "num_attention_heads", None) or config.n_heads)


_CACHE: dict[tuple[str, str], LoadedModel] = {}
_CACHE_LOCK = threading.Lock()


def default_device() -> torch.device:
    """CUDA when present, otherwise the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_model(name_or_path: str | os.PathLike[str], device: str | torch.device | None = None) -> LoadedModel:
    """Return the process-wide copy of a QA model, loading it on first use.

    ``name_or_path`` is a hub id (``distilbert/distilbert-base-cased-distilled-squad``) or a local
    directory holding ``config.json``, safetensors weights and a fast tokenizer.
    """
    name = str(name_or_path).strip()
    if not name:
        raise ModelLoadError("No model given: pass a Hugging Face hub id or a local checkpoint directory.")
    resolved_device = torch.device(device) if device is not None else default_device()
    key = (name, str(resolved_device))
    with _CACHE_LOCK:
        cached = _CACHE.get(key)
        if cached is not None:
            return cached
        loaded = _load_uncached(name, resolved_device)
        _CACHE[key] = loaded
        return loaded


def load_tokenizer(name_or_path: str | os.PathLike[str]) -> PreTrainedTokenizerBase:
    """A model's fast tokenizer without its weights (offline first): the loaded model's when it is in memory.

    For work that reads text only, such as a run's QA metadata. Raises ``ModelLoadError`` when neither a local
    folder with tokenizer files nor the Hugging Face cache holds it.
    """
    name = str(name_or_path).strip()
    with _CACHE_LOCK:
        for (cached_name, _device), loaded in _CACHE.items():
            if cached_name == name:
                return loaded.tokenizer
    local = Path(name).expanduser()
    if local.exists() and local.is_dir() and not any((local / file).is_file() for file in _TOKENIZER_FILES):
        raise ModelLoadError(f"Checkpoint {name!r} has no tokenizer files (none of {', '.join(_TOKENIZER_FILES)}).")
    try:
        with quiet_transformers():
            tokenizer = AutoTokenizer.from_pretrained(
                str(local) if local.exists() else name, trust_remote_code=False, local_files_only=True
            )
    except (OSError, ValueError) as error:
        raise ModelLoadError(
            f"Could not load the tokenizer of {name!r} ({error}); pass a local checkpoint folder or a cached hub id."
        ) from error
    if not tokenizer.is_fast:
        raise ModelLoadError(f"Model {name!r} has no fast tokenizer; character offsets need one (tokenizer.json).")
    return tokenizer


def clear_model_cache() -> None:
    """Forget every loaded model (tests use this to prove caching and to free memory)."""
    with _CACHE_LOCK:
        _CACHE.clear()


def _load_uncached(name: str, device: torch.device) -> LoadedModel:
    local = Path(name).expanduser()
    if local.exists():
        if not local.is_dir() or not (local / "config.json").is_file():
            raise ModelLoadError(
                f"{name!r} exists but is not a checkpoint directory: it must be a folder with "
                "config.json, model.safetensors and tokenizer files (as written by save_pretrained)."
            )
        _check_checkpoint_files(local, name)
        try:
            model, tokenizer = _from_pretrained(str(local), {"local_files_only": True}, name)
        except _NotCached as error:
            raise ModelLoadError(
                f"Could not load the checkpoint in {name!r}: {error} Re-save it with save_pretrained."
            ) from error
    elif _looks_like_path(name):
        raise ModelLoadError(
            f"No checkpoint directory at {name!r}. Pass an existing folder with config.json, "
            "model.safetensors and tokenizer files, or a Hugging Face hub id such as "
            "'distilbert/distilbert-base-cased-distilled-squad'."
        )
    else:
        model, tokenizer = _load_from_hub(name)
    if not tokenizer.is_fast:
        raise ModelLoadError(f"Model {name!r} has no fast tokenizer; character offsets need one (tokenizer.json).")
    model.to(device)
    model.eval()
    return LoadedModel(
        name=name,
        model=model,
        tokenizer=tokenizer,
        device=device,
        max_length=_usable_max_length(model, tokenizer),
    )


def _load_from_hub(name: str) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """Try the local cache first, then the hub, and explain plainly when neither works."""
    try:
        return _from_pretrained(name, {"local_files_only": True}, name)
    except _NotCached as cache_miss:
        offline = os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get(
            "TRANSFORMERS_OFFLINE", ""
        ) not in ("", "0")
        if offline:
            raise ModelLoadError(_not_found_message(name, "offline mode is on (HF_HUB_OFFLINE)")) from cache_miss
    reachable, reason = _hub_reachable()
    if not reachable:
        raise ModelLoadError(_not_found_message(name, reason))
    try:
        return _from_pretrained(name, {}, name)
    except _NotCached as hub_miss:
        raise ModelLoadError(_not_found_message(name, str(hub_miss.__cause__ or hub_miss))) from hub_miss


def _check_checkpoint_files(folder: Path, name: str) -> None:
    """Refuse a damaged or incomplete checkpoint folder before transformers fails on it with a private error."""
    config = _read_json(folder / "config.json", name)
    if not isinstance(config, dict):
        raise ModelLoadError(
            f"config.json in {name!r} holds a JSON {type(config).__name__}, not an object of settings: it is not a "
            "transformers config. Restore it, or re-save the checkpoint with save_pretrained."
        )
    if not any((folder / file).is_file() for file in _TOKENIZER_FILES):
        raise ModelLoadError(
            f"Checkpoint {name!r} has no tokenizer files (none of {', '.join(_TOKENIZER_FILES)}). A guessed tokenizer "
            "would label tokens wrongly without any error, so none is guessed: save the model's own tokenizer there "
            "(`tokenizer.save_pretrained(folder)`)."
        )
    for file in _TOKENIZER_JSON_FILES:
        if (folder / file).is_file():
            _read_json(folder / file, name)


def _read_json(path: Path, name: str) -> object:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ModelLoadError(f"Cannot read {path.name} in {name!r}: {error.strerror or error}.") from error
    except ValueError as error:  # also UnicodeDecodeError
        raise ModelLoadError(
            f"{path.name} in {name!r} is not valid JSON ({error}): the file is damaged or incomplete, "
            "e.g. from an interrupted copy. Copy it again, or re-save the checkpoint with save_pretrained."
        ) from error


def _looks_like_path(name: str) -> bool:
    return name.startswith((".", "/", "~")) or "\\" in name or name.count("/") > 1


def _hub_reachable(timeout: float = 3.0) -> tuple[bool, str]:
    """A quick TCP check, so an offline machine fails in seconds instead of a minute of retries."""
    endpoint = urlparse(os.environ.get("HF_ENDPOINT", "https://huggingface.co"))
    host = endpoint.hostname or "huggingface.co"
    port = endpoint.port or (443 if endpoint.scheme == "https" else 80)
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True, ""
    except OSError as error:
        return False, f"the hub at {host} cannot be reached: {error}"


class _NotCached(Exception):
    """The files for a model are not where we looked."""


def _not_found_message(name: str, reason: str) -> str:
    return (
        f"Could not load model {name!r}: it is not a local directory, not in the Hugging Face cache, "
        f"and it could not be downloaded ({reason}). Either download it once on a machine with "
        f"network access (`huggingface-cli download {name}`) or pass the path of a local checkpoint "
        "directory (config.json, model.safetensors, tokenizer files), e.g. --model ./my-squad-model."
    )


def _from_pretrained(
    source: str, kwargs: dict[str, object], name: str
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    with quiet_transformers():
        return _from_pretrained_loud(source, kwargs, name)


@contextmanager
def quiet_transformers() -> Iterator[None]:
    """Keep transformers' load reports and progress bars out of the app's and CLI's output."""
    verbosity = transformers_logging.get_verbosity()
    bars = transformers_logging.is_progress_bar_enabled()
    transformers_logging.set_verbosity_error()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        transformers_logging.set_verbosity(verbosity)
        if bars:
            transformers_logging.enable_progress_bar()


def _from_pretrained_loud(
    source: str, kwargs: dict[str, object], name: str
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    try:
        tokenizer = AutoTokenizer.from_pretrained(source, trust_remote_code=False, **kwargs)
        model, info = AutoModelForQuestionAnswering.from_pretrained(
            source,
            attn_implementation="eager",
            use_safetensors=True,
            trust_remote_code=False,
            output_loading_info=True,
            **kwargs,
        )
    except OSError as error:
        if "safetensors" in str(error).lower() and Path(source).is_dir():
            raise ModelLoadError(
                f"Model {name!r} has no safetensors weights; only safe formats are loaded. "
                "Convert it with `model.save_pretrained(dir, safe_serialization=True)`."
            ) from error
        raise _NotCached(str(error)) from error
    except ValueError as error:
        raise ModelLoadError(f"Model {name!r} cannot be used for extractive question answering: {error}") from error
    except SafetensorError as error:
        raise ModelLoadError(
            f"The weights of model {name!r} cannot be read ({error}): model.safetensors is damaged or incomplete, "
            "e.g. from an interrupted copy or download. Copy or download it again."
        ) from error
    except RuntimeError as error:
        if "mismatch" not in str(error):
            raise
        raise ModelLoadError(
            f"The weights of model {name!r} do not fit its config.json (tensor shapes differ): the two files come "
            "from different models. Re-save the checkpoint with save_pretrained."
        ) from error
    missing_head = [key for key in info.get("missing_keys", []) if "qa_outputs" in key]
    if missing_head:
        raise ModelLoadError(
            f"Model {name!r} has no trained question-answering head ({', '.join(sorted(missing_head))} "
            "missing): it is a base encoder. Use a checkpoint fine-tuned for extractive QA (e.g. on SQuAD)."
        )
    return model, tokenizer


def _usable_max_length(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase) -> int:
    """Tokens per window the model can take, from the tokenizer and the position table."""
    config = model.config
    limits: list[int] = []
    positions = getattr(config, "max_position_embeddings", None)
    if positions:
        offset = (int(config.pad_token_id or 0) + 1) if config.model_type in _ROBERTA_LIKE else 0
        limits.append(int(positions) - offset)
    if tokenizer.model_max_length and tokenizer.model_max_length < _HUGE_MAX_LENGTH:
        limits.append(int(tokenizer.model_max_length))
    if not limits:
        return 512
    return min(limits)
