"""Head and layer switches timed in a real browser: Debian's Chromium against `panel serve`.

The dashboard is served with MiniLM-L6 (6 layers x 12 heads), asked a question about a context
that fills one 384-token window, and then the Head (or Layer) selector is changed in the page.
Each figure is the time from the user's change in the page (the Head ``<select>``'s ``change``
event, the Layer slider handle's ``keydown``) to the first animation frame after the attention
heatmap's new image arrived (Bokeh has applied the patch and repainted), measured with
``performance.now()`` inside the page, so Playwright's own overhead is not counted. Half a second
is the bar the dashboard issue sets.

    .venv/bin/python bench/bench_browser.py [--model DIR] [--switches N]

Without ``--model`` it builds the MiniLM QA checkpoint the tests use. Needs /usr/bin/chromium
(``scripts/ensure_chromium.sh``). Absolute times are noisy on a shared 2-core machine.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

HALF_A_SECOND_MS = 500.0


def page_scripts() -> tuple[str, str, str]:
    """(mark the heatmap's current image, start the clock on a control's event, wait for the repaint).

    Built on the page prelude the browser tests use (``dashboard.fixtures.page_scripts``), which finds
    figures in Bokeh's document.
    """
    from dashboard.fixtures.page_scripts import page_function

    image = 'column(dataRenderer(figure("attention"), "Image").data_source, "image")[0]'
    mark = page_function(f"window.__imageBefore = {image}; window.__switchStarted = null;")
    # The clock starts at the user's own event on the control (capture phase, before Bokeh reacts).
    start_on = """
    (element, kind) => element.addEventListener(kind, () => { window.__switchStarted = performance.now(); },
      {once: true, capture: true})
    """
    # Resolves with the milliseconds from the control's event to the first frame painted after the
    # heatmap's image array changed.
    wait = page_function(
        f"""
        const deadline = performance.now() + 30000;
        return new Promise((resolve, reject) => {{
          function poll() {{
            if ({image} !== window.__imageBefore) {{
              requestAnimationFrame(() => resolve(performance.now() - window.__switchStarted));
            }} else if (performance.now() > deadline) {{
              reject(new Error("the heatmap did not change within 30 s"));
            }} else {{
              requestAnimationFrame(poll);
            }}
          }}
          poll();
        }});
        """
    )
    return mark, start_on, wait


def measure(model: str, switches: int) -> None:
    from playwright.sync_api import sync_playwright

    from bench.bench_dashboard import QUESTION, full_window_context
    from dashboard.fixtures.page_scripts import ANSWER_TIMEOUT_MS, JS_IDLE, UI_TIMEOUT_MS
    from dashboard.fixtures.server import CHROMIUM, CHROMIUM_ARGS, PanelServer, server_environment

    context_text = full_window_context(model)
    server = PanelServer(name="bench", models=[model], env=server_environment())
    server.start()
    try:
        server.wait_until_ready()
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS)
            page = browser.new_page(viewport={"width": 1500, "height": 1300})
            page.goto(server.url)
            page.wait_for_function(JS_IDLE, timeout=UI_TIMEOUT_MS)
            page.get_by_label("Question").fill(QUESTION)
            page.get_by_label("Context").fill(context_text)
            page.get_by_role("button", name="Run", exact=True).click()
            page.get_by_text("(P(start) × P(end))").wait_for(state="visible", timeout=ANSWER_TIMEOUT_MS)
            page.wait_for_function(JS_IDLE, timeout=ANSWER_TIMEOUT_MS)
            page.wait_for_timeout(1000)  # the first paint
            head = page.get_by_label("Head", exact=True)
            layer = page.locator(".noUi-target").first.locator(".noUi-handle")  # the Layer slider comes first
            head_options = [f"head {index % 12}" for index in range(1, 13)]
            switch_head = (head, "change", [lambda o=option: head.select_option(label=o) for option in head_options])
            switch_layer = (layer, "keydown", [lambda key=key: layer.press(key) for key in ("ArrowRight", "ArrowLeft")])
            ready = page.get_by_text("Integrated gradients ready")
            mark, start_on, wait = page_scripts()

            def time_switches(switch: tuple, count: int, while_pending: bool = False) -> list[float]:
                control, event, actions = switch
                timings = []
                for index in range(count):
                    if while_pending and ready.is_visible():
                        break
                    page.evaluate(mark)
                    control.evaluate(start_on, event)
                    actions[index % len(actions)]()
                    timings.append(page.evaluate(wait))
                    page.wait_for_timeout(150)
                return timings

            # The answer and attention are shown first; integrated gradients then runs in the background.
            during = time_switches(switch_head, switches, while_pending=True)
            ready.wait_for(state="visible", timeout=600_000)
            page.wait_for_timeout(500)
            for what, timings in (
                ("head switch while integrated gradients runs on the server", during),
                ("head switch", time_switches(switch_head, switches)),
                ("layer switch", time_switches(switch_layer, switches)),
            ):
                if not timings:
                    print(f"{what}: none timed (integrated gradients finished first)")
                    continue
                median = statistics.median(timings)
                print(
                    f"{what}, in Chromium, change to repainted heatmap: median {median:.0f} ms "
                    f"(min {min(timings):.0f}, max {max(timings):.0f}, {len(timings)} switches); "
                    f"{median / HALF_A_SECOND_MS:.2f}x the 500 ms bar"
                )
            browser.close()
    finally:
        server.terminate()
        server.wait_stopped()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", help="QA checkpoint directory (default: build MiniLM-L6 with a seeded QA head)")
    parser.add_argument("--switches", type=int, default=20, help="switches of each kind to time (default 20)")
    arguments = parser.parse_args()
    if arguments.model:
        measure(arguments.model, arguments.switches)
        return
    from core.fixtures import build_minilm_qa_model

    with tempfile.TemporaryDirectory() as directory:
        measure(build_minilm_qa_model(directory), arguments.switches)


if __name__ == "__main__":
    main()
