"""Dashboard figures at a full 384-token window on MiniLM-L6 (6 layers x 12 heads), every one measured in the run.

Prints: the bytes the model view sends (its Bokeh document as JSON, arrays base64-encoded as on
first load: every head block-averaged to a 32 x 32 thumbnail) against the bytes of bertviz's own
``model_view(attention, tokens, html_action="return")`` HTML for the same attentions and tokens
(bertviz sends every head's full tokens x tokens matrix as JSON numbers), the bytes of the whole
page's document, the bytes a head switch sends (the patch Bokeh would put on the websocket), and
the time a layer/head switch takes in Python (all views updated, measured around
``state.view.head = h``; the browser's drawing is not included).

    .venv/bin/pip install --no-deps bertviz==1.4.1   # once (the ``bench`` extra; model_view needs only IPython, torch)
    .venv/bin/python bench/bench_dashboard.py [--model DIR]

Without ``--model`` it builds the MiniLM QA checkpoint the tests use (core.fixtures.build_minilm_qa_model).
Absolute times are noisy on a shared 2-core machine; compare figures from one run.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from importlib.metadata import version
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

QUESTION = "Who granted Vellmoor its market charter in 1214?"


def full_window_context(model: str, tokens: int = 384) -> str:
    """A context that fills exactly one ``tokens``-long window after the question (one window)."""
    import core
    from core import load_examples

    text = " ".join(example.context for example in load_examples()[:3])
    tokenizer = core.load_model(model).tokenizer
    question_tokens = len(tokenizer(QUESTION, add_special_tokens=False)["input_ids"])
    room = tokens - question_tokens - tokenizer.num_special_tokens_to_add(pair=True)
    offsets = tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    return text[: offsets[room - 1][1]]


def document_bytes(viewable: object) -> tuple[int, object]:
    import panel as pn
    from bokeh.core.json_encoder import serialize_json
    from bokeh.document import Document

    document = Document()
    root = pn.panel(viewable).get_root(document)
    document.add_root(root)
    return len(serialize_json(document.to_json(deferred=False))), document


def bertviz_model_view_bytes(attentions: np.ndarray, tokens: list[str]) -> tuple[int, int, int]:
    """UTF-8 bytes of bertviz's model view HTML (``html_action="return"``) for all layers and heads; the bytes of its
    parameter JSON (the attention matrices); and how many copies of that JSON the HTML holds.

    Its attention argument is what bertviz documents: one ``[1, heads, tokens, tokens]`` tensor per layer.
    """
    import torch
    from bertviz import model_view

    attention = [torch.from_numpy(np.array(layer))[None] for layer in attentions]
    html = model_view(attention, list(tokens), html_action="return").data
    marker = "const params = "
    begin = html.index(marker) + len(marker)
    end = html.index("; //", begin)
    params = html[begin:end]
    return len(html.encode("utf-8")), len(params.encode("utf-8")), html.count(params[:1000])


def patch_bytes(events: list) -> int:
    from bokeh.protocol import Protocol

    if not events:
        return 0
    message = Protocol().create("PATCH-DOC", events)
    return (
        len(message.header_json)
        + len(message.metadata_json)
        + len(message.content_json)
        + sum(memoryview(buffer.data).nbytes for buffer in message.buffers)
    )


async def main(model: str) -> None:
    from bokeh.core.json_encoder import serialize_json
    from bokeh.document import Document
    from panel.io.state import set_curdoc

    from core import THUMBNAIL_SIZE
    from dashboard import QALensApp

    app = QALensApp(models=[model], background=False)
    state = app.state
    state.inputs.compute_integrated_gradients = False
    state.update(question=QUESTION, context=full_window_context(model))
    began = time.perf_counter()
    state.run()
    explanation = state.explanation
    if explanation is None:
        raise SystemExit(f"run failed: {state.messages.error or state.messages.model_error}")
    print(f"model: {model}")
    print(
        f"window: {explanation.num_tokens} tokens, {explanation.num_layers} layers x {explanation.num_heads} heads "
        f"(answer and attention in {time.perf_counter() - began:.1f} s)"
    )

    # Each measurement renders a fresh app (as each browser session gets its own).
    model_view_bytes, _ = document_bytes(fresh_app(model, state).model_view)
    layers, heads, tokens, _ = explanation.attentions.shape
    print(
        f"model view, ours: {model_view_bytes / 1e6:.3f} MB of Bokeh document JSON (every head block-averaged to a "
        f"{THUMBNAIL_SIZE} x {THUMBNAIL_SIZE} thumbnail, one image)"
    )
    began = time.perf_counter()
    bertviz_bytes, params_bytes, copies = bertviz_model_view_bytes(explanation.attentions, explanation.tokens)
    print(
        f"model view, bertviz {version('bertviz')} model_view(attention, tokens, html_action='return'): "
        f"{bertviz_bytes / 1e6:.1f} MB of HTML, built in {time.perf_counter() - began:.0f} s: every head's full "
        f"{tokens} x {tokens} matrix ({layers} x {heads} heads) as JSON numbers, {params_bytes / 1e6:.1f} MB, "
        f"{copies} cop{'y' if copies == 1 else 'ies'} in the page (raw float32 would be "
        f"{layers * heads * tokens * tokens * 4 / 1e6:.1f} MB)"
    )
    print(
        f"model view bytes, bertviz / ours: {bertviz_bytes / model_view_bytes:,.0f}x (ours are block-averaged "
        f"{THUMBNAIL_SIZE} x {THUMBNAIL_SIZE} thumbnails; bertviz sends the full matrices)"
    )
    attention_bytes, _ = document_bytes(fresh_app(model, state).attention)
    print(f"attention heatmap document: {attention_bytes / 1e6:.3f} MB")

    # The served page: the template in one document, the first tab (Attention) rendered.
    document = Document()
    app.template().server_doc(document)
    page_bytes = len(serialize_json(document.to_json(deferred=False)))
    print(f"whole page document (Attention tab shown): {page_bytes / 1e6:.3f} MB, {len(document.models)} Bokeh models")

    events: list = []
    document.on_change(events.append)
    with set_curdoc(document):  # as during a served session's callbacks
        await asyncio.sleep(0.1)
        timings, sizes = [], []
        for index, head in enumerate(list(range(explanation.num_heads)) * 2):
            events.clear()
            began = time.perf_counter()
            state.update(layer=index % explanation.num_layers, head=head)
            timings.append(time.perf_counter() - began)
            await asyncio.sleep(0)
            sizes.append(patch_bytes(events))
        report("layer+head switch", timings, sizes)

        timings, sizes = [], []
        for first in range(10, 300, 15):
            events.clear()
            began = time.perf_counter()
            state.select(range(first, first + 3))
            timings.append(time.perf_counter() - began)
            await asyncio.sleep(0)
            sizes.append(patch_bytes(events))
        report("selection change", timings, sizes)

        timings, sizes = [], []
        for method in ("gradient", "gradient_x_input") * 3:
            events.clear()
            began = time.perf_counter()
            state.view.method = method
            timings.append(time.perf_counter() - began)
            await asyncio.sleep(0)
            sizes.append(patch_bytes(events))
        report("method switch", timings, sizes)


def fresh_app(model: str, like: object) -> object:
    from dashboard import QALensApp

    app = QALensApp(models=[model], background=False)
    app.state.inputs.compute_integrated_gradients = False
    app.state.update(question=like.inputs.question, context=like.inputs.context)
    app.state.run()  # a cache hit in core: no model work
    return app


def report(what: str, timings: list[float], sizes: list[int]) -> None:
    print(
        f"{what}: all views updated in Python in median {statistics.median(timings) * 1000:.0f} ms "
        f"(max {max(timings) * 1000:.0f} ms, {len(timings)} changes); "
        f"patch sent to the browser: median {statistics.median(sizes) / 1e3:.0f} kB"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="QA checkpoint directory (default: build MiniLM-L6 with a seeded QA head)")
    args = parser.parse_args()
    model_dir = args.model
    if model_dir is None:
        from core.fixtures import build_minilm_qa_model

        model_dir = build_minilm_qa_model(Path(tempfile.mkdtemp(prefix="qa-lens-minilm-")))
    asyncio.run(main(model_dir))
