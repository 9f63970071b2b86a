"""The Trust tab is part of the app and follows the app's one state, both ways."""

from __future__ import annotations

from dashboard import QALensApp
from tests.event_loop import in_loop

QUESTION = "Who designed the Eiffel Tower?"
CONTEXT = "The Eiffel Tower was completed in 1889. It was designed by the engineer Gustave Eiffel in Paris."


def test_trust_tab_follows_the_answer_and_the_shared_selection(tiny_bert_dir: str) -> None:
    def body() -> None:
        app = QALensApp(models=[tiny_bert_dir], background=False)
        assert "Trust" in app.tabs._names
        app.state.param.update(question=QUESTION, context=CONTEXT)
        app.state.run()
        layers = app.trust.layers
        assert layers.explanation is app.state.explanation
        context_position = app.state.explanation.positions("context")[2]
        app.state.select([context_position])
        assert layers.selected_tokens == [context_position]
        layers.selected_tokens = [context_position + 1]
        assert app.state.selected_tokens == [context_position + 1]

    in_loop(body)
