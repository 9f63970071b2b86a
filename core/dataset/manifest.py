"""A run directory's manifest: what the run is (input, model, settings, partitions), whether a rerun may resume
it, and the files a run owns.

Resuming: the manifest records the input's sha256, the model, the settings and the ids of every partition.
Rerunning the same command skips partitions whose file exists; a different input, model or settings is refused
(use a new ``out``, or ``overwrite=True``).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
import uuid
from importlib import metadata
from pathlib import Path
from typing import Any

from core.dataset.reading import DatasetItem
from core.dataset.rows import RowSettings
from core.dataset.schema import EXPLANATIONS_DIR, HEADS, MANIFEST, PARTS_DIR, SUMMARY, part_path, row_schema

MANIFEST_FORMAT = "qa-lens/dataset-run"

MANIFEST_VERSION = 1

TEMPORARY_SUFFIX = ".tmp"



class RunMismatchError(ValueError):
    """The output directory holds a run made from other input, another model or other settings."""



def file_sha256(path: str | Path) -> str:
    digest = hashlib.sha256()
    with Path(path).open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()



def read_manifest(out: str | Path) -> dict[str, Any] | None:
    path = Path(out) / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(
            f"{path} is not valid JSON ({error}); use a new --out, or --overwrite to start over."
        ) from error
    if not isinstance(manifest, dict) or manifest.get("format") != MANIFEST_FORMAT:
        raise ValueError(f"{path} is not a QA Lens run manifest; use a new --out, or --overwrite to start over.")
    return manifest



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
) -> dict[str, Any]:
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
        "columns": row_schema(settings.methods, settings.faithfulness).names,
        "versions": _versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "partitions": [{"ids": [item.id for item in partition]} for partition in partitions],
        "sessions": [],
    }



def existing_run(root: Path, manifest: dict[str, Any], overwrite: bool) -> dict[str, Any] | None:
    """The run in ``root`` to continue, or ``None`` to start one; raises if ``root`` cannot be used. Writes nothing."""
    if root.exists() and not root.is_dir():
        raise ValueError(f"{root} is a file; --out must be a directory.")
    if not root.is_dir() or not any(root.iterdir()):
        return None
    if not (root / MANIFEST).is_file():
        raise ValueError(f"{root} exists and is not a QA Lens run (no {MANIFEST}); choose a new or empty --out.")
    if overwrite:
        return None
    existing = read_manifest(root)
    assert existing is not None
    differences = []
    if existing["input"]["sha256"] != manifest["input"]["sha256"]:
        differences.append(f"input ({existing['input']['path']} had another sha256)")
    if existing["model"] != manifest["model"]:
        differences.append(f"model ({existing['model']!r} vs {manifest['model']!r})")
    for key, value in manifest["settings"].items():
        if existing["settings"].get(key) != value:
            differences.append(f"{key} ({existing['settings'].get(key)!r} vs {value!r})")
    if differences:
        raise RunMismatchError(
            f"{root} holds a run with a different {'; '.join(differences)}: use a new --out to keep it, "
            "or --overwrite to replace it."
        )
    return existing



def start_run(
    root: Path, manifest: dict[str, Any], existing: dict[str, Any] | None, overwrite: bool
) -> dict[str, Any]:
    """Continue ``existing`` (dropping a killed run's temporary files) or write a new manifest; the one in force."""
    if existing is not None:
        remove_leftovers(root)
        return existing
    if overwrite:
        clear_run(root)
    root.mkdir(parents=True, exist_ok=True)
    write_json(root / MANIFEST, manifest)
    return manifest



def finished_partitions(out: str | Path, count: int) -> set[int]:
    """Indices of partitions whose file exists."""
    return {index for index in range(count) if part_path(out, index).is_file()}



def remove_leftovers(out: str | Path) -> None:
    """Delete temporary files a killed run left behind (they never hold finished work)."""
    for directory in (Path(out) / PARTS_DIR, Path(out) / EXPLANATIONS_DIR, Path(out)):
        if directory.is_dir():
            for path in directory.glob(".*"):
                if path.is_file() and (path.name.endswith(TEMPORARY_SUFFIX) or path.suffix == ".npz"):
                    path.unlink(missing_ok=True)



def clear_run(out: str | Path) -> None:
    """Remove a run's own files (never anything else in the directory)."""
    root = Path(out)
    for directory in (root / PARTS_DIR, root / EXPLANATIONS_DIR):
        if directory.is_dir():
            for path in directory.iterdir():
                if path.is_file():
                    path.unlink()
            directory.rmdir()
    for name in (SUMMARY, HEADS, MANIFEST):
        (root / name).unlink(missing_ok=True)
    remove_leftovers(root)



__all__ = [
    "MANIFEST_FORMAT",
    "MANIFEST_VERSION",
    "TEMPORARY_SUFFIX",
    "RunMismatchError",
    "clear_run",
    "existing_run",
    "file_sha256",
    "finished_partitions",
    "model_identity",
    "new_manifest",
    "read_manifest",
    "remove_leftovers",
    "start_run",
    "write_json",
]
