"""The Robustness page in the app: it joins when the run on show has a suite, a pair click shows it side by side, a
side opens in the explorer, and the URL's pair reopens it (``_apply_url_leniently``, as a link's values arrive).

The planted run and its suites (tests/planted_suites.py) are built once for the module.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from dashboard import QALensApp
from dashboard.qa_lens_app import URL_PARAMETERS
from dashboard.state import ExplorerState
from tests.event_loop import in_loop
from tests.planted_suites import PlantedSuites, build_planted_suites

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def planted(tmp_path_factory: pytest.TempPathFactory) -> PlantedSuites:
    return build_planted_suites(tmp_path_factory.mktemp("robustness-app"))


def test_the_page_joins_for_a_run_with_a_suite_and_a_pair_opens_in_the_explorer(planted: PlantedSuites) -> None:
    def body() -> None:
        app = QALensApp(state=ExplorerState(models=[str(planted.model_dir)], examples=[]), background=False)
        assert app.robustness_page is None  # no run, no suite
        app.state.dataset.open(planted.run)
        page = app.robustness_page
        assert page is not None and app.dataset_page is not None
        robustness = app.state.robustness
        robustness.suite = planted.suite.name
        table = page.pairs.table
        frame = table.value
        row = int(np.flatnonzero(frame["family"] == "distractor")[0])
        pair = str(frame.iloc[row]["id"])
        table._process_event(SimpleNamespace(event_name="cell-click", row=row, column="id", value=pair))
        assert robustness.pair == pair and app.pages.active == len(app.pages) - 1  # the Robustness page
        assert robustness.perturbed is not None and pair in page.pair.html.object
        page.pair.open_perturbed.clicks += 1
        assert app.pages.active == 0 and app.state.explanation.context == robustness.pair_row()["context"]
        app.pages.active = len(app.pages) - 1
        assert app.state.compare.comparison is None  # showing this page is not showing the Compare page

    in_loop(body)


def test_a_link_with_a_pair_reopens_it_on_the_robustness_page(planted: PlantedSuites) -> None:
    def body() -> None:
        app = QALensApp(state=ExplorerState(models=[str(planted.model_dir)], examples=[]), background=False)
        app.state.dataset.open(planted.run)
        assert URL_PARAMETERS["robustness"] == {"suite": "suite", "pair": "pair"}
        pair = str(planted.suite.pairs.query("family == 'replace_answer'")["id"].iloc[0])
        app.pages.active = 0
        app._apply_url_leniently({"suite": planted.suite.name, "pair": pair})
        robustness = app.state.robustness
        assert robustness.pair == pair and app.pages.active == len(app.pages) - 1
        assert robustness.original is not None and robustness.perturbed is not None
        app._apply_url_leniently({"suite": "no-such-suite", "pair": "no-such-pair"})  # a stale link: skipped or said
        assert robustness.suite == planted.suite.name and "no pair no-such-pair" in robustness.pair_problem

    in_loop(body)
