"""How much natural text one question can be asked about: words of SQuAD v1.1 dev text that fit ``MAX_WINDOWS``.

Contexts longer than a window are split into ``MAX_WINDOWS`` overlapping windows at most; how many
words that is depends on the tokenizer. This binary-searches the longest prefix of the SQuAD v1.1
dev contexts (joined) that ``core.encode`` accepts with a short question, using the MiniLM-L6
WordPiece tokenizer the tests use.

    .venv/bin/python scripts/fetch_squad.py          # once: the SQuAD files, cached outside git
    .venv/bin/python bench/bench_capacity.py [--squad PATH]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from core import DEFAULT_MAX_LENGTH, DEFAULT_STRIDE, MAX_WINDOWS, encode  # noqa: E402
from core.fixtures import minilm_tokenizer  # noqa: E402

QUESTION = "When did the library open?"
DEFAULT_SQUAD = Path(os.environ.get("QA_LENS_CACHE", Path.home() / ".cache" / "qa-lens")) / "squad" / "dev-v1.1.json"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--squad", type=Path, default=DEFAULT_SQUAD, help="a SQuAD-format JSON file")
    args = parser.parse_args(argv)
    if not args.squad.is_file():
        print(f"error: no SQuAD file at {args.squad}; run scripts/fetch_squad.py first", file=sys.stderr)
        return 2
    words: list[str] = []
    for article in json.loads(args.squad.read_text(encoding="utf-8"))["data"]:
        for paragraph in article["paragraphs"]:
            words.extend(paragraph["context"].split())
    tokenizer = minilm_tokenizer()

    def fits(count: int) -> bool:
        try:
            encode(tokenizer, QUESTION, " ".join(words[:count]))
        except ValueError:
            return False
        return True

    low, high = 1, len(words)
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    tokens = len(tokenizer(" ".join(words[:low]), add_special_tokens=False)["input_ids"])
    print(
        f"{low:,} words ({tokens:,} tokens, {tokens / low:.2f} per word) of {args.squad.name} fit in "
        f"{MAX_WINDOWS} windows of {DEFAULT_MAX_LENGTH} tokens (stride {DEFAULT_STRIDE}) with {QUESTION!r}"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
