"""A run directory's manifest: what the run is (input, model, settings, partitions), whether a rerun may resume
it, and which files the run owns.

Resuming: the manifest records the input's sha256, the model, the settings and the ids of every partition.
Rerunning the same command skips partitions whose file exists; a different input, model or settings is refused
(use a new ``out``, or ``overwrite=True``).

Nothing of the user's is ever deleted. A run owns exactly: ``manifest.json``, ``summary.json``,
``heads.parquet``, one ``parts/part-NNNNN.parquet`` and one ``metadata/part-NNNNN.parquet`` per partition of its
manifest, one ``explanations/<safe id>.npz`` per id it was asked to keep (``kept_ids``), and the temporary files of its
own atomic writes (a dot, the target's name, 32 hex digits, ``.tmp`` or ``.npz``). ``overwrite`` and resume
remove only those (``owned_files``, ``leftover_files``); anything else in the folder (notes, a subfolder, a
dotfile) stays, and the run's folders are removed only when nothing else is in them. A folder whose
``manifest.json`` is not a QA Lens run's, or is damaged, is never overwritten: the refusal asks for another
``out``. When removing an old run's files fails part-way, its manifest is still in place, so the old run
resumes with its own command and the overwrite can be retried.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import uuid
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path
from typing import Any

from core.dataset.reading import DatasetItem
from core.dataset.row_settings import SETTINGS_ADDED_LATER, RowSettings
from core.dataset.run_checks import check_manifest, read_json_file
from core.dataset.schema import (
    EXPLANATIONS_DIR,
    HEADS,
    MANIFEST,
    METADATA_DIR,
    PARTS_DIR,
    SUMMARY,
    explanation_path,
    metadata_path,
    part_path,
)

MANIFEST_FORMAT = "qa-lens/dataset-run"

MANIFEST_VERSION = 2
"""2: rows gained null_margin, no_answer, span_em, span_f1, error_kind (and ig_converged, ig_nodes with integrated
gradients); a version-1 run still loads (its missing columns read as null) but is not resumed."""

TEMPORARY_SUFFIX = ".tmp"


class RunMismatchError(ValueError):
    """The output directory holds a run made from other input, another model or other settings."""


def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


class NotARunError(ValueError):
    """A folder holds files that are not a QA Lens run's; nothing in it is changed."""


MANIFEST_ADVICE = "the run's manifest is damaged: restore it from a copy, or start the run again in a new folder"


def read_manifest(out: str | Path) -> dict[str, Any] | None:
    """The run's manifest, ``None`` when there is none; ``NotARunError`` when it is another tool's file and
    ``RunDamagedError`` (naming the file and the field) when it is not valid JSON or a damaged QA Lens manifest."""
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    manifest = read_json_file(path, MANIFEST_ADVICE)
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise NotARunError(f"{path} is not a QA Lens run manifest (another tool's file?).")
    return check_manifest(path, manifest, MANIFEST_ADVICE)


def write_json(path: Path, payload: dict[str, Any]) -> None:
    """Write JSON atomically (temporary file in the same directory, then ``os.replace``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{uuid.uuid4().hex}{TEMPORARY_SUFFIX}")
    temporary.write_text(json.dumps(payload, indent=1) + "\n", encoding="utf-8")
    os.replace(temporary, path)


def model_identity(model: str | Path) -> str:
    """A local checkpoint by its absolute path (so a rerun from another directory matches); a hub id as given."""
    name = str(model).strip()
    local = Path(name).expanduser()
    return str(local.resolve()) if name and local.exists() else name


def _versions() -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for package in ("qa-lens", "torch", "transformers", "captum", "dask", "distributed", "pyarrow"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = None
    return versions


def new_manifest(
    path: Path,
    model: str,
    settings: RowSettings,
    partition_size: int,
    limit: int | None,
    partitions: list[list[DatasetItem]],
    records: int,
    kept_ids: Iterable[str] = (),
) -> dict[str, Any]:
    """A new run's manifest (written by ``start_run``)."""
    return {
        "format": MANIFEST_FORMAT,
        "version": MANIFEST_VERSION,
        "input": {
            "path": str(path.resolve()),
            "sha256": file_sha256(path),
            "records": records,
            "squad_version": settings.squad_version,
        },
        "model": model,
        "settings": {**settings.to_dict(), "partition_size": partition_size, "limit": limit},
        "columns": settings.schema().names,
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "partitions": [{"ids": [item.id for item in partition]} for partition in partitions],
        "kept_ids": sorted(set(kept_ids)),
        "sessions": [],
    }


def existing_run(root: Path, manifest: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
    """The run in ``root`` to continue, or ``None`` to start one; raises if ``root`` cannot be used. Writes nothing.

    A folder with files but no manifest, another tool's manifest or a damaged one is refused, ``overwrite`` or
    not; ``overwrite`` replaces only a QA Lens run (``start_run`` removes the files it owns).
    """
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file; --out must be a directory.")
    if not root.is_dir() or not any(root.iterdir()):
        return None
    if not (root / MANIFEST).is_file():
        raise NotARunError(
            f"{root} exists and is not a QA Lens run (no {MANIFEST}); choose a new or empty --out. Nothing in it "
            "was changed."
        )
    try:
        existing = read_manifest(root)
    except ValueError as error:  # another tool's manifest, or a damaged one: which files are a run's is unknown
        raise NotARunError(
            f"{error} Choose another --out: a folder whose manifest.json is not a readable QA Lens run's is never "
            "overwritten, and nothing in it was changed."
        ) from error
    assert existing is not None
    if overwrite:
        return None
    differences = []
    if existing["input"]["sha256"] != manifest["input"]["sha256"]:
        differences.append(f"input ({existing['input']['path']} had another sha256)")
    if existing["model"] != manifest["model"]:
        differences.append(f"model ({existing['model']!r} vs {manifest['model']!r})")
    for key, value in manifest["settings"].items():
        had = existing["settings"].get(key, SETTINGS_ADDED_LATER.get(key))
        if had != value:
            differences.append(f"{key} ({had!r} vs {value!r})")
    if existing.get("version") != MANIFEST_VERSION:
        differences.append(f"format version ({existing.get('version')!r} vs {MANIFEST_VERSION})")
    if differences:
        raise RunMismatchError(
            f"{root} holds a run with a different {'; '.join(differences)}: use a new --out to keep it, "
            "or --overwrite to replace it."
        )
    return existing


def start_run(
    root: Path,
    manifest: dict[str, Any],
    existing: dict[str, Any] | None,
    overwrite: bool,
    kept_ids: Iterable[str] = (),
) -> dict[str, Any]:
    """Continue ``existing`` (dropping a killed run's temporary files) or write a new manifest; the one in force.

    Continuing records ids newly asked to keep, so the run owns their explanation files too.
    """
    if existing is not None:
        for path in leftover_files(root, existing):
            path.unlink(missing_ok=True)
        kept = sorted(set(existing.get("kept_ids", [])) | set(kept_ids))
        if kept != existing.get("kept_ids"):
            existing = {**existing, "kept_ids": kept}
            write_json(root / MANIFEST, existing)
        return existing
    if overwrite:
        old = read_manifest(root)
        if old is not None:
            clear_run(root, old)
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / MANIFEST, manifest)
    return manifest


def finished_partitions(out: str | Path, count: int) -> set[int]:
    """Indices of partitions whose file exists."""
    return {index for index in range(count) if part_path(out, index).is_file()}


def owned_files(out: str | Path, manifest: dict[str, Any]) -> list[Path]:
    """Every file the run described by ``manifest`` writes (whether or not it exists yet), manifest last."""
    root = Path(out)
    count = len(manifest["partitions"])
    parts = [part_path(root, index) for index in range(count)]
    metadata = [metadata_path(root, index) for index in range(count)]
    explanations = [explanation_path(root, example_id) for example_id in manifest.get("kept_ids", [])]
    return [*parts, *metadata, *explanations, root / SUMMARY, root / HEADS, root / MANIFEST]


_TEMPORARY = re.compile(r"^\.(?P<target>.+)\.[0-9a-f]{32}(?:\.tmp|\.npz)$")
"""A temporary file of an atomic write: ``.<target name>.<uuid4 hex>.tmp`` (``.npz`` for explanations)."""


def leftover_files(out: str | Path, manifest: dict[str, Any]) -> list[Path]:
    """Temporary files a killed run left behind: named after one of the run's own files, never holding finished
    work. Any other file, dotfiles included, is not the run's."""
    root = Path(out)
    targets: dict[Path, set[str]] = {}
    for path in owned_files(root, manifest):
        name = path.stem if path.parent.name == EXPLANATIONS_DIR else path.name
        targets.setdefault(path.parent, set()).add(name)
    found = []
    for directory, names in targets.items():
        if not directory.is_dir():
            continue
        for path in directory.iterdir():
            match = _TEMPORARY.match(path.name)
            if match and match["target"] in names and path.is_file():
                found.append(path)
    return found


def clear_run(out: str | Path, manifest: dict[str, Any]) -> None:
    """Remove the files the run owns (``owned_files``, its leftovers), manifest last; folders only when empty."""
    root = Path(out)
    for path in [*leftover_files(root, manifest), *owned_files(root, manifest)]:
        if path.is_file() or path.is_symlink():
            path.unlink()
    for directory in (root / PARTS_DIR, root / METADATA_DIR, root / EXPLANATIONS_DIR):
        if directory.is_dir() and not any(directory.iterdir()):
            directory.rmdir()


__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "TEMPORARY_SUFFIX",
    "MANIFEST_ADVICE",
    "NotARunError",
    "RunMismatchError",
    "clear_run",
    "existing_run",
    "file_sha256",
    "finished_partitions",
    "model_identity",
    "new_manifest",
    "leftover_files",
    "owned_files",
    "read_manifest",
    "start_run",
    "write_json",
]
