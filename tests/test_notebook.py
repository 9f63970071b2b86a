"""notebooks/explore.ipynb runs top to bottom on a tiny model, offline, in a kernel of this virtualenv.

The kernel spec is written to a temporary ``JUPYTER_PATH`` (``ipykernel.kernelspec.install``), so
``python3`` means this interpreter, whatever ``python`` is first on ``PATH``. The kernel starts in
``notebooks/``, as Jupyter would start it for a notebook there.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

import core
from core.examples import find_example

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
kernelspec = pytest.importorskip("ipykernel.kernelspec")

NOTEBOOK = Path(__file__).resolve().parent.parent / "notebooks" / "explore.ipynb"
APP_MIME_TYPES = ("application/vnd.holoviews_exec.v0+json", "text/html")


def _cell(notebook: Any, cell_id: str) -> Any:
    return next(cell for cell in notebook.cells if cell.get("id") == cell_id)


def _stdout(cell: Any) -> str:
    return "".join(output.get("text", "") for output in cell.outputs if output.output_type == "stream")


def test_the_committed_notebook_has_no_outputs() -> None:
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    nbformat.validate(notebook)
    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None, f"clear the outputs of cell {cell.id!r}"


@pytest.fixture()
def venv_kernel(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """A ``python3`` kernel spec for this interpreter, first on ``JUPYTER_PATH``."""
    prefix = tmp_path / "jupyter-prefix"
    kernelspec.install(prefix=str(prefix), kernel_name="python3", display_name="Python 3 (QA Lens tests)")
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    from jupyter_client.kernelspec import KernelSpecManager

    spec = KernelSpecManager().get_kernel_spec("python3")
    assert Path(spec.argv[0]).resolve() == Path(sys.executable).resolve(), spec.argv
    return "python3"


def test_the_example_notebook_runs_on_a_tiny_model(
    venv_kernel: str, tiny_bert_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("QA_LENS_NOTEBOOK_MODEL", tiny_bert_dir)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TRANSFORMERS_OFFLINE", "1")
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(
        notebook,
        kernel_name=venv_kernel,
        timeout=300,
        startup_timeout=120,
        resources={"metadata": {"path": str(NOTEBOOK.parent)}},
    )
    client.execute()  # raises CellExecutionError, with the traceback, if any cell fails

    for cell in notebook.cells:
        if cell.cell_type == "code":
            assert not [output for output in cell.outputs if output.output_type == "error"], cell.id

    assert f"model: {tiny_bert_dir}" in _stdout(_cell(notebook, "setup"))

    example = find_example("estrand-01")
    expected = core.explain(example.question, example.context, model=tiny_bert_dir, methods=("gradient",))
    assert f"Answer: {expected.answer.text!r}" in _stdout(_cell(notebook, "run")), "the state's answer is printed"
    assert f"Answer: {expected.answer.text!r}" in _stdout(_cell(notebook, "explain")), "the library's answer"
    assert f"layer {expected.num_layers - 1}, head 0" in _stdout(_cell(notebook, "view-choices"))

    app_outputs = [output for output in _cell(notebook, "app").outputs if output.output_type == "execute_result"]
    assert len(app_outputs) == 1, "the app is the value of its cell"
    bundle = app_outputs[0]["data"]
    assert any(mime in bundle for mime in APP_MIME_TYPES), f"no Panel/Bokeh output, only {sorted(bundle)}"

    saliency = _stdout(_cell(notebook, "saliency"))
    assert f"({expected.num_tokens},)" in saliency and "completeness error" in saliency
